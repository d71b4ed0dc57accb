//! The C ABI of shmbus.

/// The ABI version of this library.
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_abi_version() -> u32 {
    1
}
