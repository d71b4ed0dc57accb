//! What people give the `shmbus` CLI, parsed: sizes, durations, rates and speeds as typed on the
//! command line ([`size`]), and OHLCV bars from CSV files ([`csv_import`]).
//!
//! A library of its own (the CLI re-exports both modules) so that the fuzz targets of `fuzz/`
//! reach the very parsers the CLI uses without building the CLI's servers and terminal UI.

pub mod csv_import;
pub mod size;
