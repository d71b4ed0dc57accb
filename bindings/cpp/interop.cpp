// The C++ program of the interop contract (tests/interop/SPEC.md), over the C++17 wrapper:
//
//   interop-cpp write slots|journal|candles NAME   # create NAME, write the values, exit 0
//   interop-cpp read  slots|journal|candles NAME   # check every value: "ok cpp read KIND COUNT"
//
// Exit status: 0 ok; 1 a value differs (printed on stderr: kind, index, field, expected,
// found); 2 an error (opening, usage).

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "shmbus.hpp"

namespace {

constexpr std::uint32_t kSlotKeys = 8;
constexpr std::uint64_t kMessages = 1000;
constexpr std::uint64_t kRing = 1 << 20;
constexpr std::uint64_t kCandleRegion = 8 << 20;
constexpr std::uint64_t kT0 = 1700000000000ULL;

// A value that differs from the contract.
struct Mismatch {
    std::string what;
};

template <class A, class B>
void expect(const std::string& kind, const std::string& at, const char* field, const A& want,
            const B& got) {
    if (!(want == got)) {
        std::ostringstream s;
        s.precision(17);
        s << kind << " " << at << ": field " << field << ": expected " << want << ", found "
          << got;
        throw Mismatch{s.str()};
    }
}

shmbus::TradingData slot_value(std::uint32_t k) {
    return shmbus::make_trading_data(100.25 + 1.5 * k, static_cast<std::int32_t>(1000 + 7 * k),
                                     1700000000000000000ULL + k);
}

std::uint16_t msg_type(std::uint64_t i) { return static_cast<std::uint16_t>(1 + i % 5); }

std::vector<std::uint8_t> msg_payload(std::uint64_t i) {
    std::vector<std::uint8_t> p((7 * i) % 300);
    for (std::size_t j = 0; j < p.size(); ++j) p[j] = static_cast<std::uint8_t>((31 * i + 7 * j) % 256);
    return p;
}

struct Series {
    const char* symbol;
    const char* interval;
    std::vector<shmbus::Candle> candles;
};

shmbus::Candle candle(std::uint64_t ts, double open, double up, double down, double close_up,
                      double volume) {
    shmbus::Candle c{};
    c.timestamp = ts;
    c.open = open;
    c.high = open + up;
    c.low = open - down;
    c.close = open + close_up;
    c.volume = volume;
    return c;
}

std::vector<Series> series() {
    Series m1{"BTCUSDT", "1m", {}}, h1{"BTCUSDT", "1h", {}}, d1{"GOOG", "1d", {}};
    for (std::uint64_t i = 0; i < 500; ++i)
        m1.candles.push_back(candle(kT0 + 60000 * i, 100 + 0.5 * i, 2, 1.25, 0.75, 10.0 * i + 0.5));
    for (std::uint64_t i = 0; i < 50; ++i)
        h1.candles.push_back(candle(kT0 + 3600000 * i, 200.0 + i, 3, 2, 1, i + 1.0));
    for (std::uint64_t i = 0; i < 30; ++i)
        d1.candles.push_back(candle(kT0 + 86400000 * i, 150 + 0.25 * i, 1, 1, 0.5, 1000000.0 + i));
    return {m1, h1, d1};
}

void write(const std::string& kind, const std::string& name) {
    if (kind == "slots") {
        auto w = shmbus::SlotWriter<shmbus::TradingData>::create(name, 16);
        for (std::uint32_t k = 0; k < kSlotKeys; ++k) {
            std::string key = "SYM" + std::to_string(k);
            w.put(key, shmbus::make_trading_data(0.0, 0, 0));
            w.put(key, slot_value(k));
        }
    } else if (kind == "journal") {
        auto w = shmbus::JournalWriter::create_ring(name, kRing);
        for (std::uint64_t i = 0; i < kMessages; ++i) {
            w.append(msg_type(i), msg_payload(i));
            if (i % 10 == 9) w.commit();
        }
    } else if (kind == "candles") {
        auto w = shmbus::CandleWriter::create(name, kCandleRegion);
        for (const Series& s : series()) {
            std::size_t calls = std::string(s.interval) == "1m" ? 5 : 1;
            std::size_t chunk = s.candles.size() / calls;
            for (std::size_t at = 0; at < s.candles.size(); at += chunk)
                w.write_candles(s.symbol, s.interval, s.candles.data() + at, chunk);
        }
    } else {
        throw shmbus::Error(SHMBUS_INVALID_ARGUMENT,
                            "unknown kind \"" + kind + "\" (slots, journal or candles)");
    }
}

std::size_t read(const std::string& kind, const std::string& name) {
    if (kind == "slots") {
        auto r = shmbus::SlotReader<shmbus::TradingData>::open(name);
        expect("slots", "table", "keys", kSlotKeys, r.size());
        for (std::uint32_t k = 0; k < kSlotKeys; ++k) {
            std::string key = "SYM" + std::to_string(k);
            auto id = r.try_find(key);
            if (!id) throw Mismatch{"slots " + key + ": no such key"};
            expect("slots", key, "key of its slot", key, r.key(*id));
            auto v = r.read(*id);
            if (!v) throw Mismatch{"slots " + key + ": never written"};
            shmbus::TradingData want = slot_value(k);
            expect("slots", key, "price", want.price, v->value.price);
            expect("slots", key, "timestamp", want.timestamp, v->value.timestamp);
            expect("slots", key, "volume", want.volume, v->value.volume);
            expect("slots", key, "valid", int(want.valid), int(v->value.valid));
        }
        return kSlotKeys;
    }
    if (kind == "journal") {
        auto r = shmbus::JournalReader::open(name, shmbus::Start::beginning());
        std::uint64_t i = 0;
        for (const shmbus::Message& m : r) {
            std::string at = std::to_string(i);
            if (i >= kMessages)
                throw Mismatch{"journal: an extra message, sequence " + std::to_string(m.seq)};
            expect("journal", at, "seq", i, m.seq);
            expect("journal", at, "type", msg_type(i), m.type);
            std::vector<std::uint8_t> want = msg_payload(i);
            expect("journal", at, "length", want.size(), m.payload.size());
            for (std::size_t j = 0; j < want.size(); ++j) {
                if (want[j] != m.payload[j])
                    expect("journal", at + " byte " + std::to_string(j), "payload byte",
                           int(want[j]), int(m.payload[j]));
            }
            ++i;
        }
        expect("journal", "end", "messages", kMessages, i);
        return kMessages;
    }
    if (kind == "candles") {
        auto r = shmbus::CandleReader::open(name);
        expect("candles", "region", "series", std::size_t(3), r.list_series().size());
        std::size_t count = 0;
        for (const Series& s : series()) {
            std::vector<shmbus::Candle> got = r.read_series(s.symbol, s.interval);
            std::string at = std::string(s.symbol) + " " + s.interval;
            expect("candles", at, "count", s.candles.size(), got.size());
            for (std::size_t i = 0; i < got.size(); ++i) {
                const shmbus::Candle& w = s.candles[i];
                const shmbus::Candle& g = got[i];
                std::string ai = at + " #" + std::to_string(i);
                expect("candles", ai, "timestamp", w.timestamp, g.timestamp);
                expect("candles", ai, "open", w.open, g.open);
                expect("candles", ai, "high", w.high, g.high);
                expect("candles", ai, "low", w.low, g.low);
                expect("candles", ai, "close", w.close, g.close);
                expect("candles", ai, "volume", w.volume, g.volume);
            }
            count += got.size();
        }
        return count;
    }
    throw shmbus::Error(SHMBUS_INVALID_ARGUMENT,
                        "unknown kind \"" + kind + "\" (slots, journal or candles)");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: interop-cpp write|read slots|journal|candles NAME\n");
        return 2;
    }
    std::string verb = argv[1], kind = argv[2], name = argv[3];
    try {
        if (verb == "write") {
            write(kind, name);
            return 0;
        }
        if (verb == "read") {
            std::size_t n = read(kind, name);
            std::printf("ok cpp read %s %zu\n", kind.c_str(), n);
            return 0;
        }
        std::fprintf(stderr, "usage: interop-cpp write|read slots|journal|candles NAME\n");
        return 2;
    } catch (const Mismatch& m) {
        std::fprintf(stderr, "interop cpp read %s: %s\n", name.c_str(), m.what.c_str());
        return 1;
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "interop cpp %s %s %s: %s (%s)\n", verb.c_str(), kind.c_str(),
                     name.c_str(), e.what(), e.name());
        return 2;
    }
}
