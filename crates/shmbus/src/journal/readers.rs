//! The reader registry of a journal: which readers a journal has and how far each has read, in
//! a small region next to it (`NAME.readers`), as Aeron publishes subscriber positions in its
//! counters file for AeronStat to read.
//!
//! Opt-in and separate: a reader registers with [`super::JournalReader::register`]; the
//! journal's own files, format and hot path are untouched (a reader that does not register never
//! opens the registry). Tools list the entries with [`list_readers`].
//!
//! The registry is a region of kind [`RegionKind::Readers`] (common header, validated like
//! every region), then a 64-byte table header and a fixed array of 64-byte entries
//! (docs/FORMAT.md section 7). Every registered reader writes only its own entry; there is no
//! writer lock. An entry is claimed with a compare-and-swap on its state word, which carries
//! the owner's pid, so an entry whose owner died (even in the middle of claiming it) is
//! reclaimable by the next reader, and a reader's drop releases its entry.
//!
//! The claim, the listing and the release are a protocol of their own, in `claim.rs` (the
//! seqlock of `seqlock.rs` with the state word as its sequence), which the loom tests run as
//! is. The position and update time change afterwards as single words of their own (Relaxed
//! stores, Relaxed loads: each is a snapshot by itself and publishes nothing else).

use std::mem::offset_of;
use std::path::Path;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::claim::{self, Entry, FREE, Listing, pid_of, state_of};

use crate::error::{JournalError, RegionCorruption, RegionError};
use crate::header::{HEADER_LEN, RegionKind};
use crate::mapping::AtomicView;
use crate::name::RegionName;
use crate::os;
use crate::region::{OpenOptions, Region};

/// What is appended to a journal's name to name its registry (`trades` -> `trades.readers`).
pub const REGISTRY_SUFFIX: &str = ".readers";
/// Entries in a registry this library creates.
pub const MAX_READERS: usize = 64;
/// Longest reader name, in bytes.
pub const READER_NAME_MAX: usize = 31;

/// Bytes of one entry.
const ENTRY_LEN: usize = 64;
/// Bytes of the table header at the body offset.
const TABLE_LEN: usize = 64;
/// The most entries an opener accepts (a corrupt capacity cannot make it walk far).
const MAX_CAPACITY: u32 = 4096;

// Table header fields, from the body offset.
const T_CAPACITY: usize = 0;
const T_ENTRY_LEN: usize = 4;

/// One entry of the registry (docs/FORMAT.md 7.3).
#[repr(C)]
#[derive(Debug)]
struct RawEntry {
    /// The state word of the claim protocol (`claim.rs`): pid, state, generation.
    state: AtomicU64,
    /// The next sequence the reader will read.
    position: AtomicU64,
    /// When it last published its position, ns since the Unix epoch.
    updated: AtomicU64,
    /// When it registered, ns since the Unix epoch.
    registered: AtomicU64,
    /// Its name, NUL-padded.
    name: [AtomicU8; 32],
}

// SAFETY: `#[repr(C)]`, only atomic fields and an array of them, no padding (asserted below).
unsafe impl AtomicView for RawEntry {}

const _: () = {
    assert!(size_of::<RawEntry>() == ENTRY_LEN);
    assert!(offset_of!(RawEntry, state) == 0);
    assert!(offset_of!(RawEntry, position) == 8);
    assert!(offset_of!(RawEntry, updated) == 16);
    assert!(offset_of!(RawEntry, registered) == 24);
    assert!(offset_of!(RawEntry, name) == 32);
};

/// What a claim stores in an entry and a listing copies from it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fields {
    name: [u8; 32],
    position: u64,
    updated_ns: u64,
    registered_ns: u64,
}

impl Entry for RawEntry {
    type Word = AtomicU64;
    type Fields = Fields;

    #[inline]
    fn state(&self) -> &AtomicU64 {
        &self.state
    }

    fn store_fields(&self, f: &Fields) {
        for (d, &b) in self.name.iter().zip(&f.name) {
            d.store(b, Ordering::Relaxed);
        }
        self.position.store(f.position, Ordering::Relaxed);
        self.updated.store(f.updated_ns, Ordering::Relaxed);
        self.registered.store(f.registered_ns, Ordering::Relaxed);
    }

    fn load_fields(&self) -> Fields {
        Fields {
            name: std::array::from_fn(|i| self.name[i].load(Ordering::Relaxed)),
            position: self.position.load(Ordering::Relaxed),
            updated_ns: self.updated.load(Ordering::Relaxed),
            registered_ns: self.registered.load(Ordering::Relaxed),
        }
    }
}

/// One registered reader, as [`list_readers`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The name it registered with.
    pub name: String,
    /// Its process.
    pub pid: u32,
    /// Whether that process exists (a killed reader stays listed, dead, until its entry is
    /// reclaimed).
    pub alive: bool,
    /// The next sequence it will read.
    pub position: u64,
    /// Committed messages it has not read yet: newest committed sequence + 1 - position
    /// (saturating).
    pub lag: u64,
    /// When it last published its position, ns since the Unix epoch.
    pub updated_ns: u64,
    /// When it registered, ns since the Unix epoch.
    pub registered_ns: u64,
}

/// The registry name of journal `journal` (`trades` -> `trades.readers`, `./data/t` ->
/// `./data/t.readers`): next to the journal's file or directory, never inside a persisted
/// journal's directory (which holds segment files only).
///
/// # Errors
///
/// [`RegionError::InvalidName`] if the journal name, or the registry name it makes, is invalid.
pub fn registry_name(journal: &str) -> Result<String, JournalError> {
    let name = format!("{}{REGISTRY_SUFFIX}", RegionName::parse(journal)?.as_str());
    RegionName::parse(&name)?;
    Ok(name)
}

/// Checks a reader name: 1 to 31 bytes of UTF-8 without control characters (like a new slot key:
/// it is printed by tools).
fn check_name(name: &str) -> Result<(), JournalError> {
    let invalid = |reason| {
        Err(JournalError::InvalidReaderName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return invalid("the name is empty");
    }
    if name.len() > READER_NAME_MAX {
        return invalid("a reader name has at most 31 bytes");
    }
    if name.chars().any(char::is_control) {
        return invalid("a reader name may not contain control characters (newline, tab, NUL...)");
    }
    Ok(())
}

/// An open registry: the region and its validated geometry.
#[derive(Debug)]
struct Registry {
    region: Region,
    /// Offset of entry 0.
    entries: usize,
    capacity: usize,
}

impl Registry {
    /// Opens and validates an existing registry (read-only unless `write`).
    fn open(name: &str, write: bool, foreign: bool) -> Result<Self, RegionError> {
        let mut opts = Region::open_options()
            .kind(RegionKind::Readers)
            .allow_foreign_owner(foreign);
        if write {
            opts = opts.shared_write();
        }
        Self::validate(opts.open(name)?)
    }

    fn validate(region: Region) -> Result<Self, RegionError> {
        let corrupt = |what: RegionCorruption| RegionError::Corrupt {
            path: region.name().path().to_path_buf(),
            what,
        };
        let body = region.header().body_offset as usize;
        let map = region.map();
        // Relaxed: the table header is written before the region is published, and the open
        // loaded the region header with Acquire (`Region::open`).
        let u32_at = |o: usize| map.u32_at(body + o).map(|w| w.load(Ordering::Relaxed));
        let (Some(capacity), Some(entry_len)) = (u32_at(T_CAPACITY), u32_at(T_ENTRY_LEN)) else {
            return Err(corrupt(RegionCorruption::RegistryNoTable {
                offset: body as u64,
            }));
        };
        if entry_len as usize != ENTRY_LEN || capacity == 0 || capacity > MAX_CAPACITY {
            return Err(corrupt(RegionCorruption::RegistryEntries {
                capacity,
                entry_len,
                max_capacity: MAX_CAPACITY,
                expected_len: ENTRY_LEN as u32,
            }));
        }
        let entries = body + TABLE_LEN;
        let end = entries + capacity as usize * ENTRY_LEN;
        if end > map.len() || entries % 8 != 0 {
            return Err(corrupt(RegionCorruption::RegistryPastEnd {
                capacity,
                entries: entries as u64,
                end: end as u64,
                len: map.len() as u64,
            }));
        }
        Ok(Self {
            region,
            entries,
            capacity: capacity as usize,
        })
    }

    /// Creates the registry, or opens it if another process did first. Its mode is the
    /// journal's (`mode`): whoever may read the journal may register.
    fn create_or_open(name: &str, mode: u32, foreign: bool) -> Result<Self, RegionError> {
        let mut waited = 0;
        loop {
            match Self::open(name, true, foreign) {
                Err(RegionError::NotFound { .. }) => {}
                // Its creator is between its exclusive create and its publish: a moment.
                Err(RegionError::NotReady { .. }) if waited < 200 => {
                    waited += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                other => return other,
            }
            let size = (HEADER_LEN + TABLE_LEN + MAX_READERS * ENTRY_LEN) as u64;
            let created = Region::builder(name)
                .kind(RegionKind::Readers)
                .size(size)
                .mode(mode)
                .create_unpublished();
            match created {
                Ok(region) => {
                    let body = region.header().body_offset as usize;
                    let map = region.map();
                    map.store_u32(body + T_CAPACITY, MAX_READERS as u32)
                        .and_then(|()| map.store_u32(body + T_ENTRY_LEN, ENTRY_LEN as u32))
                        .expect("the table header fits: the size was computed for it");
                    // Stores the magic last, with Release (docs/FORMAT.md 1.2).
                    region.publish();
                    // Nobody is the registry's writer: drop the creator's lock and open it as
                    // every registrant does.
                    drop(region);
                }
                // Another process created it first: open theirs.
                Err(RegionError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Entry `i` (`i < capacity`), bounds-checked on open (a mapping never shrinks).
    fn entry(&self, i: usize) -> Option<&RawEntry> {
        self.region.map().view(self.entries + i * ENTRY_LEN)
    }

    /// Claims a free entry, or one whose owner is dead, for `name` at `position`.
    fn claim(&self, name: &str, position: u64) -> Option<(usize, u64)> {
        let me = os::pid();
        let now = os::now_unix_ns();
        let mut fields = Fields {
            name: [0; 32],
            position,
            updated_ns: now,
            registered_ns: now,
        };
        fields.name[..name.len()].copy_from_slice(name.as_bytes());
        // A dead owner (also one that died between its CAS and its ACTIVE store) gives it up.
        let takeable = |w| state_of(w) == FREE || !os::pid_alive(pid_of(w));
        (0..self.capacity).find_map(|i| {
            let active = claim::claim(self.entry(i)?, me, &fields, takeable)?;
            Some((i, active))
        })
    }

    /// Every active entry, consistent with its state word (or skipped if its owner kept
    /// changing it).
    fn list(&self, next_seq: u64) -> Vec<ReaderInfo> {
        let mut out = Vec::new();
        for e in (0..self.capacity).filter_map(|i| self.entry(i)) {
            for _ in 0..100 {
                let (s1, f) = match claim::copy(e) {
                    Listing::Inactive => break,
                    Listing::Changed => continue,
                    Listing::Active(s1, f) => (s1, f),
                };
                let len = f.name.iter().position(|&b| b == 0).unwrap_or(f.name.len());
                let pid = pid_of(s1);
                out.push(ReaderInfo {
                    // Untrusted bytes: shown lossily, and tools escape what they print.
                    name: String::from_utf8_lossy(&f.name[..len]).into_owned(),
                    pid,
                    alive: os::pid_alive(pid),
                    position: f.position,
                    lag: next_seq.saturating_sub(f.position),
                    updated_ns: f.updated_ns,
                    registered_ns: f.registered_ns,
                });
                break;
            }
        }
        out
    }
}

/// A reader's claimed entry; released when dropped.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Registry,
    index: usize,
    /// The state word this registration stored: released only if it is still there.
    active: u64,
}

impl Registration {
    /// Registers reader `name` of `journal` (whose file or directory is at `path`), starting
    /// at `position`.
    pub(crate) fn new(
        journal: &str,
        path: &Path,
        name: &str,
        position: u64,
        foreign: bool,
    ) -> Result<Self, JournalError> {
        check_name(name)?;
        let reg_name = registry_name(journal)?;
        let mode = crate::os::path_stat(path).map_or(0o600, |m| m.mode() & 0o666);
        let registry = Registry::create_or_open(&reg_name, mode | 0o600, foreign)?;
        registry.region.check_intact()?;
        match registry.claim(name, position) {
            Some((index, active)) => Ok(Self {
                registry,
                index,
                active,
            }),
            None => Err(JournalError::ReadersFull {
                journal: journal.to_owned(),
                registry: reg_name,
                capacity: registry.capacity,
            }),
        }
    }

    /// Publishes the reader's position (the next sequence it will read).
    #[cold]
    #[inline(never)]
    pub(crate) fn publish(&self, position: u64) {
        let Some(e) = self.registry.entry(self.index) else {
            return;
        };
        // Relaxed: each word is read on its own by listers; neither publishes other data.
        e.position.store(position, Ordering::Relaxed);
        // The coarse clock: a few ns where the precise one costs about 20 (every 64 messages
        // that was 4 % of `next`; with it, 2.4 %; every 256, under 1 %: measured interleaved).
        e.updated.store(os::now_unix_ns_coarse(), Ordering::Relaxed);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(e) = self.registry.entry(self.index) {
            claim::release(e, self.active);
        }
    }
}

/// The registered readers of journal `journal`, their lag computed against `next_seq` (the
/// sequence the journal's next message will get: [`super::JournalInfo::next_seq`]). A journal
/// without a registry has none.
///
/// # Errors
///
/// A registry that exists but is not valid (wrong magic, kind, size, table geometry, or
/// truncated while mapped): a [`RegionError`] naming it.
pub fn list_readers(
    journal: &str,
    next_seq: u64,
    opts: &OpenOptions,
) -> Result<Vec<ReaderInfo>, JournalError> {
    let name = registry_name(journal)?;
    let registry = match Registry::open(&name, false, opts.allows_foreign_owner()) {
        Err(RegionError::NotFound { .. }) => return Ok(Vec::new()),
        // Being created this very moment: nobody registered yet.
        Err(RegionError::NotReady { .. }) => return Ok(Vec::new()),
        other => other?,
    };
    let list = registry.list(next_seq);
    registry.region.check_intact()?;
    Ok(list)
}

/// Removes the registry of journal `journal` if there is one (after the journal itself): only a
/// file that is a reader registry (or a region header its creator never published), never
/// another kind of region that happens to have the name.
pub(crate) fn remove_registry(journal: &str) -> Result<(), RegionError> {
    use crate::region::{Identity, identify, unlink_same};
    let Ok(name) = registry_name(journal) else {
        // No valid registry name (a journal name near the length limit): no registry.
        return Ok(());
    };
    let path = RegionName::parse(&name)?.path().to_path_buf();
    let io = |error| RegionError::Io {
        op: "remove",
        path: path.clone(),
        error,
    };
    match identify(&path) {
        Ok((st, Identity::Shmbus(Some(RegionKind::Readers)) | Identity::Unpublished)) => {
            unlink_same(&path, &st).map_err(io)
        }
        Ok(_) => Ok(()),
        Err(e) if crate::os::failure(&e) == crate::os::Failure::NotFound => Ok(()),
        Err(e) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_are_checked() {
        assert!(check_name("watch-1").is_ok());
        assert!(check_name(&"x".repeat(31)).is_ok());
        for bad in ["", "a\nb", "a\0b", "\u{1b}[31m"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"x".repeat(32)).is_err());
    }

    #[test]
    fn registry_names_sit_next_to_the_journal() {
        assert_eq!(registry_name("/trades").unwrap(), "trades.readers");
        assert_eq!(
            registry_name("./data/t.shm").unwrap(),
            "./data/t.shm.readers"
        );
        assert!(registry_name(&"x".repeat(250)).is_err());
    }
}
