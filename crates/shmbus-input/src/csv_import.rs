//! Reading OHLCV bars from the CSV shapes people export: a date, datetime or unix-time column
//! (even with an empty header), Open/High/Low/Close/Volume in any case, fractional volumes.
//! A malformed row is an error naming the file, line and column; nothing is returned then.
//!
//! Inputs are bounded: a regular file, a pipe or FIFO, or `-` for stdin (never a directory or a
//! device such as /dev/zero; a FIFO is opened without blocking), lines of at most [`MAX_LINE`]
//! bytes, at most [`MAX_ROWS`] rows, timestamps from 1970 to jiff's last instant
//! (9999-12-30T22:00:00Z), so no input can grow memory without bound or hang the open.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use rustix::fs::OFlags;
use shmbus::CandleError;
use shmbus::candles::Candle;

/// The longest line a CSV input may have: 1 MiB (a row of OHLCV is well under 200 bytes; the
/// bound stops an input without line breaks from filling memory).
pub const MAX_LINE: usize = 1 << 20;

/// The most rows one CSV input may have: 10 million (19 years of one-minute bars; about 560 MB
/// while importing). Split larger files.
pub const MAX_ROWS: usize = 10_000_000;

/// An opened CSV input: what it is called in messages, its bytes and its size when known.
pub struct CsvInput {
    label: String,
    reader: Box<dyn Read>,
    /// The size of a regular file (None for a pipe or stdin).
    pub len: Option<u64>,
}

impl fmt::Debug for CsvInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsvInput")
            .field("label", &self.label)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl CsvInput {
    /// An input of any bytes, called `label` in messages (tests and fuzz targets give
    /// [`read_csv`] bytes in memory this way).
    pub fn from_reader(label: &str, reader: impl Read + 'static) -> Self {
        Self {
            label: label.to_owned(),
            reader: Box::new(reader),
            len: None,
        }
    }
}

/// Opens a CSV input: `-` is stdin; a path must be a regular file, or a pipe or FIFO (opened
/// without blocking, so a FIFO nobody writes to reads as empty instead of hanging the open).
///
/// # Errors
///
/// A missing or unreadable file, or one that is neither a regular file nor a pipe (a directory,
/// a device such as /dev/zero, a socket).
pub fn open_csv(file: &Path) -> Result<CsvInput> {
    if file.as_os_str() == "-" {
        return Ok(CsvInput {
            label: "stdin".to_owned(),
            reader: Box::new(io::stdin()),
            len: None,
        });
    }
    let label = file.display().to_string();
    let f = File::options()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(file)
        .with_context(|| format!("cannot open {label}"))?;
    let meta = f
        .metadata()
        .with_context(|| format!("cannot stat {label}"))?;
    let ft = meta.file_type();
    let len = if ft.is_file() {
        Some(meta.len())
    } else if ft.is_fifo() {
        // Reads wait for data from here on (a FIFO without a writer reads as empty).
        rustix::fs::fcntl_getfl(&f)
            .and_then(|fl| rustix::fs::fcntl_setfl(&f, fl - OFlags::NONBLOCK))
            .with_context(|| format!("cannot read {label}"))?;
        None
    } else {
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        bail!("{label} is {what}, not a CSV file; give a regular file, a pipe, or - for stdin");
    };
    Ok(CsvInput {
        label,
        reader: Box::new(f),
        len,
    })
}

/// A line longer than [`MAX_LINE`], found by [`LineLimit`].
#[derive(Debug)]
struct LineTooLong {
    line: u64,
}

impl fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} is longer than {MAX_LINE} bytes (1 MiB); is this a CSV file?",
            self.line
        )
    }
}

impl std::error::Error for LineTooLong {}

/// Passes bytes through, failing once a line grows past [`MAX_LINE`] bytes.
struct LineLimit<R> {
    inner: R,
    line: u64,
    len: usize,
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            if b == b'\n' {
                self.line += 1;
                self.len = 0;
            } else {
                self.len += 1;
                if self.len > MAX_LINE {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        LineTooLong { line: self.line },
                    ));
                }
            }
        }
        Ok(n)
    }
}

/// `file: message` for a CSV error, naming the line for an over-long one.
fn csv_error(label: &str, e: &csv::Error) -> anyhow::Error {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if let Some(long) = io.get_ref().and_then(|x| x.downcast_ref::<LineTooLong>()) {
            return anyhow!("{label}: {long}");
        }
        return anyhow!("{label}: cannot read: {io}");
    }
    anyhow!("{label}: {e}")
}

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

fn find_columns(header: &csv::StringRecord, label: &str) -> Result<Columns> {
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
                "{label}: line 1: no {what} column (columns: {})",
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
    // jiff's message repeats the name unescaped: say it once, escaped.
    TimeZone::get(s).map_err(|_| {
        anyhow!("unknown time zone {s:?}: use UTC, an offset like +05:30, or a name like America/New_York")
    })
}

/// The times a CSV timestamp may have, as said in errors: from the Unix epoch (timestamps are
/// unsigned) to jiff's last whole second, so every stored time can be shown.
const TIME_RANGE: &str = "1970-01-01T00:00:00Z to 9999-12-30T22:00:00Z";

/// The latest timestamp accepted, in ms: 9999-12-30T22:00:00Z (253402207200000).
pub fn max_timestamp_ms() -> u64 {
    jiff::Timestamp::MAX.as_second().unsigned_abs() * 1000
}

/// A timestamp in ms since the Unix epoch from unix seconds or ms, a date, or a date-time (zone
/// given in the text, else `tz`). Unix times below 1e11 are seconds, larger ones milliseconds.
///
/// # Errors
///
/// Text that is none of these, and times before 1970 or after [`max_timestamp_ms`].
pub fn parse_timestamp(v: &str, tz: &TimeZone) -> Result<u64> {
    let v = v.trim();
    if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.') {
        let x: f64 = v.parse().map_err(|_| anyhow!("{v:?} is not a number"))?;
        // Unix seconds up to the year 5138; beyond that, milliseconds.
        let ms = if x < 1e11 { x * 1000.0 } else { x };
        let ms = ms.round();
        // An f64 this size is exact, so the comparison is too.
        if ms > max_timestamp_ms() as f64 {
            bail!(
                "unix time {v} (read as {}) is outside {TIME_RANGE}",
                if x < 1e11 { "seconds" } else { "milliseconds" }
            );
        }
        return Ok(ms as u64);
    }
    match v.parse::<jiff::Timestamp>() {
        Ok(ts) => return to_ms(ts),
        // Well formed, with an offset, but past what jiff holds.
        Err(_) if jiff::fmt::temporal::Pieces::parse(v).is_ok_and(|p| p.offset().is_some()) => {
            bail!("{v:?} is outside {TIME_RANGE}")
        }
        Err(_) => {}
    }
    // A date-time first: jiff reads the date part of a date-time as a date.
    let civil = if let Ok(dt) = v.parse::<DateTime>() {
        dt
    } else {
        v.parse::<Date>()
            .map_err(|_| anyhow!("cannot read {v:?} as a date, date-time or unix time"))?
            .to_datetime(jiff::civil::Time::midnight())
    };
    let zoned = civil
        .to_zoned(tz.clone())
        .map_err(|_| anyhow!("{v:?} is outside {TIME_RANGE}"))?;
    to_ms(zoned.timestamp())
}

fn to_ms(ts: jiff::Timestamp) -> Result<u64> {
    u64::try_from(ts.as_millisecond())
        .ok()
        .filter(|ms| *ms <= max_timestamp_ms())
        .ok_or_else(|| anyhow!("{ts} is outside {TIME_RANGE}"))
}

/// Reads every bar of `input` (opened by [`open_csv`]), with the line each came from, oldest
/// first (a file that is newest first is reversed). `progress` is called with the bytes read so
/// far.
///
/// # Errors
///
/// The first bad row, as `file: line N, column C (what): why`; an over-long line; more than
/// [`MAX_ROWS`] rows; timestamps out of order.
pub fn read_csv(
    input: CsvInput,
    tz: &TimeZone,
    mut progress: impl FnMut(u64),
) -> Result<Vec<(u64, Candle)>> {
    let CsvInput { label, reader, .. } = input;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(LineLimit {
            inner: reader,
            line: 1,
            len: 0,
        });
    let header = rdr.headers().map_err(|e| csv_error(&label, &e))?.clone();
    if header.iter().all(str::is_empty) {
        bail!("{label}: empty, or no header line (want e.g. Date,Open,High,Low,Close,Volume)");
    }
    let cols = find_columns(&header, &label)?;
    let mut out: Vec<(u64, Candle)> = Vec::new();
    // Set by the second row: whether the file is newest first.
    let mut descending = None;
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(&label, &e)),
        }
        let Some(pos) = record.position() else {
            bail!("{label}: a record without a position (csv reader)");
        };
        let line = pos.line();
        if record.iter().all(str::is_empty) {
            continue;
        }
        if out.len() == MAX_ROWS {
            bail!("{label}: line {line}: more than {MAX_ROWS} rows; split the file");
        }
        let field = |i: usize, name: &str| -> Result<&str> {
            record.get(i).ok_or_else(|| {
                anyhow!(
                    "{label}: line {line}, column {} ({name}): missing field",
                    i + 1
                )
            })
        };
        let num = |i: usize, name: &str| -> Result<f64> {
            let v = field(i, name)?;
            v.parse::<f64>().map_err(|_| {
                anyhow!(
                    "{label}: line {line}, column {} ({name}): {v:?} is not a number",
                    i + 1
                )
            })
        };
        let ts_text = field(cols.ts, "timestamp")?;
        let timestamp = parse_timestamp(ts_text, tz).map_err(|e| {
            anyhow!(
                "{label}: line {line}, column {} (timestamp): {e}",
                cols.ts + 1
            )
        })?;
        // Order as rows arrive (an endless input of one row fails at its second line).
        if let Some(&(prev_line, prev)) = out.last() {
            let down = *descending.get_or_insert(timestamp < prev.timestamp);
            if timestamp == prev.timestamp || down != (timestamp < prev.timestamp) {
                bail!(
                    "{label}: line {line}, column {} (timestamp): not {} the row before (line {prev_line}); sort the file by time",
                    cols.ts + 1,
                    if down { "before" } else { "after" },
                );
            }
        }
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
    // Files exported newest first are reversed.
    if descending == Some(true) {
        out.reverse();
    }
    Ok(out)
}

/// A candle error of a batch read by [`read_csv`] as `file: line N: why`, the line being the row
/// the error's index points at (`lines[index]`).
pub fn at_line(file: &str, lines: &[u64], e: CandleError) -> anyhow::Error {
    match &e {
        CandleError::InvalidCandle { index, .. } | CandleError::OutOfOrder { index, .. } => {
            let line = lines.get(*index).copied().unwrap_or(0);
            anyhow!("{file}: line {line}: {e}")
        }
        _ => anyhow!("{file}: nothing imported: {e}"),
    }
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
        // The range: 1970 to 9999-12-30T22:00:00Z, in every form.
        assert_eq!(parse_timestamp("0", &utc).unwrap(), 0);
        assert_eq!(
            parse_timestamp("9999-12-30T22:00:00Z", &utc).unwrap(),
            max_timestamp_ms()
        );
        assert_eq!(
            parse_timestamp("253402207200000", &utc).unwrap(),
            max_timestamp_ms()
        );
        for bad in [
            "100000000000000000000",
            "253402207200001",
            "18446744073709551615",
            "9999-12-30T22:00:01Z",
            "9999-12-31",
            "9999-12-31 00:00:00",
            "9999-12-30T23:00:00+00:30",
            "1969-12-31T23:59:59Z",
            "1969-12-31",
            "-000001-01-01",
        ] {
            let e = parse_timestamp(bad, &utc).expect_err(bad).to_string();
            assert!(
                e.contains("outside 1970-01-01T00:00:00Z to 9999-12-30T22:00:00Z"),
                "{bad}: {e}"
            );
        }
        // A zone that moves a date past the end.
        let e = parse_timestamp("9999-12-30 23:00", &parse_tz("-05:00").unwrap()).unwrap_err();
        assert!(e.to_string().contains("outside"), "{e}");
        assert!(parse_tz("Mars/Olympus").is_err());
    }
}
