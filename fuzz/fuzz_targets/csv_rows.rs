//! Fuzz target `csv_rows`: see `shmbus_fuzz::csv_rows`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmbus_fuzz::csv_rows(data));
