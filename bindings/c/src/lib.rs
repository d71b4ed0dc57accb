//! # shmbus-c: the C ABI of shmbus
//!
//! A thin C layer over the Rust core (it never re-implements a format). The header
//! `bindings/c/include/shmbus.h` is generated from this crate by cbindgen; the C++17 wrapper
//! `bindings/cpp/include/shmbus.hpp` is built on it. Documentation and examples:
//! `bindings/c/README.md`.
//!
//! ## Conventions
//!
//! * Every function returns a `shmbus_status`. `SHMBUS_OK` (0) is success and `SHMBUS_NO_DATA`
//!   (1) means "nothing to return" (no message yet, a slot never written or unchanged); any
//!   other value is an error whose message `shmbus_last_error()` returns (thread-local, valid
//!   until the next failing call on that thread).
//! * Results go to out-parameters, written only on `SHMBUS_OK` unless a function says
//!   otherwise.
//! * Objects are opaque handles made by `shmbus_*_create` / `shmbus_*_open_*` and released by
//!   `*_close` (which accepts NULL). A handle may be used by one thread at a time; open one per
//!   thread (they are cheap). A handle of the wrong kind is `SHMBUS_BAD_HANDLE`; a handle used
//!   after its close is undefined behaviour, as after `free`.
//! * Every pointer argument is checked for NULL (and alignment) before use; strings are
//!   NUL-terminated UTF-8. Region names are shm names (`"/prices"`, the file
//!   `/dev/shm/prices`) or file paths (any name with a `/` after its first character).
//! * Nothing aborts or unwinds into C: a bug inside the library returns `SHMBUS_INTERNAL`.
//!
//! ## Contents
//!
//! * regions: `shmbus_region_header`, `shmbus_region_remove`, `shmbus_now_ns`;
//! * slot tables of any plain record described by a `shmbus_record_layout`, with seed 001's
//!   `shmbus_trading_data` built in: `shmbus_slots_*`, `shmbus_slot_writer_*`,
//!   `shmbus_slot_reader_*`;
//! * journals: `shmbus_journal_*`, `shmbus_journal_writer_*`, `shmbus_journal_reader_*`;
//! * candle stores (seed 000's QNXS layout): `shmbus_candles_*`, `shmbus_candle_writer_*`,
//!   `shmbus_candle_reader_*`;
//! * errors: `shmbus_status`, `shmbus_last_error`, `shmbus_status_name`, and the stable error
//!   code of docs/ERRORS.md: `shmbus_error_code`, `shmbus_last_error_code`,
//!   `shmbus_error_code_name`.

// In this order in the header.
mod candles;
mod guard;
mod journal_reader;
mod journal_writer;
mod record;
mod region;
mod slots;
mod status;
#[cfg(test)]
mod test_util;
#[cfg(test)]
mod tests;

pub use candles::*;
pub use journal_reader::*;
pub use journal_writer::*;
pub use record::*;
pub use region::*;
pub use slots::*;
pub use status::{
    ShmbusErrorCode, ShmbusStatus, shmbus_error_code_name, shmbus_last_error,
    shmbus_last_error_code, shmbus_status_name,
};

/// The version of this C ABI: incremented on every incompatible change of the header.
pub const SHMBUS_ABI_VERSION: u32 = 1;

/// The ABI version the library was built with (compare with `SHMBUS_ABI_VERSION` from the
/// header you compiled against).
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_abi_version() -> u32 {
    SHMBUS_ABI_VERSION
}
