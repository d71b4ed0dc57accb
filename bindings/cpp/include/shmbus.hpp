// shmbus.hpp: a C++17 header-only wrapper over the shmbus C ABI (shmbus.h).
//
// RAII handles (move-only, closed by their destructors), errors as exceptions (shmbus::Error,
// carrying the C status code and the library's message), and the APIs the seeds' C++ users
// know:
//
//   * shmbus::Slot<T>: one record in a region, as seed 001's SharedMemory<TradingData>
//     (store / update on the producer side, load / load_if_changed on the consumer side);
//   * shmbus::SlotWriter<T> / SlotReader<T>: slot tables keyed by symbol;
//   * shmbus::JournalWriter / JournalReader: append + commit; a reader that iterates byte spans
//     with range-for (what is ready now, or waiting for each next message with follow());
//   * shmbus::CandleWriter / CandleReader: seed 000's QNXS candle store, series read into
//     std::vector<shmbus::Candle> for a backtester.
//
// Build:
//   g++ -std=c++17 -I bindings/c/include -I bindings/cpp/include prog.cpp
//       -L target/release -lshmbus_c -Wl,-rpath,$PWD/target/release
// (for a static link: target/release/libshmbus_c.a -lgcc_s -lutil -lrt -lpthread -lm -ldl).
//
// A handle may be used by one thread at a time (open one per thread).

#ifndef SHMBUS_HPP
#define SHMBUS_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "shmbus.h"

namespace shmbus {

// ---------------------------------------------------------------------------------------------
// Errors

// A failed call: the C status code (e.g. SHMBUS_NOT_FOUND), the library's message, which
// says what to do, and the core's stable error code (docs/ERRORS.md, e.g.
// SHMBUS_ERR_WRITER_BUSY), finer than the status; 0 for the wrapper's own errors.
class Error : public std::runtime_error {
public:
    Error(shmbus_status code, const std::string& message, std::int32_t error_code = 0)
        : std::runtime_error(message), code_(code), error_code_(error_code) {}

    // The status code, one of shmbus_status.
    shmbus_status code() const noexcept { return code_; }

    // The code's name, e.g. "SHMBUS_NOT_FOUND".
    const char* name() const noexcept { return shmbus_status_name(code_); }

    // The stable error code, one of shmbus_error_code (SHMBUS_ERR_NONE: no core error).
    std::int32_t error_code() const noexcept { return error_code_; }

    // Its stable name, e.g. "writer_busy" ("" for SHMBUS_ERR_NONE).
    const char* error_code_name() const noexcept { return shmbus_error_code_name(error_code_); }

private:
    shmbus_status code_;
    std::int32_t error_code_;
};

namespace detail {

[[noreturn]] inline void fail(shmbus_status s) {
    throw Error(s, shmbus_last_error(), shmbus_last_error_code());
}

// SHMBUS_OK, or throws.
inline void check(shmbus_status s) {
    if (s != SHMBUS_OK) fail(s);
}

// true for SHMBUS_OK, false for SHMBUS_NO_DATA; throws otherwise.
inline bool check_data(shmbus_status s) {
    if (s == SHMBUS_OK) return true;
    if (s == SHMBUS_NO_DATA) return false;
    fail(s);
}

template <class T, shmbus_status (*Close)(T*)>
struct Closer {
    void operator()(T* p) const noexcept { (void)Close(p); }
};

// An owned C handle: closed when destroyed.
template <class T, shmbus_status (*Close)(T*)>
using Owned = std::unique_ptr<T, Closer<T, Close>>;

template <class Rep, class Period>
std::uint64_t to_ns(std::chrono::duration<Rep, Period> d) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
    return ns <= 0 ? 0 : static_cast<std::uint64_t>(ns);
}

inline std::string c_string(const char* p, std::size_t max) {
    std::size_t n = 0;
    while (n < max && p[n] != '\0') ++n;
    return std::string(p, n);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Regions

using RegionHeader = ::shmbus_region_header;

// The common header of region `name` (a shm name such as "/prices", or a file path).
inline RegionHeader region_info(const std::string& name) {
    RegionHeader h;
    detail::check(shmbus_region_info(name.c_str(), &h));
    return h;
}

// Removes region `name` (a region file or a persisted journal's directory). Refuses while a
// writer is alive unless `force`. Returns false if there was nothing to remove.
inline bool remove(const std::string& name, bool force = false) {
    shmbus_status s = shmbus_region_remove(name.c_str(), force);
    if (s == SHMBUS_NOT_FOUND) return false;
    detail::check(s);
    return true;
}

// Nanoseconds since the Unix epoch (the clock of TradingData::timestamp).
inline std::uint64_t now_ns() noexcept { return shmbus_now_ns(); }

// ---------------------------------------------------------------------------------------------
// Records

// Seed 001's TradingData: price, timestamp (ns), volume, valid; 24 bytes.
using TradingData = ::shmbus_trading_data;

// A valid TradingData stamped `timestamp_ns` (now by default).
inline TradingData make_trading_data(double price, std::int32_t volume,
                                     std::uint64_t timestamp_ns = now_ns()) noexcept {
    TradingData d{};
    d.price = price;
    d.timestamp = timestamp_ns;
    d.volume = volume;
    d.valid = 1;
    return d;
}

// The layout of a record type held in slot tables. Specialise it for your own structs:
//
//   struct Quote { double bid; double ask; std::uint64_t ts; };
//   template <> struct shmbus::record_traits<Quote> {
//       static const shmbus_record_layout* layout() noexcept {
//           static const shmbus_field fields[] = {
//               {"bid", SHMBUS_FIELD_TYPE_F64, offsetof(Quote, bid), 0},
//               {"ask", SHMBUS_FIELD_TYPE_F64, offsetof(Quote, ask), 0},
//               {"ts", SHMBUS_FIELD_TYPE_U64, offsetof(Quote, ts), 0}};
//           static const shmbus_record_layout l = {"Quote", sizeof(Quote), fields, 3};
//           return &l;
//       }
//   };
template <class T>
struct record_traits;

template <>
struct record_traits<TradingData> {
    static const shmbus_record_layout* layout() noexcept { return shmbus_trading_data_layout(); }
};

namespace detail {
template <class T>
void check_record() {
    static_assert(std::is_trivially_copyable_v<T>, "slot records are plain data");
    static_assert(sizeof(T) % 8 == 0, "slot records are a multiple of 8 bytes (add padding)");
}
}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Slot tables

// The id of a slot (0, 1, 2, ... in registration order): look a key up once, then use the id.
using SlotId = std::uint32_t;

// A record with the sequence number it was read at (even; bigger is newer).
template <class T>
struct Versioned {
    T value;
    std::uint64_t seq;
};

// The one writer of a slot table of T records (holds the writer lock while it lives).
template <class T>
class SlotWriter {
public:
    // Creates a table with room for `capacity` keys (exclusive: SHMBUS_ALREADY_EXISTS if the
    // name is taken). flags: SHMBUS_CREATE_GROUP_SHARED | SHMBUS_CREATE_POPULATE.
    static SlotWriter create(const std::string& name, std::uint32_t capacity = 1024,
                             std::uint32_t flags = 0) {
        shmbus_slot_writer* w = nullptr;
        detail::check(shmbus_slots_create(name.c_str(), record_traits<T>::layout(), capacity,
                                          flags, &w));
        return SlotWriter(w);
    }

    // Opens an existing table as its writer (SHMBUS_WRITER_BUSY while another writer lives).
    static SlotWriter open(const std::string& name) {
        shmbus_slot_writer* w = nullptr;
        detail::check(shmbus_slots_open_writer(name.c_str(), record_traits<T>::layout(), &w));
        return SlotWriter(w);
    }

    // Opens the table as its writer, creating it first if it does not exist (a restarted
    // producer takes its table over; live readers keep their mapping).
    static SlotWriter open_or_create(const std::string& name, std::uint32_t capacity = 1024,
                                     std::uint32_t flags = 0) {
        shmbus_slot_writer* w = nullptr;
        shmbus_status s =
            shmbus_slots_create(name.c_str(), record_traits<T>::layout(), capacity, flags, &w);
        if (s == SHMBUS_ALREADY_EXISTS) {
            s = shmbus_slots_open_writer(name.c_str(), record_traits<T>::layout(), &w);
        }
        detail::check(s);
        return SlotWriter(w);
    }

    // The slot of `key`, registering it if new.
    SlotId slot(const std::string& key) {
        SlotId id = 0;
        detail::check(shmbus_slot_writer_slot(h_.get(), key.c_str(), &id));
        return id;
    }

    // Publishes `value` in slot `id`: readers see the old or the new record, never a mix.
    void write(SlotId id, const T& value) {
        detail::check(shmbus_slot_writer_write(h_.get(), id, &value, sizeof(T)));
    }

    // Publishes `value` under `key` (registered if new); returns its slot.
    SlotId put(const std::string& key, const T& value) {
        SlotId id = 0;
        detail::check(shmbus_slot_writer_put(h_.get(), key.c_str(), &value, sizeof(T), &id));
        return id;
    }

    // Slot `id` as this writer last published it (nullopt if never written).
    std::optional<Versioned<T>> read(SlotId id) {
        Versioned<T> v{};
        if (!detail::check_data(shmbus_slot_writer_read(h_.get(), id, &v.value, sizeof(T), &v.seq)))
            return std::nullopt;
        return v;
    }

    // Slots repaired at open (a previous writer died mid-write).
    std::uint32_t repaired() {
        std::uint32_t n = 0;
        detail::check(shmbus_slot_writer_repaired(h_.get(), &n));
        return n;
    }

    shmbus_slot_writer* handle() noexcept { return h_.get(); }

private:
    explicit SlotWriter(shmbus_slot_writer* w) : h_(w) { detail::check_record<T>(); }
    detail::Owned<shmbus_slot_writer, shmbus_slot_writer_close> h_;
};

// A reader of a slot table of T records (maps it read-only; never writes).
template <class T>
class SlotReader {
public:
    // Opens the table, checking that it holds T records (SHMBUS_LAYOUT_MISMATCH otherwise).
    // flags: SHMBUS_OPEN_ALLOW_FOREIGN_OWNER.
    static SlotReader open(const std::string& name, std::uint32_t flags = 0) {
        shmbus_slot_reader* r = nullptr;
        detail::check(shmbus_slots_open_reader(name.c_str(), record_traits<T>::layout(), flags, &r));
        return SlotReader(r);
    }

    // The slot of `key`; throws SHMBUS_UNKNOWN_KEY until the writer registers it.
    SlotId find(const std::string& key) {
        SlotId id = 0;
        detail::check(shmbus_slot_reader_find(h_.get(), key.c_str(), &id));
        return id;
    }

    // The slot of `key`, or nullopt if no such key (yet).
    std::optional<SlotId> try_find(const std::string& key) {
        SlotId id = 0;
        shmbus_status s = shmbus_slot_reader_find(h_.get(), key.c_str(), &id);
        if (s == SHMBUS_UNKNOWN_KEY) return std::nullopt;
        detail::check(s);
        return id;
    }

    // A consistent copy of slot `id` (never torn); nullopt if never written.
    std::optional<Versioned<T>> read(SlotId id) {
        Versioned<T> v{};
        if (!detail::check_data(shmbus_slot_reader_read(h_.get(), id, &v.value, sizeof(T), &v.seq)))
            return std::nullopt;
        return v;
    }

    // As read(), but nullopt (cheaply) while the slot's sequence is still `since`.
    std::optional<Versioned<T>> read_if_changed(SlotId id, std::uint64_t since) {
        Versioned<T> v{};
        if (!detail::check_data(shmbus_slot_reader_read_if_changed(h_.get(), id, since, &v.value,
                                                                   sizeof(T), &v.seq)))
            return std::nullopt;
        return v;
    }

    // Reads by key (throws SHMBUS_UNKNOWN_KEY for an unknown key).
    std::optional<Versioned<T>> get(const std::string& key) { return read(find(key)); }

    // Keys registered so far (slot ids 0 .. size()-1).
    std::uint32_t size() {
        std::uint32_t n = 0;
        detail::check(shmbus_slot_reader_info(h_.get(), &n, nullptr, nullptr));
        return n;
    }

    std::uint32_t capacity() {
        std::uint32_t n = 0;
        detail::check(shmbus_slot_reader_info(h_.get(), nullptr, &n, nullptr));
        return n;
    }

    // The key of slot `id`.
    std::string key(SlotId id) {
        char buf[SHMBUS_KEY_MAX + 1];
        detail::check(shmbus_slot_reader_key(h_.get(), id, buf, sizeof buf));
        return std::string(buf);
    }

    // Every key, in slot order.
    std::vector<std::string> keys() {
        std::vector<std::string> out;
        std::uint32_t n = size();
        out.reserve(n);
        for (SlotId id = 0; id < n; ++id) out.push_back(key(id));
        return out;
    }

    // How long a read waits for a live writer that keeps a slot mid-write (default 1 s).
    void set_timeout(std::chrono::milliseconds timeout) {
        auto ms = timeout.count() < 0 ? 0 : timeout.count();
        detail::check(shmbus_slot_reader_set_timeout(
            h_.get(), ms > 0xffffffffLL ? 0xffffffffu : static_cast<std::uint32_t>(ms)));
    }

    shmbus_slot_reader* handle() noexcept { return h_.get(); }

private:
    explicit SlotReader(shmbus_slot_reader* r) : h_(r) { detail::check_record<T>(); }
    detail::Owned<shmbus_slot_reader, shmbus_slot_reader_close> h_;
};

// The key under which Slot<T> registers its single record (as the Python binding's
// SharedMemoryProducer): consumers read slot 0 whatever its key.
inline constexpr const char* default_key = "default";

// One record in a region, as seed 001's SharedMemory<TradingData>:
//
//   // producer (seed 001: SharedMemory<TradingData> trading_shm("/trading_data", true);)
//   shmbus::Slot<shmbus::TradingData> trading_shm("/trading_data", true);
//   {
//       auto data = trading_shm.update();  // a copy of the current record
//       data->price = 100.50;
//       data->volume = 1000;
//       data->timestamp = shmbus::now_ns();
//       data->valid = 1;
//   }  // published here, all fields at once (the seed stored them one by one: torn reads)
//
//   // consumer, in another process (read-only mapping; never a second writer)
//   shmbus::Slot<shmbus::TradingData> consumer("/trading_data", false);
//   if (auto d = consumer.load()) std::printf("%f\n", d->price);
//
// A producer creates the region (a slot table of 16 slots, its record registered under
// default_key), or takes an existing one over after a restart (never re-initialising it under
// live readers); only one producer at a time (SHMBUS_WRITER_BUSY). A consumer reads slot 0.
template <class T>
class Slot {
public:
    Slot(const std::string& name, bool create) : name_(name) {
        if (create) {
            writer_.emplace(SlotWriter<T>::open_or_create(name, 16));
            // A table that already has a record keeps it in slot 0; a new one registers it.
            T probe{};
            shmbus_status s =
                shmbus_slot_writer_read(writer_->handle(), 0, &probe, sizeof(T), nullptr);
            if (s == SHMBUS_BAD_SLOT) {
                id_ = writer_->slot(default_key);
            } else if (s != SHMBUS_NO_DATA) {
                detail::check(s);
            }
        } else {
            reader_.emplace(SlotReader<T>::open(name));
        }
    }

    // A consumer, or nullopt while the region does not exist or is being created (the
    // producer is not running yet), for a polling connect() as seed 001's consumer. A file
    // still being sized by its creator is too short to be a region (SHMBUS_NOT_A_REGION): that
    // counts as "being created" too, so a garbage file also reads as "not yet"; open it with
    // Slot(name, false) to see the error.
    static std::optional<Slot> try_open(const std::string& name) {
        try {
            return Slot(name, false);
        } catch (const Error& e) {
            switch (e.code()) {
                case SHMBUS_NOT_FOUND:
                case SHMBUS_NOT_READY:
                case SHMBUS_NOT_A_REGION:
                    return std::nullopt;
                default:
                    throw;
            }
        }
    }

    bool is_writer() const noexcept { return writer_.has_value(); }
    const std::string& name() const noexcept { return name_; }

    // Producer: publishes `value`, all fields at once.
    void store(const T& value) { writer().write(id_, value); }

    // Producer: an in-place update; holds a copy of the current record and publishes it when
    // it goes out of scope (or at publish()).
    class Update {
    public:
        T* operator->() noexcept { return &value_; }
        T& operator*() noexcept { return value_; }
        void publish() {
            if (slot_ != nullptr) {
                Slot* s = std::exchange(slot_, nullptr);
                s->store(value_);
            }
        }
        Update(Update&& o) noexcept
            : slot_(std::exchange(o.slot_, nullptr)), value_(o.value_) {}
        Update(const Update&) = delete;
        Update& operator=(const Update&) = delete;
        Update& operator=(Update&&) = delete;
        // Publishes; a write to the producer's own registered slot cannot fail.
        ~Update() {
            try {
                publish();
            } catch (...) {
            }
        }

    private:
        friend class Slot;
        Update(Slot* slot, const T& value) : slot_(slot), value_(value) {}
        Slot* slot_;
        T value_;
    };

    Update update() {
        auto current = writer().read(id_);
        return Update(this, current ? current->value : T{});
    }

    // The latest record (nullopt if never written). Works for producers too.
    std::optional<T> load() {
        auto v = read(std::nullopt);
        if (!v) return std::nullopt;
        seq_ = v->seq;
        return v->value;
    }

    // The record if it changed since the last load()/load_if_changed(), else nullopt.
    std::optional<T> load_if_changed() {
        auto v = read(seq_);
        if (!v) return std::nullopt;
        seq_ = v->seq;
        return v->value;
    }

    // The sequence of the last record loaded (2 x the writes so far).
    std::uint64_t sequence() const noexcept { return seq_; }

private:
    SlotWriter<T>& writer() {
        if (!writer_) {
            throw Error(SHMBUS_INVALID_ARGUMENT,
                        "Slot(\"" + name_ + "\", false) is a consumer: it cannot write");
        }
        return *writer_;
    }

    std::optional<Versioned<T>> read(std::optional<std::uint64_t> since) {
        if (writer_) {
            auto v = writer_->read(id_);
            if (v && since && v->seq == *since) return std::nullopt;
            return v;
        }
        try {
            return since ? reader_->read_if_changed(0, *since) : reader_->read(0);
        } catch (const Error& e) {
            if (e.code() == SHMBUS_BAD_SLOT) return std::nullopt;  // not registered yet
            throw;
        }
    }

    std::string name_;
    std::optional<SlotWriter<T>> writer_;
    std::optional<SlotReader<T>> reader_;
    SlotId id_ = 0;
    std::uint64_t seq_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Journal

// A read-only view of bytes (C++17 has no std::span): a message payload.
class Bytes {
public:
    Bytes() noexcept = default;
    Bytes(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

    const std::uint8_t* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const std::uint8_t* begin() const noexcept { return data_; }
    const std::uint8_t* end() const noexcept { return data_ + size_; }
    std::uint8_t operator[](std::size_t i) const noexcept { return data_[i]; }

    std::string_view view() const noexcept {
        return std::string_view(reinterpret_cast<const char*>(data_), size_);
    }
    std::vector<std::uint8_t> to_vector() const { return std::vector<std::uint8_t>(begin(), end()); }

    // A copy of the payload as a plain-data record (throws if the size differs).
    template <class T>
    T as() const {
        static_assert(std::is_trivially_copyable_v<T>, "records are plain data");
        if (size_ != sizeof(T)) {
            throw Error(SHMBUS_RECORD_SIZE, "a payload of " + std::to_string(size_) +
                                                " bytes is not a record of " +
                                                std::to_string(sizeof(T)) + " bytes");
        }
        T v;
        std::memcpy(&v, data_, sizeof(T));
        return v;
    }

private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

// One journal message. Its payload belongs to the reader: valid until the reader's next call.
struct Message {
    std::uint64_t seq = 0;
    std::uint64_t position = 0;
    std::uint16_t type = 0;
    Bytes payload;
};

// The one writer of a journal (holds the writer lock while it lives). Appended messages become
// visible at commit(); destroying the writer discards what was not committed (as a crash).
class JournalWriter {
public:
    // A ring of `capacity` data bytes in one file (for /dev/shm): the writer never blocks and
    // overwrites the oldest messages. flags: SHMBUS_CREATE_CRC | _GROUP_SHARED | _POPULATE.
    static JournalWriter create_ring(const std::string& name, std::uint64_t capacity,
                                     std::uint32_t flags = 0) {
        shmbus_journal_writer* w = nullptr;
        detail::check(shmbus_journal_create_ring(name.c_str(), capacity, flags, &w));
        return JournalWriter(w);
    }

    // A persisted journal: a directory of segment files of `segment_size` data bytes, keeping
    // at most `retain_segments` files and about `retain_bytes` bytes (0: no limit).
    static JournalWriter create_persisted(const std::string& name, std::uint64_t segment_size,
                                          std::uint32_t retain_segments = 0,
                                          std::uint64_t retain_bytes = 0,
                                          std::uint32_t flags = 0) {
        shmbus_journal_writer* w = nullptr;
        detail::check(shmbus_journal_create_persisted(name.c_str(), segment_size, retain_segments,
                                                      retain_bytes, flags, &w));
        return JournalWriter(w);
    }

    // Opens an existing journal as its writer (after a crash too).
    static JournalWriter open(const std::string& name) {
        shmbus_journal_writer* w = nullptr;
        detail::check(shmbus_journal_open_writer(name.c_str(), &w));
        return JournalWriter(w);
    }

    // Appends a message (visible at the next commit); returns its sequence number.
    std::uint64_t append(std::uint16_t type, const void* data, std::size_t len) {
        std::uint64_t seq = 0;
        detail::check(shmbus_journal_writer_append(
            h_.get(), type, static_cast<const std::uint8_t*>(data), len, &seq));
        return seq;
    }

    std::uint64_t append(std::uint16_t type, std::string_view bytes) {
        return append(type, bytes.data(), bytes.size());
    }

    std::uint64_t append(std::uint16_t type, const std::vector<std::uint8_t>& bytes) {
        return append(type, bytes.data(), bytes.size());
    }

    // Appends a plain-data record as its bytes.
    template <class T>
    std::uint64_t append_record(std::uint16_t type, const T& record) {
        static_assert(std::is_trivially_copyable_v<T>, "records are plain data");
        return append(type, &record, sizeof(T));
    }

    // Publishes everything appended so far, at once, and wakes blocked readers.
    void commit() { detail::check(shmbus_journal_writer_commit(h_.get())); }

    // append() then commit().
    std::uint64_t append_commit(std::uint16_t type, std::string_view bytes) {
        std::uint64_t seq = 0;
        detail::check(shmbus_journal_writer_append_commit(
            h_.get(), type, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(),
            &seq));
        return seq;
    }

    // The sequence the next message will get.
    std::uint64_t next_seq() {
        std::uint64_t seq = 0;
        detail::check(shmbus_journal_writer_state(h_.get(), &seq, nullptr));
        return seq;
    }

    // The largest message this journal accepts, in bytes.
    std::size_t max_message() {
        std::size_t n = 0;
        detail::check(shmbus_journal_writer_state(h_.get(), nullptr, &n));
        return n;
    }

    shmbus_journal_writer* handle() noexcept { return h_.get(); }

private:
    explicit JournalWriter(shmbus_journal_writer* w) : h_(w) {}
    detail::Owned<shmbus_journal_writer, shmbus_journal_writer_close> h_;
};

using JournalInfo = ::shmbus_journal_info;

// Where a reader starts.
struct Start {
    static Start beginning() noexcept { return Start{SHMBUS_START_BEGINNING, 0}; }
    static Start end() noexcept { return Start{SHMBUS_START_END, 0}; }
    static Start at(std::uint64_t seq) noexcept { return Start{SHMBUS_START_SEQ, seq}; }
    std::uint32_t mode;
    std::uint64_t seq;
};

// An independent reader of a journal (maps it read-only). Iterate it with range-for:
//
//   for (const shmbus::Message& m : reader) { ... }                     // what is ready now
//   for (const shmbus::Message& m : reader.follow(100ms)) { ... }       // waits for each next
//                                                                       // message, ends after
//                                                                       // 100 ms without one
//
// A reader lapped by a ring's writer throws Error(SHMBUS_OVERRUN) once (lost() counts the
// messages lost) and then continues at the oldest message still stored.
class JournalReader {
public:
    static JournalReader open(const std::string& name, Start start = Start::beginning(),
                              std::uint32_t flags = 0) {
        shmbus_journal_reader* r = nullptr;
        detail::check(shmbus_journal_open_reader(name.c_str(), start.mode, start.seq, flags, &r));
        return JournalReader(r);
    }

    // The next committed message, without waiting; nullopt if none yet.
    std::optional<Message> next() { return next_ns(0); }

    // The next message, waiting up to `timeout` (sleeping on the writer's commits).
    template <class Rep, class Period>
    std::optional<Message> next(std::chrono::duration<Rep, Period> timeout) {
        return next_ns(detail::to_ns(timeout));
    }

    // The message before the cursor, moving back onto it; nullopt at the oldest.
    std::optional<Message> prev() {
        shmbus_message m;
        if (!detail::check_data(shmbus_journal_reader_prev(h_.get(), &m))) return std::nullopt;
        return convert(m);
    }

    // Moves the cursor onto message `seq`.
    void seek(std::uint64_t seq) { detail::check(shmbus_journal_reader_seek(h_.get(), seq)); }

    // The sequence of the next message this reader returns (save it to resume: Start::at).
    std::uint64_t next_seq() {
        std::uint64_t seq = 0;
        detail::check(shmbus_journal_reader_next_seq(h_.get(), &seq));
        return seq;
    }

    // Messages lost to overruns since open.
    std::uint64_t lost() {
        std::uint64_t n = 0;
        detail::check(shmbus_journal_reader_lost(h_.get(), &n));
        return n;
    }

    JournalInfo info() {
        JournalInfo i;
        detail::check(shmbus_journal_reader_info(h_.get(), &i));
        return i;
    }

    // Spin this long before sleeping in a timed next() (lower wake-up latency).
    template <class Rep, class Period>
    void set_spin(std::chrono::duration<Rep, Period> spin) {
        detail::check(shmbus_journal_reader_set_spin(h_.get(), detail::to_ns(spin)));
    }

    // An input iterator over messages; each one is valid until the iterator moves.
    class Iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Message;
        using difference_type = std::ptrdiff_t;
        using pointer = const Message*;
        using reference = const Message&;

        Iterator() noexcept = default;
        reference operator*() const noexcept { return *current_; }
        pointer operator->() const noexcept { return &*current_; }
        Iterator& operator++() {
            current_ = reader_->next_ns(timeout_ns_);
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const Iterator& a, const Iterator& b) noexcept {
            return a.current_.has_value() == b.current_.has_value();
        }
        friend bool operator!=(const Iterator& a, const Iterator& b) noexcept { return !(a == b); }

    private:
        friend class JournalReader;
        Iterator(JournalReader* r, std::uint64_t timeout_ns)
            : reader_(r), timeout_ns_(timeout_ns), current_(r->next_ns(timeout_ns)) {}
        JournalReader* reader_ = nullptr;
        std::uint64_t timeout_ns_ = 0;
        std::optional<Message> current_;
    };

    // The messages ready now (ends when none is ready).
    Iterator begin() { return Iterator(this, 0); }
    Iterator end() noexcept { return Iterator(); }

    // A range that waits up to `timeout` for each next message and ends after a timeout.
    class Follow {
    public:
        Iterator begin() { return Iterator(reader_, timeout_ns_); }
        Iterator end() noexcept { return Iterator(); }

    private:
        friend class JournalReader;
        Follow(JournalReader* r, std::uint64_t t) noexcept : reader_(r), timeout_ns_(t) {}
        JournalReader* reader_;
        std::uint64_t timeout_ns_;
    };

    template <class Rep, class Period>
    Follow follow(std::chrono::duration<Rep, Period> timeout) noexcept {
        return Follow(this, detail::to_ns(timeout));
    }

    shmbus_journal_reader* handle() noexcept { return h_.get(); }

private:
    explicit JournalReader(shmbus_journal_reader* r) : h_(r) {}

    static Message convert(const shmbus_message& m) noexcept {
        return Message{m.seq, m.position, m.type_tag, Bytes(m.data, m.len)};
    }

    std::optional<Message> next_ns(std::uint64_t timeout_ns) {
        shmbus_message m;
        if (!detail::check_data(shmbus_journal_reader_next(h_.get(), timeout_ns, &m)))
            return std::nullopt;
        return convert(m);
    }

    detail::Owned<shmbus_journal_reader, shmbus_journal_reader_close> h_;
};

// ---------------------------------------------------------------------------------------------
// Candles (seed 000's QNXS store)

// One OHLCV bar: timestamp (ms since the Unix epoch), open, high, low, close, volume.
using Candle = ::shmbus_candle;
// Seed 000's getStats(): total_symbols, total_candles, memory_used, last_write_us, write_count.
using CandleStats = ::shmbus_candle_stats;
using WriteReport = ::shmbus_write_report;

// One series of a candle region.
struct SeriesInfo {
    std::string symbol;
    std::string interval;
    std::uint32_t count = 0;
    std::uint32_t capacity = 0;
    std::uint64_t start_ts = 0;
    std::uint64_t end_ts = 0;
    std::uint64_t last_update_us = 0;

    static SeriesInfo from(const shmbus_series_info& s) {
        return SeriesInfo{detail::c_string(s.symbol, sizeof s.symbol),
                          detail::c_string(s.interval, sizeof s.interval),
                          s.count,
                          s.capacity,
                          s.start_ts,
                          s.end_ts,
                          s.last_update_us};
    }
};

// The one writer of a candle region (seed 000's SharedMemoryWriter).
class CandleWriter {
public:
    // Creates the region (exclusive; default size 128 MiB as seed 000); each series holds at
    // most `max_candles` (0: 100000). flags: SHMBUS_CREATE_GROUP_SHARED.
    static CandleWriter create(const std::string& name,
                               std::uint64_t size = SHMBUS_CANDLES_DEFAULT_SIZE,
                               std::uint32_t max_candles = 0, std::uint32_t flags = 0) {
        shmbus_candle_writer* w = nullptr;
        detail::check(shmbus_candles_create(name.c_str(), size, max_candles, flags, &w));
        return CandleWriter(w);
    }

    static CandleWriter open(const std::string& name) {
        shmbus_candle_writer* w = nullptr;
        detail::check(shmbus_candles_open_writer(name.c_str(), &w));
        return CandleWriter(w);
    }

    // Appends newer candles; one with the last stored timestamp replaces it (the live bar).
    // All or nothing: throws SHMBUS_INVALID_CANDLE, SHMBUS_OUT_OF_ORDER, SHMBUS_FULL, ...
    WriteReport write_candles(const std::string& symbol, const std::string& interval,
                              const Candle* candles, std::size_t n) {
        WriteReport r;
        detail::check(shmbus_candle_writer_write(h_.get(), symbol.c_str(), interval.c_str(),
                                                 candles, n, &r));
        return r;
    }

    WriteReport write_candles(const std::string& symbol, const std::string& interval,
                              const std::vector<Candle>& candles) {
        return write_candles(symbol, interval, candles.data(), candles.size());
    }

    // As write_candles, replacing stored candles at or after the batch's first timestamp.
    WriteReport replace_candles(const std::string& symbol, const std::string& interval,
                                const std::vector<Candle>& candles) {
        WriteReport r;
        detail::check(shmbus_candle_writer_replace(h_.get(), symbol.c_str(), interval.c_str(),
                                                   candles.data(), candles.size(), &r));
        return r;
    }

    CandleStats stats() {
        CandleStats s;
        detail::check(shmbus_candle_writer_stats(h_.get(), &s));
        return s;
    }

    shmbus_candle_writer* handle() noexcept { return h_.get(); }

private:
    explicit CandleWriter(shmbus_candle_writer* w) : h_(w) {}
    detail::Owned<shmbus_candle_writer, shmbus_candle_writer_close> h_;
};

// A reader of a candle region (shmbus's, or the original QuantNexus writer's): what seed 000's
// C++ backtester reads.
class CandleReader {
public:
    // flags: SHMBUS_OPEN_ALLOW_FOREIGN_OWNER.
    static CandleReader open(const std::string& name, std::uint32_t flags = 0) {
        shmbus_candle_reader* r = nullptr;
        detail::check(shmbus_candles_open_reader(name.c_str(), flags, &r));
        return CandleReader(r);
    }

    // Every series.
    std::vector<SeriesInfo> list_series() {
        std::vector<shmbus_series_info> raw;
        for (;;) {
            std::size_t n = 0;
            detail::check(shmbus_candle_reader_list_series(h_.get(), nullptr, 0, &n));
            raw.resize(n + 4);
            shmbus_status s =
                shmbus_candle_reader_list_series(h_.get(), raw.data(), raw.size(), &n);
            if (s == SHMBUS_BUFFER_TOO_SMALL) continue;  // series added meanwhile
            detail::check(s);
            raw.resize(n);
            break;
        }
        std::vector<SeriesInfo> out;
        out.reserve(raw.size());
        for (const auto& s : raw) out.push_back(SeriesInfo::from(s));
        return out;
    }

    // The series (symbol, interval) without its candles; nullopt if there is none.
    std::optional<SeriesInfo> find_series(const std::string& symbol, const std::string& interval) {
        shmbus_series_info s;
        shmbus_status st =
            shmbus_candle_reader_find_series(h_.get(), symbol.c_str(), interval.c_str(), &s);
        if (st == SHMBUS_UNKNOWN_SERIES) return std::nullopt;
        detail::check(st);
        return SeriesInfo::from(s);
    }

    // A validated copy of the series (never torn). Throws SHMBUS_UNKNOWN_SERIES if none.
    std::vector<Candle> read_series(const std::string& symbol, const std::string& interval) {
        std::vector<Candle> out;
        read_series(symbol, interval, out);
        return out;
    }

    // As read_series, into `out` (its allocation is reused across calls).
    void read_series(const std::string& symbol, const std::string& interval,
                     std::vector<Candle>& out) {
        fill(out, estimate(symbol, interval), [&](Candle* buf, std::size_t cap, std::size_t* n) {
            return shmbus_candle_reader_read_series(h_.get(), symbol.c_str(), interval.c_str(),
                                                    buf, cap, n);
        });
    }

    // The candles with from_ms <= timestamp < to_ms.
    std::vector<Candle> range(const std::string& symbol, const std::string& interval,
                              std::uint64_t from_ms, std::uint64_t to_ms) {
        std::vector<Candle> out;
        fill(out, estimate(symbol, interval), [&](Candle* buf, std::size_t cap, std::size_t* n) {
            return shmbus_candle_reader_range(h_.get(), symbol.c_str(), interval.c_str(), from_ms,
                                              to_ms, buf, cap, n);
        });
        return out;
    }

    // The last candle (the live bar); nullopt if the series is empty.
    std::optional<Candle> latest(const std::string& symbol, const std::string& interval) {
        Candle c;
        if (!detail::check_data(
                shmbus_candle_reader_latest(h_.get(), symbol.c_str(), interval.c_str(), &c)))
            return std::nullopt;
        return c;
    }

    CandleStats stats() {
        CandleStats s;
        detail::check(shmbus_candle_reader_stats(h_.get(), &s, nullptr));
        return s;
    }

    // Whether the region was written by the original QuantNexus writer.
    bool is_foreign() {
        CandleStats s;
        bool foreign = false;
        detail::check(shmbus_candle_reader_stats(h_.get(), &s, &foreign));
        return foreign;
    }

    shmbus_candle_reader* handle() noexcept { return h_.get(); }

private:
    explicit CandleReader(shmbus_candle_reader* r) : h_(r) {}

    // The series' count from the index (cheap): room for a read of the series or of a range of
    // it. 0 for an unknown series (the read then reports it).
    std::size_t estimate(const std::string& symbol, const std::string& interval) {
        auto info = find_series(symbol, interval);
        return info ? info->count : 0;
    }

    // Reads into `out` sized for `n` candles plus room to grow; a series that outgrew it
    // between the estimate and the read is read again at the size the library reports.
    template <class Read>
    static void fill(std::vector<Candle>& out, std::size_t n, Read read) {
        for (;;) {
            out.resize(n + n / 8 + 16);
            shmbus_status s = read(out.data(), out.size(), &n);
            if (s == SHMBUS_BUFFER_TOO_SMALL) continue;
            detail::check(s);
            out.resize(n);
            return;
        }
    }

    detail::Owned<shmbus_candle_reader, shmbus_candle_reader_close> h_;
};

}  // namespace shmbus

#endif  // SHMBUS_HPP
