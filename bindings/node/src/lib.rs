//! Node.js bindings for shmbus.

use napi_derive::napi;

/// The shmbus version.
#[napi]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
