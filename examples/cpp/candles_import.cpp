// candles_import: seed 000's writer side in C++: reads daily bars from a CSV file
// (date,Open,High,Low,Close,Volume with a header line, as the fixtures in
// crates/shmbus-cli/tests/fixtures) and writes them to a new candle region, then prints
// getStats() as seed 000 does.
//
//   candles_import REGION CSV SYMBOL INTERVAL

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "shmbus.hpp"

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
static std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// One CSV line "YYYY-MM-DD,open,high,low,close,volume" as a candle (false if malformed).
static bool parse(const std::string& line, shmbus::Candle& c) {
    int y = 0;
    unsigned m = 0, d = 0;
    double o, h, l, cl, v;
    if (std::sscanf(line.c_str(), "%d-%u-%u,%lf,%lf,%lf,%lf,%lf", &y, &m, &d, &o, &h, &l, &cl,
                    &v) != 8) {
        return false;
    }
    c.timestamp = static_cast<std::uint64_t>(days_from_civil(y, m, d)) * 86400000ULL;
    c.open = o;
    c.high = h;
    c.low = l;
    c.close = cl;
    c.volume = v;
    return true;
}

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: candles_import REGION CSV SYMBOL INTERVAL\n");
        return 2;
    }
    std::ifstream in(argv[2]);
    if (!in) {
        std::fprintf(stderr, "candles_import: cannot read %s\n", argv[2]);
        return 1;
    }
    std::vector<shmbus::Candle> bars;
    std::string line;
    std::getline(in, line);  // the header
    for (int n = 2; std::getline(in, line); ++n) {
        if (line.empty()) continue;
        shmbus::Candle c{};
        if (!parse(line, c)) {
            std::fprintf(stderr, "candles_import: %s:%d: not a date,open,high,low,close,volume "
                                 "row: %s\n", argv[2], n, line.c_str());
            return 1;
        }
        bars.push_back(c);
    }
    try {
        auto writer = shmbus::CandleWriter::create(argv[1], 8 << 20);
        // In batches of 100, as a feed would: each write is validated and all-or-nothing.
        for (std::size_t at = 0; at < bars.size(); at += 100) {
            std::size_t n = std::min<std::size_t>(100, bars.size() - at);
            writer.write_candles(argv[3], argv[4], bars.data() + at, n);
        }
        shmbus::CandleStats s = writer.stats();
        std::printf("candles_import (C++): %zu bars of %s %s into %s; stats: totalSymbols %u "
                    "totalCandles %" PRIu64 " memoryUsed %" PRIu64 " writeCount %" PRIu64 "\n",
                    bars.size(), argv[3], argv[4], argv[1], s.total_symbols, s.total_candles,
                    s.memory_used, s.write_count);
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "candles_import: %s: %s\n", e.name(), e.what());
        return 1;
    }
    return 0;
}
