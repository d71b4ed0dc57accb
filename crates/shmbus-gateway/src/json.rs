//! The JSON shapes of regions, slots, journal messages and candles: one definition, used by the
//! gateway's HTTP and WebSocket answers and by the CLI's `--json` output, so both say the same.

use std::path::Path;

use base64::Engine as _;
use serde_json::{Value, json};
use shmbus::bridge_status::{BridgeInfo, read_status};
use shmbus::candles::{BAR_TYPE, Bar, Candle, CandleReader, SeriesInfo};
use shmbus::journal::{JournalInfo, JournalReader, Message, Mode, ReaderInfo, Start, list_readers};
use shmbus::{
    HeaderInfo, ListEntry, Probe, Region, RegionKind, SlotReader, TRADE_TYPE, Trade, TradingData,
    Versioned,
};

/// Largest payload sent inline (as base64); a larger one is described, not sent, so one
/// message can never take more than about 1.4 MB of a client's queue or of an answer.
pub const MAX_INLINE_PAYLOAD: usize = 1 << 20;

/// The journal type tag the gateway decodes as a [`TradingData`] record (24 bytes). Trades
/// ([`TRADE_TYPE`]) and bars ([`BAR_TYPE`]) are the core's own tags.
pub const TRADING_DATA_TYPE: u16 = 4;

/// User name of a uid, from /etc/passwd (the uid as text if unknown).
pub fn user_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_owned())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// `2024-01-01T00:00:00Z` from ms since the epoch.
pub fn fmt_ms(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| ms.to_string(), |t| t.to_string())
}

/// One row of `shmbus ls --json` for a listed file; `None` for a file that is not a region
/// (unless `all`).
pub fn list_entry_json(e: &ListEntry, all: bool) -> Option<Value> {
    let (kind, record, header) = match &e.probe {
        Probe::Shmbus(h) if h.magic == shmbus::MAGIC => {
            (h.kind_name(), h.layout_name.clone(), Some(h))
        }
        Probe::Shmbus(_) => ("unpublished".into(), String::new(), None),
        Probe::ForeignQnxs => ("candles (QNXS, foreign)".into(), String::new(), None),
        Probe::Unknown if all => ("not shmbus".into(), String::new(), None),
        Probe::Unknown => return None,
    };
    Some(json!({
        "name": e.name,
        "kind": kind,
        "size": e.size,
        "record": record,
        "owner_uid": e.owner,
        "owner": user_name(e.owner),
        "mode": format!("{:04o}", e.mode),
        "writer_pid": header.map_or(0, |h| h.writer_pid),
        "writer_alive": e.writer_alive,
        "created_ns": header.map_or(0, |h| h.created_ns),
    }))
}

/// The row of `shmbus ls --json` for a persisted journal directory.
pub fn persisted_journal_json(name: &str, segments: usize, size: u64) -> Value {
    json!({ "name": name, "kind": "journal (persisted)", "size": size, "segments": segments })
}

/// (name, segment count, bytes) of each persisted journal directory in `dir`.
pub fn persisted_journals(dir: &Path) -> Vec<(String, usize, u64)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| shmbus::journal::is_persisted_journal(p))
        .map(|p| {
            let name = if dir == Path::new(shmbus::SHM_DIR) {
                p.file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                p.to_string_lossy().into_owned()
            };
            let (n, size) = persisted_size(&p);
            (name, n, size)
        })
        .collect();
    out.sort();
    out
}

/// (segment files, bytes) of a persisted journal directory.
pub fn persisted_size(dir: &Path) -> (usize, u64) {
    std::fs::read_dir(dir).map_or((0, 0), |rd| {
        rd.filter_map(Result::ok).fold((0, 0), |(n, s), e| {
            (n + 1, s + e.metadata().map_or(0, |m| m.len()))
        })
    })
}

/// `shmbus ls --json`: every region in `dir` (and, with `all`, every other file), then the
/// persisted journals.
///
/// # Errors
///
/// The directory cannot be read.
pub fn list_json(dir: &Path, all: bool) -> std::io::Result<Vec<Value>> {
    let mut rows: Vec<Value> = Region::list(dir)?
        .iter()
        .filter_map(|e| list_entry_json(e, all))
        .collect();
    rows.extend(
        persisted_journals(dir)
            .into_iter()
            .map(|(name, n, size)| persisted_journal_json(&name, n, size)),
    );
    Ok(rows)
}

/// The registered readers of journal `name` (docs/FORMAT.md 7): `[{name, pid, alive, position,
/// lag, updated_ns}]`, lag against the newest committed message.
///
/// # Errors
///
/// The journal cannot be read, or its reader registry is not valid.
pub fn readers_json(name: &str) -> Result<Value, shmbus::JournalError> {
    let next = JournalReader::open(name, Start::End)?.info()?.next_seq;
    Ok(readers_value(&list_readers(
        name,
        next,
        &Region::open_options(),
    )?))
}

/// A list of readers as JSON (see [`readers_json`]).
pub fn readers_value(readers: &[ReaderInfo]) -> Value {
    Value::Array(
        readers
            .iter()
            .map(|r| {
                json!({ "name": r.name, "pid": r.pid, "alive": r.alive, "position": r.position,
                        "lag": r.lag, "updated_ns": r.updated_ns })
            })
            .collect(),
    )
}

/// What a bridge status region says (docs/FORMAT.md section 8), as `inspect --json` and
/// `/api/regions/NAME` show it under `bridge`.
pub fn bridge_json(b: &BridgeInfo) -> Value {
    json!({
        "journal": b.journal, "direction": b.direction.name(), "stream": b.stream,
        "subject": b.subject, "state": b.state, "alive": b.alive, "pid": b.pid,
        "started_ns": b.started_ns, "updated_ns": b.updated_ns, "messages": b.messages,
        "bytes": b.bytes, "duplicates": b.duplicates, "gaps": b.gaps, "lost": b.lost,
        "rewinds": b.rewinds, "reconnects": b.reconnects, "in_flight": b.in_flight,
        "journal_next": b.journal_next, "stream_seq": b.stream_seq, "lag": b.lag,
    })
}

/// `shmbus inspect --json` (without the slot summary). A journal also lists its registered
/// readers under `readers`, or says why it cannot under `readers_error` (a corrupt registry);
/// a bridge status region its figures under `bridge`, or why not under `bridge_error`.
pub fn header_json(h: &HeaderInfo, region: &Region, writer_alive: bool) -> Value {
    let mut doc = header_fields(h, region, writer_alive);
    if h.kind() == Some(RegionKind::Journal) {
        match readers_json(region.name().as_str()) {
            Ok(r) => doc["readers"] = r,
            Err(e) => doc["readers_error"] = json!(e.to_string()),
        }
    }
    if h.kind() == Some(RegionKind::Bridge) {
        let opts = Region::open_options().allow_foreign_owner(true);
        match read_status(region.name().as_str(), &opts) {
            Ok(b) => doc["bridge"] = bridge_json(&b),
            Err(e) => doc["bridge_error"] = json!(e.to_string()),
        }
    }
    doc
}

fn header_fields(h: &HeaderInfo, region: &Region, writer_alive: bool) -> Value {
    json!({
        "name": region.name().as_str(),
        "path": region.name().path(),
        "magic": format!("{:#018x}", h.magic),
        "version": h.version,
        "kind": h.kind_name(),
        "kind_code": h.kind_code,
        "header_offset": h.offset,
        "header_len": h.header_len,
        "flags": h.flags,
        "layout_fingerprint": format!("{:#018x}", h.layout),
        "layout_name": h.layout_name,
        "total_size": h.total_size,
        "creator_pid": h.creator_pid,
        "creator_uid": h.creator_uid,
        "created_ns": h.created_ns,
        "writer_generation": h.writer_generation,
        "writer_pid": h.writer_pid,
        "writer_alive": writer_alive,
        "body_offset": h.body_offset,
    })
}

/// One slot as `shmbus slot get --json` prints it.
pub fn slot_json(symbol: &str, v: Option<&Versioned<TradingData>>) -> Value {
    match v {
        Some(v) => json!({
            "symbol": symbol,
            "seq": v.seq,
            "price": v.value.price,
            "volume": v.value.volume,
            "timestamp": v.value.timestamp,
            "valid": v.value.is_valid(),
        }),
        None => json!({ "symbol": symbol, "seq": 0, "written": false }),
    }
}

/// One candle as `shmbus candles show --json` prints it.
pub fn candle_json(c: &Candle) -> Value {
    json!({ "timestamp": c.timestamp, "time": fmt_ms(c.timestamp), "open": c.open, "high": c.high,
            "low": c.low, "close": c.close, "volume": c.volume })
}

/// One series as `shmbus candles show NAME --json` lists it.
pub fn series_json(s: &SeriesInfo) -> Value {
    json!({ "symbol": s.symbol, "interval": s.interval, "count": s.count,
            "capacity": s.capacity, "start_ts": s.start_ts, "end_ts": s.end_ts })
}

/// When a message of a known record type was made, in ns since the Unix epoch.
pub fn message_ts(m: &Message<'_>) -> Option<u64> {
    let u64_at = |o: usize| {
        m.payload
            .get(o..o + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
    };
    match (m.ty, m.payload.len()) {
        (TRADE_TYPE, 128) => u64_at(0),
        (BAR_TYPE, 72) => u64_at(24).map(|ms| ms.saturating_mul(1_000_000)),
        (TRADING_DATA_TYPE, 24) => u64_at(8),
        _ => None,
    }
}

/// Bytes a binary journal frame carries before the payload: tag u32, kind u8, reserved u8,
/// type u16, seq u64, ts u64.
pub const BINARY_HEADER: usize = 24;

/// A journal message as a binary frame without its leading 4-byte subscription tag: kind
/// (1 = journal message) u8, 0 u8, type u16, seq u64, ts u64 (0 if unknown), then the payload
/// as stored; little-endian (docs/GATEWAY.md).
pub fn message_binary(m: &Message<'_>) -> Vec<u8> {
    let mut v = Vec::with_capacity(BINARY_HEADER - 4 + m.payload.len());
    v.push(1);
    v.push(0);
    v.extend_from_slice(&m.ty.to_le_bytes());
    v.extend_from_slice(&m.seq.to_le_bytes());
    v.extend_from_slice(&message_ts(m).unwrap_or(0).to_le_bytes());
    v.extend_from_slice(m.payload);
    v
}

/// A journal message: `seq`, `type`, `len`, then for the known record types their fields under
/// `trade`, `bar` or `trading_data` (and `ts`, ns since the epoch), for any other type the
/// payload as `base64` (or, over [`MAX_INLINE_PAYLOAD`], an `omitted` note instead).
pub fn message_json(m: &Message<'_>) -> Value {
    let mut doc = json!({ "seq": m.seq, "type": m.ty, "len": m.payload.len() });
    match (m.ty, m.payload.len()) {
        (TRADE_TYPE, 128) => {
            let t: Trade = bytemuck::pod_read_unaligned(m.payload);
            doc["ts"] = json!(t.timestamp_ns);
            doc["trade"] = json!({
                "timestamp_ns": t.timestamp_ns, "symbol": t.symbol(), "exchange": t.exchange(),
                "price": t.price, "volume": t.volume,
                "side": if t.side == 0 { "buy" } else { "sell" }, "trade_id": t.trade_id(),
            });
        }
        (BAR_TYPE, 72) => {
            let b: Bar = bytemuck::pod_read_unaligned(m.payload);
            doc["ts"] = json!(b.candle.timestamp.saturating_mul(1_000_000));
            let mut c = candle_json(&b.candle);
            c["symbol"] = json!(b.symbol());
            c["interval"] = json!(b.interval());
            doc["bar"] = c;
        }
        (TRADING_DATA_TYPE, 24) => {
            let d: TradingData = bytemuck::pod_read_unaligned(m.payload);
            doc["ts"] = json!(d.timestamp);
            doc["trading_data"] = json!({
                "price": d.price, "timestamp": d.timestamp, "volume": d.volume,
                "valid": d.is_valid(),
            });
        }
        _ if m.payload.len() > MAX_INLINE_PAYLOAD => {
            doc["omitted"] = json!(format!(
                "a payload of {} bytes is over the gateway's {MAX_INLINE_PAYLOAD}-byte limit: read it with `shmbus tail --from {}`",
                m.payload.len(),
                m.seq
            ));
        }
        _ => {
            doc["base64"] = json!(base64::engine::general_purpose::STANDARD.encode(m.payload));
        }
    }
    doc
}

/// The share of a ring journal's capacity its stored messages take (0 to 1); `None` for a
/// persisted journal (its segments roll, nothing is overwritten until retention).
pub fn ring_occupancy(i: &JournalInfo) -> Option<f64> {
    (i.mode == Mode::Ring && i.capacity > 0).then(|| {
        let used = i.commit_position.saturating_sub(i.oldest_position);
        used as f64 / i.capacity as f64
    })
}

/// A TradingData slot table's summary in `inspect --json`: capacity, symbols in use, their
/// keys, and `writes`, the updates ever written to them (each slot's sequence counts two per
/// write), from which a rate follows.
pub fn slots_summary_json(r: &SlotReader<TradingData>) -> Value {
    let mut keys = Vec::new();
    let mut writes = 0u64;
    for (k, id) in r.keys() {
        // A slot mid-write by a stopped writer (busy) counts as of its last complete write.
        if let Ok(Some(v)) = r.read(id) {
            writes = writes.saturating_add(v.seq / 2);
        }
        keys.push(k);
    }
    json!({ "capacity": r.capacity(), "in_use": r.len(), "keys": keys, "writes": writes })
}

/// What a journal or candle store holds now, for `inspect --json`: `("journal", {mode,
/// capacity, oldest, next, stored, occupancy})` (sequences; `next` is the count of messages ever
/// committed, `occupancy` the ring's used share or null) or `("candles", {series, candles,
/// writes, last_write_us})`. `None` for other kinds, or a region that cannot be read as one.
pub fn contents_json(name: &str, h: &HeaderInfo) -> Option<(&'static str, Value)> {
    match h.kind()? {
        RegionKind::Journal => {
            let i = JournalReader::open(name, Start::End)
                .and_then(|r| r.info())
                .ok()?;
            Some((
                "journal",
                json!({
                    "mode": if i.mode == Mode::Ring { "ring" } else { "segments" },
                    "capacity": i.capacity, "oldest": i.oldest_seq, "next": i.next_seq,
                    "stored": i.next_seq.saturating_sub(i.oldest_seq),
                    "occupancy": ring_occupancy(&i),
                }),
            ))
        }
        RegionKind::Candles => {
            let s = CandleReader::open(name).and_then(|r| r.stats()).ok()?;
            Some((
                "candles",
                json!({ "series": s.total_symbols, "candles": s.total_candles,
                        "writes": s.write_count, "last_write_us": s.last_write_us }),
            ))
        }
        _ => None,
    }
}

/// The text of [`message_json`], written directly for a [`Trade`] (the WebSocket hot path:
/// several times faster than building the `Value` and serializing it), and through
/// [`message_json`] for every other message. The same bytes either way: keys in
/// `serde_json`'s order (sorted), numbers and strings written by `serde_json` itself.
pub fn message_json_text(m: &Message<'_>) -> String {
    if (m.ty, m.payload.len()) != (TRADE_TYPE, 128) {
        return message_json(m).to_string();
    }
    let t: Trade = bytemuck::pod_read_unaligned(m.payload);
    let mut out = Vec::with_capacity(256);
    // Writing to a Vec cannot fail, nor can serializing a str, an integer or a float.
    let mut put = |key: &str, v: &dyn erased::Json| {
        out.extend_from_slice(key.as_bytes());
        v.write(&mut out);
    };
    put("{\"len\":", &128_u64);
    put(",\"seq\":", &m.seq);
    put(",\"trade\":{\"exchange\":", &t.exchange());
    put(",\"price\":", &t.price);
    put(",\"side\":", &if t.side == 0 { "buy" } else { "sell" });
    put(",\"symbol\":", &t.symbol());
    put(",\"timestamp_ns\":", &t.timestamp_ns);
    put(",\"trade_id\":", &t.trade_id());
    put(",\"volume\":", &t.volume);
    put("},\"ts\":", &t.timestamp_ns);
    put(",\"type\":", &u64::from(TRADE_TYPE));
    out.push(b'}');
    String::from_utf8(out).unwrap_or_else(|_| message_json(m).to_string())
}

mod erased {
    /// A value `serde_json` writes (a `dyn`-friendly `Serialize`).
    pub(super) trait Json {
        fn write(&self, out: &mut Vec<u8>);
    }

    impl<T: serde::Serialize + ?Sized> Json for T {
        fn write(&self, out: &mut Vec<u8>) {
            let _ = serde_json::to_writer(out, self);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_trade_text_is_the_values_text() {
        let odd = [
            "",
            "BTCUSD",
            "a\"b\\c",
            "tab\there",
            "\u{1}\u{1f}",
            "é€😀",
            "x".repeat(40).leak(),
        ];
        let floats = [
            0.0,
            -0.0,
            1.5,
            97_000.5,
            1e300,
            -1e-300,
            f64::NAN,
            f64::INFINITY,
            0.1 + 0.2,
        ];
        let mut n = 0;
        for (i, s) in odd.iter().enumerate() {
            for (j, &f) in floats.iter().enumerate() {
                for side in [0u8, 1, 7] {
                    let mut t = Trade::new(
                        (i * 1_000_003 + j) as u64 * 1_000_000_007,
                        s,
                        odd[(i + 1) % odd.len()],
                        f,
                        floats[(j + 3) % floats.len()],
                        side,
                        odd[(i + 2) % odd.len()],
                    );
                    if i == 0 {
                        // Not UTF-8: decoded as an empty string by both.
                        t.symbol[..2].copy_from_slice(&[0xff, 0xfe]);
                    }
                    let m = Message {
                        seq: u64::MAX - n,
                        ty: TRADE_TYPE,
                        position: 0,
                        payload: bytemuck::bytes_of(&t),
                    };
                    assert_eq!(message_json_text(&m), message_json(&m).to_string());
                    n += 1;
                }
            }
        }
        // Other types go through the Value.
        let m = Message {
            seq: 3,
            ty: 9,
            position: 0,
            payload: b"abc",
        };
        assert_eq!(message_json_text(&m), message_json(&m).to_string());
    }
}
