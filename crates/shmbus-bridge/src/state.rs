//! The `bridge in` intent record: which stream sequence the local journal holds up to.
//!
//! The journal frame has no spare field for the stream sequence, so the bridge keeps a small
//! file next to the journal (`JOURNAL.bridge-in`) with two 48-byte slots written alternately.
//! Before appending a batch of `n` messages whose stream sequences are consecutive from
//! `stream_first`, it writes the record `{prev, stream_first, b_first, n}` (`prev` = the stream
//! sequence stored before the batch, `b_first` = the journal sequence the batch's first frame
//! gets) into the older slot; then it appends and commits. Whatever a kill -9 interrupts, the
//! journal's own next sequence `next` then says how much of the batch is stored:
//! `k = clamp(next - b_first, 0, n)` frames, so the stored stream sequence is
//! `stream_first + k - 1` if `k > 0`, else `prev`. A torn record (bad CRC) is ignored: the other
//! slot holds the previous batch's record, which the same rule reads correctly (that batch was
//! committed before the newer record was written).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

const MAGIC: u32 = 0x4E49_4253; // "SBIN"
const SLOT: u64 = 48;

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

/// The state file of `bridge in` for journal `name`: its path plus `.bridge-in`.
///
/// # Errors
///
/// The name is not a valid region name.
pub fn state_path(name: &str) -> Result<PathBuf> {
    let n = shmbus::RegionName::parse(name)?;
    let mut p = n.path().as_os_str().to_owned();
    p.push(".bridge-in");
    Ok(PathBuf::from(p))
}

/// An open state file.
#[derive(Debug)]
pub struct InState {
    file: File,
    path: PathBuf,
    /// The newest record (generation 0: none yet).
    last: Intent,
}

impl InState {
    /// Opens (or creates) the state file at `path`.
    ///
    /// # Errors
    ///
    /// It cannot be opened or read.
    pub fn open(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open the bridge state file {}", path.display()))?;
        let mut buf = [0u8; 2 * SLOT as usize];
        let len = file.metadata()?.len().min(2 * SLOT) as usize;
        file.read_exact_at(&mut buf[..len], 0)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let last = [&buf[..SLOT as usize], &buf[SLOT as usize..]]
            .into_iter()
            .filter_map(Intent::decode)
            .max_by_key(|i| i.gen_)
            .unwrap_or_default();
        Ok(Self {
            file,
            path: path.to_owned(),
            last,
        })
    }

    /// The stream sequence the journal holds up to (0: nothing yet), given its next sequence.
    ///
    /// # Errors
    ///
    /// The journal holds fewer frames than a committed batch says: it is not the journal this
    /// state file was written for.
    pub fn stored(&self, next: u64) -> Result<u64> {
        if self.last.gen_ > 0 && next < self.last.b_first {
            bail!(
                "{} says the journal held {} messages, but it holds {next}: it was re-created or is another journal; remove the state file to start over (and the consumer with it)",
                self.path.display(),
                self.last.b_first
            );
        }
        Ok(self.last.stored(next))
    }

    /// Records a batch before it is appended (see the module docs).
    ///
    /// # Errors
    ///
    /// The write fails.
    pub fn intent(&mut self, prev: u64, stream_first: u64, b_first: u64, n: u64) -> Result<()> {
        let rec = Intent {
            gen_: self.last.gen_ + 1,
            prev,
            stream_first,
            b_first,
            n,
        };
        self.file
            .write_all_at(&rec.encode(), (rec.gen_ % 2) * SLOT)
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        self.last = rec;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_follows_the_journal_through_a_torn_batch() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.bridge-in");
        let mut s = InState::open(&p).unwrap();
        assert_eq!(s.stored(0).unwrap(), 0);
        // Batch 1: stream 1..=10 into journal 0..=9, committed.
        s.intent(0, 1, 0, 10).unwrap();
        assert_eq!(s.stored(10).unwrap(), 10);
        // Batch 2: stream 11..=15 into 10..=14: killed before, inside, after the commit.
        s.intent(10, 11, 10, 5).unwrap();
        let s = InState::open(&p).unwrap();
        assert_eq!(s.stored(10).unwrap(), 10);
        assert_eq!(s.stored(12).unwrap(), 12);
        assert_eq!(s.stored(15).unwrap(), 15);
        assert!(s.stored(9).is_err());
        // A torn newer slot: the older record still answers for what was committed.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all_at(&[0xAB; 7], 3).unwrap();
        let s = InState::open(&p).unwrap();
        assert_eq!(s.last.gen_, 1, "slot 0 (generation 2) is torn");
        assert_eq!(s.stored(10).unwrap(), 10);
    }
}
