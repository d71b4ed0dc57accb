// read_candles: prints one series of a QNXS candle region, one candle per line:
// "timestamp open high low close volume", prices with %.17g (exact round trip of an f64).
//
//   g++ -std=c++17 -O2 -Wall -Wextra -o read_candles read_candles.cpp
//   ./read_candles /dev/shm/quantnexus_ohlcv BTCUSDT 1h
//
// Exit status: 0 ok, 2 usage, 3 the region cannot be opened, 4 the series cannot be read.

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "qnxs.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: %s REGION SYMBOL INTERVAL\n", argv[0]);
        return 2;
    }
    qnxs::Region region;
    qnxs::Status st = region.open(argv[1]);
    if (st != qnxs::Status::Ok) {
        std::fprintf(stderr, "read_candles: %s: %s%s%s\n", argv[1], qnxs::status_name(st),
                     region.os_error != 0 ? ": " : "",
                     region.os_error != 0 ? std::strerror(region.os_error) : "");
        return 3;
    }
    std::vector<qnxs::QnxsCandle> candles;
    st = region.read_series(argv[2], argv[3], candles);
    if (st != qnxs::Status::Ok) {
        std::fprintf(stderr, "read_candles: %s %s %s: %s\n", argv[1], argv[2], argv[3],
                     qnxs::status_name(st));
        return 4;
    }
    for (const qnxs::QnxsCandle& c : candles) {
        std::printf("%" PRIu64 " %.17g %.17g %.17g %.17g %.17g\n", c.timestamp, c.open, c.high,
                    c.low, c.close, c.volume);
    }
    return std::fflush(stdout) == 0 ? 0 : 4;
}
