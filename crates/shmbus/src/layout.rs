//! Layout facts for tests and tools that read or damage region files byte by byte.
//!
//! Not part of the supported API (hidden from the documentation): the names and values follow
//! docs/FORMAT.md and change with it. Each value is taken from the code that reads and writes the
//! format (the typed header view, the journal's and the candle store's format modules), never
//! declared twice, so a test that pokes a byte through these pokes the byte the library reads.
//!
//! Every offset is a `u64` from the start of the file (what `FileExt::read_at` takes), unless
//! its doc says it is relative to something else.

/// The common region header (docs/FORMAT.md §2), at 0 (or, in a candle region, at
/// [`candles::COMMON_HEADER`]).
pub mod header {
    use std::mem::offset_of;

    use crate::header::RawHeader;

    /// Size of the common header.
    pub const LEN: u64 = crate::header::HEADER_LEN as u64;
    /// `magic` (u64).
    pub const MAGIC: u64 = offset_of!(RawHeader, magic) as u64;
    /// `version` (u32).
    pub const VERSION: u64 = offset_of!(RawHeader, version) as u64;
    /// `kind` (u32).
    pub const KIND: u64 = offset_of!(RawHeader, kind) as u64;
    /// `header_len` (u32).
    pub const HEADER_LEN: u64 = offset_of!(RawHeader, header_len) as u64;
    /// `flags` (u32).
    pub const FLAGS: u64 = offset_of!(RawHeader, flags) as u64;
    /// `layout`, the record layout fingerprint (u64).
    pub const LAYOUT: u64 = offset_of!(RawHeader, layout) as u64;
    /// `total_size` (u64).
    pub const TOTAL_SIZE: u64 = offset_of!(RawHeader, total_size) as u64;
    /// `creator_pid` (u32).
    pub const CREATOR_PID: u64 = offset_of!(RawHeader, creator_pid) as u64;
    /// `creator_uid` (u32).
    pub const CREATOR_UID: u64 = offset_of!(RawHeader, creator_uid) as u64;
    /// `created_ns` (u64).
    pub const CREATED_NS: u64 = offset_of!(RawHeader, created_ns) as u64;
    /// `writer_generation` (u64).
    pub const WRITER_GENERATION: u64 = offset_of!(RawHeader, writer_generation) as u64;
    /// `writer_pid` (u32).
    pub const WRITER_PID: u64 = offset_of!(RawHeader, writer_pid) as u64;
    /// `body_offset` (u32).
    pub const BODY_OFFSET: u64 = offset_of!(RawHeader, body_offset) as u64;
    /// `layout_name` (32 bytes, NUL-padded).
    pub const LAYOUT_NAME: u64 = offset_of!(RawHeader, layout_name) as u64;
}

/// A journal segment or ring file (docs/FORMAT.md §5): absolute offsets of the journal header's
/// fields (the journal's `format::J_*`, which are relative to its body, plus the body offset).
pub mod journal {
    use crate::journal::format as f;

    /// Where the journal header starts (the body offset).
    pub const BODY: u64 = f::BODY_OFFSET as u64;
    /// `mode` (u32): segment or ring.
    pub const MODE: u64 = BODY + f::J_MODE as u64;
    /// `flags` (u32).
    pub const FLAGS: u64 = BODY + f::J_FLAGS as u64;
    /// `capacity` of the data area (u64).
    pub const CAPACITY: u64 = BODY + f::J_CAPACITY as u64;
    /// `data_offset` (u64).
    pub const DATA_OFF: u64 = BODY + f::J_DATA_OFF as u64;
    /// `index_offset` (u64).
    pub const INDEX_OFF: u64 = BODY + f::J_INDEX_OFF as u64;
    /// `index_n` (u32).
    pub const INDEX_N: u64 = BODY + f::J_INDEX_N as u64;
    /// `index_every` (u32).
    pub const INDEX_EVERY: u64 = BODY + f::J_INDEX_EVERY as u64;
    /// `max_message` (u32).
    pub const MAX_MSG: u64 = BODY + f::J_MAX_MSG as u64;
    /// `segment` number (u32).
    pub const SEGMENT: u64 = BODY + f::J_SEGMENT as u64;
    /// `base_pos` (u64).
    pub const BASE_POS: u64 = BODY + f::J_BASE_POS as u64;
    /// `base_seq` (u64).
    pub const BASE_SEQ: u64 = BODY + f::J_BASE_SEQ as u64;
    /// The commit line: `commit` position (u64).
    pub const COMMIT: u64 = BODY + f::J_COMMIT as u64;
    /// `commit_seq` (u64).
    pub const COMMIT_SEQ: u64 = BODY + f::J_COMMIT_SEQ as u64;
    /// `sealed` (u64).
    pub const SEALED: u64 = BODY + f::J_SEALED as u64;
    /// The ring's horizon: `oldest` position (u64), on a line of its own.
    pub const OLDEST: u64 = BODY + f::J_OLDEST as u64;
    /// `oldest_seq` (u64).
    pub const OLDEST_SEQ: u64 = BODY + f::J_OLDEST_SEQ as u64;
    /// End of the journal header's last word (`oldest_seq`): every byte before it is a header
    /// byte.
    pub const HEADER_END: u64 = OLDEST_SEQ + 8;
    /// The doorbell page.
    pub const DOORBELL: u64 = f::DOORBELL_OFFSET as u64;
    /// The doorbell's futex word (u32).
    pub const DOORBELL_FUTEX: u64 = DOORBELL + f::DB_FUTEX as u64;
    /// The doorbell's waiter count (u32).
    pub const DOORBELL_WAITERS: u64 = DOORBELL + f::DB_WAITERS as u64;
    /// Where the sparse index starts.
    pub const INDEX: u64 = f::INDEX_OFFSET as u64;
    /// Size of a frame's header (length, type, flags, sequence word).
    pub const FRAME_HEADER: u64 = f::FRAME_HEADER as u64;
    /// Size of a frame's trailer (length, crc).
    pub const FRAME_TRAILER: u64 = f::FRAME_TRAILER as u64;
    /// The bit of a frame's sequence word that says it is published.
    pub const PUBLISHED: u64 = f::PUBLISHED;
}

/// A slot table (docs/FORMAT.md §4), from `shmbus::slots::layout` as absolute or `u64` offsets.
#[cfg(not(loom))]
pub mod slots {
    use crate::slots::layout as l;

    /// Size of the table header, at the body offset.
    pub const TABLE_HEADER_LEN: u64 = l::TABLE_HEADER_LEN as u64;
    /// `capacity` (u32), relative to the body offset.
    pub const T_CAPACITY: u64 = l::TABLE_CAPACITY as u64;
    /// `stride` (u32), relative to the body offset.
    pub const T_STRIDE: u64 = l::TABLE_STRIDE as u64;
    /// `record_size` (u32), relative to the body offset.
    pub const T_RECORD_SIZE: u64 = l::TABLE_RECORD_SIZE as u64;
    /// `key_len` (u32), relative to the body offset.
    pub const T_KEY_LEN: u64 = l::TABLE_KEY_LEN as u64;
    /// `count` of registered keys (u32), relative to the body offset.
    pub const T_COUNT: u64 = l::TABLE_COUNT as u64;
    /// The body offset of every table shmbus creates: right after the common header.
    pub const BODY: u64 = super::header::LEN;
    /// Where the first slot starts.
    pub const SLOTS: u64 = BODY + TABLE_HEADER_LEN;
    /// A slot's seqlock word (u64), relative to the slot.
    pub const SLOT_SEQ: u64 = l::SLOT_SEQ as u64;
    /// A slot's key (NUL-padded), relative to the slot.
    pub const SLOT_KEY: u64 = l::SLOT_KEY as u64;
}

/// A journal's reader registry, `NAME.readers` (docs/FORMAT.md §7).
pub mod readers {
    /// The body offset of every registry shmbus creates: right after the common header.
    pub const BODY: u64 = super::header::LEN;
    /// Size of the table header, at the body offset.
    pub const TABLE_LEN: u64 = 64;
    /// `capacity` (u32), relative to the body offset.
    pub const T_CAPACITY: u64 = 0;
    /// `entry_len` (u32), relative to the body offset.
    pub const T_ENTRY_LEN: u64 = 4;
    /// Size of an entry.
    pub const ENTRY_LEN: u64 = 64;
    /// Where the first entry starts.
    pub const ENTRIES: u64 = BODY + TABLE_LEN;
}

/// A QuantNexus candle region (docs/FORMAT.md §6), from `shmbus::candles::layout` as `u64`
/// offsets.
#[cfg(not(loom))]
pub mod candles {
    use crate::candles::layout as l;

    /// Where shmbus's common header lies inside the QNXS header's reserved bytes.
    pub const COMMON_HEADER: u64 = crate::RegionKind::Candles.header_offset() as u64;
    /// The QNXS header's `magic` (u32, [`crate::QNXS_MAGIC`]).
    pub const MAGIC: u64 = l::MAGIC as u64;
    /// The QNXS header's `version` (u32).
    pub const VERSION: u64 = l::VERSION as u64;
    /// The QNXS header's `writer_pid` (u32).
    pub const WRITER_PID: u64 = l::WRITER_PID as u64;
    /// The QNXS header's `last_update_us` (u64).
    pub const LAST_UPDATE_US: u64 = l::LAST_UPDATE_US as u64;
    /// The QNXS header's seqlock `sequence` (u64).
    pub const SEQUENCE: u64 = l::SEQUENCE as u64;
    /// The QNXS header's `symbol_count` (u32).
    pub const SYMBOL_COUNT: u64 = l::SYMBOL_COUNT as u64;
    /// shmbus's allocator top (u64).
    pub const ALLOC_TOP: u64 = l::ALLOC_TOP as u64;
    /// shmbus's write count (u64).
    pub const WRITE_COUNT: u64 = l::WRITE_COUNT as u64;
    /// The symbol index: its entry count (u32).
    pub const INDEX_COUNT: u64 = l::INDEX_COUNT as u64;
    /// The index's first entry.
    pub const ENTRIES: u64 = l::INDEX_ENTRIES as u64;
    /// Size of an index entry.
    pub const ENTRY_LEN: u64 = l::ENTRY_LEN as u64;
    /// An entry's `symbol` (16 bytes, NUL-padded), relative to the entry.
    pub const E_SYMBOL: u64 = l::ENTRY_SYMBOL as u64;
    /// An entry's `data_offset` (u64), relative to the entry.
    pub const E_DATA_OFFSET: u64 = l::ENTRY_DATA_OFFSET as u64;
    /// An entry's `data_size` (u32), relative to the entry.
    pub const E_DATA_SIZE: u64 = l::ENTRY_DATA_SIZE as u64;
    /// An entry's `count` (u32), relative to the entry.
    pub const E_COUNT: u64 = l::ENTRY_COUNT as u64;
    /// An entry's `last_update_us` (u64), relative to the entry.
    pub const E_LAST_UPDATE_US: u64 = l::ENTRY_LAST_UPDATE_US as u64;
    /// Where the data blocks start.
    pub const DATA_OFFSET: u64 = l::DATA_OFFSET as u64;
    /// Size of a block header.
    pub const BLOCK_HEADER: u64 = l::BLOCK_HEADER_LEN as u64;
    /// A block's `symbol` (16 bytes, NUL-padded), relative to the block.
    pub const B_SYMBOL: u64 = l::BLOCK_SYMBOL as u64;
    /// A block's `interval` (8 bytes, NUL-padded), relative to the block.
    pub const B_INTERVAL: u64 = l::BLOCK_INTERVAL as u64;
    /// A block's `count` (u32), relative to the block.
    pub const B_COUNT: u64 = l::BLOCK_COUNT as u64;
    /// A block's `capacity` (u32), relative to the block.
    pub const B_CAPACITY: u64 = l::BLOCK_CAPACITY as u64;
    /// A block's `start_ts` (u64), relative to the block.
    pub const B_START_TS: u64 = l::BLOCK_START_TS as u64;
    /// A block's `end_ts` (u64), relative to the block.
    pub const B_END_TS: u64 = l::BLOCK_END_TS as u64;
    /// Size of a candle.
    pub const CANDLE_LEN: u64 = l::CANDLE_LEN as u64;
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The slot table facts come from the typed views: check them against a table the library
    /// made.
    #[test]
    fn slot_table_facts_match_a_real_table() {
        use std::os::unix::fs::FileExt;
        let path = std::env::temp_dir().join(format!("shmbus-layout-slots-{}", std::process::id()));
        let name = path.to_str().unwrap().to_owned();
        let _ = std::fs::remove_file(&path);
        let mut w = crate::SlotWriter::<crate::TradingData>::builder(&name)
            .capacity(8)
            .create()
            .unwrap();
        w.slot("A").unwrap();
        w.slot("B").unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let u32_at = |off: u64| {
            let mut b = [0u8; 4];
            f.read_exact_at(&mut b, off).unwrap();
            u32::from_le_bytes(b)
        };
        assert_eq!(u64::from(u32_at(header::BODY_OFFSET)), slots::BODY);
        assert_eq!(u32_at(slots::BODY + slots::T_CAPACITY), 8);
        let stride = crate::slots::stride_of::<crate::TradingData>();
        assert_eq!(u32_at(slots::BODY + slots::T_STRIDE) as usize, stride);
        assert_eq!(u32_at(slots::BODY + slots::T_RECORD_SIZE), 24);
        assert_eq!(
            u32_at(slots::BODY + slots::T_KEY_LEN) as usize,
            crate::slots::KEY_MAX + 1
        );
        assert_eq!(u32_at(slots::BODY + slots::T_COUNT), 2);
        let mut key = [0u8; 2];
        f.read_exact_at(&mut key, slots::SLOTS + stride as u64 + slots::SLOT_KEY)
            .unwrap();
        assert_eq!(&key, b"B\0");
        assert_eq!(
            crate::slots::size_for::<crate::TradingData>(8),
            slots::SLOTS + 8 * stride as u64
        );
        drop(w);
        crate::Region::remove(&name, true).unwrap();
    }

    /// The reader registry facts are declared here (journal/readers.rs keeps its own private
    /// copy): check them against a registry the library made.
    #[test]
    fn reader_registry_facts_match_a_real_registry() {
        use std::os::unix::fs::FileExt;
        let path =
            std::env::temp_dir().join(format!("shmbus-layout-readers-{}", std::process::id()));
        let name = path.to_str().unwrap().to_owned();
        let _ = crate::journal::remove(&name, true);
        let _w = crate::journal::JournalWriter::builder(&name)
            .ring(64 << 10)
            .create()
            .unwrap();
        let mut r = crate::journal::JournalReader::open(&name, crate::journal::Start::End).unwrap();
        r.register("layout").unwrap();
        let registry = format!("{name}{}", crate::journal::REGISTRY_SUFFIX);
        let f = std::fs::File::open(&registry).unwrap();
        let u32_at = |off: u64| {
            let mut b = [0u8; 4];
            f.read_exact_at(&mut b, off).unwrap();
            u32::from_le_bytes(b)
        };
        assert_eq!(u64::from(u32_at(header::BODY_OFFSET)), readers::BODY);
        let capacity = u32_at(readers::BODY + readers::T_CAPACITY);
        assert_eq!(capacity as usize, crate::journal::MAX_READERS);
        assert_eq!(
            u64::from(u32_at(readers::BODY + readers::T_ENTRY_LEN)),
            readers::ENTRY_LEN
        );
        assert_eq!(
            f.metadata().unwrap().len(),
            readers::ENTRIES + u64::from(capacity) * readers::ENTRY_LEN
        );
        drop(r);
        drop(_w);
        crate::journal::remove(&name, true).unwrap();
    }
}
