//! Fuzz target `journal_file`: see `shmbus_fuzz::journal_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmbus_fuzz::journal_file(data));
