//! `TradingData`: the latest-value record of seed 001 (`/trading_data`), byte for byte.

use bytemuck::{Pod, Zeroable};

use crate::record::{Field, FieldType, Record, RecordLayout};

/// Last trade of one symbol: 24 bytes, laid out exactly as seed 001's C++ struct
/// (price f64 at 0, timestamp u64 at 8, volume i32 at 16, valid u8 at 20, 3 bytes padding).
///
/// The timestamp is nanoseconds since the Unix epoch (seed 001 documented ns but wrote seconds).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Default, Pod, Zeroable)]
pub struct TradingData {
    /// Last price.
    pub price: f64,
    /// When it was published, ns since the Unix epoch.
    pub timestamp: u64,
    /// Volume of the last trade.
    pub volume: i32,
    /// 1 if the record holds data, 0 if not (all-zero after a repair).
    pub valid: u8,
    /// Explicit padding, always zero.
    pub _pad: [u8; 3],
}

// The layout of seed 001's C++ struct, byte for byte (bindings, seeds and the layout
// fingerprint of docs/FORMAT.md §3.2 depend on it): the compiler checks each offset, and
// `LAYOUT` below takes its offsets from the struct itself.
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(offset_of!(TradingData, price) == 0);
    assert!(offset_of!(TradingData, timestamp) == 8);
    assert!(offset_of!(TradingData, volume) == 16);
    assert!(offset_of!(TradingData, valid) == 20);
    assert!(offset_of!(TradingData, _pad) == 21);
    assert!(size_of::<TradingData>() == 24);
    assert!(align_of::<TradingData>() == 8);
};
const _: () = assert!(TradingData::LAYOUT.is_consistent());
// The worked value of docs/FORMAT.md §3.2: the fingerprint every binding computes for this record.
const _: () = assert!(TradingData::LAYOUT.fingerprint() == 0x0ae3_ba91_0fd7_321d);

/// The offset of a field of [`TradingData`], as the `u32` a [`Field`] stores.
macro_rules! offset {
    ($field:ident) => {
        std::mem::offset_of!(TradingData, $field) as u32
    };
}

impl TradingData {
    /// A valid record.
    pub fn new(price: f64, volume: i32, timestamp: u64) -> Self {
        Self {
            price,
            timestamp,
            volume,
            valid: 1,
            _pad: [0; 3],
        }
    }

    /// Whether the record holds data.
    pub fn is_valid(&self) -> bool {
        self.valid != 0
    }
}

impl Record for TradingData {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "TradingData",
        size: std::mem::size_of::<TradingData>() as u32,
        fields: &[
            Field::new("price", FieldType::F64, offset!(price)),
            Field::new("timestamp", FieldType::U64, offset!(timestamp)),
            Field::new("volume", FieldType::I32, offset!(volume)),
            Field::new("valid", FieldType::Bool, offset!(valid)),
        ],
    };
}
