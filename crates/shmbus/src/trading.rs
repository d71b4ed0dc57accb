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

const _: () = assert!(std::mem::size_of::<TradingData>() == 24);
const _: () = assert!(TradingData::LAYOUT.is_consistent());

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
        size: 24,
        fields: &[
            Field::new("price", FieldType::F64, 0),
            Field::new("timestamp", FieldType::U64, 8),
            Field::new("volume", FieldType::I32, 16),
            Field::new("valid", FieldType::Bool, 20),
        ],
    };
}
