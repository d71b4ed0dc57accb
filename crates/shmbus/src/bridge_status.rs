//! The status region of a `shmbus bridge`: what a running (or stopped, or killed) bridge has
//! done, for `shmbus inspect`, `shmbus top` and the gateway's `/metrics` to read, and, for
//! `bridge in`, the intent record its exactly-once restart depends on (docs/BRIDGE.md).
//!
//! One region per bridge, next to its journal (docs/FORMAT.md section 8):
//!
//! * `JOURNAL.bridge-in` for `bridge in` (a journal has one writer, so one `bridge in`);
//! * `JOURNAL.bridge-out.STREAM` for each `bridge out` of the journal (one per stream: a NATS
//!   stream name has no `.`, so the name parses back).
//!
//! The running bridge is the region's writer (it holds the writer lock, so a second bridge of
//! the same journal, direction and stream is refused, and a killed one is seen dead at once).
//! It stores its counters as single 64-bit words (Relaxed: each is a snapshot by itself and
//! publishes nothing else); readers in other processes treat the region as untrusted memory:
//! every offset is bounds-checked on open, strings are decoded lossily, nothing panics.

use std::path::Path;
use std::sync::atomic::Ordering;

use crate::error::{BridgeStatusFault, JournalError, RegionCorruption, RegionError};
use crate::header::{HEADER_LEN, RegionKind};
use crate::name::RegionName;
use crate::os;
use crate::region::{OpenOptions, Region};

/// What follows the journal's name in the name of its `bridge in` region.
pub const IN_SUFFIX: &str = ".bridge-in";
/// What follows the journal's name, before the stream's, in the name of a `bridge out` region.
pub const OUT_INFIX: &str = ".bridge-out.";
/// What follows the journal's name in the name of the progress file of `bridge in --slots
/// --candles` (two CRC'd records, not a region: docs/BRIDGE.md); removed with the journal.
pub const MIRROR_SUFFIX: &str = ".bridge-mirror";
/// The first four bytes of that file, little-endian (`SBMR`): `rm` removes only such a file.
pub const MIRROR_MAGIC: u32 = 0x524D_4253;
/// Bytes of one intent slot of `bridge in`.
pub const SLOT_LEN: usize = 48;
/// Longest stream name and subject kept (longer ones are cut, at a character boundary).
pub const STREAM_MAX: usize = 127;
/// Longest subject kept.
pub const SUBJECT_MAX: usize = 255;

/// Bytes of the body (from the body offset).
const BODY_LEN: usize = 640;
// Body fields, from the body offset.
const B_LEN: usize = 0;
const B_DIRECTION: usize = 4;
const B_WORDS: usize = 8;
const B_STREAM: usize = 128;
const B_SUBJECT: usize = 256;
const B_SLOTS: usize = 512;

const STATE_RUNNING: u64 = 1;
const STATE_STOPPED: u64 = 2;

/// Which way a bridge carries messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// A journal into a stream.
    Out,
    /// A stream into a journal.
    In,
}

impl Direction {
    const fn code(self) -> u32 {
        match self {
            Self::Out => 1,
            Self::In => 2,
        }
    }

    fn from_code(c: u32) -> Option<Self> {
        match c {
            1 => Some(Self::Out),
            2 => Some(Self::In),
            _ => None,
        }
    }

    /// `out` or `in`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Out => "out",
            Self::In => "in",
        }
    }
}

/// A word of the status region (docs/FORMAT.md section 8 gives each one's offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Word {
    /// 1 running, 2 stopped cleanly (a killed bridge leaves 1, and its lock free).
    State = 0,
    /// The bridge's pid.
    Pid,
    /// When it started, ns since the Unix epoch.
    StartedNs,
    /// When it last updated a counter.
    UpdatedNs,
    /// Messages the stream stored (`out`) or the journal stored (`in`), gap markers aside.
    Messages,
    /// Payload bytes of those messages.
    Bytes,
    /// Publishes acked as duplicates (`out`), deliveries the journal already held (`in`).
    Duplicates,
    /// Gap markers published (`out`) or gap frames written (`in`).
    Gaps,
    /// Messages lost: those the gap markers name (`out`), stream sequences the stream no longer
    /// held (`in`).
    Lost,
    /// Times `out` went back to the stream's last message after an error.
    Rewinds,
    /// Connections to the NATS server lost (each followed by a reconnect).
    Reconnects,
    /// Publishes awaiting their ack (`out`), deliveries not yet acked (`in`).
    InFlight,
    /// The journal sequence after the last message acked (`out`) or stored (`in`).
    JournalNext,
    /// The stream sequence of the last message acked (`out`) or stored (`in`).
    StreamSeq,
    /// `in`: messages the stream holds after the last one stored (its consumer's pending
    /// count). `out` leaves it 0: readers compute its lag from the journal.
    Lag,
}

const WORDS: usize = Word::Lag as usize + 1;
const _: () = assert!(B_WORDS + 8 * WORDS <= B_STREAM && B_SLOTS + 2 * SLOT_LEN <= BODY_LEN);

/// What a status region says, as [`read_status`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    /// The region's name.
    pub name: String,
    /// The journal it bridges (from the region's name).
    pub journal: String,
    /// Its direction.
    pub direction: Direction,
    /// The stream.
    pub stream: String,
    /// The subject (`out`; empty for `in`).
    pub subject: String,
    /// `running`, `stopped` (cleanly) or `dead` (killed: its lock is free, its state running).
    pub state: &'static str,
    /// Whether a bridge holds the region now.
    pub alive: bool,
    /// Its pid (the last one's, once stopped).
    pub pid: u32,
    /// Started, ns since the Unix epoch.
    pub started_ns: u64,
    /// Last update.
    pub updated_ns: u64,
    /// See [`Word::Messages`].
    pub messages: u64,
    /// See [`Word::Bytes`].
    pub bytes: u64,
    /// See [`Word::Duplicates`].
    pub duplicates: u64,
    /// See [`Word::Gaps`].
    pub gaps: u64,
    /// See [`Word::Lost`].
    pub lost: u64,
    /// See [`Word::Rewinds`].
    pub rewinds: u64,
    /// See [`Word::Reconnects`].
    pub reconnects: u64,
    /// See [`Word::InFlight`].
    pub in_flight: u64,
    /// See [`Word::JournalNext`].
    pub journal_next: u64,
    /// See [`Word::StreamSeq`].
    pub stream_seq: u64,
    /// Messages behind: `out`, the journal's next sequence minus [`BridgeInfo::journal_next`]
    /// (read from the journal now; the stored word if the journal cannot be read); `in`, the
    /// stream's last sequence minus the last one stored, as the bridge last saw it.
    pub lag: u64,
}

/// The status region name of a bridge of `journal` (`out`: one per stream).
///
/// # Errors
///
/// [`RegionError::InvalidName`] if the journal's name, or the name it makes, is not valid (a
/// stream name with `.` or `/`, or too long a name).
pub fn status_name(
    journal: &str,
    direction: Direction,
    stream: &str,
) -> Result<String, RegionError> {
    let j = RegionName::parse(journal)?;
    let name = match direction {
        Direction::In => format!("{}{IN_SUFFIX}", j.as_str()),
        Direction::Out => {
            if stream.is_empty() || stream.contains(['.', '/']) {
                return Err(RegionError::InvalidName {
                    name: stream.to_owned(),
                    reason: "a stream name for a bridge has no `.` or `/` and is not empty".into(),
                });
            }
            format!("{}{OUT_INFIX}{stream}", j.as_str())
        }
    };
    RegionName::parse(&name)?;
    Ok(name)
}

/// The journal and direction a status region's name says (`None`: not a bridge region name).
pub fn parse_status_name(name: &str) -> Option<(String, Direction)> {
    if let Some(j) = name.strip_suffix(IN_SUFFIX) {
        return Some((j.to_owned(), Direction::In));
    }
    let at = name.rfind(OUT_INFIX)?;
    let stream = &name[at + OUT_INFIX.len()..];
    (!stream.is_empty() && !stream.contains('/')).then(|| (name[..at].to_owned(), Direction::Out))
}

/// The names of the status regions next to `journal` (by file name, not yet validated).
pub fn list_bridges(journal: &str) -> Vec<String> {
    let Ok(j) = RegionName::parse(journal) else {
        return Vec::new();
    };
    let path = j.path();
    let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
        return Vec::new();
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(rd) = os::list_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let f = e.name.into_string().ok()?;
            let rest = f.strip_prefix(file)?;
            let ok = rest == IN_SUFFIX
                || rest
                    .strip_prefix(OUT_INFIX)
                    .is_some_and(|s| !s.is_empty() && !s.contains('.'));
            ok.then(|| format!("{}{rest}", j.as_str()))
        })
        .collect();
    out.sort();
    out
}

/// An open status region: validated geometry.
#[derive(Debug)]
struct Status {
    region: Region,
    body: usize,
    direction: Direction,
}

impl Status {
    fn validate(region: Region, expect: Option<Direction>) -> Result<Self, RegionError> {
        let is_in = region.name().as_str().ends_with(IN_SUFFIX);
        let corrupt = |fault: BridgeStatusFault| RegionError::Corrupt {
            path: region.name().path().to_path_buf(),
            what: RegionCorruption::BridgeStatus {
                fault,
                intent: is_in,
            },
        };
        let body = region.header().body_offset as usize;
        let map = region.map();
        let outside = || {
            corrupt(BridgeStatusFault::BodyOutside {
                body: body as u64,
                body_len: BODY_LEN as u32,
                len: map.len() as u64,
            })
        };
        let end = body.checked_add(BODY_LEN);
        if body % 8 != 0 || end.is_none_or(|e| e > map.len()) {
            return Err(outside());
        }
        let u32_at = |o: usize| map.u32_at(body + o).map(|w| w.load(Ordering::Relaxed));
        let (Some(len), Some(dir)) = (u32_at(B_LEN), u32_at(B_DIRECTION)) else {
            return Err(outside());
        };
        if len as usize != BODY_LEN {
            return Err(corrupt(BridgeStatusFault::BodyLength {
                found: len,
                expected: BODY_LEN as u32,
            }));
        }
        let Some(direction) = Direction::from_code(dir) else {
            return Err(corrupt(BridgeStatusFault::Direction { code: dir }));
        };
        if let Some(e) = expect {
            if e != direction {
                return Err(corrupt(BridgeStatusFault::WrongDirection {
                    found: direction.name(),
                    expected: e.name(),
                }));
            }
        }
        Ok(Self {
            region,
            body,
            direction,
        })
    }

    fn word(&self, w: Word) -> &std::sync::atomic::AtomicU64 {
        self.region
            .map()
            .u64_at(self.body + B_WORDS + 8 * w as usize)
            .expect("the body was bounds-checked on open")
    }

    fn text(&self, off: usize, max: usize) -> String {
        let b = self
            .region
            .map()
            .read_bytes(self.body + off, max + 1)
            .expect("the body was bounds-checked on open");
        let len = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        // Untrusted bytes: decoded lossily; tools escape what they print.
        String::from_utf8_lossy(&b[..len]).into_owned()
    }

    fn set_text(&self, off: usize, max: usize, s: &str) {
        let mut cut = s.len().min(max);
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut b = vec![0u8; max + 1];
        b[..cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.region
            .map()
            .write_bytes(self.body + off, &b)
            .expect("the writer's mapping is writable and bounds-checked");
    }
}

/// The status region of a running bridge: it is the region's writer.
#[derive(Debug)]
pub struct BridgeStatus {
    status: Status,
}

impl BridgeStatus {
    /// Opens (creating if missing) the status region of a bridge of `journal` and marks it
    /// running with this process's pid: counters start at 0; `in`'s intent slots are kept.
    ///
    /// # Errors
    ///
    /// [`RegionError::WriterBusy`] if another bridge holds it; a [`RegionError`] naming it if
    /// it exists and is not a valid status region of this direction (corrupt or foreign).
    pub fn open(
        journal: &str,
        direction: Direction,
        stream: &str,
        subject: &str,
    ) -> Result<Self, RegionError> {
        let name = status_name(journal, direction, stream)?;
        let jpath = RegionName::parse(journal)?.path().to_path_buf();
        // Whoever may read the journal may read what its bridges did.
        let mode = os::path_stat(&jpath).map_or(0o600, |m| m.mode() & 0o666) | 0o600;
        let mut waited = 0;
        let region = loop {
            let opened = Region::open_options()
                .kind(RegionKind::Bridge)
                .writer(true)
                .defer_claim()
                .open(&name);
            match opened {
                Err(RegionError::NotFound { .. }) => {}
                // Its creator is between its exclusive create and its publish: a moment.
                Err(RegionError::NotReady { .. }) if waited < 200 => {
                    waited += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                other => break other?,
            }
            let created = Region::builder(&name)
                .kind(RegionKind::Bridge)
                .size((HEADER_LEN + BODY_LEN) as u64)
                .mode(mode)
                .create_unpublished();
            match created {
                Ok(region) => {
                    let body = region.header().body_offset as usize;
                    let map = region.map();
                    map.store_u32(body + B_LEN, BODY_LEN as u32)
                        .and_then(|()| map.store_u32(body + B_DIRECTION, direction.code()))
                        .expect("the body fits: the size was computed for it");
                    // Stores the magic last, with Release (docs/FORMAT.md 1.2).
                    region.publish();
                    break region;
                }
                // Another bridge created it first: open theirs (and find it busy).
                Err(RegionError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e),
            }
        };
        // Validated before the first store: a corrupt region is left as it was found.
        let mut status = Status::validate(region, Some(direction))?;
        status.region.claim_writer();
        status.set_text(B_STREAM, STREAM_MAX, stream);
        status.set_text(B_SUBJECT, SUBJECT_MAX, subject);
        let s = Self { status };
        let now = os::now_unix_ns();
        for w in [
            Word::Messages,
            Word::Bytes,
            Word::Duplicates,
            Word::Gaps,
            Word::Lost,
            Word::Rewinds,
            Word::Reconnects,
            Word::InFlight,
            Word::Lag,
        ] {
            s.set(w, 0);
        }
        s.set(Word::Pid, u64::from(os::pid()));
        s.set(Word::StartedNs, now);
        s.set(Word::UpdatedNs, now);
        s.set(Word::State, STATE_RUNNING);
        Ok(s)
    }

    /// The region's name.
    pub fn name(&self) -> &str {
        self.status.region.name().as_str()
    }

    /// Stores a word (Relaxed).
    #[inline]
    pub fn set(&self, w: Word, v: u64) {
        self.status.word(w).store(v, Ordering::Relaxed);
    }

    /// Reads a word back.
    #[inline]
    pub fn get(&self, w: Word) -> u64 {
        self.status.word(w).load(Ordering::Relaxed)
    }

    /// Stores the update time (the coarse clock: humans read it).
    #[inline]
    pub fn touch(&self) {
        self.set(Word::UpdatedNs, os::now_unix_ns_coarse());
    }

    /// `bridge in`'s intent slot `i` (0 or 1), as stored (its reader checks it).
    pub fn slot(&self, i: usize) -> [u8; SLOT_LEN] {
        let b = self
            .status
            .region
            .map()
            .read_bytes(self.status.body + B_SLOTS + (i % 2) * SLOT_LEN, SLOT_LEN)
            .expect("the body was bounds-checked on open");
        b.try_into().expect("SLOT_LEN bytes")
    }

    /// Writes intent slot `i`. Its stores come before, in program order, every later store of
    /// this thread, in particular a journal commit (a Release store) that follows.
    pub fn write_slot(&self, i: usize, bytes: &[u8; SLOT_LEN]) {
        self.status
            .region
            .map()
            .write_bytes(self.status.body + B_SLOTS + (i % 2) * SLOT_LEN, bytes)
            .expect("the writer's mapping is writable and bounds-checked");
    }

    /// Marks the bridge stopped cleanly (its drop does too).
    pub fn stop(&self) {
        self.set(Word::InFlight, 0);
        self.touch();
        self.set(Word::State, STATE_STOPPED);
    }
}

impl Drop for BridgeStatus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the status region `name`. For `out`, the lag is computed against the journal's newest
/// message now (so a stopped or hung bridge shows how far behind it is).
///
/// # Errors
///
/// A [`RegionError`] naming the region if it is missing, or not a valid status region.
pub fn read_status(name: &str, opts: &OpenOptions) -> Result<BridgeInfo, JournalError> {
    let region = opts.clone().kind(RegionKind::Bridge).open(name)?;
    let s = Status::validate(region, None)?;
    let alive = s.region.writer_alive()?;
    let w = |x| s.word(x).load(Ordering::Relaxed);
    let journal = parse_status_name(name).map(|(j, _)| j).unwrap_or_default();
    let journal_next = w(Word::JournalNext);
    let lag = match s.direction {
        Direction::Out => crate::journal::JournalReader::open(&journal, crate::journal::Start::End)
            .and_then(|r| r.info())
            .map_or(w(Word::Lag), |i| i.next_seq.saturating_sub(journal_next)),
        Direction::In => w(Word::Lag),
    };
    let state = match (alive, w(Word::State)) {
        (true, _) => "running",
        (false, STATE_STOPPED) => "stopped",
        (false, 0) => "new",
        (false, _) => "dead",
    };
    let info = BridgeInfo {
        name: name.to_owned(),
        journal,
        direction: s.direction,
        stream: s.text(B_STREAM, STREAM_MAX),
        subject: s.text(B_SUBJECT, SUBJECT_MAX),
        state,
        alive,
        pid: u32::try_from(w(Word::Pid)).unwrap_or(0),
        started_ns: w(Word::StartedNs),
        updated_ns: w(Word::UpdatedNs),
        messages: w(Word::Messages),
        bytes: w(Word::Bytes),
        duplicates: w(Word::Duplicates),
        gaps: w(Word::Gaps),
        lost: w(Word::Lost),
        rewinds: w(Word::Rewinds),
        reconnects: w(Word::Reconnects),
        in_flight: w(Word::InFlight),
        journal_next,
        stream_seq: w(Word::StreamSeq),
        lag,
    };
    s.region.check_intact()?;
    Ok(info)
}

/// Removes the status regions of `journal`'s bridges (after the journal itself): only files
/// that are bridge status regions (or a region header its creator never published).
pub(crate) fn remove_bridges(journal: &str) -> Result<(), RegionError> {
    use crate::region::{Identity, identify, unlink_same};
    for name in list_bridges(journal) {
        let path = RegionName::parse(&name)?.path().to_path_buf();
        let io = |error| RegionError::Io {
            op: "remove",
            path: path.clone(),
            error,
        };
        match identify(&path) {
            Ok((st, Identity::Shmbus(Some(RegionKind::Bridge)) | Identity::Unpublished)) => {
                unlink_same(&path, &st).map_err(io)?;
            }
            Ok(_) => {}
            Err(e) if os::failure(&e) == os::Failure::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    remove_mirror_progress(journal)
}

/// Removes the journal's mirror progress file, if it is one (starts with [`MIRROR_MAGIC`], or is
/// empty: created and never written). Anything else under that name is left alone.
fn remove_mirror_progress(journal: &str) -> Result<(), RegionError> {
    let mut path = RegionName::parse(journal)?.path().as_os_str().to_owned();
    path.push(MIRROR_SUFFIX);
    let path = std::path::PathBuf::from(path);
    let io = |error| RegionError::Io {
        op: "remove",
        path: path.clone(),
        error,
    };
    let fd = match os::open(&path, os::OpenMode::Read) {
        Ok(fd) => fd,
        Err(e) if os::failure(&e) == os::Failure::NotFound => return Ok(()),
        // Not a regular file (a FIFO, a directory...): not ours.
        Err(e) if os::not_regular(&e).is_some() => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let st = os::stat(&fd).map_err(io)?;
    let mut magic = [0u8; 4];
    let ours = st.size == 0
        || (os::read_exact_at(&fd, &mut magic, 0).is_ok()
            && u32::from_le_bytes(magic) == MIRROR_MAGIC);
    if ours {
        crate::region::unlink_same(&path, &st).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_mirror_progress_file_is_removed_with_the_journal() {
        let dir = std::env::temp_dir().join(format!("shmbus-mirror-rm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let journal = format!("{}/j", dir.display());
        let progress = dir.join(format!("j{MIRROR_SUFFIX}"));
        // Another program's file under that name stays.
        std::fs::write(&progress, b"not a mirror record").unwrap();
        remove_mirror_progress(&journal).unwrap();
        assert!(progress.exists());
        // The mirror's own (its magic first) goes; so does an empty one; none is fine.
        let mut rec = MIRROR_MAGIC.to_le_bytes().to_vec();
        rec.resize(64, 0);
        std::fs::write(&progress, &rec).unwrap();
        remove_mirror_progress(&journal).unwrap();
        assert!(!progress.exists());
        std::fs::write(&progress, b"").unwrap();
        remove_mirror_progress(&journal).unwrap();
        assert!(!progress.exists());
        remove_mirror_progress(&journal).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_parse_back() {
        let n = status_name("/trades", Direction::Out, "S1").unwrap();
        assert_eq!(n, "trades.bridge-out.S1");
        assert_eq!(
            parse_status_name(&n),
            Some(("trades".to_owned(), Direction::Out))
        );
        let n = status_name("./d/t", Direction::In, "whatever").unwrap();
        assert_eq!(n, "./d/t.bridge-in");
        assert_eq!(
            parse_status_name(&n),
            Some(("./d/t".to_owned(), Direction::In))
        );
        assert!(status_name("t", Direction::Out, "a.b").is_err());
        assert!(status_name("t", Direction::Out, "").is_err());
        assert_eq!(parse_status_name("trades"), None);
    }

    #[test]
    fn counters_round_trip_and_a_corrupt_region_is_refused_untouched() {
        use std::os::unix::fs::FileExt;
        let journal = format!("shmbus-status-test-{}", std::process::id());
        let name = status_name(&journal, Direction::Out, "S").unwrap();
        let path = RegionName::parse(&name).unwrap().path().to_path_buf();
        struct Cleanup(std::path::PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let _cleanup = Cleanup(path.clone());
        let s = BridgeStatus::open(&journal, Direction::Out, "S", "sub.ject").unwrap();
        s.set(Word::Messages, 12);
        s.set(Word::Lag, 5);
        s.set(Word::InFlight, 3);
        // No journal to compute it from: the stored lag.
        let i = read_status(&name, &OpenOptions::default()).unwrap();
        assert_eq!(
            (i.messages, i.lag, i.in_flight, i.state, i.alive),
            (12, 5, 3, "running", true)
        );
        assert_eq!((i.stream.as_str(), i.subject.as_str()), ("S", "sub.ject"));
        assert_eq!((i.journal.as_str(), i.pid), (journal.as_str(), os::pid()));
        assert!(matches!(
            BridgeStatus::open(&journal, Direction::Out, "S", "x"),
            Err(RegionError::WriterBusy { .. })
        ));
        drop(s);
        let i = read_status(&name, &OpenOptions::default()).unwrap();
        assert_eq!((i.state, i.alive, i.in_flight), ("stopped", false, 0));
        // The other direction's region is refused, and so is a bad body length.
        let e = Status::validate(
            Region::open_options()
                .kind(RegionKind::Bridge)
                .open(&name)
                .unwrap(),
            Some(Direction::In),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not of a `bridge in`"), "{e}");
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&7u32.to_le_bytes(), HEADER_LEN as u64)
            .unwrap();
        let before = std::fs::read(&path).unwrap();
        let e = BridgeStatus::open(&journal, Direction::Out, "S", "x").unwrap_err();
        assert!(e.to_string().contains("a body of 7 bytes"), "{e}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            before,
            "left as it was found"
        );
        assert!(read_status(&name, &OpenOptions::default()).is_err());
    }
}
