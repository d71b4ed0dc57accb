//! Fuzz target `journal_frames`: see `shmbus_fuzz::journal_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shmbus_fuzz::journal_frames(data));
