//! The header every shmbus region carries: 128 bytes, little-endian, described in docs/FORMAT.md.
//!
//! It normally sits at offset 0. A kind whose own format owns offset 0 (the QuantNexus-compatible
//! candle store, whose 256-byte header starts with `QNXS` and leaves bytes 44–255 reserved) keeps
//! it inside that reserved area instead: [`RegionKind::header_offset`] says where.
//!
//! The creator writes every field, then stores the magic last with `Release`; a reader loads the
//! magic with `Acquire` first, so it never sees a half-initialised header.

use std::fmt;
use std::sync::atomic::Ordering;

use crate::mapping::Mapping;

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

// Field offsets inside the common header.
pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 8;
pub(crate) const OFF_KIND: usize = 12;
pub(crate) const OFF_HEADER_LEN: usize = 16;
pub(crate) const OFF_FLAGS: usize = 20;
pub(crate) const OFF_LAYOUT: usize = 24;
pub(crate) const OFF_TOTAL_SIZE: usize = 32;
pub(crate) const OFF_CREATOR_PID: usize = 40;
pub(crate) const OFF_CREATOR_UID: usize = 44;
pub(crate) const OFF_CREATED_NS: usize = 48;
pub(crate) const OFF_WRITER_GEN: usize = 56;
pub(crate) const OFF_WRITER_PID: usize = 64;
pub(crate) const OFF_BODY: usize = 68;
pub(crate) const OFF_LAYOUT_NAME: usize = 72;
// 104..128 reserved, zero.

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
        let u64_at = |o: usize| map.u64_at(offset + o).map(|w| w.load(Ordering::Relaxed));
        let u32_at = |o: usize| map.u32_at(offset + o).map(|w| w.load(Ordering::Relaxed));
        // SYNC POINT: pairs with the Release store of the magic in `publish`: every field read
        // below was written before it.
        let magic = map.u64_at(offset + OFF_MAGIC)?.load(Ordering::Acquire);
        let name = map.read_bytes(offset + OFF_LAYOUT_NAME, LAYOUT_NAME_LEN)?;
        let name_len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Some(Self {
            offset,
            magic,
            version: u32_at(OFF_VERSION)?,
            kind_code: u32_at(OFF_KIND)?,
            header_len: u32_at(OFF_HEADER_LEN)?,
            flags: u32_at(OFF_FLAGS)?,
            layout: u64_at(OFF_LAYOUT)?,
            layout_name: String::from_utf8_lossy(&name[..name_len]).into_owned(),
            total_size: u64_at(OFF_TOTAL_SIZE)?,
            creator_pid: u32_at(OFF_CREATOR_PID)?,
            creator_uid: u32_at(OFF_CREATOR_UID)?,
            created_ns: u64_at(OFF_CREATED_NS)?,
            writer_generation: u64_at(OFF_WRITER_GEN)?,
            writer_pid: u32_at(OFF_WRITER_PID)?,
            body_offset: u32_at(OFF_BODY)?,
        })
    }

    /// Writes every field except the magic (the header stays invisible to readers).
    pub(crate) fn write_unpublished(&self, map: &Mapping) -> Option<()> {
        let o = self.offset;
        let put64 = |f: usize, v: u64| map.store_u64(o + f, v);
        let put32 = |f: usize, v: u32| map.store_u32(o + f, v);
        put32(OFF_VERSION, self.version)?;
        put32(OFF_KIND, self.kind_code)?;
        put32(OFF_HEADER_LEN, self.header_len)?;
        put32(OFF_FLAGS, self.flags)?;
        put64(OFF_LAYOUT, self.layout)?;
        put64(OFF_TOTAL_SIZE, self.total_size)?;
        put32(OFF_CREATOR_PID, self.creator_pid)?;
        put32(OFF_CREATOR_UID, self.creator_uid)?;
        put64(OFF_CREATED_NS, self.created_ns)?;
        put64(OFF_WRITER_GEN, self.writer_generation)?;
        put32(OFF_WRITER_PID, self.writer_pid)?;
        put32(OFF_BODY, self.body_offset)?;
        let mut name = [0u8; LAYOUT_NAME_LEN];
        let n = self.layout_name.len().min(LAYOUT_NAME_LEN - 1);
        name[..n].copy_from_slice(&self.layout_name.as_bytes()[..n]);
        map.write_bytes(o + OFF_LAYOUT_NAME, &name)
    }

    /// Publishes the header: the magic is stored last.
    pub(crate) fn publish(map: &Mapping, offset: usize) -> Option<()> {
        // SYNC POINT: pairs with the Acquire load of the magic in `read`.
        map.u64_at(offset + OFF_MAGIC)?
            .store(MAGIC, Ordering::Release);
        Some(())
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
