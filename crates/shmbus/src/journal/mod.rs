//! The journal: an append-only log of framed messages with commit, many independent readers,
//! forward and backward iteration, seek by sequence, blocking and async waiting, persistence
//! with retention, and a ring mode for market data.
//!
//! ```
//! use shmbus::journal::{JournalReader, JournalWriter, Start};
//! # let name = format!("/tmp/shmbus-doc-journal-{}", std::process::id());
//! let mut w = JournalWriter::builder(&name).ring(1 << 20).create()?;
//! w.append(1, b"first")?;
//! w.append(1, b"second")?;
//! w.commit(); // both become visible at once
//!
//! let mut r = JournalReader::open(&name, Start::Beginning)?;
//! assert_eq!(r.next()?.unwrap().payload, b"first");
//! let m = r.next_timeout(std::time::Duration::from_millis(10))?.unwrap();
//! assert_eq!((m.seq, m.payload), (1, &b"second"[..]));
//! assert!(r.next()?.is_none());
//! assert_eq!(r.prev()?.unwrap().seq, 1); // and backwards
//! # drop(w); shmbus::Region::remove(&name, true)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Where things are
//!
//! * `format.rs`: the byte layout of a segment, and the typed view of its header.
//! * `segment.rs`: one region file: geometry validated once at open, positions mapped to bytes;
//!   `segment/read.rs` and `segment/write.rs`: what readers and the writer do with it.
//! * `frame.rs`: the frame codec, encoder and the one decoder (docs/FORMAT.md 5.5).
//! * `publish.rs`: the publication protocol: how a commit makes a batch visible at once (the
//!   first frame's sequence word, stored with Release, which a busy reader polls), the commit
//!   word, and the ring's `oldest` horizon that tells a lapped reader to discard its copy
//!   ([`JournalError::Overrun`](crate::JournalError::Overrun)): nothing a reader returns is
//!   uncommitted, or a mix of old and new bytes. `loom_publish.rs` runs it under loom.
//! * `doorbell.rs`: waiting. A reader sleeps on a futex in the journal's doorbell page, shared
//!   across processes; the writer pays the wake-up system call only when someone sleeps. Every
//!   wait has a deadline, so a dead writer cannot hang a reader.
//! * `writer.rs`, `reader.rs`: the public cursors; `store.rs`: persisted journals' files;
//!   `readers.rs`: the registry of known readers, whose claim protocol is `claim.rs` (run under
//!   loom by `loom_readers.rs`).
//!
//! A **persisted** journal is a directory of segment files `0000000000.seg`, `0000000001.seg`, ...
//! When a segment is full the writer creates the next one, then seals the full one; readers follow
//! across segments. Retention (by count or bytes) removes the oldest segments when the writer
//! rolls. A reader inside a removed segment keeps reading it (its mapping stays valid); when it
//! reaches the end and the next segment is gone too, it gets `Overrun` with the count lost and
//! resumes at the oldest segment still stored.
//!
//! **Known readers.** A reader may [register](JournalReader::register) under a name: it then
//! publishes its position in the journal's reader registry (`NAME.readers`, a separate region),
//! so tools show every registered reader and its lag ([`list_readers`]). The journal itself is
//! not touched.

mod claim;
mod doorbell;
pub(crate) mod format;
mod frame;
#[cfg(all(test, loom))]
mod loom_publish;
#[cfg(all(test, loom))]
mod loom_readers;
mod publish;
mod reader;
mod readers;
mod segment;
mod store;
#[cfg(feature = "tokio")]
mod stream;
mod writer;

pub use format::MAX_MESSAGE;
pub use frame::FrameFault;
pub use reader::{JournalInfo, JournalReader, Message, PUBLISH_EVERY, Start};
pub(crate) use readers::remove_registry;
pub use readers::{
    MAX_READERS, READER_NAME_MAX, REGISTRY_SUFFIX, ReaderInfo, list_readers, registry_name,
};
pub use segment::Mode;
pub use store::{is_persisted_journal, remove};
#[cfg(feature = "tokio")]
pub use stream::{JournalStream, OwnedMessage};
pub use writer::{JournalBuilder, JournalWriter, MIN_CAPACITY, Reservation};
