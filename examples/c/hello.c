/*
 * hello: a tour of the shmbus C ABI in one process (slots, journal, candles, errors).
 *
 *   gcc -std=c11 -I bindings/c/include examples/c/hello.c -L target/release -lshmbus_c \
 *       -Wl,-rpath,$PWD/target/release -o hello && ./hello
 *
 * Every call returns a shmbus_status; on an error, shmbus_last_error() says what went wrong
 * and what to do. Exits 0 when every value read back is the value written.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shmbus.h"

/* Exits with the library's message if `s` is not SHMBUS_OK. */
static void check(shmbus_status s, const char *what) {
    if (s != SHMBUS_OK) {
        fprintf(stderr, "hello: %s: %s: %s\n", what, shmbus_status_name(s), shmbus_last_error());
        exit(1);
    }
}

static void expect(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "hello: unexpected value: %s\n", what);
        exit(1);
    }
}

static void slots(const char *name) {
    shmbus_slot_writer *w = NULL;
    check(shmbus_slots_create(name, shmbus_trading_data_layout(), 64, 0, &w), "create slots");

    /* Register the key once; use the id on the hot path. */
    uint32_t btc = 0;
    check(shmbus_slot_writer_slot(w, "BTCUSD", &btc), "register BTCUSD");
    shmbus_trading_data t = {0}; /* zero-initialised: the padding is copied too */
    t.price = 97000.5;
    t.volume = 3;
    t.timestamp = shmbus_now_ns();
    t.valid = 1;
    check(shmbus_slot_writer_write(w, btc, &t, sizeof t), "write BTCUSD");

    /* A reader (any process): read-only mapping, layout checked at open. */
    shmbus_slot_reader *r = NULL;
    check(shmbus_slots_open_reader(name, shmbus_trading_data_layout(), 0, &r), "open reader");
    uint32_t id = 0;
    check(shmbus_slot_reader_find(r, "BTCUSD", &id), "find BTCUSD");
    shmbus_trading_data got;
    uint64_t seq = 0;
    check(shmbus_slot_reader_read(r, id, &got, sizeof got, &seq), "read BTCUSD");
    expect(got.price == 97000.5 && got.volume == 3 && got.valid == 1, "BTCUSD as written");
    printf("slots    BTCUSD price %.2f volume %d (sequence %" PRIu64 ")\n", got.price,
           got.volume, seq);

    /* Change detection: SHMBUS_NO_DATA until the writer publishes again. */
    expect(shmbus_slot_reader_read_if_changed(r, id, seq, &got, sizeof got, &seq) ==
               SHMBUS_NO_DATA,
           "unchanged slot");
    t.price = 97001.0;
    check(shmbus_slot_writer_write(w, btc, &t, sizeof t), "write BTCUSD again");
    check(shmbus_slot_reader_read_if_changed(r, id, seq, &got, sizeof got, &seq), "changed");
    expect(got.price == 97001.0, "the new price");

    /* Errors are values: an unknown key. */
    shmbus_status s = shmbus_slot_reader_find(r, "XRPUSD", &id);
    expect(s == SHMBUS_UNKNOWN_KEY, "XRPUSD is unknown");
    printf("slots    an unknown key: %s: %s\n", shmbus_status_name(s), shmbus_last_error());

    check(shmbus_slot_reader_close(r), "close reader");
    check(shmbus_slot_writer_close(w), "close writer");
}

static void journal(const char *name) {
    shmbus_journal_writer *w = NULL;
    check(shmbus_journal_create_ring(name, 1 << 20, SHMBUS_CREATE_CRC, &w), "create journal");
    shmbus_journal_reader *r = NULL;
    check(shmbus_journal_open_reader(name, SHMBUS_START_BEGINNING, 0, 0, &r), "open reader");

    /* Append many, commit once: the batch becomes visible at once. */
    char text[32];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(text, sizeof text, "message %d", i);
        check(shmbus_journal_writer_append(w, 1, (const uint8_t *)text, (size_t)n, NULL),
              "append");
    }
    check(shmbus_journal_writer_commit(w), "commit");

    /* Read: the payload pointer is valid until the next call with this reader. */
    shmbus_message m;
    int count = 0;
    shmbus_status s;
    while ((s = shmbus_journal_reader_next(r, 1000000 /* wait up to 1 ms */, &m)) == SHMBUS_OK) {
        snprintf(text, sizeof text, "message %d", count);
        expect(m.seq == (uint64_t)count && m.len == strlen(text) &&
                   memcmp(m.data, text, m.len) == 0,
               "the journal message");
        count++;
    }
    expect(s == SHMBUS_NO_DATA && count == 10, "10 messages, then none");

    /* Or copy into your own buffer: a small buffer keeps the message for the next call. */
    check(shmbus_journal_reader_seek(r, 9), "seek");
    uint8_t small[4], big[64];
    s = shmbus_journal_reader_next_copy(r, 0, small, sizeof small, &m);
    expect(s == SHMBUS_BUFFER_TOO_SMALL && m.len == 9, "a size hint");
    check(shmbus_journal_reader_next_copy(r, 0, big, sizeof big, &m), "copy");
    expect(m.seq == 9 && memcmp(big, "message 9", 9) == 0, "the copied message");
    printf("journal  %d messages, last \"%.*s\"\n", count, (int)m.len, (const char *)big);

    check(shmbus_journal_reader_close(r), "close reader");
    check(shmbus_journal_writer_close(w), "close writer");
}

static void candles(const char *name) {
    shmbus_candle_writer *w = NULL;
    check(shmbus_candles_create(name, 1 << 20, 0, 0, &w), "create candles");
    shmbus_candle bars[24];
    for (int i = 0; i < 24; i++) {
        double open = 42000.0 + 10.0 * i;
        shmbus_candle c = {1704067200000ULL + 3600000ULL * (uint64_t)i, open, open + 50.0,
                           open - 20.0, open + 10.0, 1.5 * i};
        bars[i] = c;
    }
    shmbus_write_report rep;
    check(shmbus_candle_writer_write(w, "BTCUSDT", "1h", bars, 24, &rep), "write candles");
    expect(rep.count == 24, "24 candles stored");

    /* A bad batch is refused whole, with the QNXS error code in the message. */
    shmbus_candle bad = bars[23];
    bad.timestamp += 3600000;
    bad.low = bad.high + 1.0;
    shmbus_status s = shmbus_candle_writer_write(w, "BTCUSDT", "1h", &bad, 1, NULL);
    expect(s == SHMBUS_INVALID_CANDLE, "an invalid candle");
    printf("candles  an invalid candle: %s\n", shmbus_last_error());

    shmbus_candle_reader *r = NULL;
    check(shmbus_candles_open_reader(name, 0, &r), "open candle reader");
    /* Size query (NULL buffer), then the read. */
    size_t n = 0;
    check(shmbus_candle_reader_read_series(r, "BTCUSDT", "1h", NULL, 0, &n), "size query");
    shmbus_candle *buf = malloc(n * sizeof *buf);
    expect(buf != NULL, "memory");
    check(shmbus_candle_reader_read_series(r, "BTCUSDT", "1h", buf, n, &n), "read series");
    expect(n == 24 && memcmp(buf, bars, sizeof bars) == 0, "the series as written");
    shmbus_candle_stats st;
    check(shmbus_candle_reader_stats(r, &st, NULL), "stats");
    printf("candles  BTCUSDT 1h: %zu candles, last close %.2f; %u series, %" PRIu64
           " bytes used\n",
           n, buf[n - 1].close, st.total_symbols, st.memory_used);
    free(buf);
    check(shmbus_candle_reader_close(r), "close candle reader");
    check(shmbus_candle_writer_close(w), "close candle writer");
}

int main(void) {
    if (shmbus_abi_version() != SHMBUS_ABI_VERSION) {
        fprintf(stderr, "hello: library ABI %u, header ABI %d\n", shmbus_abi_version(),
                SHMBUS_ABI_VERSION);
        return 1;
    }
    char q[64], j[64], c[64];
    snprintf(q, sizeof q, "/shmbus-hello-%d-quotes", (int)getpid());
    snprintf(j, sizeof j, "/shmbus-hello-%d-trades", (int)getpid());
    snprintf(c, sizeof c, "/shmbus-hello-%d-ohlcv", (int)getpid());

    /* Opening what does not exist is an error code with a message, never a crash. */
    shmbus_slot_reader *none = NULL;
    shmbus_status s = shmbus_slots_open_reader(q, NULL, 0, &none);
    expect(s == SHMBUS_NOT_FOUND && none == NULL, "no region yet");
    printf("regions  %s: %s\n", shmbus_status_name(s), shmbus_last_error());

    slots(q);
    journal(j);
    candles(c);

    shmbus_region_header h;
    check(shmbus_region_info(q, &h), "region info");
    expect(h.kind == SHMBUS_KIND_SLOTS && strcmp(h.layout_name, "TradingData") == 0, "header");
    check(shmbus_region_remove(q, false), "remove slots");
    check(shmbus_region_remove(j, false), "remove journal");
    check(shmbus_region_remove(c, false), "remove candles");
    printf("hello: ok\n");
    return 0;
}
