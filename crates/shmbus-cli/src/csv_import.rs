//! Reading OHLCV bars from the CSV shapes people export: a date, datetime or unix-time column
//! (even with an empty header), Open/High/Low/Close/Volume in any case, fractional volumes.
//! A malformed row is an error naming the file, line and column; nothing is returned then.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use shmbus::candles::Candle;

/// Where each field is in a row.
#[derive(Debug, Clone, Copy)]
struct Columns {
    ts: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: Option<usize>,
}

fn find_columns(header: &csv::StringRecord, file: &Path) -> Result<Columns> {
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let find = |cands: &[&str]| names.iter().position(|n| cands.contains(&n.as_str()));
    let ts = find(&[
        "",
        "date",
        "datetime",
        "time",
        "timestamp",
        "ts",
        "open_time",
        "opentime",
        "date_time",
    ])
    .unwrap_or(0);
    let need = |what: &str, cands: &[&str]| {
        find(cands).ok_or_else(|| {
            anyhow!(
                "{}: line 1: no {what} column (columns: {})",
                file.display(),
                header.iter().collect::<Vec<_>>().join(", ")
            )
        })
    };
    Ok(Columns {
        ts,
        open: need("open", &["open", "o"])?,
        high: need("high", &["high", "h"])?,
        low: need("low", &["low", "l"])?,
        close: need("close", &["close", "c"])?,
        volume: find(&["volume", "vol", "v"]),
    })
}

/// Parses a time zone: `UTC`, a fixed offset (`+05:30`, `-0500`), or an IANA name.
pub fn parse_tz(s: &str) -> Result<TimeZone> {
    if s.eq_ignore_ascii_case("utc") || s == "Z" {
        return Ok(TimeZone::UTC);
    }
    if let Some(sign) = s.chars().next().filter(|c| *c == '+' || *c == '-') {
        let digits: String = s[1..].chars().filter(char::is_ascii_digit).collect();
        let (h, m) = match digits.len() {
            1 | 2 => (digits.parse::<i8>()?, 0),
            4 => (digits[..2].parse::<i8>()?, digits[2..].parse::<i8>()?),
            _ => bail!(
                "time zone {s:?}: use UTC, an offset like +05:30, or a name like America/New_York"
            ),
        };
        let secs = (i32::from(h) * 3600 + i32::from(m) * 60) * if sign == '-' { -1 } else { 1 };
        return Ok(TimeZone::fixed(jiff::tz::Offset::from_seconds(secs)?));
    }
    TimeZone::get(s).with_context(|| format!("unknown time zone {s:?}"))
}

/// A timestamp in ms since the Unix epoch from unix seconds or ms, a date, or a date-time (zone
/// given in the text, else `tz`).
pub fn parse_timestamp(v: &str, tz: &TimeZone) -> Result<u64> {
    let v = v.trim();
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let x: f64 = v.parse().map_err(|_| anyhow!("not a number"))?;
        // Unix seconds up to the year 5138; beyond that, milliseconds.
        let ms = if x < 1e11 { x * 1000.0 } else { x };
        return Ok(ms.round() as u64);
    }
    if let Ok(ts) = v.parse::<jiff::Timestamp>() {
        return to_ms(ts);
    }
    // A date-time first: jiff reads the date part of a date-time as a date.
    let civil = if let Ok(dt) = v.parse::<DateTime>() {
        dt
    } else {
        v.parse::<Date>()
            .map_err(|_| anyhow!("cannot read {v:?} as a date, date-time or unix time"))?
            .to_datetime(jiff::civil::Time::midnight())
    };
    to_ms(civil.to_zoned(tz.clone())?.timestamp())
}

fn to_ms(ts: jiff::Timestamp) -> Result<u64> {
    u64::try_from(ts.as_millisecond()).map_err(|_| anyhow!("timestamp before 1970"))
}

/// Reads every bar of `file`, with the line each came from. `progress` is called with the bytes
/// read so far.
pub fn read_csv(
    file: &Path,
    tz: &TimeZone,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(u64, Candle)>> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_path(file)
        .with_context(|| format!("cannot open {}", file.display()))?;
    let header = rdr
        .headers()
        .with_context(|| format!("{}: cannot read the header line", file.display()))?
        .clone();
    let cols = find_columns(&header, file)?;
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => bail!("{}: {e}", file.display()),
        }
        let pos = record.position().expect("records have positions");
        let line = pos.line();
        if record.iter().all(str::is_empty) {
            continue;
        }
        let field = |i: usize, name: &str| -> Result<&str> {
            record.get(i).ok_or_else(|| {
                anyhow!(
                    "{}: line {line}, column {} ({name}): missing field",
                    file.display(),
                    i + 1
                )
            })
        };
        let num = |i: usize, name: &str| -> Result<f64> {
            let v = field(i, name)?;
            v.parse::<f64>().map_err(|_| {
                anyhow!(
                    "{}: line {line}, column {} ({name}): {v:?} is not a number",
                    file.display(),
                    i + 1
                )
            })
        };
        let ts_text = field(cols.ts, "timestamp")?;
        let timestamp = parse_timestamp(ts_text, tz).map_err(|e| {
            anyhow!(
                "{}: line {line}, column {} (timestamp): {e}",
                file.display(),
                cols.ts + 1
            )
        })?;
        out.push((
            line,
            Candle::new(
                timestamp,
                num(cols.open, "open")?,
                num(cols.high, "high")?,
                num(cols.low, "low")?,
                num(cols.close, "close")?,
                match cols.volume {
                    Some(i) => num(i, "volume")?,
                    None => 0.0,
                },
            ),
        ));
        progress(pos.byte());
    }
    // Files exported newest first are reversed; otherwise timestamps must increase.
    if out.len() > 1 && out.windows(2).all(|w| w[0].1.timestamp > w[1].1.timestamp) {
        out.reverse();
    }
    for w in out.windows(2) {
        if w[1].1.timestamp <= w[0].1.timestamp {
            bail!(
                "{}: line {}, column {} (timestamp): not after the row before (line {}); sort the file by time",
                file.display(),
                w[1].0,
                cols.ts + 1,
                w[0].0
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_shape() {
        let utc = TimeZone::UTC;
        assert_eq!(
            parse_timestamp("2024-01-01", &utc).unwrap(),
            1_704_067_200_000
        );
        assert_eq!(
            parse_timestamp("2024-01-01 01:00:00", &utc).unwrap(),
            1_704_070_800_000
        );
        assert_eq!(
            parse_timestamp("2024-01-01T01:00", &utc).unwrap(),
            1_704_070_800_000
        );
        assert_eq!(
            parse_timestamp("2024-01-01T01:00:00Z", &utc).unwrap(),
            1_704_070_800_000
        );
        assert_eq!(
            parse_timestamp("2024-01-01T02:00:00+01:00", &utc).unwrap(),
            1_704_070_800_000
        );
        assert_eq!(
            parse_timestamp("1704067200", &utc).unwrap(),
            1_704_067_200_000
        );
        assert_eq!(
            parse_timestamp("1704067200000", &utc).unwrap(),
            1_704_067_200_000
        );
        let ny = parse_tz("America/New_York").unwrap();
        assert_eq!(
            parse_timestamp("2024-01-01", &ny).unwrap(),
            1_704_067_200_000 + 5 * 3_600_000
        );
        let plus2 = parse_tz("+02:00").unwrap();
        assert_eq!(
            parse_timestamp("2024-01-01 02:00", &plus2).unwrap(),
            1_704_067_200_000
        );
        assert!(parse_timestamp("yesterday", &utc).is_err());
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
