// Shared by the trading_producer and trading_consumer examples.
#ifndef SHMBUS_EXAMPLE_TRADING_HPP
#define SHMBUS_EXAMPLE_TRADING_HPP

// The price published with volume `v`: the consumer checks that every record it reads pairs
// them (a torn read would not).
inline double trading_price(long v) { return 100.0 + 0.25 * static_cast<double>(v % 4096); }

#endif
