//! Journal messages of the record types shmbus itself writes (`Trade`, type 2, from `shmbus feed
//! --journal`; `Bar`, type 3, from `shmbus replay` and `feed --journal-bars`), decoded into named
//! fields for `tail` and `dump`. A message of another type, or of a known type with the wrong
//! length, stays bytes.

use serde_json::{Value, json};
use shmbus::candles::{BAR_TYPE, Bar};
use shmbus::{TRADE_TYPE, Trade};

use crate::candles_cmd::fmt_ms;
use crate::output::esc_bytes;

/// A decoded message.
pub enum Known {
    Trade(Trade),
    Bar(Bar),
}

/// The record in a message, if its type tag and length are those of a shmbus record.
pub fn decode(ty: u16, payload: &[u8]) -> Option<Known> {
    match ty {
        TRADE_TYPE if payload.len() == size_of::<Trade>() => {
            Some(Known::Trade(bytemuck::pod_read_unaligned(payload)))
        }
        BAR_TYPE if payload.len() == size_of::<Bar>() => {
            Some(Known::Bar(bytemuck::pod_read_unaligned(payload)))
        }
        _ => None,
    }
}

/// A NUL-padded text field, up to its first NUL, as JSON text (invalid UTF-8 replaced).
fn field(b: &[u8]) -> String {
    String::from_utf8_lossy(trim(b)).into_owned()
}

/// A NUL-padded field up to its first NUL.
pub fn trim(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

fn side(s: u8) -> String {
    match s {
        0 => "buy".into(),
        1 => "sell".into(),
        n => format!("side {n}"),
    }
}

/// `2024-01-01T00:00:00.123456789Z` from ns since the epoch.
fn fmt_ns(ns: u64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(ns))
        .map_or_else(|_| ns.to_string(), |t| t.to_string())
}

impl Known {
    /// The record type's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Trade(_) => "Trade",
            Self::Bar(_) => "Bar",
        }
    }

    /// The record's fields, for `tail --json`.
    pub fn json(&self) -> Value {
        match self {
            Self::Trade(t) => json!({
                "timestamp_ns": t.timestamp_ns,
                "time": fmt_ns(t.timestamp_ns),
                "symbol": field(&t.symbol),
                "exchange": field(&t.exchange),
                "price": t.price,
                "volume": t.volume,
                "side": side(t.side),
                "trade_id": field(&t.trade_id),
            }),
            Self::Bar(b) => json!({
                "symbol": field(&b.symbol),
                "interval": field(&b.interval),
                "timestamp": b.candle.timestamp,
                "time": fmt_ms(b.candle.timestamp),
                "open": b.candle.open,
                "high": b.candle.high,
                "low": b.candle.low,
                "close": b.candle.close,
                "volume": b.candle.volume,
            }),
        }
    }

    /// One line for people; text fields escaped for the terminal.
    pub fn text(&self) -> String {
        match self {
            Self::Trade(t) => format!(
                "Trade {} {} {} {} x {} id {} at {}",
                esc_bytes(trim(&t.symbol)),
                esc_bytes(trim(&t.exchange)),
                side(t.side),
                t.price,
                t.volume,
                esc_bytes(trim(&t.trade_id)),
                fmt_ns(t.timestamp_ns)
            ),
            Self::Bar(b) => format!(
                "Bar {} {} {} O {} H {} L {} C {} V {}",
                esc_bytes(trim(&b.symbol)),
                esc_bytes(trim(&b.interval)),
                fmt_ms(b.candle.timestamp),
                b.candle.open,
                b.candle.high,
                b.candle.low,
                b.candle.close,
                b.candle.volume
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shmbus::candles::Candle;

    #[test]
    fn decodes_trades_and_bars_and_nothing_else() {
        let t = Trade::new(
            1_700_000_000_000_000_000,
            "BTC\u{1b}",
            "SIM",
            97000.5,
            3.0,
            1,
            "7",
        );
        let k = decode(TRADE_TYPE, bytemuck::bytes_of(&t)).expect("a trade");
        assert_eq!(k.json()["symbol"], "BTC\u{1b}");
        assert_eq!(k.json()["side"], "sell");
        assert_eq!(
            k.text(),
            "Trade BTC\\x1b SIM sell 97000.5 x 3 id 7 at 2023-11-14T22:13:20Z"
        );
        let c = Candle {
            timestamp: 1_700_000_000_000,
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 10.0,
        };
        let b = Bar::new("GOOG", "1d", c);
        let k = decode(BAR_TYPE, bytemuck::bytes_of(&b)).expect("a bar");
        assert_eq!(k.json()["close"], 1.5);
        assert_eq!(k.json()["interval"], "1d");
        assert!(decode(BAR_TYPE, &[0; 71]).is_none());
        assert!(decode(TRADE_TYPE, bytemuck::bytes_of(&b)).is_none());
        assert!(decode(7, bytemuck::bytes_of(&t)).is_none());
    }
}
