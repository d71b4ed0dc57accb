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
//! ## Protocol
//!
//! The writer (one at a time, by the writer lock) writes frames past the committed end. A commit
//! publishes them all at once with one Release store: the sequence word of the batch's first
//! frame, which readers load with Acquire at the position they wait at (so a busy reader polls
//! the cache line it will read next, not a shared word). The commit word is then updated with a
//! `swap` for blocking readers and tools. Uncommitted frames are never read. docs/FORMAT.md 5.5
//! gives the details, and `loom_model.rs` checks them.
//!
//! In a **ring**, before overwriting old frames the writer advances the `oldest` horizon and
//! issues a Release fence; a reader copies a frame with atomic loads, then issues an Acquire fence
//! and re-reads `oldest`: if the horizon passed the frame, the copy is discarded and the reader
//! gets [`JournalError::Overrun`](crate::JournalError::Overrun) with the number of messages lost.
//! Nothing a lapped reader returns is a mix of old and new bytes. (The writer fills payloads with
//! plain stores while a lapped reader may be loading the same bytes atomically; like crossbeam's
//! `AtomicCell`, we accept this race because its result is always detected and discarded.)
//!
//! **Waiting** sleeps on a futex in the journal's doorbell page, shared across processes. A
//! sleeping reader increments the waiter count first, so the writer pays the wake-up system call
//! only when someone sleeps. Every wait has a deadline, so a dead writer cannot hang a reader.
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

pub(crate) mod format;
#[cfg(all(test, loom))]
mod loom_model;
mod reader;
mod readers;
mod segment;
mod store;
#[cfg(feature = "tokio")]
mod stream;
mod writer;

pub use format::MAX_MESSAGE;
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
