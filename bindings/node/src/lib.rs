//! Node.js bindings for shmbus (napi-rs), loaded by `bindings/node/index.js`.
//!
//! This crate exposes the Rust core to JavaScript; `index.js` adds the JavaScript-level API on
//! top (seed 000's candle writer taking arrays of candle objects, seed 002's shmio classes,
//! async iteration, rxjs). Nothing here re-implements a format: every byte of a region is read
//! and written by the `shmbus` crate.
//!
//! * [`candles`]: seed 000's `SharedMemoryWriter` and a `CandleReader`.
//! * [`journal`]: `JournalWriter` (single and batched appends) and a non-blocking
//!   `JournalReader`.
//! * [`watch`]: `JournalWatcher`, which waits for messages on a thread of its own and answers
//!   with Promises, so the event loop never blocks.
//! * [`slots`]: `SlotWriter` / `SlotReader` of seed 001's `TradingData` records.
//! * [`errors`]: every core error as a JavaScript `Error` with a `code` and its facts.
//!
//! Memory safety at the boundary: no Buffer handed to JavaScript points into a mapping. Reads
//! are copies into Buffers that JavaScript owns, and writes copy from JavaScript's memory into
//! the region during the call, so closing an object (which unmaps) can never leave a dangling
//! Buffer behind. The crate has no `unsafe` code of its own (`deny(unsafe_code)`; the glue the
//! napi macros generate allows itself).

#![deny(unsafe_code)]

pub mod candles;
pub mod errors;
pub mod journal;
pub mod slots;
pub mod watch;

use napi::Env;
use napi_derive::napi;

use crate::errors::OrThrow;

/// The shmbus version.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Removes a region or journal by name (a ring file, a persisted journal's directory, a slot
/// table or candle region). Refuses while a writer is alive (`IN_USE`) unless `force`.
#[napi]
pub fn remove_region(env: &Env, name: String, force: Option<bool>) -> napi::Result<()> {
    shmbus::journal::remove(&name, force.unwrap_or(false)).or_throw(env)
}

/// Whether a region (or persisted journal) exists under `name`.
#[napi]
pub fn region_exists(env: &Env, name: String) -> napi::Result<bool> {
    let name = shmbus::RegionName::parse(&name).or_throw(env)?;
    Ok(name.path().exists())
}
