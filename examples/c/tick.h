/*
 * The message of the journal examples: a 32-byte trade tick, the same struct in C and C++.
 * Type tags: TICK_TYPE for a tick, END_TYPE for the writer's last message (payload: the
 * number of ticks written, a uint64_t).
 */
#ifndef SHMBUS_EXAMPLE_TICK_H
#define SHMBUS_EXAMPLE_TICK_H

#include <stdint.h>

enum { TICK_TYPE = 1, END_TYPE = 2 };

typedef struct tick {
    uint64_t seq;     /* 0, 1, 2, ... */
    uint64_t sent_ns; /* shmbus_now_ns() when appended */
    double price;     /* tick_price(seq) */
    double qty;
} tick;

/* The price of tick `seq`: exact in binary, so readers compare with ==. */
static inline double tick_price(uint64_t seq) { return 100.0 + 0.25 * (double)(seq % 4096); }

#endif
