//! `shmbus journal create`, `shmbus append`, `shmbus tail`, `shmbus dump`, `shmbus stats`.

use std::io::BufRead;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use shmbus::ReadError;
use shmbus::journal::{JournalReader, JournalWriter, Message, Mode, Start};

use crate::output::{Out, esc};
use crate::records;
use crate::size::{human_size, parse_seconds, parse_size};
use crate::watch::stop_flag;

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Journal name: a shm name or a path (a persisted journal is a directory).
    name: String,
    /// A ring of this many data bytes in one file (e.g. 64M): never blocks, overwrites the oldest.
    #[arg(long, value_parser = parse_size, conflicts_with_all = ["segment_size", "retain", "retain_bytes"])]
    ring: Option<u64>,
    /// A persisted journal: a directory of segment files of this data size (default 64M).
    #[arg(long, value_parser = parse_size)]
    segment_size: Option<u64>,
    /// Keep at most N segment files (the oldest are removed as the writer rolls).
    #[arg(long)]
    retain: Option<u32>,
    /// Keep at most about this many bytes of segment files (e.g. 10G).
    #[arg(long, value_parser = parse_size)]
    retain_bytes: Option<u64>,
    /// Store a CRC32C in every frame, checked by readers.
    #[arg(long)]
    crc: bool,
    /// Let the owner's group read and write it.
    #[arg(long)]
    group: bool,
}

pub fn create(a: &CreateArgs) -> Result<()> {
    let mut b = JournalWriter::builder(&a.name)
        .crc(a.crc)
        .group_shared(a.group);
    let what = if let Some(ring) = a.ring {
        b = b.ring(ring);
        "ring of".to_owned()
    } else {
        let seg = a.segment_size.unwrap_or(64 << 20);
        b = b.segment_size(seg);
        if let Some(n) = a.retain {
            b = b.retain_segments(n);
        }
        if let Some(n) = a.retain_bytes {
            b = b.retain_bytes(n);
        }
        "persisted, segments of".to_owned()
    };
    let w = b.create()?;
    // The size created, which may be rounded up from the size asked for.
    let what = format!("{what} {}", human_size(w.capacity()));
    let mut out = Out::lines();
    writeln!(
        out,
        "created journal {} ({what}{}; messages up to {})",
        esc(&a.name),
        if a.crc { ", CRC32C" } else { "" },
        human_size(w.max_message() as u64)
    )?;
    if a.ring.is_none() && (a.retain.is_some() || a.retain_bytes.is_some()) {
        writeln!(
            out,
            "note: retention is applied by the writer process; pass --retain to `shmbus append` too"
        )?;
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct AppendArgs {
    /// Journal name.
    name: String,
    /// Each stdin line must be a JSON value (validated; stored as type 1).
    #[arg(long)]
    json: bool,
    /// Type tag of the messages (default 0, or 1 with --json).
    #[arg(long)]
    r#type: Option<u16>,
    /// Commit every N lines (default 1: each line is visible at once). A line that cannot be
    /// appended (not JSON with --json, too large, unreadable) stops the command: every line
    /// before it is committed, nothing from it on, and the error names both.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Retention for a persisted journal: keep at most N segments.
    #[arg(long)]
    retain: Option<u32>,
    /// Accept a journal owned by another user (a group member writing a `--group` journal).
    #[arg(long)]
    allow_foreign_owner: bool,
    /// Messages to append instead of reading stdin.
    messages: Vec<String>,
}

pub fn append(a: &AppendArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let mut w = JournalWriter::open_with(&a.name, opts)?;
    if a.retain.is_some() {
        w.set_retention(a.retain, None);
    }
    let ty = a.r#type.unwrap_or(u16::from(a.json));
    let first_seq = w.next_seq();
    let mut n = 0usize;
    let mut push = |w: &mut JournalWriter, line: &str| -> Result<()> {
        if a.json {
            serde_json::from_str::<serde_json::Value>(line).context("is not valid JSON")?;
        }
        w.append(ty, line.as_bytes())
            .context("cannot be appended")?;
        n += 1;
        if n % a.batch.max(1) == 0 {
            w.commit();
        }
        Ok(())
    };
    let (what, failed) = if a.messages.is_empty() {
        let failed = std::io::stdin()
            .lock()
            .lines()
            .enumerate()
            .find_map(|(i, line)| {
                let line = line.context("cannot be read from stdin");
                Some((i + 1, line.and_then(|l| push(&mut w, &l)).err()?))
            });
        ("line", failed)
    } else {
        let failed = (a.messages.iter().enumerate())
            .find_map(|(i, m)| Some((i + 1, push(&mut w, m).err()?)));
        ("message", failed)
    };
    // Whatever happened, what was appended before the failure is published.
    w.commit();
    if let Some((at, e)) = failed {
        let committed = match n {
            0 => format!("nothing was committed to {}", a.name),
            1 => format!(
                "{what} 1 was committed to {} (sequence {first_seq})",
                a.name
            ),
            n => format!(
                "{what}s 1-{n} were committed to {} (sequences {first_seq}-{})",
                a.name,
                first_seq + n as u64 - 1
            ),
        };
        bail!("{what} {at} {e:#}; {committed}, {what} {at} and any after it were not");
    }
    errln!(
        "appended {n} messages to {} (next sequence {})",
        esc(&a.name),
        w.next_seq()
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// Journal name.
    name: String,
    /// After the messages stored, keep printing new ones as they come (until Ctrl-C).
    #[arg(short, long)]
    follow: bool,
    /// Where to start: start, end, or a sequence number (default: the last -n messages).
    #[arg(long)]
    from: Option<String>,
    /// Without --from: print the last N messages (default 10), as tail(1) does. With --from:
    /// print at most N messages from there.
    #[arg(short = 'n', long)]
    count: Option<u64>,
    /// One JSON object per message.
    #[arg(long)]
    json: bool,
    /// Register as this reader (with -f): `shmbus top` and `inspect` then show its lag.
    #[arg(long = "name", value_name = "READER", requires = "follow")]
    reader_name: Option<String>,
    /// Accept a journal owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

fn payload_text(p: &[u8]) -> Option<&str> {
    std::str::from_utf8(p)
        .ok()
        .filter(|s| !s.chars().any(|c| c.is_control() && c != '\t'))
}

fn hex(p: &[u8]) -> String {
    p.iter().map(|b| format!("{b:02x}")).collect()
}

fn print_message(out: &mut Out, m: &Message<'_>, json: bool) -> Result<()> {
    let known = records::decode(m.ty, m.payload);
    if json {
        let mut doc =
            json!({ "seq": m.seq, "type": m.ty, "position": m.position, "len": m.payload.len() });
        match (known, payload_text(m.payload)) {
            (Some(k), _) => {
                doc["record"] = json!(k.name());
                doc["value"] = k.json();
            }
            (None, Some(t)) => doc["payload"] = json!(t),
            (None, None) => doc["payload_hex"] = json!(hex(m.payload)),
        }
        writeln!(out, "{doc}")?;
    } else {
        match (known, payload_text(m.payload)) {
            (Some(k), _) => writeln!(out, "{:>8} [{}] {}", m.seq, m.ty, k.text())?,
            (None, Some(t)) => writeln!(out, "{:>8} [{}] {}", m.seq, m.ty, esc(t))?,
            (None, None) => writeln!(
                out,
                "{:>8} [{}] 0x{}",
                m.seq,
                m.ty,
                hex(&m.payload[..m.payload.len().min(64)])
            )?,
        }
    }
    Ok(())
}

pub fn tail(a: &TailArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    // Without --from, -n counts back from the end (the last N); with it, forward from there.
    let (start, back, limit) =
        match a.from.as_deref() {
            None => (Start::End, a.count.unwrap_or(10), None),
            Some("start" | "beginning") => (Start::Beginning, 0, a.count),
            Some("end") => (Start::End, 0, a.count),
            Some(s) => (
                Start::Seq(s.parse().with_context(|| {
                    format!("--from {s:?}: use start, end or a sequence number")
                })?),
                0,
                a.count,
            ),
        };
    let mut r = JournalReader::open_with(&a.name, start, opts)?;
    for _ in 0..back {
        if r.prev()?.is_none() {
            break;
        }
    }
    if let Some(reader) = &a.reader_name {
        r.register(reader)?;
    }
    let stop = stop_flag();
    let mut out = Out::buffered();
    let mut printed = 0u64;
    while limit.is_none_or(|c| printed < c) && !stop.load(Ordering::Relaxed) {
        let next = if a.follow {
            r.next_timeout(Duration::from_millis(200))
        } else {
            r.next()
        };
        match next {
            Ok(Some(m)) => {
                print_message(&mut out, &m, a.json)?;
                printed += 1;
            }
            Ok(None) if a.follow => out.flush()?,
            Ok(None) => break,
            Err(e @ ReadError::Overrun { .. }) => {
                out.flush()?;
                errln!("shmbus: warning: {}", esc(&e.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    out.flush()?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Journal name.
    name: String,
    /// Newest first (walks the frames backward by their trailing lengths).
    #[arg(long)]
    rev: bool,
    /// Stop after N frames.
    #[arg(short = 'n', long)]
    count: Option<u64>,
    /// Accept a journal owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

/// Prints every frame with its position, sequence, type and length, validating each (leading
/// length = trailing length, sane sizes, CRC, sequence continuity). Exit status 1 on corruption.
pub fn dump(a: &DumpArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let start = if a.rev { Start::End } else { Start::Beginning };
    let mut r = JournalReader::open_with(&a.name, start, opts)?;
    let mut out = Out::buffered();
    writeln!(
        out,
        "{:>14} {:>10} {:>6} {:>10}  payload",
        "POSITION", "SEQ", "TYPE", "LEN"
    )?;
    let mut n = 0u64;
    while a.count.is_none_or(|c| n < c) {
        let m = if a.rev { r.prev() } else { r.next() };
        let m = match m {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) => {
                out.flush()?;
                bail!("{e} (after {n} valid frames)");
            }
        };
        let preview = match (records::decode(m.ty, m.payload), payload_text(m.payload)) {
            (Some(k), _) => k.text(),
            (None, Some(t)) => {
                esc(&format!("{:?}", t.chars().take(48).collect::<String>())).into_owned()
            }
            (None, None) => format!("0x{}", hex(&m.payload[..m.payload.len().min(24)])),
        };
        writeln!(
            out,
            "{:>14} {:>10} {:>6} {:>10}  {preview}",
            m.position,
            m.seq,
            m.ty,
            m.payload.len()
        )?;
        n += 1;
    }
    out.flush()?;
    errln!("{n} frames, all valid");
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Journal name.
    name: String,
    /// Measure the append rate over this many seconds (0 to 1e9).
    #[arg(long, default_value_t = 1.0, value_parser = parse_seconds)]
    interval: f64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Accept a journal owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

pub fn stats(a: &StatsArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let r = JournalReader::open_with(&a.name, Start::End, opts)?;
    let before = r.info()?;
    let t = Instant::now();
    if a.interval > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(a.interval));
    }
    let i = r.info()?;
    let secs = t.elapsed().as_secs_f64();
    let rate = (i.next_seq - before.next_seq) as f64 / secs;
    let byte_rate = (i.commit_position - before.commit_position) as f64 / secs;
    let messages = i.next_seq - i.oldest_seq;
    let bytes = i.commit_position - i.oldest_position;
    let mut out = Out::buffered();
    if a.json {
        let doc = json!({
            "name": a.name, "mode": if i.mode == Mode::Ring { "ring" } else { "persisted" },
            "capacity": i.capacity, "max_message": i.max_message, "crc": i.crc,
            "messages": messages, "bytes": bytes, "oldest_seq": i.oldest_seq,
            "newest_seq": i.next_seq.checked_sub(1), "next_seq": i.next_seq,
            "segments": i.segments, "writer_alive": i.writer_alive,
            "rate_msgs_per_s": rate, "rate_bytes_per_s": byte_rate,
        });
        writeln!(out, "{doc:#}")?;
        return Ok(out.flush()?);
    }
    let mode = match i.mode {
        Mode::Ring => format!("ring of {}", human_size(i.capacity)),
        _ => format!(
            "persisted, {} segments of {}",
            i.segments,
            human_size(i.capacity)
        ),
    };
    writeln!(
        out,
        "journal   {} ({mode}{})",
        esc(&a.name),
        if i.crc { ", CRC32C" } else { "" }
    )?;
    writeln!(out, "messages  {messages} stored, {} in all", i.next_seq)?;
    writeln!(out, "bytes     {} stored", human_size(bytes))?;
    match i.next_seq.checked_sub(1) {
        Some(newest) if messages > 0 => {
            writeln!(out, "sequence  oldest {} .. newest {newest}", i.oldest_seq)
        }
        _ => writeln!(out, "sequence  empty (next {})", i.next_seq),
    }?;
    writeln!(
        out,
        "rate      {rate:.0} msg/s, {}/s (over {secs:.1} s)",
        human_size(byte_rate as u64)
    )?;
    writeln!(
        out,
        "writer    {}",
        if i.writer_alive { "alive" } else { "none" }
    )?;
    Ok(out.flush()?)
}
