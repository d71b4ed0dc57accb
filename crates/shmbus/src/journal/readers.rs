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
//! ```text
//! claimer (C)                                     lister (L)
//! w = state.load(Acquire)                   (C1)  s1 = state.load(Acquire)     (L1) <- (C4)
//! state.CAS(w, CLAIMING|gen+1|pid, Relaxed) (C2)  if s1 is not ACTIVE: skip
//! fence(Release)                            (C3)  name, position, times: load(Relaxed)
//! name, position, times: store(Relaxed)           fence(Acquire)               (L2) <- (C3)
//! state.store(ACTIVE|gen+1|pid, Release)    (C4)  s2 = state.load(Relaxed)
//!                                                 valid iff s1 == s2
//! ```
//!
//! That is the seqlock of `seqlock.rs`, with the state word as its sequence: a lister that saw
//! any field of a newer claim sees its state word change and retries (`loom_readers.rs` checks
//! it, and that it fails without (C3)). The position and update time change afterwards as
//! single words of their own (Relaxed stores, Relaxed loads: each is a snapshot by itself and
//! publishes nothing else).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use crate::error::{JournalError, RegionCorruption, RegionError};
use crate::header::{HEADER_LEN, RegionKind};
use crate::mapping::Mapping;
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

// Entry fields.
const E_STATE: usize = 0;
const E_POSITION: usize = 8;
const E_UPDATED: usize = 16;
const E_REGISTERED: usize = 24;
const E_NAME: usize = 32;

// The state word: pid in bits 0..32, state in bits 32..34, generation in bits 34..64.
const FREE: u64 = 0;
const CLAIMING: u64 = 1;
const ACTIVE: u64 = 2;

const fn state_of(w: u64) -> u64 {
    (w >> 32) & 3
}
const fn pid_of(w: u64) -> u32 {
    w as u32
}
const fn generation_of(w: u64) -> u64 {
    w >> 34
}
const fn word(generation: u64, state: u64, pid: u32) -> u64 {
    (generation << 34) | (state << 32) | pid as u64
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

    fn map(&self) -> &Mapping {
        self.region.map()
    }

    fn entry(&self, i: usize) -> usize {
        self.entries + i * ENTRY_LEN
    }

    fn word(&self, i: usize, field: usize) -> &AtomicU64 {
        self.map()
            .u64_at(self.entry(i) + field)
            .expect("entries were bounds-checked on open")
    }

    /// Claims a free entry, or one whose owner is dead, for `name` at `position`.
    fn claim(&self, name: &str, position: u64) -> Option<(usize, u64)> {
        let me = os::pid();
        for i in 0..self.capacity {
            let state = self.word(i, E_STATE);
            // (C1) pairs with (C4) and the release in `release`: a free entry's old fields are
            // not ours to keep anyway, so this only orders our later loads.
            let w = state.load(Ordering::Acquire);
            let takeable = match state_of(w) {
                FREE => true,
                // A dead owner (also one that died between (C2) and (C4)) gives it up.
                _ => !os::pid_alive(pid_of(w)),
            };
            if !takeable {
                continue;
            }
            let generation = generation_of(w).wrapping_add(1) & ((1 << 30) - 1);
            let claiming = word(generation, CLAIMING, me);
            // (C2) only one claimer wins the entry. Relaxed: (C3) orders it before our stores.
            if state
                .compare_exchange(w, claiming, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // (C3) pairs with the lister's Acquire fence (L2): a lister that sees any store
            // below sees the state word changed since its (L1), and discards its copy.
            fence(Ordering::Release);
            let mut bytes = [0u8; 32];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            let now = os::now_unix_ns();
            let e = self.entry(i);
            self.map()
                .write_bytes(e + E_NAME, &bytes)
                .expect("the registry is mapped writable and bounds-checked");
            // Relaxed: published by (C4); a lister's (L2) catches a copy torn by a newer claim.
            self.word(i, E_POSITION).store(position, Ordering::Relaxed);
            self.word(i, E_UPDATED).store(now, Ordering::Relaxed);
            self.word(i, E_REGISTERED).store(now, Ordering::Relaxed);
            let active = word(generation, ACTIVE, me);
            // (C4) pairs with the lister's Acquire load (L1): who sees ACTIVE sees the fields.
            state.store(active, Ordering::Release);
            return Some((i, active));
        }
        None
    }

    /// Every active entry, consistent with its state word (or skipped if its owner kept
    /// changing it).
    fn list(&self, next_seq: u64) -> Vec<ReaderInfo> {
        let mut out = Vec::new();
        for i in 0..self.capacity {
            let state = self.word(i, E_STATE);
            for _ in 0..100 {
                // (L1) pairs with (C4).
                let s1 = state.load(Ordering::Acquire);
                if state_of(s1) != ACTIVE {
                    break;
                }
                let e = self.entry(i);
                let name = self
                    .map()
                    .read_bytes(e + E_NAME, 32)
                    .expect("entries were bounds-checked on open");
                // Relaxed: ordered after (L1) by its Acquire, validated by (L2) below.
                let position = self.word(i, E_POSITION).load(Ordering::Relaxed);
                let updated_ns = self.word(i, E_UPDATED).load(Ordering::Relaxed);
                let registered_ns = self.word(i, E_REGISTERED).load(Ordering::Relaxed);
                // (L2) pairs with (C3).
                fence(Ordering::Acquire);
                // Relaxed: ordered after the field loads by (L2).
                if state.load(Ordering::Relaxed) != s1 {
                    continue;
                }
                let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                let pid = pid_of(s1);
                out.push(ReaderInfo {
                    // Untrusted bytes: shown lossily, and tools escape what they print.
                    name: String::from_utf8_lossy(&name[..len]).into_owned(),
                    pid,
                    alive: os::pid_alive(pid),
                    position,
                    lag: next_seq.saturating_sub(position),
                    updated_ns,
                    registered_ns,
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
        // Relaxed: each word is read on its own by listers; neither publishes other data.
        self.registry
            .word(self.index, E_POSITION)
            .store(position, Ordering::Relaxed);
        // The coarse clock: a few ns where the precise one costs about 20 (every 64 messages
        // that was 4 % of `next`; with it, 2.4 %; every 256, under 1 %: measured interleaved).
        self.registry
            .word(self.index, E_UPDATED)
            .store(os::now_unix_ns_coarse(), Ordering::Relaxed);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let free = word(generation_of(self.active), FREE, 0);
        // Release pairs with the next claimer's Acquire (C1); a CAS, so an entry that someone
        // took from us (it thought us dead: pid reuse across namespaces) is left to them.
        let _ = self.registry.word(self.index, E_STATE).compare_exchange(
            self.active,
            free,
            Ordering::Release,
            Ordering::Relaxed,
        );
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
    fn state_words_round_trip() {
        let w = word(5, ACTIVE, 4_000_000);
        assert_eq!(
            (generation_of(w), state_of(w), pid_of(w)),
            (5, ACTIVE, 4_000_000)
        );
        let w = word((1 << 30) - 1, CLAIMING, u32::MAX);
        assert_eq!(
            (generation_of(w), state_of(w), pid_of(w)),
            ((1 << 30) - 1, CLAIMING, u32::MAX)
        );
    }

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
