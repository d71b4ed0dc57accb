// backtester: seed 000's consumer side: a C++ backtest reading a candle series from a QNXS
// region (written by shmbus in any language, or by the original QuantNexus writer) into a
// std::vector<shmbus::Candle>, then running a moving-average crossover over it.
//
//   backtester REGION SYMBOL INTERVAL [FAST SLOW]
//
// Exit status 0 after a backtest over at least SLOW candles.

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "shmbus.hpp"

struct Result {
    int trades = 0;
    double equity = 1.0;  // growth of 1 unit of capital, long-only
};

// Long while the fast simple moving average is above the slow one, flat otherwise.
static Result crossover(const std::vector<shmbus::Candle>& bars, std::size_t fast,
                        std::size_t slow) {
    Result r;
    double fast_sum = 0, slow_sum = 0, entry = 0;
    bool in = false;
    for (std::size_t i = 0; i < bars.size(); ++i) {
        fast_sum += bars[i].close;
        slow_sum += bars[i].close;
        if (i >= fast) fast_sum -= bars[i - fast].close;
        if (i >= slow) slow_sum -= bars[i - slow].close;
        if (i + 1 < slow) continue;
        bool want = fast_sum / fast > slow_sum / slow;
        if (want && !in) {
            entry = bars[i].close;
            in = true;
            ++r.trades;
        } else if (!want && in) {
            r.equity *= bars[i].close / entry;
            in = false;
        }
    }
    if (in) r.equity *= bars.back().close / entry;
    return r;
}

static std::string day(std::uint64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    char buf[32];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

int main(int argc, char** argv) {
    if (argc != 4 && argc != 6) {
        std::fprintf(stderr, "usage: backtester REGION SYMBOL INTERVAL [FAST SLOW]\n");
        return 2;
    }
    std::size_t fast = argc == 6 ? std::strtoul(argv[4], nullptr, 10) : 10;
    std::size_t slow = argc == 6 ? std::strtoul(argv[5], nullptr, 10) : 30;
    try {
        auto reader = shmbus::CandleReader::open(argv[1]);
        for (const shmbus::SeriesInfo& s : reader.list_series()) {
            std::printf("series %-8s %-3s %6u candles %s .. %s\n", s.symbol.c_str(),
                        s.interval.c_str(), s.count, day(s.start_ts).c_str(),
                        day(s.end_ts).c_str());
        }
        // A validated copy (never torn, even while a writer appends).
        std::vector<shmbus::Candle> bars = reader.read_series(argv[2], argv[3]);
        if (bars.size() < slow || fast == 0 || fast >= slow) {
            std::fprintf(stderr, "backtester: %zu candles, need at least SLOW=%zu > FAST=%zu\n",
                         bars.size(), slow, fast);
            return 1;
        }
        Result r = crossover(bars, fast, slow);
        std::printf("backtester (C++): %s %s, %zu candles, SMA %zu/%zu crossover: %d trades, "
                    "equity x%.4f (buy and hold x%.4f)\n",
                    argv[2], argv[3], bars.size(), fast, slow, r.trades, r.equity,
                    bars.back().close / bars.front().close);
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "backtester: %s: %s\n", e.name(), e.what());
        return 1;
    }
    return 0;
}
