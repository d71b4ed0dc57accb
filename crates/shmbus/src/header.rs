//! The header every shmbus region carries: 128 bytes, little-endian, described in docs/FORMAT.md.
//!
//! It normally sits at offset 0. A kind whose own format owns offset 0 (the QuantNexus-compatible
//! candle store, whose 256-byte header starts with `QNXS` and leaves bytes 44–255 reserved) keeps
//! it inside that reserved area instead: [`RegionKind::header_offset`] says where.
//!
//! The creator writes every field, then stores the magic last with `Release`; a reader loads the
//! magic with `Acquire` first, so it never sees a half-initialised header.

use std::fmt;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use crate::mapping::{AtomicView, Mapping};

/// `b"SHMBUS\0\x01"` read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SHMBUS\0\x01");
/// The format version this library writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the common header in bytes.
pub const HEADER_LEN: usize = 128;
/// Longest record type name stored in the header.
pub const LAYOUT_NAME_LEN: usize = 32;
/// The QuantNexus magic at offset 0 of a candle region: the u32 0x514E5853 ("QNXS" read from
/// its most significant byte), stored little-endian as the bytes `53 58 4E 51`.
pub const QNXS_MAGIC: u32 = 0x514E_5853;

/// The common header as it lies in a mapping (docs/FORMAT.md §2.2): every field an atomic word,
/// little-endian, at the offset the format gives it. The 24 bytes after it (104..128) are
/// reserved and zero, outside the view.
///
/// Only [`Mapping::view`] makes a reference to one, after checking that the whole of it lies
/// inside the mapping and is 8-aligned; the compile-time assertions below keep each field at its
/// documented offset.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RawHeader {
    /// 0: [`MAGIC`] once published, stored last with Release.
    pub magic: AtomicU64,
    /// 8: [`FORMAT_VERSION`].
    pub version: AtomicU32,
    /// 12: [`RegionKind::code`].
    pub kind: AtomicU32,
    /// 16: [`HEADER_LEN`].
    pub header_len: AtomicU32,
    /// 20: kind-specific flags.
    pub flags: AtomicU32,
    /// 24: record layout fingerprint, 0 if none.
    pub layout: AtomicU64,
    /// 32: size of the whole file.
    pub total_size: AtomicU64,
    /// 40: pid of the creator.
    pub creator_pid: AtomicU32,
    /// 44: uid of the creator.
    pub creator_uid: AtomicU32,
    /// 48: creation time, ns since the Unix epoch.
    pub created_ns: AtomicU64,
    /// 56: writer generation, 1 after create.
    pub writer_generation: AtomicU64,
    /// 64: pid of the current or last writer, 0 after a clean close.
    pub writer_pid: AtomicU32,
    /// 68: where the kind's own area begins.
    pub body_offset: AtomicU32,
    /// 72: the record type's name, NUL-padded.
    pub layout_name: [AtomicU8; LAYOUT_NAME_LEN],
}

/// Bytes 104..128 of the header: reserved, zero.
pub(crate) const RESERVED_LEN: usize = 24;

// SAFETY: `#[repr(C)]`, every field an atomic integer or an array of them, and no padding (the
// size assertion below equals the sum of the fields): every bit pattern is a valid value, and
// shared mutation goes through the atomics.
unsafe impl AtomicView for RawHeader {}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(offset_of!(RawHeader, magic) == 0);
    assert!(offset_of!(RawHeader, version) == 8);
    assert!(offset_of!(RawHeader, kind) == 12);
    assert!(offset_of!(RawHeader, header_len) == 16);
    assert!(offset_of!(RawHeader, flags) == 20);
    assert!(offset_of!(RawHeader, layout) == 24);
    assert!(offset_of!(RawHeader, total_size) == 32);
    assert!(offset_of!(RawHeader, creator_pid) == 40);
    assert!(offset_of!(RawHeader, creator_uid) == 44);
    assert!(offset_of!(RawHeader, created_ns) == 48);
    assert!(offset_of!(RawHeader, writer_generation) == 56);
    assert!(offset_of!(RawHeader, writer_pid) == 64);
    assert!(offset_of!(RawHeader, body_offset) == 68);
    assert!(offset_of!(RawHeader, layout_name) == 72);
    assert!(size_of::<RawHeader>() == 72 + LAYOUT_NAME_LEN);
    assert!(size_of::<RawHeader>() + RESERVED_LEN == HEADER_LEN);
};

/// What a region holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RegionKind {
    /// Bytes with only the common header: for tools and tests.
    Raw,
    /// A seqlock latest-value table ([`crate::slots`]).
    Slots,
    /// An append-only message log.
    Journal,
    /// A QuantNexus-compatible OHLCV candle store.
    Candles,
    /// The registry of a journal's readers and their positions (`NAME.readers`).
    Readers,
    /// The status of a `shmbus bridge` (`NAME.bridge-in`, `NAME.bridge-out.STREAM`).
    Bridge,
}

impl RegionKind {
    /// Every kind, in code order.
    pub const ALL: [RegionKind; 6] = [
        Self::Raw,
        Self::Slots,
        Self::Journal,
        Self::Candles,
        Self::Readers,
        Self::Bridge,
    ];

    /// The kind's number in the header.
    pub const fn code(self) -> u32 {
        match self {
            Self::Raw => 1,
            Self::Slots => 2,
            Self::Journal => 3,
            Self::Candles => 4,
            Self::Readers => 5,
            Self::Bridge => 6,
        }
    }

    /// The kind with this number.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kind's name, as the CLI spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Slots => "slots",
            Self::Journal => "journal",
            Self::Candles => "candles",
            Self::Readers => "readers",
            Self::Bridge => "bridge",
        }
    }

    /// Where the common header sits: 0, or inside the QNXS header's reserved bytes for candles.
    pub const fn header_offset(self) -> usize {
        match self {
            Self::Candles => 64,
            _ => 0,
        }
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for RegionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown region kind {s:?} (raw, slots, journal, candles, readers, bridge)")
            })
    }
}

/// A decoded copy of a region's common header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderInfo {
    /// Offset of the common header in the region.
    pub offset: usize,
    /// The magic word (equal to [`MAGIC`] once published).
    pub magic: u64,
    /// Format version.
    pub version: u32,
    /// Raw kind number (see [`RegionKind::code`]).
    pub kind_code: u32,
    /// Header length written by the creator.
    pub header_len: u32,
    /// Kind-specific flags.
    pub flags: u32,
    /// Fingerprint of the record layout ([`crate::RecordLayout::fingerprint`]), 0 if none.
    pub layout: u64,
    /// The record type's name, if any.
    pub layout_name: String,
    /// Total size of the region in bytes.
    pub total_size: u64,
    /// Pid of the process that created the region.
    pub creator_pid: u32,
    /// Uid of the process that created the region.
    pub creator_uid: u32,
    /// Creation time, ns since the Unix epoch.
    pub created_ns: u64,
    /// How many writers have opened the region (1 after create).
    pub writer_generation: u64,
    /// Pid of the current or last writer, 0 when the last writer closed cleanly.
    pub writer_pid: u32,
    /// Offset where the kind's own area begins.
    pub body_offset: u32,
}

impl HeaderInfo {
    /// The kind, if the number is known.
    pub fn kind(&self) -> Option<RegionKind> {
        RegionKind::from_code(self.kind_code)
    }

    /// The kind's name, or `unknown(N)`.
    pub fn kind_name(&self) -> String {
        self.kind()
            .map_or_else(|| format!("unknown({})", self.kind_code), |k| k.to_string())
    }

    /// Reads the header at `offset`; `None` if the mapping is too short to hold it.
    pub(crate) fn read(map: &Mapping, offset: usize) -> Option<Self> {
        Some(Self::load(map.view::<RawHeader>(offset)?, offset))
    }

    /// A copy of the header `raw`, which lies at `offset`.
    pub(crate) fn load(raw: &RawHeader, offset: usize) -> Self {
        // SYNC POINT: pairs with the Release store of the magic in `publish`: every field read
        // below was written before it.
        let magic = raw.magic.load(Ordering::Acquire);
        let name: Vec<u8> = raw
            .layout_name
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let name_len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Self {
            offset,
            magic,
            version: raw.version.load(Ordering::Relaxed),
            kind_code: raw.kind.load(Ordering::Relaxed),
            header_len: raw.header_len.load(Ordering::Relaxed),
            flags: raw.flags.load(Ordering::Relaxed),
            layout: raw.layout.load(Ordering::Relaxed),
            layout_name: String::from_utf8_lossy(&name[..name_len]).into_owned(),
            total_size: raw.total_size.load(Ordering::Relaxed),
            creator_pid: raw.creator_pid.load(Ordering::Relaxed),
            creator_uid: raw.creator_uid.load(Ordering::Relaxed),
            created_ns: raw.created_ns.load(Ordering::Relaxed),
            writer_generation: raw.writer_generation.load(Ordering::Relaxed),
            writer_pid: raw.writer_pid.load(Ordering::Relaxed),
            body_offset: raw.body_offset.load(Ordering::Relaxed),
        }
    }

    /// Writes every field except the magic into `raw` (the header stays invisible to readers).
    /// The caller holds the only writable mapping of a file it just created.
    pub(crate) fn write_unpublished(&self, raw: &RawHeader) {
        raw.version.store(self.version, Ordering::Relaxed);
        raw.kind.store(self.kind_code, Ordering::Relaxed);
        raw.header_len.store(self.header_len, Ordering::Relaxed);
        raw.flags.store(self.flags, Ordering::Relaxed);
        raw.layout.store(self.layout, Ordering::Relaxed);
        raw.total_size.store(self.total_size, Ordering::Relaxed);
        raw.creator_pid.store(self.creator_pid, Ordering::Relaxed);
        raw.creator_uid.store(self.creator_uid, Ordering::Relaxed);
        raw.created_ns.store(self.created_ns, Ordering::Relaxed);
        raw.writer_generation
            .store(self.writer_generation, Ordering::Relaxed);
        raw.writer_pid.store(self.writer_pid, Ordering::Relaxed);
        raw.body_offset.store(self.body_offset, Ordering::Relaxed);
        let name = self.layout_name.as_bytes();
        let n = name.len().min(LAYOUT_NAME_LEN - 1);
        for (i, dst) in raw.layout_name.iter().enumerate() {
            dst.store(if i < n { name[i] } else { 0 }, Ordering::Relaxed);
        }
    }

    /// Publishes the header: the magic is stored last.
    pub(crate) fn publish(raw: &RawHeader) {
        // SYNC POINT: pairs with the Acquire load of the magic in `load`.
        raw.magic.store(MAGIC, Ordering::Release);
    }
}

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A shmbus region with this header (possibly not yet published: check `magic`).
    Shmbus(HeaderInfo),
    /// A QuantNexus candle region written by the original writer (no shmbus header).
    ForeignQnxs,
    /// Something else.
    Unknown,
}

/// Looks for a shmbus header at each offset a kind may use.
pub(crate) fn probe(map: &Mapping) -> Probe {
    let qnxs = map
        .u32_at(0)
        .is_some_and(|w| w.load(Ordering::Relaxed) == QNXS_MAGIC);
    let offset = if qnxs {
        RegionKind::Candles.header_offset()
    } else {
        0
    };
    match HeaderInfo::read(map, offset) {
        Some(h) if h.magic == MAGIC || (!qnxs && h.magic == 0 && h.version != 0) => {
            Probe::Shmbus(h)
        }
        _ if qnxs => Probe::ForeignQnxs,
        _ => Probe::Unknown,
    }
}
