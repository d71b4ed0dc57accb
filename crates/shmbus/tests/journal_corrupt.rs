//! Corrupt journals: memory another process can write is untrusted input. A reader (or a writer
//! taking over) of a journal with damaged bytes must answer with a typed error (`Corrupt` with
//! the position, `Overrun`, `TooOld`/`NotYet`, `Layout`, or a `Region` error for header damage),
//! never panic, read out of bounds or loop forever, and with `crc(true)` it must never return a
//! payload other than the one written.
//!
//! The `damaged_*` tests build a journal (ring or persisted, with and without CRC), copy its
//! file(s) to a scratch location and damage the copy one byte at a time (every byte of the
//! journal header and commit line, then over a thousand deterministic pseudo-random positions in
//! the header, index and data), restoring the byte after each variant, and read it every way
//! (forward, backward, from both ends, seeks). The `a_writer_taking_over_*` tests let a writer
//! take over damaged copies and append. Targeted tests cover damage that single-byte flips of
//! these journals do not reach (a commit word whole rings ahead, zeros read as frames, a segment
//! that lies about its number, a lone segment file), and two proptests feed arbitrary bytes as a
//! whole journal file. Every iteration is bounded by a step limit and every test by a watchdog.

mod common;

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::journal::{Rng, is_valid, msg_type, payload};
use common::{TestDir, Watchdog, watchdog_note};
use proptest::prelude::*;
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{AppendError, JournalError};

// Absolute offsets in a journal file (docs/FORMAT.md, "Journal"; journal header at 128).
// OLDEST: the ring's horizon (`oldest`, then `oldest_seq`), on a line of its own; HEADER_END:
// the end of the horizon line's words (every byte before it is a header byte); INDEX: where the
// sparse index starts.
use shmbus::layout::journal::{
    BASE_POS, CAPACITY, COMMIT, DATA_OFF, FRAME_HEADER, HEADER_END, INDEX, INDEX_N, MAX_MSG, MODE,
    OLDEST, SEALED, SEGMENT,
};

/// The configurations under test.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Ring,
    Persisted,
}

/// A pristine journal and what it holds.
#[derive(Debug)]
struct Template {
    _dir: TestDir,
    /// The journal's name (a ring file or a persisted journal's directory).
    name: String,
    kind: Kind,
    crc: bool,
    /// The region files, in segment order.
    files: Vec<PathBuf>,
    /// Every stored message.
    stored: Vec<Loc>,
    /// Sequence of the next message the writer would append.
    next_seq: u64,
    /// Data bytes of the ring or of each segment.
    capacity: u64,
    /// Logical position of the committed end.
    end: u64,
}

/// Where a stored message lies.
#[derive(Debug, Clone, Copy)]
struct Loc {
    seq: u64,
    position: u64,
    len: u64,
    /// Index into `Template::files`.
    file: usize,
    /// Offset of the payload in that file.
    payload_off: u64,
}

fn read_u64(path: &Path, off: u64) -> u64 {
    let f = std::fs::File::open(path).expect("open a journal file");
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, off).expect("read a journal file");
    u64::from_le_bytes(b)
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the journal")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    files.sort();
    files
}

impl Template {
    /// A ring of 64 KiB wrapped about three times, or a persisted journal of about five 16 KiB
    /// segments; commits in batches of 1..40 messages.
    fn build(kind: Kind, crc: bool) -> Self {
        let dir = TestDir::new("jcorrupt");
        let name = dir.name("journal");
        let (mut w, total) = match kind {
            Kind::Ring => (
                JournalWriter::builder(&name)
                    .ring(64 * 1024)
                    .crc(crc)
                    .create()
                    .expect("create the ring"),
                2500u64,
            ),
            Kind::Persisted => (
                JournalWriter::builder(&name)
                    .segment_size(16 * 1024)
                    .crc(crc)
                    .create()
                    .expect("create the persisted journal"),
                900,
            ),
        };
        let mut rng = Rng::new(0x5eed_c0de);
        let mut batch = 0;
        for seq in 0..total {
            assert_eq!(w.append(msg_type(seq), &payload(seq)).unwrap(), seq);
            batch += 1;
            if batch >= rng.range(1, 40) {
                w.commit();
                batch = 0;
            }
        }
        w.commit();
        drop(w);
        let files = match kind {
            Kind::Ring => vec![PathBuf::from(&name)],
            Kind::Persisted => segment_files(Path::new(&name)),
        };
        let capacity = read_u64(&files[0], CAPACITY);
        let mut r = JournalReader::open(&name, Start::Beginning).expect("open the template");
        let mut stored = Vec::new();
        while let Some(m) = r.next().expect("the template is valid") {
            assert!(
                is_valid(m.seq, m.ty, m.payload),
                "template message {}",
                m.seq
            );
            let file = match kind {
                Kind::Ring => 0,
                Kind::Persisted => files
                    .iter()
                    .rposition(|f| read_u64(f, BASE_POS) <= m.position)
                    .expect("a segment holds the message"),
            };
            let data_off = read_u64(&files[file], DATA_OFF);
            let rel = match kind {
                Kind::Ring => m.position % capacity,
                Kind::Persisted => m.position - read_u64(&files[file], BASE_POS),
            };
            stored.push(Loc {
                seq: m.seq,
                position: m.position,
                len: m.payload.len() as u64,
                file,
                payload_off: data_off + rel + FRAME_HEADER,
            });
        }
        assert_eq!(stored.last().map(|l| l.seq + 1), Some(total));
        let end = read_u64(files.last().expect("a file"), COMMIT);
        if let Kind::Persisted = kind {
            assert!(files.len() >= 4, "only {} segments", files.len());
            assert_eq!(stored.len() as u64, total, "nothing is lost");
        } else {
            assert!(end > 3 * capacity, "the ring wrapped around several times");
        }
        Self {
            _dir: dir,
            name,
            kind,
            crc,
            files,
            stored,
            next_seq: total,
            capacity,
            end,
        }
    }

    /// Copies the journal to `dst` (a file, or a directory of segment files).
    fn copy_to(&self, dst: &str) {
        let _ = std::fs::remove_dir_all(dst);
        let _ = std::fs::remove_file(dst);
        match self.kind {
            Kind::Ring => {
                std::fs::copy(&self.name, dst).expect("copy the ring");
            }
            Kind::Persisted => {
                std::fs::create_dir(dst).expect("create the copy's directory");
                for f in &self.files {
                    std::fs::copy(f, Path::new(dst).join(f.file_name().expect("a file name")))
                        .expect("copy a segment");
                }
            }
        }
    }

    /// The copy's file that corresponds to `self.files[i]`.
    fn copy_file(&self, copy: &str, i: usize) -> PathBuf {
        match self.kind {
            Kind::Ring => PathBuf::from(copy),
            Kind::Persisted => {
                Path::new(copy).join(self.files[i].file_name().expect("a file name"))
            }
        }
    }

    fn file_len(&self, i: usize) -> u64 {
        std::fs::metadata(&self.files[i]).expect("stat").len()
    }
}

/// One damaged byte.
#[derive(Debug, Clone, Copy)]
struct Flip {
    file: usize,
    offset: u64,
    xor: u8,
    /// The stored message whose payload holds the byte, if any.
    payload_of: Option<Loc>,
}

/// Applies `flip` to the copy's file; returns the original byte.
fn apply(path: &Path, offset: u64, xor: u8) -> u8 {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the copy");
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).expect("read the byte");
    f.write_all_at(&[b[0] ^ xor], offset)
        .expect("write the byte");
    b[0]
}

fn restore(path: &Path, offset: u64, byte: u8) {
    let f = OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open the copy");
    f.write_all_at(&[byte], offset).expect("restore the byte");
}

/// What reading a damaged journal did.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    /// The open from the beginning was refused with a `Region` error.
    open_refused: bool,
    /// Position of the first `Corrupt` met reading forward from the beginning.
    first_corrupt: Option<u64>,
    /// Messages returned, all passes together.
    messages: u64,
    /// Errors returned, all passes together.
    errors: u64,
}

/// The facts a check needs about the journal being read.
#[derive(Debug, Clone, Copy)]
struct Expect {
    crc: bool,
    /// Step limit of a forward or backward pass.
    steps: u64,
    /// Sequences worth seeking to lie in `0..seq_hi`.
    seq_hi: u64,
    /// A `Corrupt` position must be at most this.
    max_position: u64,
}

/// Checks that `e` is one of the errors a reader may give on a damaged journal.
#[track_caller]
/// [`check_err`] of a reader's or writer's error, as the journal error it converts into.
fn check(e: impl Into<JournalError>, x: &Expect, what: &str) -> JournalError {
    let e = e.into();
    check_err(&e, x, what);
    e
}

fn check_err(e: &JournalError, x: &Expect, what: &str) {
    let _ = e.to_string();
    match e {
        JournalError::Corrupt { position, .. } => assert!(
            *position <= x.max_position,
            "{what}: Corrupt at position {position}, beyond the journal (max {}): {e}",
            x.max_position
        ),
        JournalError::Overrun {
            lost,
            expected_seq,
            resume_seq,
            ..
        } => assert_eq!(
            *lost,
            resume_seq.saturating_sub(*expected_seq),
            "{what}: inexact Overrun: {e}"
        ),
        JournalError::TooOld { .. }
        | JournalError::NotYet { .. }
        | JournalError::Layout { .. }
        | JournalError::Region(_) => {}
        other => panic!("{what}: a reader returned {other:?}"),
    }
}

/// Checks a returned message: with a CRC it must be exactly the message written with its seq.
#[track_caller]
fn check_msg(seq: u64, ty: u16, payload: &[u8], x: &Expect, what: &str) {
    if x.crc {
        assert!(
            is_valid(seq, ty, payload),
            "{what}: a CRC journal returned a wrong message: seq {seq}, type {ty}, {} bytes",
            payload.len()
        );
    }
}

/// Reads forward until the end, a non-`Overrun` error, or the step limit (a failure).
fn forward(r: &mut JournalReader, x: &Expect, out: &mut Outcome, what: &str) -> Option<u64> {
    for _ in 0..x.steps {
        match r.next() {
            Ok(Some(m)) => {
                check_msg(m.seq, m.ty, m.payload, x, what);
                out.messages += 1;
            }
            Ok(None) => return None,
            Err(e) => {
                let e = check(e, x, what);
                out.errors += 1;
                match e {
                    JournalError::Overrun { .. } => {}
                    JournalError::Corrupt { position, .. } => return Some(position),
                    _ => return None,
                }
            }
        }
    }
    panic!(
        "{what}: forward iteration did not end within {} steps",
        x.steps
    );
}

/// Reads backward until the start, an error, or the step limit (a failure).
fn backward(r: &mut JournalReader, x: &Expect, out: &mut Outcome, what: &str) {
    for _ in 0..x.steps {
        match r.prev() {
            Ok(Some(m)) => {
                check_msg(m.seq, m.ty, m.payload, x, what);
                out.messages += 1;
            }
            Ok(None) => return,
            Err(e) => {
                let e = check(e, x, what);
                out.errors += 1;
                if !matches!(e, JournalError::Overrun { .. }) {
                    return;
                }
            }
        }
    }
    panic!(
        "{what}: backward iteration did not end within {} steps",
        x.steps
    );
}

/// Every way of reading a journal: forward then backward from the beginning, backward then
/// forward from the end, and seeks to pseudo-random sequences (by open and by `seek`).
fn exercise(name: &str, x: &Expect, rng: &mut Rng) -> Outcome {
    let mut out = Outcome::default();
    match JournalReader::open(name, Start::Beginning) {
        Ok(mut r) => {
            out.first_corrupt = forward(&mut r, x, &mut out, "forward from the beginning");
            backward(&mut r, x, &mut out, "backward after forward");
            if let Err(e) = r.info() {
                check_err(&e, x, "info");
            }
        }
        Err(e) => {
            check_err(&e, x, "open at the beginning");
            out.open_refused = matches!(e, JournalError::Region(_));
            out.errors += 1;
        }
    }
    match JournalReader::open(name, Start::End) {
        Ok(mut r) => {
            backward(&mut r, x, &mut out, "backward from the end");
            forward(&mut r, x, &mut out, "forward after backward");
        }
        Err(e) => {
            check_err(&e, x, "open at the end");
            out.errors += 1;
        }
    }
    let mut seeker: Option<JournalReader> = None;
    for _ in 0..4 {
        let seq = rng.below(x.seq_hi);
        match JournalReader::open(name, Start::Seq(seq)) {
            Ok(mut r) => {
                for _ in 0..3 {
                    match r.next() {
                        Ok(Some(m)) => {
                            check_msg(m.seq, m.ty, m.payload, x, "read after open at seq")
                        }
                        Ok(None) => break,
                        Err(e) => {
                            check(e, x, "read after open at seq");
                            break;
                        }
                    }
                }
                seeker = Some(r);
            }
            Err(e) => check_err(&e, x, "open at seq"),
        }
        if let Some(r) = &mut seeker {
            match r.seek(rng.below(x.seq_hi)) {
                Ok(()) => match r.next() {
                    Ok(Some(m)) => check_msg(m.seq, m.ty, m.payload, x, "read after seek"),
                    Ok(None) => {}
                    Err(e) => {
                        check(e, x, "read after seek");
                    }
                },
                Err(e) => {
                    check(e, x, "seek");
                }
            }
        }
    }
    out
}

/// The largest position a `Corrupt` error may name: past every position word of every file
/// (which damage may have changed), by at most a data area.
fn max_position(t: &Template, copy: &str) -> u64 {
    let mut hi = t.end;
    for i in 0..t.files.len() {
        let f = t.copy_file(copy, i);
        let base_end = read_u64(&f, BASE_POS).saturating_add(read_u64(&f, CAPACITY));
        for v in [
            read_u64(&f, COMMIT),
            read_u64(&f, OLDEST),
            read_u64(&f, SEALED),
            base_end,
        ] {
            hi = hi.max(v);
        }
    }
    hi.saturating_add(2 * t.capacity)
}

fn expect_for(t: &Template, copy: &str) -> Expect {
    Expect {
        crc: t.crc,
        steps: 2 * t.stored.len() as u64 + 64,
        seq_hi: t.next_seq + 8,
        max_position: max_position(t, copy),
    }
}

/// The flips of one configuration: every byte of the journal header and commit line of the
/// first and last file (xor 0x01 and 0xff), then `random` pseudo-random ones.
fn flips(t: &Template, rng: &mut Rng, random: usize) -> Vec<Flip> {
    let mut out = Vec::new();
    let last = t.files.len() - 1;
    for file in [0, last] {
        for offset in 0..HEADER_END {
            for xor in [0x01, 0xff] {
                out.push(Flip {
                    file,
                    offset,
                    xor,
                    payload_of: None,
                });
            }
        }
    }
    for _ in 0..random {
        let file = rng.below(t.files.len() as u64) as usize;
        let len = t.file_len(file);
        let data_off = read_u64(&t.files[file], DATA_OFF);
        let xor = rng.range(1, 256) as u8;
        let pick = rng.below(100);
        let (offset, payload_of) = if pick < 10 {
            (rng.below(HEADER_END), None)
        } else if pick < 15 {
            (rng.range(INDEX, data_off), None)
        } else if pick < 55 {
            let in_file: Vec<&Loc> = t.stored.iter().filter(|l| l.file == file).collect();
            if in_file.is_empty() {
                (rng.range(data_off, len), None)
            } else {
                let l = *in_file[rng.below(in_file.len() as u64) as usize];
                (l.payload_off + rng.below(l.len), Some(l))
            }
        } else {
            (rng.range(data_off, len), None)
        };
        out.push(Flip {
            file,
            offset,
            xor,
            payload_of,
        });
    }
    out
}

/// Damages a copy of the journal one byte at a time and reads it every way.
fn damage_and_read(kind: Kind, crc: bool, random: usize) {
    let t = Template::build(kind, crc);
    let scratch = TestDir::new("jcorrupt-scratch");
    let copy = scratch.name("copy");
    t.copy_to(&copy);
    let mut rng = Rng::new(0xc0ff_ee00 ^ (crc as u64) ^ ((kind as u64) << 8));
    let flips = flips(&t, &mut rng, random);
    // Reading the undamaged copy gives back every message and no error.
    let clean = exercise(&copy, &expect_for(&t, &copy), &mut rng);
    assert_eq!((clean.errors, clean.first_corrupt), (0, None), "{clean:?}");
    let (mut refused, mut detected, mut payload_flips) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for (i, flip) in flips.iter().enumerate() {
        let path = t.copy_file(&copy, flip.file);
        let what = format!(
            "{kind:?} crc={crc} variant {i}: file {} byte {} ^ {:#04x}",
            flip.file, flip.offset, flip.xor
        );
        watchdog_note(what.clone());
        let old = apply(&path, flip.offset, flip.xor);
        let x = expect_for(&t, &copy);
        let mut seed = rng.clone();
        let out = catch_unwind(AssertUnwindSafe(|| exercise(&copy, &x, &mut seed)))
            .unwrap_or_else(|_| panic!("{what}: reading panicked (see above)"));
        rng.next_u64();
        restore(&path, flip.offset, old);
        refused += u64::from(out.open_refused);
        detected += u64::from(out.errors > 0);
        let file_is_first = flip.file == 0;
        // Damage to the geometry is refused at open, as a region error.
        let new = old ^ flip.xor;
        let geometry = match flip.offset {
            // Any other capacity or data offset disagrees with the file's size; an index of
            // 65536 slots or more overlaps the data; a maximum message of 64 KiB or more is over
            // a quarter of the data area.
            o if (CAPACITY..CAPACITY + 8).contains(&o)
                || (DATA_OFF..DATA_OFF + 8).contains(&o)
                || (INDEX_N + 2..INDEX_N + 4).contains(&o)
                || (MAX_MSG + 2..MAX_MSG + 4).contains(&o) =>
            {
                true
            }
            o if (MODE..MODE + 4).contains(&o) => {
                let mode = read_u64(&path, MODE) as u32;
                let bytes = {
                    let mut b = mode.to_le_bytes();
                    b[(o - MODE) as usize] = new;
                    b
                };
                !matches!(u32::from_le_bytes(bytes), 1 | 2)
            }
            _ => false,
        };
        if geometry && file_is_first {
            assert!(out.open_refused, "{what}: damaged geometry was not refused");
        }
        if let Some(l) = flip.payload_of {
            payload_flips += 1;
            if crc {
                // The damaged message is the one reported, where it lies.
                assert_eq!(
                    out.first_corrupt,
                    Some(l.position),
                    "{what}: the damaged payload of seq {} (at {}) was not reported as Corrupt",
                    l.seq,
                    l.position
                );
            }
        }
    }
    watchdog_note("");
    eprintln!(
        "{kind:?} crc={crc}: {} variants ({payload_flips} payload bytes) in {:?}; {refused} \
         refused at open, {detected} gave an error",
        flips.len(),
        start.elapsed()
    );
    assert!(
        refused > 0 && detected > refused,
        "the damage went unnoticed"
    );
    // The copy is intact again.
    let again = exercise(&copy, &expect_for(&t, &copy), &mut rng);
    assert_eq!((again.errors, again.first_corrupt), (0, None));
}

const LIMIT: Duration = Duration::from_secs(50);

#[test]
fn damaged_ring_gives_typed_errors() {
    let _dog = Watchdog::new("damaged_ring_gives_typed_errors", LIMIT);
    damage_and_read(Kind::Ring, false, 1200);
}

#[test]
fn damaged_ring_with_crc_never_returns_a_wrong_payload() {
    let _dog = Watchdog::new("damaged_ring_with_crc", LIMIT);
    damage_and_read(Kind::Ring, true, 1200);
}

#[test]
fn damaged_persisted_journal_gives_typed_errors() {
    let _dog = Watchdog::new("damaged_persisted_journal", LIMIT);
    damage_and_read(Kind::Persisted, false, 1200);
}

#[test]
fn damaged_persisted_journal_with_crc_never_returns_a_wrong_payload() {
    let _dog = Watchdog::new("damaged_persisted_journal_with_crc", LIMIT);
    damage_and_read(Kind::Persisted, true, 1200);
}

/// Errors a writer taking over a damaged journal may give.
#[track_caller]
fn check_writer_err(e: &JournalError, x: &Expect, what: &str) {
    match e {
        // A damaged maximum (lower) refuses the test's messages: typed and fair.
        JournalError::MessageTooLarge { .. } | JournalError::BatchTooLarge { .. } => {
            let _ = e.to_string();
        }
        other => check_err(other, x, what),
    }
}

/// A writer takes over the damaged journal, appends and commits; then it is read again.
fn exercise_writer(name: &str, x: &Expect) {
    match JournalWriter::open(name) {
        Ok(mut w) => {
            for k in 0..40u64 {
                let seq = w.next_seq();
                match w.append(msg_type(seq), &payload(seq)) {
                    Ok(s) => assert_eq!(s, seq, "append returned another sequence"),
                    Err(e) => {
                        check_writer_err(&e.into(), x, "append after takeover");
                        break;
                    }
                }
                if k % 8 == 7 {
                    w.commit();
                }
            }
            w.commit();
        }
        Err(e) => check_writer_err(&e, x, "writer open"),
    }
    let x = Expect {
        steps: x.steps + 128,
        ..*x
    };
    let mut out = Outcome::default();
    match JournalReader::open(name, Start::Beginning) {
        Ok(mut r) => {
            forward(&mut r, &x, &mut out, "forward after takeover");
        }
        Err(e) => check_err(&e, &x, "open after takeover"),
    }
}

/// A writer that takes over a damaged journal (a fresh copy each time) never panics.
fn damage_and_take_over(kind: Kind, random: usize) {
    let t = Template::build(kind, false);
    let scratch = TestDir::new("jcorrupt-writer");
    let copy = scratch.name("copy");
    let mut rng = Rng::new(0xdead_beef ^ (kind as u64));
    let last = t.files.len() - 1;
    let mut flips: Vec<Flip> = (MODE..HEADER_END)
        .flat_map(|offset| {
            [0x01, 0xff].map(|xor| Flip {
                file: last,
                offset,
                xor,
                payload_of: None,
            })
        })
        .collect();
    flips.extend(
        self::flips(&t, &mut rng, random)
            .into_iter()
            .skip(4 * HEADER_END as usize),
    );
    let start = Instant::now();
    for (i, flip) in flips.iter().enumerate() {
        let what = format!(
            "{kind:?} takeover variant {i}: file {} byte {} ^ {:#04x}",
            flip.file, flip.offset, flip.xor
        );
        watchdog_note(what.clone());
        t.copy_to(&copy);
        apply(&t.copy_file(&copy, flip.file), flip.offset, flip.xor);
        let x = expect_for(&t, &copy);
        catch_unwind(AssertUnwindSafe(|| exercise_writer(&copy, &x)))
            .unwrap_or_else(|_| panic!("{what}: panicked (see above)"));
    }
    watchdog_note("");
    eprintln!(
        "{kind:?}: {} takeovers of damaged copies in {:?}",
        flips.len(),
        start.elapsed()
    );
}

#[test]
fn a_writer_taking_over_a_damaged_ring_never_panics() {
    let _dog = Watchdog::new("a_writer_taking_over_a_damaged_ring", LIMIT);
    damage_and_take_over(Kind::Ring, 200);
}

#[test]
fn a_writer_taking_over_a_damaged_persisted_journal_never_panics() {
    let _dog = Watchdog::new("a_writer_taking_over_a_damaged_persisted_journal", LIMIT);
    damage_and_take_over(Kind::Persisted, 200);
}

fn write_u64(path: &Path, off: u64, v: u64) {
    let f = OpenOptions::new().write(true).open(path).expect("open");
    f.write_all_at(&v.to_le_bytes(), off).expect("write");
}

/// A ring of 64 KiB holding `total` frames of 88 bytes (80-byte payloads), all committed.
fn regular_ring(dir: &TestDir, total: u64) -> String {
    let name = dir.name("regular");
    let mut w = JournalWriter::builder(&name)
        .ring(64 * 1024)
        .create()
        .unwrap();
    for seq in 0..total {
        w.append(1, &[seq as u8; 64]).unwrap();
        if seq % 16 == 15 {
            w.commit();
        }
    }
    w.commit();
    name
}

/// A commit word pushed a whole number of rings ahead points at the same byte of the data area:
/// read naively, the ring would look endless (backward, every frame again and again). It is
/// more than a ring ahead of the oldest frame, which a writer never does: `Corrupt`.
#[test]
fn a_commit_word_rings_ahead_is_corrupt_not_endless() {
    let _dog = Watchdog::new("a_commit_word_rings_ahead", Duration::from_secs(20));
    let dir = TestDir::new("far-commit");
    let name = regular_ring(&dir, 3000);
    let commit = read_u64(Path::new(&name), COMMIT);
    let stored = 64 * 1024 / 88;
    for ahead in [1u64 << 16, 1 << 32, 1 << 40] {
        write_u64(Path::new(&name), COMMIT, commit + ahead);
        let x = Expect {
            crc: false,
            steps: stored + 2,
            seq_hi: 3100,
            max_position: commit + ahead,
        };
        let mut r = JournalReader::open(&name, Start::End).unwrap();
        let mut out = Outcome::default();
        backward(&mut r, &x, &mut out, "backward from a far commit");
        assert_eq!(out.errors, 1, "a far commit must be reported: {out:?}");
        let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
        let corrupt = forward(&mut r, &x, &mut out, "forward to a far commit");
        assert!(corrupt.is_some(), "reading to a far commit must fail");
        let mut rng = Rng::new(ahead);
        exercise(&name, &x, &mut rng);
        exercise_writer(&name, &x);
    }
}

/// Zeros read as empty frames of sequence 0 when there is no CRC: a ring that has not wrapped,
/// with its commit and commit sequence far ahead, must not let a seek walk through them for
/// ever.
#[test]
fn a_seek_through_zeros_to_a_far_commit_ends() {
    let _dog = Watchdog::new("a_seek_through_zeros", Duration::from_secs(20));
    let dir = TestDir::new("far-zeros");
    let name = regular_ring(&dir, 100);
    let path = Path::new(&name);
    write_u64(path, COMMIT, 1 << 40);
    write_u64(path, COMMIT + 8, 1 << 40);
    let x = Expect {
        crc: false,
        steps: 64 * 1024 / 24 + 8,
        seq_hi: 1 << 20,
        max_position: 1 << 41,
    };
    for seq in [150u64, 5000, 1 << 19] {
        match JournalReader::open(&name, Start::Seq(seq)) {
            Ok(mut r) => match r.next() {
                Ok(Some(m)) => check_msg(m.seq, m.ty, m.payload, &x, "read after a far seek"),
                Ok(None) => {}
                Err(e) => {
                    check(e, &x, "read after a far seek");
                }
            },
            Err(e) => check_err(&e, &x, "seek towards a far commit"),
        }
    }
    let mut rng = Rng::new(7);
    exercise(&name, &x, &mut rng);
    exercise_writer(&name, &x);
}

/// A frame whose sequence word was changed (still published, length and trailer intact) is
/// never returned: backward it is a sequence gap (`Corrupt` at the frame), as forward reads of a
/// segment say; a forward read of a ring stops before it (a frame not published with the next
/// sequence is "nothing yet" on the ring's fast path). (Found by the `journal_file` fuzz target:
/// backward reads used to return it, sequence 2 then 0.)
#[test]
fn a_damaged_sequence_word_is_a_gap_backward_too() {
    let _dog = Watchdog::new("a_damaged_sequence_word", Duration::from_secs(20));
    let dir = TestDir::new("seq-gap");
    let name = regular_ring(&dir, 100);
    let path = Path::new(&name);
    let frame = read_u64(path, DATA_OFF) + 50 * 88;
    write_u64(path, frame + 8, (1 << 63) | 7);
    let is_gap_at_50 = |e: &JournalError| matches!(e, JournalError::Corrupt { position, .. } if *position == 50 * 88);

    let mut r = JournalReader::open(&name, Start::End).unwrap();
    for seq in (51..100).rev() {
        assert_eq!(r.prev().unwrap().map(|m| m.seq), Some(seq));
    }
    let e = JournalError::from(r.prev().expect_err("the damaged frame read backward"));
    assert!(is_gap_at_50(&e), "{e}");
    assert!(e.to_string().contains("sequence gap"), "{e}");

    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    for seq in 0..50 {
        assert_eq!(r.next().unwrap().map(|m| m.seq), Some(seq));
    }
    match r.next() {
        Ok(None) => {}
        Err(e) => assert!(is_gap_at_50(&e.into()), "the damaged frame read forward"),
        Ok(Some(m)) => panic!("the damaged frame was read forward as seq {}", m.seq),
    }
}

/// The common header of a valid ring with a 4 KiB data area, and its file size.
fn small_ring_header() -> (Vec<u8>, usize) {
    let dir = TestDir::new("fuzz-template");
    let name = dir.name("ring");
    drop(
        JournalWriter::builder(&name)
            .ring(4096)
            .create()
            .expect("create"),
    );
    let bytes = std::fs::read(&name).expect("read the template");
    (bytes[..232].to_vec(), bytes.len())
}

/// One data word of a plausible-looking journal: zero, a frame's lead word (small length and
/// type), a small sequence, a padding word, or anything.
fn data_word() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        (0u64..200, 0u64..4).prop_map(|(len, ty)| len | ty << 32),
        0u64..64,
        (0u64..4200).prop_map(|n| (1u64 << 31) | n),
        any::<u64>(),
    ]
}

/// A position word: small, near the data area's size, or anything.
fn position_word() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..12_000, (0u64..64).prop_map(|k| k * 8), any::<u64>()]
}

/// Reads (every way) and takes over the file made of `bytes`.
fn fuzz_one(dir: &TestDir, bytes: &[u8]) {
    let name = dir.name("fuzz");
    std::fs::write(&name, bytes).expect("write the fuzz file");
    let x = expect_fuzz(&name);
    let mut rng = Rng::new(bytes.len() as u64);
    catch_unwind(AssertUnwindSafe(|| {
        exercise(&name, &x, &mut rng);
        exercise_writer(&name, &x);
    }))
    .unwrap_or_else(|_| {
        let keep = std::env::temp_dir().join("shmbus-fuzz-panic.bin");
        let _ = std::fs::write(&keep, bytes);
        panic!("a fuzzed journal made the reader or writer panic (file kept in {keep:?})")
    });
}

fn expect_fuzz(name: &str) -> Expect {
    let p = Path::new(name);
    let hi = [COMMIT, OLDEST, SEALED]
        .iter()
        .map(|&o| read_u64(p, o))
        .chain([read_u64(p, BASE_POS).saturating_add(read_u64(p, CAPACITY))])
        .max()
        .unwrap_or(0);
    Expect {
        crc: false,
        steps: 2 * (4096 / 24) + 64,
        seq_hi: 1 << 16,
        max_position: hi.saturating_add(1 << 20),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes after a valid common header: almost always refused at open.
    #[test]
    fn arbitrary_bytes_after_a_valid_header_never_panic(
        seed in any::<u64>(),
    ) {
        let _dog = Watchdog::new("arbitrary_bytes_after_a_valid_header", LIMIT);
        let (header, len) = small_ring_header();
        let mut bytes = header[..shmbus::HEADER_LEN].to_vec();
        let mut rng = Rng::new(seed);
        while bytes.len() < len {
            bytes.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        bytes.truncate(len);
        let dir = TestDir::new("fuzz-raw");
        watchdog_note(format!("raw fuzz seed {seed}"));
        fuzz_one(&dir, &bytes);
    }

    /// A valid header and geometry (ring or segment, with or without CRC), then arbitrary
    /// commit words, index and data made of frame-like words: the decoders get exercised.
    #[test]
    fn arbitrary_frames_and_commit_words_never_panic(
        ring in any::<bool>(),
        crc in any::<bool>(),
        words in prop::array::uniform5(position_word()),
        index in prop::collection::vec(position_word(), 4),
        data in prop::collection::vec(data_word(), 512),
    ) {
        let _dog = Watchdog::new("arbitrary_frames_and_commit_words", LIMIT);
        let (header, len) = small_ring_header();
        let mut bytes = vec![0u8; len];
        bytes[..232].copy_from_slice(&header);
        bytes[MODE as usize..MODE as usize + 4].copy_from_slice(&(if ring { 2u32 } else { 1 }).to_le_bytes());
        bytes[MODE as usize + 4..MODE as usize + 8].copy_from_slice(&u32::from(crc).to_le_bytes());
        for (k, w) in words.iter().enumerate() {
            let at = COMMIT as usize + 8 * k;
            bytes[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
        for (k, w) in index.iter().enumerate() {
            let at = INDEX as usize + 8 * k;
            bytes[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
        let data_off = len - 4096;
        for (k, w) in data.iter().enumerate() {
            let at = data_off + 8 * k;
            bytes[at..at + 8].copy_from_slice(&w.to_le_bytes());
        }
        let dir = TestDir::new("fuzz-frames");
        watchdog_note(format!("frame fuzz: ring {ring} crc {crc} words {words:?}"));
        fuzz_one(&dir, &bytes);
    }
}

/// A segment file of a persisted journal opened on its own (a file, not its directory) has no
/// directory to roll into: when it is full the writer says so instead of panicking.
#[test]
fn a_lone_segment_file_refuses_to_roll_instead_of_panicking() {
    let _dog = Watchdog::new("a_lone_segment_file", Duration::from_secs(20));
    let dir = TestDir::new("lone-segment");
    let name = dir.name("journal");
    drop(
        JournalWriter::builder(&name)
            .segment_size(8 * 1024)
            .create()
            .unwrap(),
    );
    let file = segment_files(Path::new(&name)).remove(0);
    let file = file.to_str().unwrap();
    let mut w = JournalWriter::open(file).expect("a segment file is a journal region");
    let err = catch_unwind(AssertUnwindSafe(|| {
        (0..1000u64)
            .find_map(|seq| w.append_commit(msg_type(seq), &payload(seq)).err())
            .expect("8 KiB cannot hold 1000 messages")
    }))
    .expect("filling a lone segment panicked");
    assert!(matches!(err, AppendError::Layout { .. }), "{err:?}");
    drop(w);
    // What was written is readable, up to the end of the segment.
    let mut r = JournalReader::open(file, Start::Beginning).unwrap();
    let mut n = 0;
    while let Some(m) = r.next().unwrap() {
        assert!(is_valid(m.seq, m.ty, m.payload));
        n += 1;
    }
    assert!(n > 50, "only {n} messages");
}

/// A segment file whose header names another segment number is refused by readers and by a
/// writer taking over (which would otherwise roll into a wrongly numbered file).
#[test]
fn a_segment_that_lies_about_its_number_is_refused() {
    let _dog = Watchdog::new(
        "a_segment_that_lies_about_its_number",
        Duration::from_secs(20),
    );
    let dir = TestDir::new("lying-segment");
    let name = dir.name("journal");
    let mut w = JournalWriter::builder(&name)
        .segment_size(8 * 1024)
        .retain_segments(2)
        .create()
        .unwrap();
    for seq in 0..400 {
        w.append_commit(msg_type(seq), &payload(seq)).unwrap();
    }
    drop(w);
    let files = segment_files(Path::new(&name));
    let last = files.last().unwrap();
    for lie in [0u32, 1, u32::MAX] {
        common::patch(last, SEGMENT, &lie.to_le_bytes());
        match JournalReader::open(&name, Start::End) {
            Err(JournalError::Region(shmbus::RegionError::Corrupt { what, .. })) => {
                assert!(what.to_string().contains("says it is segment"), "{what}");
                assert!(
                    matches!(what, shmbus::RegionCorruption::SegmentNumber { says, .. } if says == lie),
                    "{what:?}"
                );
            }
            other => panic!("lie {lie}: a reader opened it: {other:?}"),
        }
        match JournalWriter::open(&name) {
            Err(JournalError::Region(shmbus::RegionError::Corrupt { what, .. })) => {
                assert!(what.to_string().contains("says it is segment"), "{what}");
                assert!(
                    matches!(what, shmbus::RegionCorruption::SegmentNumber { says, .. } if says == lie),
                    "{what:?}"
                );
            }
            other => panic!("lie {lie}: a writer took it over: {other:?}"),
        }
    }
    // Nothing was created meanwhile.
    assert_eq!(segment_files(Path::new(&name)), files);
}

/// Damage on the frames the writer walks to free ring room: the append fails with `Corrupt`,
/// and the writer does not go on to overwrite frames that readers still trust. (A version
/// retried `make_room` after the failed walk, which had already moved its private horizon: the
/// retry took the room as freed, and a reader then accepted a frame forged by the new payload,
/// with a sequence and type nobody appended.)
#[test]
fn a_damaged_frame_on_the_writers_walk_never_lets_it_overwrite_trusted_frames() {
    const CAP: u64 = 4096;
    const BIG: usize = 800; // an 824-byte frame
    use shmbus::layout::journal::PUBLISHED;
    let dir = TestDir::new("walk-damage");
    let name = dir.name("ring");
    let mut w = JournalWriter::builder(&name).ring(CAP).create().unwrap();
    let path = Path::new(&name);
    let data = read_u64(path, DATA_OFF);
    let phys = |p: u64| data + p % CAP;
    for _ in 0..400 {
        w.append_commit(0, b"").unwrap(); // 24-byte frames
    }
    // A moment when the big frame fits before the ring's end, and freeing room for it walks
    // frame by frame (no index jump) past a frame X that lies beyond what it strictly needs.
    let (commit, oldest, x) = loop {
        let (c, o) = (read_u64(path, COMMIT), read_u64(path, OLDEST));
        let need = 24 + BIG as u64;
        let (floor1, floor2) = (c + need + 16 - CAP, c + need - CAP);
        let target = floor1 + CAP / 32;
        let mut p = o;
        while p < floor2 {
            let lead = read_u64(path, phys(p)) as u32;
            p += if lead & 0x8000_0000 != 0 {
                u64::from(lead & 0x7fff_ffff)
            } else {
                24
            };
        }
        let seq_at = |q: u64| read_u64(path, phys(q) + 8) & !PUBLISHED;
        let no_jump = (o..=target)
            .step_by(24)
            .all(|q| q <= p || seq_at(q) % 64 != 0);
        if CAP - c % CAP >= need && floor1 > o && p < target && no_jump && c % CAP > 0 {
            break (c, o, p);
        }
        w.append_commit(0, b"").unwrap();
    };
    let expected = read_u64(path, phys(oldest) + 8) & !PUBLISHED;
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    assert_eq!(r.next_seq(), expected);
    // Damage frame X's length (as another process could).
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(&0x7fff_fff0u32.to_le_bytes(), phys(x))
        .unwrap();
    // A payload that, where frame `oldest` lies in the ring, forges a frame with the sequence
    // the reader expects next: length 0, type 0x5A5A (never appended).
    let mut big = vec![0xAAu8; BIG];
    let at = (oldest - (commit - CAP) - 16) as usize;
    big[at..at + 8].copy_from_slice(&(0x5A5Au64 << 32).to_le_bytes());
    big[at + 8..at + 16].copy_from_slice(&(PUBLISHED | expected).to_le_bytes());
    big[at + 16..at + 24].copy_from_slice(&0u64.to_le_bytes());
    let res = w.append(0, &big);
    assert!(
        matches!(res, Err(AppendError::Corrupt { .. })),
        "append over a damaged walk: {res:?}"
    );
    // Nothing, an error or the real message: never the forged frame.
    if let Ok(Some(m)) = r.next() {
        assert_ne!(m.ty, 0x5A5A, "a reader accepted a forged frame");
    }
    // Retrying does not change that.
    assert!(matches!(
        w.append(0, &big),
        Err(AppendError::Corrupt { .. })
    ));
}
