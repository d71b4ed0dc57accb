//! Fuzz target `cli_parsers`: see `shmbus_fuzz::cli_parsers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmbus_fuzz::cli_parsers(data));
