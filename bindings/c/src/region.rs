//! Regions: the header of any region, and removal.

use std::ffi::c_char;

use shmbus::{Region, RegionName};

use crate::guard::{OK, Out, call, str_arg};
use crate::status::{Error, ShmbusStatus};

/// What a region holds (`shmbus_region_info.kind`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShmbusKind {
    /// A kind this library does not know (a newer format).
    Unknown = 0,
    /// Bytes with only the common header.
    Raw = 1,
    /// A slot table (latest value per key).
    Slots = 2,
    /// A journal (append-only message log).
    Journal = 3,
    /// A QuantNexus-compatible candle store.
    Candles = 4,
}

/// Flag for `*_create`: mode 0660 (the group may read and write) instead of 0600.
pub const SHMBUS_CREATE_GROUP_SHARED: u32 = 1;
/// Flag for `*_create`: pre-fault every page at create (keeps page faults out of hot loops).
pub const SHMBUS_CREATE_POPULATE: u32 = 2;
/// Flag for `shmbus_journal_create_*`: store a CRC32C in every frame, checked by readers.
pub const SHMBUS_CREATE_CRC: u32 = 4;
/// Flag for `*_open_reader`: open a region owned by another user (only if you trust it).
pub const SHMBUS_OPEN_ALLOW_FOREIGN_OWNER: u32 = 1;

/// Checks that `flags` has no bit outside `allowed`.
pub(crate) fn check_flags(flags: u32, allowed: u32) -> Result<(), Error> {
    if flags & !allowed != 0 {
        return Err(Error::invalid(format!(
            "unknown flags {:#x} (allowed here: {allowed:#x})",
            flags & !allowed
        )));
    }
    Ok(())
}

/// Open options for readers from `SHMBUS_OPEN_*` flags.
pub(crate) fn open_options(flags: u32) -> Result<shmbus::OpenOptions, Error> {
    check_flags(flags, SHMBUS_OPEN_ALLOW_FOREIGN_OWNER)?;
    Ok(Region::open_options().allow_foreign_owner(flags & SHMBUS_OPEN_ALLOW_FOREIGN_OWNER != 0))
}

/// The common header of a region (as `shmbus inspect` shows it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ShmbusRegionHeader {
    /// The kind's number: one of `shmbus_kind`.
    pub kind: u32,
    /// Format version.
    pub version: u32,
    /// Total size of the region in bytes.
    pub size: u64,
    /// Fingerprint of the record layout (docs/FORMAT.md, section 3), 0 if none.
    pub layout: u64,
    /// The record type's name (e.g. `TradingData`), NUL-terminated; empty if none.
    pub layout_name: [c_char; 32],
    /// Pid of the process that created the region.
    pub creator_pid: u32,
    /// Uid of the process that created the region.
    pub creator_uid: u32,
    /// Creation time, ns since the Unix epoch.
    pub created_ns: u64,
    /// How many writers have opened the region (1 after create).
    pub writer_generation: u64,
    /// Pid of the current or last writer, 0 when the last writer closed cleanly.
    pub writer_pid: u32,
    /// Whether a writer holds the region's writer lock now.
    pub writer_alive: bool,
}

/// Copies `s` into a NUL-terminated C array, truncated to fit.
pub(crate) fn c_array<const N: usize>(s: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    for (o, b) in out.iter_mut().zip(s.bytes().take(N - 1)) {
        *o = b as c_char;
    }
    out
}

/// Reads the common header of region `name` (a shm name such as `"/prices"`, or a file path)
/// without taking the writer lock.
///
/// A persisted journal is a directory, not a region: use `shmbus_journal_reader_info`.
/// Errors: `SHMBUS_NOT_FOUND`, `SHMBUS_NOT_A_REGION`, `SHMBUS_PERMISSION_DENIED`, ...
///
/// # Safety
///
/// `name` is a NUL-terminated string; `out` points to writable memory for one
/// `shmbus_region_header`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_region_info(
    name: *const c_char,
    out: *mut ShmbusRegionHeader,
) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        let out = Out::new(out, "out")?;
        let region = Region::open_options()
            .allow_foreign_owner(true)
            .open(name)?;
        let h = region.read_header();
        out.set(ShmbusRegionHeader {
            kind: h.kind_code,
            version: h.version,
            size: h.total_size,
            layout: h.layout,
            layout_name: c_array(&h.layout_name),
            creator_pid: h.creator_pid,
            creator_uid: h.creator_uid,
            created_ns: h.created_ns,
            writer_generation: h.writer_generation,
            writer_pid: h.writer_pid,
            writer_alive: region.writer_alive()?,
        });
        OK
    })
}

/// Removes region `name`: a region file, or a persisted journal's directory.
///
/// Refuses while a writer is alive (`SHMBUS_IN_USE`) and refuses files that are not shmbus
/// regions (`SHMBUS_NOT_A_REGION`), unless `force`. `SHMBUS_NOT_FOUND` if there is none.
///
/// # Safety
///
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shmbus_region_remove(name: *const c_char, force: bool) -> ShmbusStatus {
    call(|| {
        // SAFETY: the caller's contract for `name`.
        let name = unsafe { str_arg(name, "name") }?;
        if RegionName::parse(name)?.path().is_dir() {
            shmbus::journal::remove(name, force)?;
        } else {
            Region::remove(name, force)?;
        }
        OK
    })
}

/// The current time in ns since the Unix epoch (the clock of `shmbus_trading_data.timestamp`).
#[unsafe(no_mangle)]
pub extern "C" fn shmbus_now_ns() -> u64 {
    shmbus::now_unix_ns()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{TempName, last_error};
    use std::mem::MaybeUninit;

    #[test]
    fn info_of_a_slot_table_and_remove() {
        let name = TempName::new("info");
        let w = shmbus::SlotWriter::<shmbus::TradingData>::builder(&name)
            .capacity(4)
            .create()
            .unwrap();
        let mut info = MaybeUninit::<ShmbusRegionHeader>::uninit();
        // SAFETY: a NUL-terminated name and room for one info.
        let s = unsafe { shmbus_region_info(name.c().as_ptr(), info.as_mut_ptr()) };
        assert_eq!(s, ShmbusStatus::ShmbusOk);
        // SAFETY: written on success.
        let info = unsafe { info.assume_init() };
        assert_eq!(info.kind, ShmbusKind::Slots as u32);
        assert!(info.writer_alive);
        assert_eq!(info.writer_pid, std::process::id());
        assert_eq!(info.layout_name[..12], c_array::<12>("TradingData"));
        // SAFETY: as above.
        let s = unsafe { shmbus_region_remove(name.c().as_ptr(), false) };
        assert_eq!(s, ShmbusStatus::ShmbusInUse, "{}", last_error());
        drop(w);
        // SAFETY: as above.
        let s = unsafe { shmbus_region_remove(name.c().as_ptr(), false) };
        assert_eq!(s, ShmbusStatus::ShmbusOk, "{}", last_error());
        // SAFETY: as above.
        let s = unsafe { shmbus_region_info(name.c().as_ptr(), info_ptr()) };
        assert_eq!(s, ShmbusStatus::ShmbusNotFound);
        assert!(last_error().contains("create it first"), "{}", last_error());
    }

    fn info_ptr() -> *mut ShmbusRegionHeader {
        Box::leak(Box::new(MaybeUninit::<ShmbusRegionHeader>::uninit())).as_mut_ptr()
    }

    #[test]
    fn null_arguments_are_refused() {
        // SAFETY: NULL is checked before use.
        let s = unsafe { shmbus_region_info(std::ptr::null(), info_ptr()) };
        assert_eq!(s, ShmbusStatus::ShmbusInvalidArgument);
        assert_eq!(last_error(), "name is NULL");
        // SAFETY: as above.
        let s = unsafe { shmbus_region_info(c"/x".as_ptr(), std::ptr::null_mut()) };
        assert_eq!(s, ShmbusStatus::ShmbusInvalidArgument);
        // SAFETY: as above.
        let s = unsafe { shmbus_region_remove(std::ptr::null(), true) };
        assert_eq!(s, ShmbusStatus::ShmbusInvalidArgument);
        // SAFETY: a valid string that is not a valid region name.
        let s = unsafe { shmbus_region_remove(c"".as_ptr(), true) };
        assert_eq!(s, ShmbusStatus::ShmbusInvalidName, "{}", last_error());
    }
}
