//! Fuzz target `candles`: see `shmbus_fuzz::candles`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmbus_fuzz::candles(data));
