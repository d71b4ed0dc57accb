// trading_producer: seed 001's C++ producer on shmbus. The seed wrote
//
//     SharedMemory<TradingData> trading_shm("/trading_data", true);
//     auto data = trading_shm.get();
//     data->price.store(100.50);            // four separate atomic stores: a reader could
//     data->volume.store(1000);             // see the new price with the old volume
//     data->timestamp.store(current_nanoseconds());
//     data->valid.store(true);
//
// With shmbus::Slot the same code publishes all four fields at once (a seqlock: readers never
// see a mix), the region is never re-initialised under live readers, and only one producer
// runs at a time.
//
//   trading_producer NAME UPDATES [INTERVAL_US]
//
// Publishes UPDATES records: update i has volume i + 1 and price trading_price(i + 1).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "shmbus.hpp"
#include "trading.hpp"

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: trading_producer NAME UPDATES [INTERVAL_US]\n");
        return 2;
    }
    const std::string name = argv[1];
    const long updates = std::atol(argv[2]);
    const std::chrono::microseconds interval(argc == 4 ? std::atol(argv[3]) : 100);
    try {
        shmbus::Slot<shmbus::TradingData> trading_shm(name, true);
        for (long i = 1; i <= updates; ++i) {
            {
                auto data = trading_shm.update();  // a copy of the current record
                data->price = trading_price(i);
                data->volume = static_cast<std::int32_t>(i);
                data->timestamp = shmbus::now_ns();
                data->valid = 1;
            }  // published here, all fields at once
            std::this_thread::sleep_for(interval);
        }
        auto last = trading_shm.load();
        std::printf("trading_producer (C++): %ld updates to %s, last price %.2f volume %d\n",
                    updates, name.c_str(), last ? last->price : 0.0, last ? last->volume : 0);
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "trading_producer: %s: %s\n", e.name(), e.what());
        return 1;
    }
    return 0;
}
