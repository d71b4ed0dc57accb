//! Every error variant of the core has its own stable code, and docs/ERRORS.md lists exactly
//! those codes (number, name, variant).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;

use shmbus::journal::FrameFault;
use shmbus::{
    AppendError, BridgeStatusFault, CandleCorruption, CandleError, ErrorCode, ForeignFileReason,
    JournalCorruption, JournalError, JournalLayoutProblem, KeyProblem, LayoutProblem,
    NotARegionReason, ReadError, RegionCorruption, RegionError, RegionKind, RemoveError, SlotError,
    SlotReadError, SlotWriteError,
};

/// One region error of every variant (a fresh set each call: `RegionError` is not `Clone`).
fn region_samples() -> Vec<(&'static str, RegionError)> {
    let p = || PathBuf::from("/dev/shm/x");
    let s = || "x".to_owned();
    vec![
        (
            "RegionError::InvalidName",
            RegionError::InvalidName {
                name: s(),
                reason: s(),
            },
        ),
        (
            "RegionError::NotFound",
            RegionError::NotFound {
                name: s(),
                path: p(),
            },
        ),
        (
            "RegionError::AlreadyExists",
            RegionError::AlreadyExists {
                name: s(),
                path: p(),
            },
        ),
        ("RegionError::Symlink", RegionError::Symlink { path: p() }),
        (
            "RegionError::NotRegularFile",
            RegionError::NotRegularFile {
                path: p(),
                what: "a FIFO",
            },
        ),
        (
            "RegionError::ForeignOwner",
            RegionError::ForeignOwner {
                path: p(),
                owner: 1,
                me: 2,
            },
        ),
        (
            "RegionError::PermissionDenied",
            RegionError::PermissionDenied {
                op: "open",
                path: p(),
            },
        ),
        (
            "RegionError::NoSpace",
            RegionError::NoSpace {
                path: p(),
                requested: 1,
                free: None,
            },
        ),
        (
            "RegionError::SizeTooSmall",
            RegionError::SizeTooSmall {
                kind: RegionKind::Slots,
                requested: 1,
                min: 2,
            },
        ),
        (
            "RegionError::SizeTooLarge",
            RegionError::SizeTooLarge {
                requested: 2,
                max: 1,
            },
        ),
        (
            "RegionError::Truncated",
            RegionError::Truncated {
                path: p(),
                size: 1,
                min: 2,
            },
        ),
        ("RegionError::NotReady", RegionError::NotReady { path: p() }),
        (
            "RegionError::BadMagic",
            RegionError::BadMagic {
                path: p(),
                expected: 1,
                found: 2,
            },
        ),
        (
            "RegionError::VersionMismatch",
            RegionError::VersionMismatch {
                path: p(),
                expected: 1,
                found: 2,
            },
        ),
        (
            "RegionError::KindMismatch",
            RegionError::KindMismatch {
                path: p(),
                expected: RegionKind::Slots,
                found: s(),
            },
        ),
        (
            "RegionError::LayoutMismatch",
            RegionError::LayoutMismatch {
                path: p(),
                expected_name: s(),
                expected: 1,
                found_name: s(),
                found: 2,
            },
        ),
        (
            "RegionError::TruncatedWhileMapped",
            RegionError::TruncatedWhileMapped { path: p() },
        ),
        (
            "RegionError::SizeMismatch",
            RegionError::SizeMismatch {
                path: p(),
                header_size: 1,
                file_size: 2,
            },
        ),
        (
            "RegionError::Corrupt",
            RegionError::Corrupt {
                path: p(),
                what: RegionCorruption::JournalHeaderOutside,
            },
        ),
        (
            "RegionError::WriterBusy",
            RegionError::WriterBusy {
                path: p(),
                pid: Some(1),
            },
        ),
        (
            "RegionError::Io",
            RegionError::Io {
                op: "read",
                path: p(),
                error: io::Error::other("x"),
            },
        ),
    ]
}

/// One error of every leaf variant, with the name docs/ERRORS.md gives it.
fn samples() -> Vec<(&'static str, ErrorCode)> {
    let s = || "x".to_owned();
    let slot = vec![
        (
            "SlotError::UnknownKey",
            SlotError::UnknownKey {
                region: s(),
                key: s(),
            },
        ),
        (
            "SlotError::InvalidKey",
            SlotError::InvalidKey {
                key: s(),
                reason: KeyProblem::TooLong,
            },
        ),
        (
            "SlotError::Full",
            SlotError::Full {
                region: s(),
                capacity: 1,
            },
        ),
        (
            "SlotError::WriterDied",
            SlotError::WriterDied {
                region: s(),
                key: s(),
                seq: 1,
            },
        ),
        (
            "SlotError::Busy",
            SlotError::Busy {
                region: s(),
                key: s(),
                waited_ms: 1,
            },
        ),
        (
            "SlotError::BadSlot",
            SlotError::BadSlot {
                region: s(),
                index: 1,
                count: 1,
            },
        ),
        (
            "SlotError::InvalidLayout",
            SlotError::InvalidLayout {
                name: s(),
                reason: LayoutProblem::Size { size: 12 },
            },
        ),
        (
            "SlotError::RecordSize",
            SlotError::RecordSize {
                region: s(),
                expected: 1,
                found: 2,
            },
        ),
    ];
    let journal = vec![
        (
            "JournalError::MessageTooLarge",
            JournalError::MessageTooLarge {
                journal: s(),
                len: 2,
                max: 1,
            },
        ),
        (
            "JournalError::BatchTooLarge",
            JournalError::BatchTooLarge {
                journal: s(),
                pending: 2,
                capacity: 1,
            },
        ),
        (
            "JournalError::Overrun",
            JournalError::Overrun {
                journal: s(),
                lost: 1,
                expected_seq: 1,
                resume_seq: 2,
            },
        ),
        (
            "JournalError::Corrupt",
            JournalError::Corrupt {
                journal: s(),
                position: 1,
                what: JournalCorruption::NoFrameStart,
            },
        ),
        (
            "JournalError::TooOld",
            JournalError::TooOld {
                journal: s(),
                seq: 1,
                oldest: 2,
            },
        ),
        (
            "JournalError::NotYet",
            JournalError::NotYet {
                journal: s(),
                seq: 2,
                next: 1,
            },
        ),
        (
            "JournalError::Layout",
            JournalError::Layout {
                journal: s(),
                what: Box::new(JournalLayoutProblem::LastSegmentSealed),
            },
        ),
        (
            "JournalError::ReadersFull",
            JournalError::ReadersFull {
                journal: s(),
                registry: s(),
                capacity: 1,
            },
        ),
        (
            "JournalError::InvalidReaderName",
            JournalError::InvalidReaderName {
                name: s(),
                reason: "x",
            },
        ),
    ];
    let candle = vec![
        (
            "CandleError::InvalidName",
            CandleError::InvalidName {
                what: "symbol",
                value: s(),
                reason: "x",
            },
        ),
        (
            "CandleError::InvalidCandle",
            CandleError::InvalidCandle {
                index: 0,
                timestamp: 1,
                reason: s(),
            },
        ),
        (
            "CandleError::OutOfOrder",
            CandleError::OutOfOrder {
                symbol: s(),
                interval: s(),
                index: 0,
                timestamp: 1,
                last: 2,
            },
        ),
        (
            "CandleError::Full",
            CandleError::Full {
                region: s(),
                needed: 1,
                free: 0,
                size: 1,
                suggested: 2,
            },
        ),
        (
            "CandleError::NotFound",
            CandleError::NotFound {
                region: s(),
                symbol: s(),
                interval: s(),
            },
        ),
        (
            "CandleError::TooManySeries",
            CandleError::TooManySeries {
                region: s(),
                max: 1,
            },
        ),
        (
            "CandleError::TooManyCandles",
            CandleError::TooManyCandles {
                symbol: s(),
                interval: s(),
                count: 2,
                max: 1,
            },
        ),
        (
            "CandleError::Corrupt",
            CandleError::Corrupt {
                region: s(),
                what: Box::new(CandleCorruption::CandlesOutside),
            },
        ),
        (
            "CandleError::Busy",
            CandleError::Busy {
                region: s(),
                attempts: 1,
            },
        ),
    ];
    let p = || PathBuf::from("/dev/shm/x");
    let remove = vec![
        (
            "RemoveError::NotARegion",
            RemoveError::NotARegion {
                path: p(),
                reason: NotARegionReason::NoHeader,
            },
        ),
        (
            "RemoveError::ForeignFile",
            RemoveError::ForeignFile {
                journal: s(),
                dir: p(),
                file: p(),
                reason: ForeignFileReason::Symlink,
            },
        ),
        (
            "RemoveError::InUse",
            RemoveError::InUse {
                path: p(),
                pid: None,
            },
        ),
    ];
    let mut all: Vec<(&'static str, ErrorCode)> = Vec::new();
    let wrapped = region_samples()
        .into_iter()
        .zip(region_samples())
        .zip(region_samples())
        .zip(region_samples());
    for ((((name, e), (_, in_journal)), (_, in_candles)), (_, in_remove)) in wrapped {
        // A region error keeps its code when another error type wraps it.
        let code = e.code();
        assert_eq!(JournalError::Region(in_journal).code(), code, "{name}");
        assert_eq!(CandleError::from(in_candles).error_code(), code, "{name}");
        assert_eq!(RemoveError::from(in_remove).code(), code, "{name}");
        assert_eq!(SlotError::Region(e).code(), code, "{name}");
        all.push((name, code));
    }
    all.extend(remove.into_iter().map(|(n, e)| (n, e.code())));
    all.extend(slot.into_iter().map(|(n, e)| (n, e.code())));
    all.extend(journal.into_iter().map(|(n, e)| (n, e.code())));
    all.extend(candle.into_iter().map(|(n, e)| (n, e.error_code())));
    all
}

#[test]
fn every_variant_has_its_own_code_and_every_code_a_variant() {
    let all = samples();
    let mut by_code = BTreeMap::new();
    for (name, code) in &all {
        if let Some(other) = by_code.insert(*code, *name) {
            panic!("{name} and {other} share the code {code}");
        }
    }
    let listed: BTreeSet<ErrorCode> = ErrorCode::ALL.iter().copied().collect();
    let produced: BTreeSet<ErrorCode> = by_code.keys().copied().collect();
    assert_eq!(
        listed, produced,
        "ErrorCode::ALL and the variants' codes differ"
    );
    assert_eq!(
        listed.len(),
        ErrorCode::ALL.len(),
        "ErrorCode::ALL repeats a code"
    );
}

#[test]
fn names_and_numbers_are_unique_and_round_trip() {
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let numbers: BTreeSet<u32> = ErrorCode::ALL.iter().map(|c| c.number()).collect();
    assert_eq!(names.len(), ErrorCode::ALL.len());
    assert_eq!(numbers.len(), ErrorCode::ALL.len());
    for c in ErrorCode::ALL {
        assert!(
            c.number() >= 100,
            "{c} is below 100, the range of C statuses"
        );
        assert_eq!(ErrorCode::from_number(c.number()), Some(*c));
        assert_eq!(ErrorCode::from_name(c.as_str()), Some(*c));
        assert_eq!(c.to_string(), c.as_str());
        assert!(
            c.as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{c} is not snake_case"
        );
    }
    assert_eq!(ErrorCode::from_number(0), None);
    assert_eq!(ErrorCode::from_name("no_such_code"), None);
}

#[test]
fn docs_errors_md_lists_every_code_with_its_variant() {
    let doc = include_str!("../../../docs/ERRORS.md");
    // Rows of the code table: "| 119 | `writer_busy` | `RegionError::WriterBusy` | ...".
    let mut rows = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let Some(Ok(number)) = cells.get(1).map(|c| c.parse::<u32>()) else {
            continue;
        };
        assert!(cells.len() >= 6, "row {number} has too few cells: {line}");
        let name = cells[2].trim_matches('`');
        let variant = cells[3].trim_matches('`');
        assert!(
            !cells[4].is_empty() && !cells[5].is_empty(),
            "row {number} says nothing: {line}"
        );
        let dup = rows.insert(number, (name.to_owned(), variant.to_owned()));
        assert!(dup.is_none(), "docs/ERRORS.md lists {number} twice");
    }
    let variants: BTreeMap<ErrorCode, &str> = samples().into_iter().map(|(n, c)| (c, n)).collect();
    let expected: BTreeMap<u32, (String, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.number(), (c.as_str().to_owned(), variants[c].to_owned())))
        .collect();
    assert_eq!(
        rows, expected,
        "docs/ERRORS.md's table and ErrorCode differ"
    );
}

#[test]
fn errors_stay_small() {
    // Results of hot paths carry these: the typed facts must not make them larger.
    for (name, size) in [
        ("RegionError", size_of::<RegionError>()),
        ("SlotError", size_of::<SlotError>()),
        ("JournalError", size_of::<JournalError>()),
        ("CandleError", size_of::<CandleError>()),
    ] {
        assert!(size <= 88, "{name} is {size} bytes");
    }
}

#[test]
fn typed_facts_keep_their_messages() {
    let e = SlotError::InvalidKey {
        key: "x".repeat(32),
        reason: KeyProblem::TooLong,
    };
    assert!(
        e.to_string().ends_with(": a key has at most 31 bytes"),
        "{e}"
    );
    let e = SlotError::InvalidLayout {
        name: "Q".into(),
        reason: LayoutProblem::Overlap {
            first: "bid".into(),
            second: "ask".into(),
        },
    };
    assert_eq!(
        e.to_string(),
        "invalid record layout \"Q\": fields \"bid\" and \"ask\" overlap"
    );
    let e = RemoveError::NotARegion {
        path: PathBuf::from("/tmp/notes"),
        reason: NotARegionReason::ShorterThanHeader,
    };
    assert!(
        e.to_string().starts_with(
            "/tmp/notes is not a shmbus region or journal (shorter than a shmbus header)"
        ),
        "{e}"
    );
    let e = CandleError::Corrupt {
        region: "ohlcv".into(),
        what: Box::new(CandleCorruption::IndexCount {
            count: 300,
            max: 256,
        }),
    };
    assert_eq!(
        e.to_string(),
        "QNXS error 9 NOT_INITIALIZED: ohlcv is corrupt: index count 300 exceeds 256"
    );
}

/// Every read error: one of each variant.
fn read_samples() -> Vec<ReadError> {
    let s = || "j".to_owned();
    vec![
        ReadError::Region(RegionError::TruncatedWhileMapped {
            path: PathBuf::from("/dev/shm/j"),
        }),
        ReadError::Overrun {
            journal: s(),
            lost: 3,
            expected_seq: 4,
            resume_seq: 7,
        },
        ReadError::Corrupt {
            journal: s(),
            position: 64,
            what: JournalCorruption::Frame(FrameFault::LengthMismatch { lead: 8, trail: 16 }),
        },
        ReadError::TooOld {
            journal: s(),
            seq: 1,
            oldest: 5,
        },
        ReadError::NotYet {
            journal: s(),
            seq: 9,
            next: 5,
        },
        ReadError::Layout {
            journal: s(),
            what: Box::new(JournalLayoutProblem::SegmentMissing { segment: 3 }),
        },
    ]
}

/// Every append error: one of each variant.
fn append_samples() -> Vec<AppendError> {
    let s = || "j".to_owned();
    vec![
        AppendError::Region(RegionError::TruncatedWhileMapped {
            path: PathBuf::from("/dev/shm/j"),
        }),
        AppendError::MessageTooLarge {
            journal: s(),
            len: 10,
            max: 5,
        },
        AppendError::BatchTooLarge {
            journal: s(),
            pending: 10,
            capacity: 8,
        },
        AppendError::Corrupt {
            journal: s(),
            position: 8,
            what: JournalCorruption::OverwriteMissesCommit,
        },
        AppendError::Layout {
            journal: s(),
            what: Box::new(JournalLayoutProblem::NotInDirectory),
        },
    ]
}

#[test]
fn read_and_append_errors_keep_the_journal_errors_codes_and_messages() {
    let read = read_samples()
        .into_iter()
        .map(|e| (e.code(), e.to_string(), JournalError::from(e)));
    let append = append_samples()
        .into_iter()
        .map(|e| (e.code(), e.to_string(), JournalError::from(e)));
    let mut codes = BTreeSet::new();
    for (code, text, wide) in read.chain(append) {
        assert_eq!(code, wide.code(), "{text}");
        assert_eq!(text, wide.to_string());
        codes.insert(code);
    }
    // Each narrow enum names distinct conditions: 6 read and 5 append variants, of which
    // truncation, corruption and layout are shared.
    assert_eq!(codes.len(), 8, "{codes:?}");
}

#[test]
fn journal_facts_are_typed_and_keep_their_messages() {
    let e = JournalError::Corrupt {
        journal: "j".into(),
        position: 24,
        what: JournalCorruption::SequenceGap {
            expected: 4,
            found: 9,
        },
    };
    assert_eq!(
        e.to_string(),
        "corrupt frame in j at position 24: sequence gap: expected 4, found 9"
    );
    let e = JournalError::Corrupt {
        journal: "j".into(),
        position: 0,
        what: JournalCorruption::Frame(FrameFault::Crc { seq: 2 }),
    };
    assert!(e.to_string().ends_with(": CRC32C mismatch (seq 2)"), "{e}");
    let e = RemoveError::ForeignFile {
        journal: "j".into(),
        dir: "/dev/shm/j".into(),
        file: "/dev/shm/j/notes.txt".into(),
        reason: ForeignFileReason::NotASegmentName,
    };
    assert_eq!(
        e.to_string(),
        "journal j: not removing /dev/shm/j: it holds /dev/shm/j/notes.txt, which is not a \
         journal segment (not a segment file name); removing a journal removes only its own \
         files, even with force"
    );
    // The narrow errors are no larger than the wide one.
    assert!(size_of::<ReadError>() <= size_of::<JournalError>());
    assert!(size_of::<AppendError>() <= size_of::<JournalError>());
}

#[test]
fn region_corruption_facts_are_typed_and_keep_their_messages() {
    let corrupt = |what| RegionError::Corrupt {
        path: PathBuf::from("/dev/shm/r"),
        what,
    };
    let cases = [
        (
            RegionCorruption::HeaderLength {
                found: 64,
                expected: 256,
            },
            "header length 64 (expected 256)",
        ),
        (
            RegionCorruption::BodyOutside {
                body: 9000,
                file_size: 4096,
            },
            "body offset 9000 outside the region (4096 bytes)",
        ),
        (
            RegionCorruption::JournalGeometry {
                capacity: 7,
                data_off: 512,
                index_n: 4,
                index_off: 320,
                max_message: 1,
                len: 4096,
            },
            "impossible journal geometry: capacity 7, data at 512, index of 4 at 320, max \
             message 1, in 4096 bytes",
        ),
        (
            RegionCorruption::SegmentNumber { file: 3, says: 5 },
            "segment file 3 says it is segment 5",
        ),
        (
            RegionCorruption::SlotGeometry {
                stride: 128,
                record: 64,
                key: 32,
                record_name: "TradingData".into(),
                expected_stride: 192,
                expected_record: 96,
                expected_key: 32,
            },
            "slot geometry stride 128, record 64, key 32 does not match TradingData (stride \
             192, record 96, key 32)",
        ),
        (
            RegionCorruption::SlotOutside {
                what: "a slot key",
                len: 4096,
            },
            "a slot key lies outside the 4096 byte mapping",
        ),
        (
            RegionCorruption::RegistryEntries {
                capacity: 0,
                entry_len: 64,
                max_capacity: 4096,
                expected_len: 64,
            },
            "reader registry: 0 entries of 64 bytes (expected 1 to 4096 of 64); remove the \
             registry",
        ),
        (
            RegionCorruption::BridgeStatus {
                fault: BridgeStatusFault::Direction { code: 7 },
                intent: false,
            },
            "bridge status: direction 7 (expected 1 out or 2 in); remove the region",
        ),
    ];
    for (what, text) in cases {
        let e = corrupt(what.clone());
        assert_eq!(e.code(), ErrorCode::Corrupt);
        assert_eq!(e.to_string(), format!("/dev/shm/r is corrupt: {text}"));
        assert!(matches!(e, RegionError::Corrupt { what: ref w, .. } if *w == what));
    }
    // The status of `bridge in` says what removing it costs.
    let e = corrupt(RegionCorruption::BridgeStatus {
        fault: BridgeStatusFault::WrongDirection {
            found: "out",
            expected: "in",
        },
        intent: true,
    });
    assert!(
        e.to_string().contains(
            "it is the region of a `bridge out`, not of a `bridge in`; remove the region (it \
             holds the intent record of `bridge in`"
        ),
        "{e}"
    );
}

#[test]
fn slot_read_and_write_errors_keep_the_slot_errors_codes_and_messages() {
    let s = || "t".to_owned();
    let reads = vec![
        SlotReadError::Region(RegionError::TruncatedWhileMapped {
            path: PathBuf::from("/dev/shm/t"),
        }),
        SlotReadError::UnknownKey {
            region: s(),
            key: s(),
        },
        SlotReadError::InvalidKey {
            key: String::new(),
            reason: KeyProblem::Empty,
        },
        SlotReadError::WriterDied {
            region: s(),
            key: s(),
            seq: 3,
        },
        SlotReadError::Busy {
            region: s(),
            key: s(),
            waited_ms: 1000,
        },
        SlotReadError::BadSlot {
            region: s(),
            index: 9,
            count: 8,
        },
        SlotReadError::RecordSize {
            region: s(),
            expected: 16,
            found: 8,
        },
    ];
    let writes = vec![
        SlotWriteError::Region(RegionError::TruncatedWhileMapped {
            path: PathBuf::from("/dev/shm/t"),
        }),
        SlotWriteError::InvalidKey {
            key: "a\nb".into(),
            reason: KeyProblem::ControlCharacter,
        },
        SlotWriteError::Full {
            region: s(),
            capacity: 8,
        },
        SlotWriteError::BadSlot {
            region: s(),
            index: 9,
            count: 8,
        },
        SlotWriteError::RecordSize {
            region: s(),
            expected: 16,
            found: 8,
        },
    ];
    let mut codes = BTreeSet::new();
    let read = reads
        .into_iter()
        .map(|e| (e.code(), e.to_string(), SlotError::from(e)));
    let write = writes
        .into_iter()
        .map(|e| (e.code(), e.to_string(), SlotError::from(e)));
    for (code, text, wide) in read.chain(write) {
        assert_eq!(code, wide.code(), "{text}");
        assert_eq!(text, wide.to_string());
        codes.insert(code);
    }
    // 7 read and 5 write conditions, of which truncation, key, slot id and size are shared.
    assert_eq!(codes.len(), 8, "{codes:?}");
    assert!(size_of::<SlotReadError>() <= size_of::<SlotError>());
    assert!(size_of::<SlotWriteError>() <= size_of::<SlotError>());
}
