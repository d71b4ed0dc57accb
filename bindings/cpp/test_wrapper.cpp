// Tests of the C++ wrapper (bindings/cpp/include/shmbus.hpp): errors carry their code and
// message, handles are RAII and movable, records of the caller's own layout, Slot<T> as seed
// 001's SharedMemory<T>, journal iteration (range-for, follow, prev, seek), candle reads.
// Compiled and run by scripts/ci/c.sh; exit status 0 when every check passes.
//
//   test_wrapper [NAME_PREFIX]

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

#include "shmbus.hpp"

using namespace std::chrono_literals;

static int failures = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                               \
        }                                                                             \
    } while (0)

// Runs `f`, which must throw shmbus::Error with `code`; returns its message.
template <class F>
static std::string throws(shmbus_status code, F f, int line) {
    try {
        f();
    } catch (const shmbus::Error& e) {
        if (e.code() != code) {
            std::fprintf(stderr, "line %d: expected %s, got %s: %s\n", line,
                         shmbus_status_name(code), e.name(), e.what());
            ++failures;
        }
        return e.what();
    }
    std::fprintf(stderr, "line %d: expected %s, nothing thrown\n", line, shmbus_status_name(code));
    ++failures;
    return "";
}
#define THROWS(code, expr) throws(code, [&] { (void)(expr); }, __LINE__)

// A record of our own, described field by field.
struct Quote {
    double bid;
    double ask;
    std::uint64_t ts;
    char venue[8];
};

template <>
struct shmbus::record_traits<Quote> {
    static const shmbus_record_layout* layout() noexcept {
        static const shmbus_field fields[] = {
            {"bid", SHMBUS_FIELD_TYPE_F64, offsetof(Quote, bid), 0},
            {"ask", SHMBUS_FIELD_TYPE_F64, offsetof(Quote, ask), 0},
            {"ts", SHMBUS_FIELD_TYPE_U64, offsetof(Quote, ts), 0},
            {"venue", SHMBUS_FIELD_TYPE_BYTES, offsetof(Quote, venue), 8}};
        static const shmbus_record_layout l = {"Quote", sizeof(Quote), fields, 4};
        return &l;
    }
};

// Region names: PREFIX-what (the first argument; by default /shmbus-cpp-test-PID).
static std::string prefix;

static std::string name(const char* what) { return prefix + "-" + what; }

static void errors_and_regions() {
    std::string missing = name("missing");
    std::string msg = THROWS(SHMBUS_NOT_FOUND, shmbus::SlotReader<shmbus::TradingData>::open(missing));
    CHECK(msg.find("create it first") != std::string::npos);
    CHECK(!shmbus::remove(missing));
    THROWS(SHMBUS_INVALID_NAME, shmbus::JournalWriter::create_ring("", 1 << 16));
    THROWS(SHMBUS_INVALID_SIZE, shmbus::CandleWriter::create(name("tiny"), 100));

    std::string q = name("quotes");
    auto w = shmbus::SlotWriter<shmbus::TradingData>::create(q, 4);
    THROWS(SHMBUS_ALREADY_EXISTS, shmbus::SlotWriter<shmbus::TradingData>::create(q, 4));
    THROWS(SHMBUS_WRITER_BUSY, shmbus::SlotWriter<shmbus::TradingData>::open(q));
    THROWS(SHMBUS_KIND_MISMATCH, shmbus::JournalReader::open(q));
    THROWS(SHMBUS_LAYOUT_MISMATCH, shmbus::SlotReader<Quote>::open(q));
    shmbus::RegionHeader h = shmbus::region_info(q);
    CHECK(h.kind == SHMBUS_KIND_SLOTS);
    CHECK(std::string(h.layout_name) == "TradingData");
    CHECK(h.writer_alive);
    THROWS(SHMBUS_IN_USE, shmbus::remove(q));

    // The stable error code, finer than the status and never parsed from the message.
    try {
        shmbus::SlotReader<shmbus::TradingData>::open(missing);
        CHECK(false);
    } catch (const shmbus::Error& e) {
        CHECK(e.error_code() == SHMBUS_ERR_NOT_FOUND);
        CHECK(std::string(e.error_code_name()) == "not_found");
    }
    try {
        shmbus::SlotWriter<shmbus::TradingData>::open(q);
        CHECK(false);
    } catch (const shmbus::Error& e) {
        CHECK(e.code() == SHMBUS_WRITER_BUSY);
        CHECK(e.error_code() == SHMBUS_ERR_WRITER_BUSY);
        CHECK(e.error_code() == 119);
        CHECK(std::string(e.error_code_name()) == "writer_busy");
    }
    try {
        shmbus::remove(q);
        CHECK(false);
    } catch (const shmbus::Error& e) {
        CHECK(e.error_code() == SHMBUS_ERR_IN_USE);
    }

    // Moving a handle moves the writer lock with it; destroying it releases the lock.
    auto moved = std::move(w);
    moved.put("BTCUSD", shmbus::make_trading_data(97000.5, 3, 42));
    { auto gone = std::move(moved); }
    auto again = shmbus::SlotWriter<shmbus::TradingData>::open(q);
    CHECK(again.slot("BTCUSD") == 0);
    auto r = shmbus::SlotReader<shmbus::TradingData>::open(q);
    auto v = r.get("BTCUSD");
    CHECK(v && v->value.price == 97000.5 && v->value.volume == 3 && v->seq == 2);
    CHECK(!r.read_if_changed(0, v->seq));
    CHECK(!r.try_find("ETHUSD"));
    msg = THROWS(SHMBUS_UNKNOWN_KEY, r.find("ETHUSD"));
    CHECK(msg.find("ETHUSD") != std::string::npos);
    THROWS(SHMBUS_BAD_SLOT, r.read(3));
    THROWS(SHMBUS_INVALID_NAME, again.slot(std::string(40, 'K')));
    again.put("A", shmbus::TradingData{});
    again.put("B", shmbus::TradingData{});
    again.put("C", shmbus::TradingData{});
    msg = THROWS(SHMBUS_FULL, again.slot("D"));
    CHECK(r.keys() == (std::vector<std::string>{"BTCUSD", "A", "B", "C"}));
    CHECK(r.capacity() == 4);
    CHECK(shmbus::remove(q, true));
}

static void custom_records() {
    std::string q = name("custom");
    auto w = shmbus::SlotWriter<Quote>::create(q, 8);
    Quote quote{};
    quote.bid = 1.0825;
    quote.ask = 1.0827;
    quote.ts = shmbus::now_ns();
    std::memcpy(quote.venue, "EBS", 3);
    auto id = w.put("EURUSD", quote);
    auto r = shmbus::SlotReader<Quote>::open(q);
    auto got = r.read(id);
    CHECK(got && got->value.bid == 1.0825 && got->value.ask == 1.0827 &&
          std::strcmp(got->value.venue, "EBS") == 0);
    THROWS(SHMBUS_LAYOUT_MISMATCH, shmbus::SlotReader<shmbus::TradingData>::open(q));
    shmbus::remove(q, true);
}

static void slot_like_seed_001() {
    std::string q = name("trading");
    CHECK(!shmbus::Slot<shmbus::TradingData>::try_open(q));
    shmbus::Slot<shmbus::TradingData> producer(q, true);
    auto consumer = shmbus::Slot<shmbus::TradingData>::try_open(q);
    CHECK(consumer.has_value());
    CHECK(!consumer->load());  // registered, never written
    {
        auto data = producer.update();
        data->price = 100.5;
        data->volume = 1000;
        data->timestamp = shmbus::now_ns();
        data->valid = 1;
        CHECK(!consumer->load());  // not published before the guard ends
    }
    auto d = consumer->load();
    CHECK(d && d->price == 100.5 && d->volume == 1000 && d->valid == 1);
    CHECK(!consumer->load_if_changed());
    {
        auto data = producer.update();  // starts from the current record
        CHECK(data->price == 100.5);
        data->volume = 1001;
    }
    d = consumer->load_if_changed();
    CHECK(d && d->price == 100.5 && d->volume == 1001);
    THROWS(SHMBUS_INVALID_ARGUMENT, consumer->store(shmbus::TradingData{}));
    THROWS(SHMBUS_WRITER_BUSY, shmbus::Slot<shmbus::TradingData>(q, true));
    CHECK(producer.is_writer() && !consumer->is_writer());
    shmbus::remove(q, true);
}

static void journal() {
    std::string j = name("journal");
    auto w = shmbus::JournalWriter::create_ring(j, 1 << 16, SHMBUS_CREATE_CRC);
    auto r = shmbus::JournalReader::open(j, shmbus::Start::beginning());
    CHECK(!r.next());
    auto t0 = std::chrono::steady_clock::now();
    CHECK(!r.next(20ms));  // waits, then gives up
    CHECK(std::chrono::steady_clock::now() - t0 >= 20ms);
    for (int i = 0; i < 5; ++i) w.append(static_cast<std::uint16_t>(i), "m" + std::to_string(i));
    CHECK(!r.next());  // not committed
    w.commit();
    int n = 0;
    for (const shmbus::Message& m : r) {
        CHECK(m.seq == static_cast<std::uint64_t>(n) && m.type == n);
        CHECK(m.payload.view() == "m" + std::to_string(n));
        ++n;
    }
    CHECK(n == 5);
    auto p = r.prev();
    CHECK(p && p->seq == 4);
    r.seek(1);
    CHECK(r.next_seq() == 1);
    auto m = r.next();
    CHECK(m && m->payload.view() == "m1");
    THROWS(SHMBUS_NOT_YET, r.seek(99));
    THROWS(SHMBUS_RECORD_SIZE, m->payload.as<std::uint64_t>());
    w.append_record(7, std::uint64_t{42});
    w.commit();
    // follow(): waits for each next message, ends after the timeout.
    std::vector<std::uint64_t> seqs;
    for (const shmbus::Message& f : r.follow(10ms)) seqs.push_back(f.seq);
    CHECK((seqs == std::vector<std::uint64_t>{2, 3, 4, 5}));
    r.seek(5);
    CHECK(r.next()->payload.as<std::uint64_t>() == 42);
    CHECK(w.next_seq() == 6);
    std::string big(w.max_message() + 1, 'x');
    THROWS(SHMBUS_MESSAGE_TOO_LARGE, w.append(1, big));
    shmbus::JournalInfo info = r.info();
    CHECK(info.mode == SHMBUS_JOURNAL_MODE_RING && info.crc && info.next_seq == 6);

    // Overrun: a lapped reader throws once, counts, and continues.
    auto late = shmbus::JournalReader::open(j, shmbus::Start::beginning());
    std::string payload(1000, 'p');
    for (int i = 0; i < 200; ++i) w.append_commit(1, payload);
    THROWS(SHMBUS_OVERRUN, late.next());
    CHECK(late.lost() > 0);
    std::uint64_t rest = 0;
    for (const shmbus::Message& x : late) rest += x.payload.size() == 1000;
    CHECK(rest + late.lost() >= 200);
    shmbus::remove(j, true);
}

static void candles() {
    std::string c = name("ohlcv");
    auto w = shmbus::CandleWriter::create(c, 1 << 20);
    std::vector<shmbus::Candle> bars;
    for (std::uint64_t i = 0; i < 100; ++i) {
        double o = 100.0 + static_cast<double>(i);
        bars.push_back(shmbus::Candle{1704067200000ULL + 3600000ULL * i, o, o + 2, o - 1, o + 1,
                                      10.0});
    }
    auto rep = w.write_candles("BTCUSDT", "1h", bars);
    CHECK(rep.count == 100 && rep.written == 100);
    auto r = shmbus::CandleReader::open(c);
    CHECK(r.read_series("BTCUSDT", "1h").size() == 100);
    // Reading into a reused vector, while the series grows.
    std::vector<shmbus::Candle> out;
    r.read_series("BTCUSDT", "1h", out);
    shmbus::Candle next = bars.back();
    next.timestamp += 3600000;
    w.write_candles("BTCUSDT", "1h", &next, 1);
    r.read_series("BTCUSDT", "1h", out);
    CHECK(out.size() == 101 && std::memcmp(&out[100], &next, sizeof next) == 0);
    CHECK(r.range("BTCUSDT", "1h", bars[10].timestamp, bars[20].timestamp).size() == 10);
    CHECK(r.latest("BTCUSDT", "1h")->timestamp == next.timestamp);
    CHECK(!r.find_series("BTCUSDT", "1d"));
    std::string msg = THROWS(SHMBUS_UNKNOWN_SERIES, r.read_series("BTCUSDT", "1d"));
    CHECK(msg.rfind("QNXS error 6", 0) == 0);
    THROWS(SHMBUS_OUT_OF_ORDER, w.write_candles("BTCUSDT", "1h", bars.data(), 1));
    CHECK(w.replace_candles("BTCUSDT", "1h", {bars[0]}).count == 1);
    auto series = r.list_series();
    CHECK(series.size() == 1 && series[0].symbol == "BTCUSDT" && series[0].interval == "1h");
    shmbus::CandleStats s = r.stats();
    CHECK(s.total_symbols == 1 && s.total_candles == 1 && s.write_count == 3);
    CHECK(!r.is_foreign());
    shmbus::remove(c, true);
}

int main(int argc, char** argv) {
    prefix = argc > 1 ? argv[1] : "/shmbus-cpp-test-" + std::to_string(getpid());
    errors_and_regions();
    custom_records();
    slot_like_seed_001();
    journal();
    candles();
    if (failures != 0) {
        std::fprintf(stderr, "test_wrapper: %d checks failed\n", failures);
        return 1;
    }
    std::printf("test_wrapper: all checks passed\n");
    return 0;
}
