// journal_reader: follows a journal with range-for over byte spans, checking every tick, until
// the writer's end message.
//
//   journal_reader NAME [TIMEOUT_MS]
//
// Waits for the journal to exist; then each next message is awaited for up to TIMEOUT_MS
// (default 10000) on the writer's commits (a futex, no polling). Exit status 0 when every tick
// arrived in order.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "shmbus.hpp"
#include "tick.h"

using namespace std::chrono_literals;

// The reader, once the writer has created the journal (throws after `timeout`). A file that
// is still being sized by its creator is too short to be a region: retried too.
static std::optional<shmbus::JournalReader> open_when_ready(const std::string& name,
                                                            std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        try {
            return shmbus::JournalReader::open(name, shmbus::Start::beginning());
        } catch (const shmbus::Error& e) {
            bool not_yet = e.code() == SHMBUS_NOT_FOUND || e.code() == SHMBUS_NOT_READY ||
                           e.code() == SHMBUS_NOT_A_REGION;
            if (!not_yet || std::chrono::steady_clock::now() > deadline) throw;
        }
        std::this_thread::sleep_for(1ms);
    }
}

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: journal_reader NAME [TIMEOUT_MS]\n");
        return 2;
    }
    const std::string name = argv[1];
    const std::chrono::milliseconds timeout(argc == 3 ? std::atoll(argv[2]) : 10000);
    try {
        auto reader = open_when_ready(name, timeout);
        std::uint64_t ticks = 0, latency_ns = 0;
        bool ended = false;
        // Each message's payload is a span into the reader's buffer, valid in this iteration.
        for (const shmbus::Message& m : reader->follow(timeout)) {
            if (m.type == END_TYPE) {
                auto written = m.payload.as<std::uint64_t>();
                if (written != ticks) {
                    std::fprintf(stderr, "journal_reader: %llu ticks written, %llu read\n",
                                 static_cast<unsigned long long>(written),
                                 static_cast<unsigned long long>(ticks));
                    return 1;
                }
                ended = true;
                break;
            }
            auto t = m.payload.as<tick>();
            if (m.type != TICK_TYPE || t.seq != ticks || m.seq != ticks ||
                t.price != tick_price(t.seq)) {
                std::fprintf(stderr, "journal_reader: expected tick %llu, got %llu (type %u)\n",
                             static_cast<unsigned long long>(ticks),
                             static_cast<unsigned long long>(t.seq), m.type);
                return 1;
            }
            latency_ns += shmbus::now_ns() - t.sent_ns;
            ++ticks;
        }
        if (!ended) {
            std::fprintf(stderr, "journal_reader: no message for %lld ms after %llu ticks\n",
                         static_cast<long long>(timeout.count()),
                         static_cast<unsigned long long>(ticks));
            return 1;
        }
        std::printf("journal_reader (C++): %llu ticks in order, %llu lost, mean write-to-read "
                    "%.1f us\n",
                    static_cast<unsigned long long>(ticks),
                    static_cast<unsigned long long>(reader->lost()),
                    ticks ? static_cast<double>(latency_ns) / ticks / 1000.0 : 0.0);
    } catch (const shmbus::Error& e) {
        std::fprintf(stderr, "journal_reader: %s: %s\n", e.name(), e.what());
        return 1;
    }
    return 0;
}
