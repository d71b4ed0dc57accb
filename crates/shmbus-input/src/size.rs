//! Sizes as people type them (`64K`, `8M`, `1G`, `4096`) and as they like to read them; durations
//! and rates as clap value parsers that refuse what no clock or sleep can honour (`inf`, `nan`,
//! `1e300`, `1e-300`) with the bounds in the message.

/// Parses `N`, `NK`, `NM`, `NG`, `NT` (powers of 1024; an optional trailing `B`/`iB`).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix('B'))
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(t);
    let (digits, shift) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let n: u64 = digits.trim().parse().map_err(|_| {
        format!(
            "invalid size {s:?}: use a number with an optional K, M, G or T suffix (e.g. 64K, 8M)"
        )
    })?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// The longest duration a command accepts: 10^9 s, about 31 years.
pub const MAX_SECONDS: f64 = 1e9;

/// A number within `min ..= max` (NaN and infinities are outside every range).
fn parse_bounded(s: &str, min: f64, max: f64, what: &str, hint: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("invalid {what} {s:?}: use {hint}"))
}

/// Seconds for `--seconds`, `--interval`, `--duration`: 0 to [`MAX_SECONDS`].
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    parse_bounded(
        s,
        0.0,
        MAX_SECONDS,
        "duration",
        "a number of seconds from 0 to 1000000000 (about 31 years)",
    )
}

/// Updates per second for `--rate`: 0.001 (one every 1000 s) to 10^9.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    parse_bounded(
        s,
        1e-3,
        1e9,
        "rate",
        "a number of updates per second from 0.001 to 1000000000",
    )
}

/// A replay speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// A multiple of real time.
    Times(f64),
}

/// A replay speed: `max`, or a multiple of real time from 10^-6 to 10^12.
pub fn parse_speed(s: &str) -> Result<Speed, String> {
    if s.trim() == "max" {
        return Ok(Speed::Max);
    }
    parse_bounded(
        s,
        1e-6,
        1e12,
        "speed",
        "max or a multiple of real time from 0.000001 to 1000000000000",
    )
    .map(Speed::Times)
}

/// `65536` → `64.0 KiB`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A duration in ns as `850 ns`, `1.25 µs`, `3.4 ms`, `2.0 s`.
pub fn human_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.2} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// An age in seconds as `42s`, `3m12s`, `5h03m`, `2d04h`.
pub fn human_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d{:02}h", secs / 86400, secs % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("2MiB").unwrap(), 2 << 20);
        assert_eq!(parse_size("16kb").unwrap(), 16 << 10);
        for bad in ["", "K", "1.5M", "-1", "12Q", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn durations_and_rates_parse_within_bounds() {
        assert_eq!(parse_seconds("0").unwrap(), 0.0);
        assert_eq!(parse_seconds("0.2").unwrap(), 0.2);
        assert_eq!(parse_seconds("1e9").unwrap(), 1e9);
        for bad in ["inf", "-inf", "nan", "1e300", "-1", "1e10", "", "x"] {
            let e = parse_seconds(bad).unwrap_err();
            assert!(e.contains("from 0 to 1000000000"), "{bad:?}: {e}");
        }
        assert_eq!(parse_rate("5000").unwrap(), 5000.0);
        for bad in ["0", "1e-300", "inf", "nan", "-5", "1e10"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(parse_speed("max").unwrap(), Speed::Max);
        assert_eq!(parse_speed("86400").unwrap(), Speed::Times(86400.0));
        for bad in ["0", "1e-300", "inf", "nan", "-1", "fast"] {
            assert!(parse_speed(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn sizes_print() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(65536), "64.0 KiB");
        assert_eq!(human_ns(850), "850 ns");
        assert_eq!(human_ns(1250), "1.25 µs");
        assert_eq!(human_age(192), "3m12s");
    }
}
