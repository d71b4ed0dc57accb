/*
 * journal_reader: follows a journal written by another process (examples/cpp/journal_writer)
 * and checks every message: ticks in order with their prices, then the writer's end message.
 *
 *   journal_reader NAME [TIMEOUT_MS]
 *
 * Waits for the journal to exist, then sleeps on the writer's commits (a futex: no polling)
 * for at most TIMEOUT_MS (default 10000) per message. Exit status 0 when every tick arrived
 * in order, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shmbus.h"
#include "tick.h"

static int fail(const char *what, shmbus_status s) {
    fprintf(stderr, "journal_reader: %s: %s: %s\n", what, shmbus_status_name(s),
            shmbus_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: journal_reader NAME [TIMEOUT_MS]\n");
        return 2;
    }
    const char *name = argv[1];
    uint64_t timeout_ns = (argc == 3 ? strtoull(argv[2], NULL, 10) : 10000) * 1000000ULL;

    /* The writer may not have created the journal yet (or may be sizing its file, which is
     * then too short to be a region): retry for up to the timeout. */
    shmbus_journal_reader *r = NULL;
    uint64_t started = shmbus_now_ns();
    for (;;) {
        shmbus_status s = shmbus_journal_open_reader(name, SHMBUS_START_BEGINNING, 0, 0, &r);
        if (s == SHMBUS_OK) break;
        if ((s != SHMBUS_NOT_FOUND && s != SHMBUS_NOT_READY && s != SHMBUS_NOT_A_REGION) ||
            shmbus_now_ns() - started > timeout_ns) {
            return fail("open", s);
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }

    uint64_t ticks = 0, latency_sum_ns = 0;
    for (;;) {
        shmbus_message m;
        shmbus_status s = shmbus_journal_reader_next(r, timeout_ns, &m);
        if (s == SHMBUS_NO_DATA) {
            fprintf(stderr, "journal_reader: no message for %" PRIu64 " ms after tick %" PRIu64
                            "\n", timeout_ns / 1000000, ticks);
            return 1;
        }
        if (s != SHMBUS_OK) return fail("next", s);
        if (m.type_tag == END_TYPE) {
            uint64_t written;
            if (m.len != sizeof written) return fail("end message of the wrong size", s);
            memcpy(&written, m.data, sizeof written);
            if (written != ticks) {
                fprintf(stderr, "journal_reader: the writer wrote %" PRIu64 " ticks, %" PRIu64
                                " arrived\n", written, ticks);
                return 1;
            }
            break;
        }
        tick t;
        if (m.type_tag != TICK_TYPE || m.len != sizeof t) {
            fprintf(stderr, "journal_reader: message %" PRIu64 ": type %u, %zu bytes\n", m.seq,
                    m.type_tag, m.len);
            return 1;
        }
        memcpy(&t, m.data, sizeof t); /* the payload is only valid until the next call */
        if (t.seq != ticks || m.seq != ticks || t.price != tick_price(t.seq)) {
            fprintf(stderr, "journal_reader: expected tick %" PRIu64 ", got tick %" PRIu64
                            " (message %" PRIu64 ", price %.2f)\n", ticks, t.seq, m.seq, t.price);
            return 1;
        }
        latency_sum_ns += shmbus_now_ns() - t.sent_ns;
        ticks++;
    }
    uint64_t lost = 0;
    shmbus_journal_reader_lost(r, &lost);
    shmbus_journal_reader_close(r);
    printf("journal_reader (C): %" PRIu64 " ticks in order, %" PRIu64
           " lost, mean write-to-read %.1f us\n",
           ticks, lost, ticks ? (double)latency_sum_ns / (double)ticks / 1000.0 : 0.0);
    return 0;
}
