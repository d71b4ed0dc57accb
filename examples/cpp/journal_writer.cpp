// journal_writer: appends COUNT ticks to a new ring journal, in batches (one commit per 64
// ticks, a short pause every 4096 so that readers really sleep on the futex), then an end
// message with the count. Readers in other processes: examples/c/journal_reader.c,
// examples/cpp/journal_reader.cpp.
//
//   journal_writer NAME COUNT

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "shmbus.hpp"
#include "tick.h"

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: journal_writer NAME COUNT\n");
        return 2;
    }
    const std::string name = argv[1];
    const std::uint64_t count = std::strtoull(argv[2], nullptr, 10);
    try {
        // 16 MiB holds about 300k ticks: readers that start late still find every one.
        auto w = shmbus::JournalWriter::create_ring(name, 16 << 20);
        auto start = std::chrono::steady_clock::now();
        for (std::uint64_t i = 0; i < count; ++i) {
            tick t{i, shmbus::now_ns(), tick_price(i), 1.0 + static_cast<double>(i % 7)};
            w.append_record(TICK_TYPE, t);
            if (i % 64 == 63) w.commit();  // one store publishes the batch
            if (i % 4096 == 4095) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        w.append_record(END_TYPE, count);
        w.commit();
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("journal_writer (C++): %llu ticks in %.3f s, next sequence %llu\n",
                    static_cast<unsigned long long>(count), s,
                    static_cast<unsigned long long>(w.next_seq()));
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "journal_writer: %s: %s\n", e.name(), e.what());
        return 1;
    }
    return 0;
}
