// qnxs.h: a C++17 reader of QuantNexus "QNXS" v1 candle regions, as written by shmbus (and by
// the original QuantNexus writer). Header only, POSIX only, no dependencies.
//
// Layout (all structs packed, little-endian, offsets from the start of the region):
//
//   0      QnxsHeader (256 B): magic "QNXS", version 1, ..., sequence (seqlock: odd while a
//          write is in progress), symbol_count
//   256    u32 index count, 4 bytes padding, then 256 QnxsIndexEntry of 40 B from 264
//   16640  data blocks: a QnxsBlockHeader (56 B), then `capacity` QnxsCandle (48 B)
//
// Reading follows the seqlock protocol: load the sequence (acquire); if it is odd, a write is in
// progress: retry. Copy what is needed with relaxed atomic loads (the writer may be changing it:
// plain loads would be a data race); fence (acquire); load the sequence again; if it changed,
// the copy may be torn: retry. Every offset and count read from the region is checked against
// the file's size before use, inside the retry loop (a torn copy can hold any value).
//
// Series are keyed by (symbol, interval): shmbus stores "BTCUSDT 1h" and "BTCUSDT 1d" as two
// index entries, and this reader picks the first entry whose symbol AND block interval match.

#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace qnxs {

constexpr uint32_t kMagic = 0x514E5853;  // "QNXS" read as a little-endian u32
constexpr uint32_t kVersion = 1;
constexpr uint32_t kMaxSeries = 256;
constexpr uint64_t kIndexOffset = 256;
constexpr uint64_t kEntriesOffset = 264;
constexpr uint64_t kDataOffset = 16640;

#pragma pack(push, 1)

struct QnxsHeader {
    uint32_t magic;           // 0
    uint32_t version;         // 4
    uint32_t writer_pid;      // 8
    uint32_t reader_pid;      // 12 (never filled)
    uint64_t last_update_us;  // 16
    uint64_t sequence;        // 24: odd while a write is in progress
    uint32_t symbol_count;    // 32
    uint32_t flags;           // 36
    uint32_t crc32;           // 40 (never computed)
    uint8_t reserved[212];    // 44 (shmbus keeps its own header here)
};

struct QnxsIndexEntry {
    char symbol[16];          // 0, NUL-terminated
    uint64_t data_offset;     // 16, from the region's start
    uint32_t data_size;       // 24
    uint32_t candle_count;    // 28
    uint64_t last_update_us;  // 32
};

struct QnxsBlockHeader {
    char symbol[16];    // 0
    char interval[8];   // 16, e.g. "1h"
    uint32_t count;     // 24
    uint32_t capacity;  // 28
    uint64_t start_ts;  // 32, ms since the Unix epoch
    uint64_t end_ts;    // 40
    uint8_t pad[8];     // 48
};

struct QnxsCandle {
    uint64_t timestamp;  // 0, ms since the Unix epoch
    double open;         // 8
    double high;         // 16
    double low;          // 24
    double close;        // 32
    double volume;       // 40
};

#pragma pack(pop)

static_assert(sizeof(QnxsHeader) == 256, "QNXS header is 256 bytes");
static_assert(offsetof(QnxsHeader, magic) == 0, "magic at 0");
static_assert(offsetof(QnxsHeader, version) == 4, "version at 4");
static_assert(offsetof(QnxsHeader, writer_pid) == 8, "writer_pid at 8");
static_assert(offsetof(QnxsHeader, reader_pid) == 12, "reader_pid at 12");
static_assert(offsetof(QnxsHeader, last_update_us) == 16, "last_update_us at 16");
static_assert(offsetof(QnxsHeader, sequence) == 24, "sequence at 24");
static_assert(offsetof(QnxsHeader, symbol_count) == 32, "symbol_count at 32");
static_assert(offsetof(QnxsHeader, flags) == 36, "flags at 36");
static_assert(offsetof(QnxsHeader, crc32) == 40, "crc32 at 40");
static_assert(offsetof(QnxsHeader, reserved) == 44, "reserved at 44");

static_assert(sizeof(QnxsIndexEntry) == 40, "index entry is 40 bytes");
static_assert(offsetof(QnxsIndexEntry, symbol) == 0, "symbol at 0");
static_assert(offsetof(QnxsIndexEntry, data_offset) == 16, "data_offset at 16");
static_assert(offsetof(QnxsIndexEntry, data_size) == 24, "data_size at 24");
static_assert(offsetof(QnxsIndexEntry, candle_count) == 28, "candle_count at 28");
static_assert(offsetof(QnxsIndexEntry, last_update_us) == 32, "last_update_us at 32");

static_assert(sizeof(QnxsBlockHeader) == 56, "block header is 56 bytes");
static_assert(offsetof(QnxsBlockHeader, symbol) == 0, "symbol at 0");
static_assert(offsetof(QnxsBlockHeader, interval) == 16, "interval at 16");
static_assert(offsetof(QnxsBlockHeader, count) == 24, "count at 24");
static_assert(offsetof(QnxsBlockHeader, capacity) == 28, "capacity at 28");
static_assert(offsetof(QnxsBlockHeader, start_ts) == 32, "start_ts at 32");
static_assert(offsetof(QnxsBlockHeader, end_ts) == 40, "end_ts at 40");

static_assert(sizeof(QnxsCandle) == 48, "candle is 48 bytes");
static_assert(offsetof(QnxsCandle, timestamp) == 0, "timestamp at 0");
static_assert(offsetof(QnxsCandle, open) == 8, "open at 8");
static_assert(offsetof(QnxsCandle, high) == 16, "high at 16");
static_assert(offsetof(QnxsCandle, low) == 24, "low at 24");
static_assert(offsetof(QnxsCandle, close) == 32, "close at 32");
static_assert(offsetof(QnxsCandle, volume) == 40, "volume at 40");

static_assert(kEntriesOffset + kMaxSeries * sizeof(QnxsIndexEntry) <= kDataOffset,
              "the index fits before the data area");

enum class Status {
    Ok,
    OpenFailed,   // open/fstat/mmap failed (errno is in Region::os_error)
    NotQnxs,      // bad magic or version, or too small
    NotFound,     // no series with this symbol and interval
    Corrupt,      // an offset or count outside the region
    Busy,         // no consistent copy after many attempts (writer stuck or dead mid-write)
};

inline const char* status_name(Status s) {
    switch (s) {
        case Status::Ok: return "ok";
        case Status::OpenFailed: return "cannot open or map the region";
        case Status::NotQnxs: return "not a QNXS v1 region";
        case Status::NotFound: return "no such series";
        case Status::Corrupt: return "corrupt index";
        case Status::Busy: return "no consistent read (writer stuck mid-write?)";
    }
    return "?";
}

// A read-only mapping of a whole region. Not copyable.
class Region {
public:
    // `name_or_path`: a path if it contains '/', else a POSIX shm name in /dev/shm.
    Status open(const std::string& name_or_path) {
        close();
        std::string path = name_or_path.find('/') == std::string::npos
                                ? "/dev/shm/" + name_or_path
                                : name_or_path;
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            os_error = errno;
            return Status::OpenFailed;
        }
        struct stat st;
        if (::fstat(fd, &st) != 0) {
            os_error = errno;
            ::close(fd);
            return Status::OpenFailed;
        }
        // Map exactly what fstat reports; everything is checked against it.
        if (st.st_size < static_cast<off_t>(kDataOffset)) {
            ::close(fd);
            return Status::NotQnxs;
        }
        size_ = static_cast<uint64_t>(st.st_size);
        void* p = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            os_error = errno;
            ::close(fd);
            size_ = 0;
            return Status::OpenFailed;
        }
        ::close(fd);  // the mapping stays valid
        base_ = static_cast<const uint8_t*>(p);
        if (load32(0) != kMagic || load32(4) != kVersion) {
            close();
            return Status::NotQnxs;
        }
        return Status::Ok;
    }

    // Copies series (`symbol`, `interval`) into `out`, consistently (never torn).
    Status read_series(const std::string& symbol, const std::string& interval,
                       std::vector<QnxsCandle>& out) const {
        if (base_ == nullptr) return Status::NotQnxs;
        const uint64_t* seq = word(offsetof(QnxsHeader, sequence));
        for (long attempt = 0; attempt < kMaxAttempts; ++attempt) {
            uint64_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
            if (s1 & 1) {
                if (attempt > 1000) ::usleep(0);
                continue;
            }
            Status st = copy_series(symbol, interval, out);
            // Pairs with the writer's release fence after it makes the sequence odd: if the copy
            // saw any store of a later write, the reload sees that write's sequence.
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            uint64_t s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
            if (s1 == s2) return st;
        }
        return Status::Busy;
    }

    uint64_t size() const { return size_; }
    int os_error = 0;

    Region() = default;
    Region(const Region&) = delete;
    Region& operator=(const Region&) = delete;
    ~Region() { close(); }

private:
    static constexpr long kMaxAttempts = 1000000;

    void close() {
        if (base_ != nullptr) ::munmap(const_cast<uint8_t*>(base_), size_);
        base_ = nullptr;
        size_ = 0;
    }

    // The 8-byte word at `off` (8-aligned, in bounds: callers check).
    const uint64_t* word(uint64_t off) const {
        return reinterpret_cast<const uint64_t*>(base_ + off);
    }
    uint64_t load64(uint64_t off) const { return __atomic_load_n(word(off), __ATOMIC_RELAXED); }
    uint32_t load32(uint64_t off) const {
        return __atomic_load_n(reinterpret_cast<const uint32_t*>(base_ + off), __ATOMIC_RELAXED);
    }
    // Copies `n` bytes (a multiple of 8, 8-aligned) word by word with relaxed atomic loads.
    void copy_words(uint64_t off, void* dst, uint64_t n) const {
        auto* d = static_cast<uint8_t*>(dst);
        for (uint64_t i = 0; i < n; i += 8) {
            uint64_t w = load64(off + i);
            std::memcpy(d + i, &w, 8);
        }
    }
    // Whether [off, off + len) lies inside the region, without overflow.
    bool inside(uint64_t off, uint64_t len) const {
        return off <= size_ && len <= size_ - off;
    }
    static bool name_is(const char* field, size_t width, const std::string& want) {
        size_t n = strnlen(field, width);
        return n == want.size() && std::memcmp(field, want.data(), n) == 0;
    }

    // One attempt, no seqlock: any value may be torn, so everything is checked.
    Status copy_series(const std::string& symbol, const std::string& interval,
                       std::vector<QnxsCandle>& out) const {
        uint32_t count = load32(kIndexOffset);
        if (count > kMaxSeries) return Status::Corrupt;
        for (uint32_t i = 0; i < count; ++i) {
            QnxsIndexEntry e;
            copy_words(kEntriesOffset + uint64_t(i) * sizeof e, &e, sizeof e);
            if (!name_is(e.symbol, sizeof e.symbol, symbol)) continue;
            uint64_t off = e.data_offset;
            if (off < kDataOffset || off % 8 != 0 || !inside(off, sizeof(QnxsBlockHeader))) {
                return Status::Corrupt;
            }
            QnxsBlockHeader b;
            copy_words(off, &b, sizeof b);
            if (!name_is(b.interval, sizeof b.interval, interval)) continue;
            uint64_t bytes = uint64_t(b.capacity) * sizeof(QnxsCandle);
            if (b.count > b.capacity || !inside(off + sizeof b, bytes)) return Status::Corrupt;
            out.resize(b.count);
            copy_words(off + sizeof b, out.data(), uint64_t(b.count) * sizeof(QnxsCandle));
            return Status::Ok;
        }
        return Status::NotFound;
    }

    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;
};

}  // namespace qnxs
