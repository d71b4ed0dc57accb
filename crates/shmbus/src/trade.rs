//! `Trade`: the 128-byte trade record of seed 003's Rust collectors, byte for byte, as a journal
//! message payload.

use bytemuck::{Pod, Zeroable};

use crate::record::{Field, FieldType, Record, RecordLayout};

/// One trade (seed 003 layout): `timestamp_ns` u64 @0, `symbol` 16 bytes @8, `exchange` 16 bytes
/// @24, `price` f64 @40, `volume` f64 @48, `side` u8 @56, `trade_id` 32 bytes @57, zero padding
/// to 128.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct Trade {
    /// When the trade happened (or was published), ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// Symbol, NUL-padded.
    pub symbol: [u8; 16],
    /// Exchange, NUL-padded.
    pub exchange: [u8; 16],
    /// Price.
    pub price: f64,
    /// Volume.
    pub volume: f64,
    /// 0 = buy, 1 = sell.
    pub side: u8,
    /// Trade id, NUL-padded.
    pub trade_id: [u8; 32],
    /// Zero.
    pub _pad: [u8; 39],
}

const _: () = assert!(std::mem::size_of::<Trade>() == 128);
const _: () = assert!(Trade::LAYOUT.is_consistent());

/// The journal type tag shmbus tools use for `Trade` messages.
pub const TRADE_TYPE: u16 = 2;

fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let mut out = [0u8; N];
    let n = s.len().min(N);
    out[..n].copy_from_slice(&s.as_bytes()[..n]);
    out
}

fn text(b: &[u8]) -> &str {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..n]).unwrap_or("")
}

impl Trade {
    /// A trade; strings longer than their field are cut.
    pub fn new(
        timestamp_ns: u64,
        symbol: &str,
        exchange: &str,
        price: f64,
        volume: f64,
        side: u8,
        trade_id: &str,
    ) -> Self {
        Self {
            timestamp_ns,
            symbol: fixed(symbol),
            exchange: fixed(exchange),
            price,
            volume,
            side,
            trade_id: fixed(trade_id),
            _pad: [0; 39],
        }
    }

    /// The symbol as text.
    pub fn symbol(&self) -> &str {
        text(&self.symbol)
    }

    /// The exchange as text.
    pub fn exchange(&self) -> &str {
        text(&self.exchange)
    }

    /// The trade id as text.
    pub fn trade_id(&self) -> &str {
        text(&self.trade_id)
    }
}

impl Record for Trade {
    const LAYOUT: RecordLayout = RecordLayout {
        name: "Trade",
        size: 128,
        fields: &[
            Field::new("timestamp_ns", FieldType::U64, 0),
            Field::new("symbol", FieldType::Bytes(16), 8),
            Field::new("exchange", FieldType::Bytes(16), 24),
            Field::new("price", FieldType::F64, 40),
            Field::new("volume", FieldType::F64, 48),
            Field::new("side", FieldType::U8, 56),
            Field::new("trade_id", FieldType::Bytes(32), 57),
        ],
    };
}
