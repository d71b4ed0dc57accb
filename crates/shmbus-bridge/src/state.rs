//! The `bridge in` intent record: which stream sequence the local journal holds up to.
//!
//! The journal frame has no spare field for the stream sequence, so the bridge keeps two
//! 48-byte slots, written alternately, in its status region next to the journal
//! (`JOURNAL.bridge-in`, a region of kind `bridge`, with the bridge's live counters).
//! Before appending a batch of `n` messages whose stream sequences are consecutive from
//! `stream_first`, it writes the record `{prev, stream_first, b_first, n}` (`prev` = the stream
//! sequence stored before the batch, `b_first` = the journal sequence the batch's first frame
//! gets) into the older slot; then it appends and commits. Whatever a kill -9 interrupts, the
//! journal's own next sequence `next` then says how much of the batch is stored:
//! `k = clamp(next - b_first, 0, n)` frames, so the stored stream sequence is
//! `stream_first + k - 1` if `k > 0`, else `prev`. A torn record (bad CRC) is ignored: the other
//! slot holds the previous batch's record, which the same rule reads correctly (that batch was
//! committed before the newer record was written).

use anyhow::{Result, bail};
use shmbus::bridge_status::{BridgeStatus, Direction, SLOT_LEN};

const MAGIC: u32 = 0x4E49_4253; // "SBIN"
const SLOT: u64 = SLOT_LEN as u64;

/// One intent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Intent {
    /// Generation: the newer of the two slots has the larger one.
    pub gen_: u64,
    /// Stream sequence stored before the batch (0: none).
    pub prev: u64,
    /// Stream sequence of the batch's first message.
    pub stream_first: u64,
    /// Journal sequence of the batch's first frame.
    pub b_first: u64,
    /// Messages in the batch.
    pub n: u64,
}

impl Intent {
    fn encode(&self) -> [u8; SLOT as usize] {
        let mut b = [0u8; SLOT as usize];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        for (i, v) in [
            self.gen_,
            self.prev,
            self.stream_first,
            self.b_first,
            self.n,
        ]
        .iter()
        .enumerate()
        {
            b[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        let crc = crc32c::crc32c(&b[8..]);
        b[4..8].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        if b.len() < SLOT as usize
            || u32_at(0) != MAGIC
            || u32_at(4) != crc32c::crc32c(&b[8..SLOT as usize])
        {
            return None;
        }
        Some(Self {
            gen_: u64_at(8),
            prev: u64_at(16),
            stream_first: u64_at(24),
            b_first: u64_at(32),
            n: u64_at(40),
        })
    }

    /// The stream sequence stored, given the journal's next sequence.
    fn stored(&self, next: u64) -> u64 {
        let k = next.saturating_sub(self.b_first).min(self.n);
        if k > 0 {
            self.stream_first + k - 1
        } else {
            self.prev
        }
    }
}

/// The `bridge in` state of a journal: the intent record in the bridge's status region
/// (`JOURNAL.bridge-in`, a shmbus region of kind `bridge`: docs/FORMAT.md section 8).
#[derive(Debug)]
pub struct InState {
    status: BridgeStatus,
    /// The newest record (generation 0: none yet).
    last: Intent,
}

impl InState {
    /// Opens (or creates) the status region of `bridge in` for `journal`, reading `stream`,
    /// and marks it running.
    ///
    /// # Errors
    ///
    /// Another `bridge in` writes the journal, or the region is corrupt or not a `bridge in`
    /// status region (the error names it).
    pub fn open(journal: &str, stream: &str) -> Result<Self> {
        // The record counts sequences of one stream: another stream's would be misread.
        let name = shmbus::bridge_status::status_name(journal, Direction::In, stream)?;
        if let Ok(b) = shmbus::bridge_status::read_status(&name, &shmbus::Region::open_options()) {
            if b.stream_seq > 0 && !b.stream.is_empty() && b.stream != stream {
                // `bridge in --core` records its subject as `core:SUBJECT` (another sequence space).
                let source = |label: &str| match label.strip_prefix("core:") {
                    Some(subject) => (
                        format!("the core NATS subject {subject}"),
                        format!("--core --subject {subject}"),
                    ),
                    None => (format!("stream {label}"), format!("--stream {label}")),
                };
                let ((held, option), (reads, _)) = (source(&b.stream), source(stream));
                bail!(
                    "{name} records that journal {journal} holds {held} up to sequence {}, and this bridge reads {reads}: use {option}, or remove the journal (which removes {name}) to start over",
                    b.stream_seq
                );
            }
        }
        let status = BridgeStatus::open(journal, Direction::In, stream, "").map_err(|e| {
            let e = anyhow::Error::new(e);
            match e.downcast_ref::<shmbus::RegionError>() {
                Some(shmbus::RegionError::WriterBusy { pid, .. }) => anyhow::anyhow!(
                    "another `shmbus bridge in` writes journal {journal}{}: stop it first",
                    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
                ),
                _ => e.context(format!(
                    "cannot open the `bridge in` status of journal {journal}"
                )),
            }
        })?;
        let last = [status.slot(0), status.slot(1)]
            .iter()
            .filter_map(|b| Intent::decode(b))
            .max_by_key(|i| i.gen_)
            .unwrap_or_default();
        Ok(Self { status, last })
    }

    /// The status region, for the counters.
    pub fn status(&self) -> &BridgeStatus {
        &self.status
    }

    /// The stream sequence the journal holds up to (0: nothing yet), given its next sequence.
    ///
    /// # Errors
    ///
    /// The journal holds fewer frames than a committed batch says: it is not the journal this
    /// state was written for.
    pub fn stored(&self, next: u64) -> Result<u64> {
        if self.last.gen_ > 0 && next < self.last.b_first {
            bail!(
                "{} says the journal held {} messages, but it holds {next}: it was re-created or is another journal; remove {} with `shmbus rm` to start over (and the consumer with it)",
                self.status.name(),
                self.last.b_first,
                self.status.name()
            );
        }
        Ok(self.last.stored(next))
    }

    /// Records a batch before it is appended (see the module docs).
    ///
    /// # Errors
    ///
    /// None today (the record is a store into the mapped region); kept for callers.
    pub fn intent(&mut self, prev: u64, stream_first: u64, b_first: u64, n: u64) -> Result<()> {
        let rec = Intent {
            gen_: self.last.gen_ + 1,
            prev,
            stream_first,
            b_first,
            n,
        };
        // Before the journal's commit (a Release store) in program order: a kill -9 after the
        // commit finds this record (docs/BRIDGE.md).
        self.status
            .write_slot((rec.gen_ % 2) as usize, &rec.encode());
        self.last = rec;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use super::*;

    /// Removes the status region even when the test fails.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = shmbus::Region::remove(&self.0, true);
        }
    }

    #[test]
    fn stored_follows_the_journal_through_a_torn_batch() {
        let journal = format!("shmbus-state-test-{}", std::process::id());
        let name = shmbus::bridge_status::status_name(&journal, Direction::In, "S").unwrap();
        let _cleanup = Cleanup(name.clone());
        let mut s = InState::open(&journal, "S").unwrap();
        assert_eq!(s.stored(0).unwrap(), 0);
        // A second `bridge in` on the same journal is refused while this one runs.
        let busy = InState::open(&journal, "S").unwrap_err().to_string();
        assert!(busy.contains("another `shmbus bridge in`"), "{busy}");
        // Batch 1: stream 1..=10 into journal 0..=9, committed.
        s.intent(0, 1, 0, 10).unwrap();
        assert_eq!(s.stored(10).unwrap(), 10);
        // Batch 2: stream 11..=15 into 10..=14: killed before, inside, after the commit.
        s.intent(10, 11, 10, 5).unwrap();
        drop(s);
        let s = InState::open(&journal, "S").unwrap();
        assert_eq!(s.stored(10).unwrap(), 10);
        assert_eq!(s.stored(12).unwrap(), 12);
        assert_eq!(s.stored(15).unwrap(), 15);
        assert!(s.stored(9).is_err());
        drop(s);
        // A torn newer slot: the older record still answers for what was committed.
        let path = shmbus::RegionName::parse(&name)
            .unwrap()
            .path()
            .to_path_buf();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let slot0 = shmbus::HEADER_LEN as u64 + 512;
        f.write_all_at(&[0xAB; 7], slot0 + 3).unwrap();
        let s = InState::open(&journal, "S").unwrap();
        assert_eq!(s.last.gen_, 1, "slot 0 (generation 2) is torn");
        assert_eq!(s.stored(10).unwrap(), 10);
    }
}
