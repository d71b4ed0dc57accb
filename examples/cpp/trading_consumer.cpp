// trading_consumer: seed 001's consumer, in C++: polls the producer's record (a read-only
// mapping: it can never become a second writer) and checks that every record it sees is
// whole: price and volume always from the same update.
//
//   trading_consumer NAME UPDATES [TIMEOUT_MS]
//
// Waits for the producer's region, then reads until it sees the last update (volume UPDATES).
// Exit status 0 if every record read was consistent and the last one arrived in time.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "shmbus.hpp"
#include "trading.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: trading_consumer NAME UPDATES [TIMEOUT_MS]\n");
        return 2;
    }
    const std::string name = argv[1];
    const long updates = std::atol(argv[2]);
    const auto deadline = Clock::now() + std::chrono::milliseconds(argc == 4 ? std::atol(argv[3]) : 10000);
    try {
        // Seed 001's consumer.connect(): false until the producer has created the region.
        std::optional<shmbus::Slot<shmbus::TradingData>> consumer;
        while (!(consumer = shmbus::Slot<shmbus::TradingData>::try_open(name))) {
            if (Clock::now() > deadline) {
                std::fprintf(stderr, "trading_consumer: %s did not appear in time\n",
                             name.c_str());
                shmbus::Slot<shmbus::TradingData>(name, false);  // throws why, if it can tell
                return 1;
            }
            std::this_thread::sleep_for(1ms);
        }
        long seen = 0, last_volume = 0;
        while (last_volume < updates) {
            if (Clock::now() > deadline) {
                std::fprintf(stderr, "trading_consumer: timed out at volume %ld of %ld\n",
                             last_volume, updates);
                return 1;
            }
            auto d = consumer->load_if_changed();  // one load when nothing changed
            if (!d) {
                std::this_thread::yield();
                continue;
            }
            ++seen;
            if (!d->valid || d->price != trading_price(d->volume) || d->volume < last_volume) {
                std::fprintf(stderr, "trading_consumer: an inconsistent record: price %.2f "
                                     "volume %d valid %d (after volume %ld)\n",
                             d->price, d->volume, d->valid, last_volume);
                return 1;
            }
            last_volume = d->volume;
        }
        std::printf("trading_consumer (C++): %ld distinct records read, all consistent; last "
                    "volume %ld (sequence %llu)\n",
                    seen, last_volume, static_cast<unsigned long long>(consumer->sequence()));
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "trading_consumer: %s: %s\n", e.name(), e.what());
        return 1;
    }
    return 0;
}
