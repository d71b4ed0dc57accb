//! Journal behaviour in one process: ring wrap-around, segment rolls, backward iteration, seek,
//! overrun reporting, limits and crash-free recovery of the sequence.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use shmbus::journal::{JournalReader, JournalWriter, Start};
use shmbus::{AppendError, JournalError, ReadError};

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!("shmbus-jtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let n = N.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{tag}-{n}"))
        .to_string_lossy()
        .into_owned()
}

fn cleanup(name: &str) {
    let _ = std::fs::remove_dir_all(name);
    let _ = std::fs::remove_file(name);
}

// Absolute offsets in a journal file (docs/FORMAT.md, "Journal").
use shmbus::layout::journal::{COMMIT, COMMIT_SEQ, DATA_OFF};

/// A journal's file opened for damage, and the offset of its data area.
fn open_file(name: &str) -> (std::fs::File, u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name)
        .unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, DATA_OFF).unwrap();
    (f, u64::from_le_bytes(b))
}

/// Commits `payload` from another thread after `delay` (for a reader waiting meanwhile); the
/// thread gives the writer back.
fn commit_after(
    mut w: JournalWriter,
    delay: Duration,
    payload: &'static [u8],
) -> std::thread::JoinHandle<JournalWriter> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        w.append_commit(0, payload).unwrap();
        w
    })
}

/// A payload that encodes its own sequence and length, so any mix-up is detected.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

fn read_all_forward(r: &mut JournalReader) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(m) = r.next().unwrap() {
        out.push((m.seq, m.payload.to_vec()));
    }
    out
}

fn read_all_backward(r: &mut JournalReader) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(m) = r.prev().unwrap() {
        out.push((m.seq, m.payload.to_vec()));
    }
    out.reverse();
    out
}

#[test]
fn ring_wraps_and_reports_overrun_exactly() {
    let name = unique("ring");
    let mut w = JournalWriter::builder(&name)
        .ring(64 * 1024)
        .create()
        .unwrap();
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    // 100-byte payload -> 128-byte frames; 64 KiB holds 512 of them.
    for s in 0..100u64 {
        w.append(7, &payload(s, 100)).unwrap();
    }
    w.commit();
    assert_eq!(read_all_forward(&mut r).len(), 100);
    // Lap the reader: 2000 more messages.
    for s in 100..2100u64 {
        w.append(7, &payload(s, 100)).unwrap();
        w.commit();
    }
    match r.next() {
        Err(ReadError::Overrun {
            lost,
            expected_seq,
            resume_seq,
            ..
        }) => {
            assert_eq!(expected_seq, 100);
            assert_eq!(lost, resume_seq - 100);
            // 128-byte frames in a 64 KiB ring hold 512 messages; the writer frees space a
            // chunk of 1/32 of the ring (16 frames) ahead, so 496..=512 of the last are kept.
            assert!(
                (2100 - 512..=2100 - 496).contains(&resume_seq),
                "resume at {resume_seq}"
            );
        }
        other => panic!("expected Overrun, got {other:?}"),
    }
    let rest = read_all_forward(&mut r);
    let first = rest[0].0;
    assert_eq!(rest.last().unwrap().0, 2099);
    for (i, (seq, p)) in rest.iter().enumerate() {
        assert_eq!(*seq, first + i as u64);
        assert_eq!(*p, payload(*seq, 100));
    }
    // Backward from the end gives the same messages.
    let back = read_all_backward(&mut r);
    assert_eq!(back, rest);
    drop(w);
    cleanup(&name);
}

#[test]
fn persisted_journal_rolls_segments_and_readers_follow() {
    let name = unique("seg");
    let mut w = JournalWriter::builder(&name)
        .segment_size(16 * 1024)
        .create()
        .unwrap();
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    let mut got = Vec::new();
    for s in 0..1000u64 {
        assert_eq!(w.append(1, &payload(s, (s % 200) as usize)).unwrap(), s);
        if s % 10 == 9 {
            w.commit();
            got.extend(read_all_forward(&mut r));
        }
    }
    assert_eq!(got.len(), 1000);
    for (i, (seq, p)) in got.iter().enumerate() {
        assert_eq!(*seq, i as u64);
        assert_eq!(*p, payload(i as u64, i % 200));
    }
    let segments = std::fs::read_dir(&name).unwrap().count();
    assert!(segments > 5, "only {segments} segments");
    // Backward across every segment.
    let back = read_all_backward(&mut r);
    assert_eq!(back, got);
    // Seek anywhere, in any segment.
    for target in [0u64, 1, 63, 64, 65, 500, 999] {
        let mut r2 = JournalReader::open(&name, Start::Seq(target)).unwrap();
        let m = r2.next().unwrap().unwrap();
        assert_eq!(m.seq, target);
        assert_eq!(m.payload, &payload(target, (target % 200) as usize)[..]);
    }
    assert!(matches!(
        JournalReader::open(&name, Start::Seq(1001)),
        Err(JournalError::NotYet { next: 1000, .. })
    ));
    let mut end = JournalReader::open(&name, Start::Seq(1000)).unwrap();
    assert!(end.next().unwrap().is_none());
    drop(w);
    cleanup(&name);
}

#[test]
fn retention_removes_old_segments_and_lagging_reader_is_told() {
    let name = unique("retain");
    let mut w = JournalWriter::builder(&name)
        .segment_size(8 * 1024)
        .retain_segments(3)
        .create()
        .unwrap();
    let mut slow = JournalReader::open(&name, Start::Beginning).unwrap();
    for s in 0..2000u64 {
        w.append_commit(0, &payload(s, 64)).unwrap();
    }
    assert!(std::fs::read_dir(&name).unwrap().count() <= 3);
    assert!(w.removed_segments() > 0);
    // The slow reader still reads its (removed, still mapped) segment, then is told the loss.
    let mut seen = 0u64;
    let err = loop {
        match slow.next() {
            Ok(Some(m)) => {
                assert_eq!(m.seq, seen);
                seen += 1;
            }
            Ok(None) => panic!("reader stopped without an overrun"),
            Err(e) => break e,
        }
    };
    match err {
        ReadError::Overrun {
            lost,
            expected_seq,
            resume_seq,
            ..
        } => {
            assert_eq!(expected_seq, seen);
            assert_eq!(lost, resume_seq - seen);
        }
        other => panic!("{other}"),
    }
    let rest = read_all_forward(&mut slow);
    assert_eq!(rest.last().unwrap().0, 1999);
    assert!(matches!(
        JournalReader::open(&name, Start::Seq(0)),
        Err(JournalError::TooOld { seq: 0, .. })
    ));
    drop(w);
    cleanup(&name);
}

/// A persisted seek to a message of the segment the reader is in stays in that segment; once
/// retention removed the segment, a seek into it is `TooOld` although the reader still maps it.
#[test]
fn seek_in_the_readers_segment_until_retention_removes_it() {
    let name = unique("seekseg");
    let mut w = JournalWriter::builder(&name)
        .segment_size(8 * 1024)
        .retain_segments(2)
        .create()
        .unwrap();
    for s in 0..40u64 {
        w.append_commit(0, &payload(s, 64)).unwrap();
    }
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    for to in [30u64, 3, 39, 0, 17] {
        r.seek(to).unwrap();
        let m = r.next().unwrap().unwrap();
        assert_eq!((m.seq, m.payload), (to, &payload(to, 64)[..]));
        let m = r.prev().unwrap().unwrap();
        assert_eq!(m.seq, to);
    }
    // The end of the segment: the next message to be written.
    r.seek(40).unwrap();
    assert!(r.next().unwrap().is_none());
    // Roll past two segments: retention removes the reader's (segment 0).
    assert_eq!(
        std::fs::read_dir(&name).unwrap().count(),
        1,
        "one segment file"
    );
    let mut s = 40u64;
    while w.removed_segments() == 0 {
        w.append_commit(0, &payload(s, 64)).unwrap();
        s += 1;
    }
    match r.seek(5) {
        Err(ReadError::TooOld { seq: 5, oldest, .. }) => assert!(oldest > 40, "{oldest}"),
        other => panic!("a seek into the removed segment: {other:?}"),
    }
    // A stored message is still found, in another segment.
    r.seek(s - 1).unwrap();
    assert_eq!(r.next().unwrap().unwrap().seq, s - 1);
    drop(w);
    cleanup(&name);
}

/// How many mappings of `file` this process has (`/proc/self/maps`).
fn mappings_of(file: &std::path::Path) -> usize {
    let file = file.canonicalize().unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    maps.lines()
        .filter(|l| l.ends_with(&*file.to_string_lossy()))
        .count()
}

/// A reader maps the doorbell page (its second mapping of the file) only when it first waits:
/// a reader that never waits, as the segments a persisted seek looks into, costs one mapping.
#[test]
fn a_reader_maps_the_doorbell_when_it_first_waits() {
    let name = unique("bell");
    let mut w = JournalWriter::builder(&name)
        .segment_size(64 * 1024)
        .create()
        .unwrap();
    w.append_commit(0, b"one").unwrap();
    let seg = std::path::Path::new(&name).join("0000000000.seg");
    let before = mappings_of(&seg);
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    assert_eq!(r.next().unwrap().unwrap().payload, b"one");
    assert_eq!(mappings_of(&seg), before + 1, "the reader's one mapping");
    assert!(r.next_timeout(Duration::from_millis(5)).unwrap().is_none());
    assert_eq!(
        mappings_of(&seg),
        before + 2,
        "and the doorbell page once it waited"
    );
    // The waiting reader is woken by the next commit.
    let t = commit_after(w, Duration::from_millis(50), b"two");
    let m = r.next_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(m.payload, b"two");
    drop(t.join().unwrap());
    drop(r);
    cleanup(&name);
}

/// A spinning reader whose wait ends while it spins never maps the doorbell page (the open and
/// mapping would only delay the message it is spinning for).
#[test]
fn a_wait_that_ends_while_spinning_maps_no_doorbell() {
    let name = unique("bellspin");
    let w = JournalWriter::builder(&name)
        .ring(64 * 1024)
        .create()
        .unwrap();
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    r.set_spin(Duration::from_secs(30));
    let file = std::path::Path::new(&name);
    let before = mappings_of(file);
    let t = commit_after(w, Duration::from_millis(30), b"while spinning");
    let m = r.next_timeout(Duration::from_secs(60)).unwrap().unwrap();
    assert_eq!(m.payload, b"while spinning");
    assert_eq!(mappings_of(file), before, "no doorbell mapping");
    // Without spinning, the next wait sleeps on the doorbell.
    r.set_spin(Duration::ZERO);
    assert!(r.next_timeout(Duration::from_millis(5)).unwrap().is_none());
    assert_eq!(mappings_of(file), before + 1, "the doorbell page");
    drop((t.join().unwrap(), r));
    cleanup(&name);
}

/// The doorbell page is mapped through the reader's own descriptor: a ring renamed between the
/// reader's open and its first wait still gets it (the reader sleeps, never falls back to polling).
#[test]
fn a_reader_maps_the_doorbell_of_a_renamed_ring() {
    let name = unique("bellmv");
    let moved = format!("{name}-moved");
    let mut w = JournalWriter::builder(&name)
        .ring(64 * 1024)
        .create()
        .unwrap();
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    std::fs::rename(&name, &moved).unwrap();
    let file = std::path::Path::new(&moved);
    let before = mappings_of(file);
    assert!(r.next_timeout(Duration::from_millis(5)).unwrap().is_none());
    assert_eq!(mappings_of(file), before + 1, "the doorbell page");
    w.append_commit(0, b"after the move").unwrap();
    assert_eq!(r.next().unwrap().unwrap().payload, b"after the move");
    drop((w, r));
    cleanup(&moved);
}

/// A writer stores the next sequence just before it swaps the commit word. A seek in that
/// instant (frozen here by storing the sequence by hand) to a message of the batch is `NotYet`,
/// never a cursor on an earlier message; once committed, the seek lands on it.
#[test]
fn a_seek_into_the_batch_being_committed_is_not_yet() {
    use std::os::unix::fs::FileExt;
    for persisted in [false, true] {
        let name = unique(if persisted { "midseg" } else { "midring" });
        let b = JournalWriter::builder(&name);
        let b = if persisted {
            b.segment_size(64 * 1024)
        } else {
            b.ring(64 * 1024)
        };
        let mut w = b.create().unwrap();
        for s in 0..10u64 {
            w.append(0, &payload(s, 40)).unwrap();
        }
        w.commit();
        for s in 10..15u64 {
            w.append(0, &payload(s, 40)).unwrap();
        }
        let file = if persisted {
            format!("{name}/0000000000.seg")
        } else {
            name.clone()
        };
        let (f, _) = open_file(&file);
        f.write_all_at(&15u64.to_le_bytes(), COMMIT_SEQ).unwrap();
        let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
        for seq in [12u64, 15] {
            match r.seek(seq) {
                Err(ReadError::NotYet { seq: s, next, .. }) => assert_eq!((s, next), (seq, 10)),
                other => panic!("seek({seq}) before the commit: {other:?}"),
            }
        }
        r.seek(10).unwrap();
        assert!(r.next().unwrap().is_none());
        w.commit();
        for seq in [12u64, 14, 3] {
            r.seek(seq).unwrap();
            let m = r.next().unwrap().unwrap();
            assert_eq!((m.seq, m.payload), (seq, &payload(seq, 40)[..]));
        }
        drop((w, r));
        cleanup(&name);
    }
}

#[test]
fn uncommitted_is_invisible_and_reopen_continues_the_sequence() {
    let name = unique("recover");
    let mut w = JournalWriter::builder(&name)
        .ring(64 * 1024)
        .create()
        .unwrap();
    w.append(0, b"a").unwrap();
    w.append(0, b"b").unwrap();
    w.commit();
    w.append(0, b"never committed").unwrap();
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    assert_eq!(read_all_forward(&mut r).len(), 2);
    drop(w); // the uncommitted message is lost, as after a crash
    let mut w = JournalWriter::open(&name).unwrap();
    assert_eq!(w.next_seq(), 2);
    w.append_commit(0, b"c").unwrap();
    let m = r.next().unwrap().unwrap();
    assert_eq!((m.seq, m.payload), (2, &b"c"[..]));
    drop(w);
    cleanup(&name);
}

/// A dead writer's uncommitted batch leaves frames whose sequence words already say "published"
/// (every frame of a batch but the first). The next writer reuses those sequence numbers: a frame
/// of the same length as the dead batch's first ends exactly where the stale second frame starts,
/// with the very sequence number a reader expects next. The word must not be taken for published.
#[test]
fn a_dead_writers_stale_frames_are_never_read_as_published() {
    for (reserve, ring) in [(false, true), (true, true), (false, false), (true, false)] {
        let name = unique("stale");
        let b = JournalWriter::builder(&name);
        let mut w = if ring {
            b.ring(64 * 1024)
        } else {
            b.segment_size(64 * 1024)
        }
        .create()
        .unwrap();
        w.append_commit(0, b"committed").unwrap();
        for p in [&b"dead-1.."[..], b"dead-2..", b"dead-3.."] {
            w.append(0, p).unwrap();
        }
        drop(w); // dies without committing seq 1..=3
        let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
        assert_eq!(r.next().unwrap().unwrap().payload, b"committed");
        let mut w = JournalWriter::open(&name).unwrap();
        assert_eq!(w.next_seq(), 1);
        // Same length as "dead-1..": the next frame position is the stale "dead-2..", seq 2.
        if reserve {
            let mut m = w.reserve(0, 8).unwrap();
            m.as_mut_slice().copy_from_slice(b"alive-1.");
            m.finish();
        } else {
            w.append(0, b"alive-1.").unwrap();
        }
        assert!(r.next().unwrap().is_none(), "an uncommitted frame was read");
        w.commit();
        let m = r.next().unwrap().unwrap();
        assert_eq!((m.seq, m.payload), (1, &b"alive-1."[..]));
        assert!(
            r.next().unwrap().is_none(),
            "the dead writer's frame after it was read as published"
        );
        w.append_commit(0, b"alive-2.").unwrap();
        let m = r.next().unwrap().unwrap();
        assert_eq!((m.seq, m.payload), (2, &b"alive-2."[..]));
        drop(w);
        cleanup(&name);
    }
}

#[test]
fn limits_and_zero_copy_reserve() {
    let name = unique("limits");
    let mut w = JournalWriter::builder(&name)
        .ring(1 << 20)
        .crc(true)
        .create()
        .unwrap();
    let max = w.max_message();
    assert!(max >= 200_000, "max {max}");
    assert!(matches!(
        w.append(0, &vec![0; max + 1]),
        Err(AppendError::MessageTooLarge { .. })
    ));
    w.append(0, &[]).unwrap();
    w.append(0, &vec![9; max]).unwrap();
    let mut res = w.reserve(3, 16).unwrap();
    res.as_mut_slice().copy_from_slice(&[5u8; 16]);
    assert_eq!(res.finish(), 2);
    w.commit();
    let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
    assert_eq!(r.next().unwrap().unwrap().payload.len(), 0);
    assert_eq!(r.next().unwrap().unwrap().payload.len(), max);
    let m = r.next().unwrap().unwrap();
    assert_eq!((m.ty, m.payload), (3, &[5u8; 16][..]));
    assert_eq!(m.payload.as_ptr() as usize % 8, 0, "payload is 8-aligned");
    drop(w);
    cleanup(&name);
}

#[test]
fn blocking_reader_wakes_on_commit_and_times_out() {
    let name = unique("wait");
    let w = JournalWriter::builder(&name)
        .ring(1 << 16)
        .create()
        .unwrap();
    let mut r = JournalReader::open(&name, Start::End).unwrap();
    let t = std::time::Instant::now();
    assert!(r.next_timeout(Duration::from_millis(50)).unwrap().is_none());
    assert!(t.elapsed() >= Duration::from_millis(50));
    let writer = commit_after(w, Duration::from_millis(50), b"wake");
    let m = r.next_timeout(Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(m.payload, b"wake");
    drop(writer.join().unwrap());
    cleanup(&name);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any sequence of appends and commits reads back identically forward and backward, across
    /// ring wrap-around and segment rolls, and a seek to any message (in the reader's segment
    /// or another, found by bisection) lands on it.
    #[test]
    fn appends_read_back_forward_and_backward(
        ops in prop::collection::vec((0usize..700, any::<bool>()), 1..400),
        ring in any::<bool>(),
        seeks in prop::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let name = unique("prop");
        let mut w = if ring {
            JournalWriter::builder(&name).ring(256 * 1024).create().unwrap()
        } else {
            JournalWriter::builder(&name).segment_size(8 * 1024).create().unwrap()
        };
        let mut expect = Vec::new();
        for (i, (len, commit)) in ops.iter().enumerate() {
            w.append(i as u16, &payload(i as u64, *len)).unwrap();
            expect.push((i as u64, payload(i as u64, *len)));
            if *commit { w.commit(); }
        }
        w.commit();
        let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
        let fwd = read_all_forward(&mut r);
        prop_assert_eq!(&fwd, &expect);
        let back = read_all_backward(&mut r);
        prop_assert_eq!(&back, &expect);
        for i in seeks {
            let s = i.index(expect.len());
            r.seek(s as u64).unwrap();
            let m = r.next().unwrap().unwrap();
            prop_assert_eq!((m.seq, m.payload), (s as u64, &expect[s].1[..]));
            if s > 0 {
                r.seek(s as u64).unwrap();
                prop_assert_eq!(r.prev().unwrap().unwrap().seq, s as u64 - 1);
            }
        }
        let end = expect.len() as u64;
        r.seek(end).unwrap();
        prop_assert!(r.next().unwrap().is_none());
        let not_yet = matches!(r.seek(end + 1), Err(ReadError::NotYet { .. }));
        prop_assert!(not_yet);
        drop(w);
        cleanup(&name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A reader polling `next()` between every append and commit (as a busy reader does) sees
    /// exactly the committed messages, in order, never one early: across ring wrap-around and
    /// segment rolls, with batches up to the whole ring (appends past it fail and are skipped).
    #[test]
    fn a_polling_reader_sees_exactly_what_is_committed(
        ops in prop::collection::vec((0usize..3000, 0u8..4), 1..300),
        ring in any::<bool>(),
    ) {
        let name = unique("poll");
        let mut w = if ring {
            JournalWriter::builder(&name).ring(16 * 1024).create().unwrap()
        } else {
            JournalWriter::builder(&name).segment_size(16 * 1024).create().unwrap()
        };
        let mut r = JournalReader::open(&name, Start::Beginning).unwrap();
        let (mut committed, mut pending, mut read) = (Vec::new(), Vec::new(), 0usize);
        let mut pending_bytes = 0u64;
        for (len, op) in ops {
            let seq = w.next_seq();
            let ok = if op == 0 {
                w.reserve(1, len).map(|mut m| {
                    m.as_mut_slice().copy_from_slice(&payload(seq, len));
                })
            } else {
                w.append(1, &payload(seq, len)).map(|_| ())
            };
            match ok {
                Ok(()) => {
                    // A batch that spans a segment roll is committed in two steps (FORMAT.md):
                    // the roll commits what was pending before this frame.
                    // (A ring's pending bytes may also grow by a padding at the wrap.)
                    let frame = (24 + len.next_multiple_of(8)) as u64;
                    if !ring && w.pending_bytes() != pending_bytes + frame {
                        prop_assert_eq!(w.pending_bytes(), frame, "a roll leaves this frame");
                        committed.append(&mut pending);
                    }
                    pending.push((seq, payload(seq, len)));
                }
                Err(AppendError::BatchTooLarge { .. }) => {}
                Err(e) => panic!("append: {e}"),
            }
            if op >= 2 {
                w.commit();
                committed.append(&mut pending);
            }
            pending_bytes = w.pending_bytes();
            loop {
                match r.next() {
                    Ok(Some(m)) => {
                        prop_assert!(read < committed.len(), "read seq {} before its commit", m.seq);
                        prop_assert_eq!((m.seq, m.payload), (committed[read].0, &committed[read].1[..]));
                        read += 1;
                    }
                    Ok(None) => break,
                    // A batch about as large as the ring frees its own first frames to make
                    // room: the loss is reported exactly, and the reader resumes after it.
                    Err(ReadError::Overrun { lost, expected_seq, resume_seq, .. }) => {
                        prop_assert!(ring, "only a ring overruns");
                        prop_assert_eq!(expected_seq, committed[read].0);
                        prop_assert_eq!(resume_seq, expected_seq + lost);
                        read += lost as usize;
                        prop_assert!(read <= committed.len(), "lost more than was committed");
                    }
                    Err(e) => panic!("next: {e}"),
                }
            }
            prop_assert_eq!(read, committed.len());
        }
        drop(w);
        cleanup(&name);
    }
}

/// A damaged trailing word that reads as a zero-length padding used to send the writer's
/// recovery into an endless walk: now it is a `Corrupt` error.
#[test]
fn a_zero_padding_word_is_an_error_not_a_hang() {
    use std::os::unix::fs::FileExt;
    let name = unique("zero-pad");
    let mut w = JournalWriter::builder(&name)
        .ring(64 * 1024)
        .create()
        .unwrap();
    // 1100-byte payloads make 1128-byte frames: 58 fit in a lap, then 112 bytes of padding.
    for s in 0..60u64 {
        w.append_commit(0, &payload(s, 1100)).unwrap();
    }
    drop(w);
    let (f, data) = open_file(&name);
    let pad_start = 58 * 1128u64;
    // Commit at the end of the padding, and the frame before it ending in `PAD | 0`.
    f.write_all_at(&65536u64.to_le_bytes(), COMMIT).unwrap();
    f.write_all_at(&0x8000_0000u32.to_le_bytes(), data + pad_start - 8)
        .unwrap();
    drop(f);
    let (tx, rx) = std::sync::mpsc::channel();
    let n = name.clone();
    std::thread::spawn(move || {
        let _ = tx.send(JournalWriter::open(&n).map(|_| ()));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Err(JournalError::Corrupt { .. })) => {}
        Ok(other) => panic!("expected Corrupt, got {other:?}"),
        Err(_) => panic!("JournalWriter::open hangs on a zero padding word"),
    }
    cleanup(&name);
}

/// A batch of exactly one ring, and a writer killed inside its commit after the ring room for
/// the word after the batch was freed, but before the batch was published: the journal must
/// reopen. (A version freed that room past the commit readers knew, and a new writer then
/// refused the journal: "commit position outside the data area".)
#[test]
fn a_writer_killed_inside_the_commit_of_a_ring_sized_batch_leaves_a_journal_that_reopens() {
    use std::os::unix::fs::FileExt;
    let name = unique("ring-batch-crash");
    let mut w = JournalWriter::builder(&name).ring(4096).create().unwrap();
    for s in 0..32u8 {
        w.append(0, &[s; 104]).unwrap(); // 32 frames of 128 bytes: the whole ring
    }
    w.commit();
    drop(w);
    let (f, data) = open_file(&name);
    // Undo what the commit stores after freeing: the batch's publishing word, the commit word
    // and its sequence (as if killed right before them).
    f.write_all_at(&0u64.to_le_bytes(), data + 8).unwrap();
    f.write_all_at(&0u64.to_le_bytes(), COMMIT).unwrap();
    f.write_all_at(&0u64.to_le_bytes(), COMMIT_SEQ).unwrap();
    let w = JournalWriter::open(&name).expect("the journal reopens");
    assert_eq!(w.next_seq(), 0, "the unpublished batch is not adopted");
    drop(w);
    cleanup(&name);
}
