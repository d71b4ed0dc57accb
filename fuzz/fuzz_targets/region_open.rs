//! Fuzz target `region_open`: see `shmbus_fuzz::region_open`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmbus_fuzz::region_open(data));
