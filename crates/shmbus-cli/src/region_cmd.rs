//! `shmbus create | ls | inspect | rm`.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use shmbus::{
    HeaderInfo, Probe, Region, RegionError, RegionKind, RegionName, SlotReader, SlotWriter,
    TradingData,
};

use shmbus_gateway::json::{header_json, persisted_journals, user_name};

use crate::output::{Out, esc, esc_path};
use crate::size::{human_age, human_size};
use crate::{CreateArgs, InspectArgs, KindArg, LsArgs, RmArgs};

pub fn create(a: &CreateArgs) -> Result<()> {
    let (kind, detail) = match a.kind {
        KindArg::Raw => {
            Region::builder(&a.name)
                .kind(RegionKind::Raw)
                .size(a.size)
                .group_shared(a.group)
                .create()?;
            ("raw", String::new())
        }
        KindArg::Candles => {
            shmbus::candles::CandleWriter::builder(&a.name)
                .size(a.size)
                .group_shared(a.group)
                .create()?;
            ("candles", String::new())
        }
        KindArg::Slots => {
            let w = SlotWriter::<TradingData>::builder(&a.name)
                .size(a.size)
                .group_shared(a.group)
                .create()?;
            ("slots", format!(", {} TradingData slots", w.capacity()))
        }
    };
    let parsed = RegionName::parse(&a.name)?;
    writeln!(
        Out::lines(),
        "created {kind} region {} ({}, {}{detail}) at {}",
        esc(&a.name),
        human_size(a.size),
        if a.group { "mode 0660" } else { "mode 0600" },
        esc_path(parsed.path()),
    )?;
    Ok(())
}

fn age_secs(h: &HeaderInfo) -> u64 {
    shmbus::now_unix_ns().saturating_sub(h.created_ns) / 1_000_000_000
}

/// "pid 123 (alive)", "pid 123 (dead)", "alive", or "-".
fn writer_text(pid: u32, alive: bool) -> String {
    match (pid, alive) {
        (0, true) => "alive".into(),
        (0, false) => "-".into(),
        (p, true) => format!("pid {p} (alive)"),
        (p, false) => format!("pid {p} (dead)"),
    }
}

pub fn ls(a: &LsArgs) -> Result<()> {
    let dir = a.dir.as_deref().unwrap_or(Path::new(shmbus::SHM_DIR));
    let entries = Region::list(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    let mut rows = Vec::new();
    let mut json_rows = Vec::new();
    for e in &entries {
        let (kind, record, writer, age) = match &e.probe {
            Probe::Shmbus(h) if h.magic == shmbus::MAGIC => (
                h.kind_name(),
                h.layout_name.clone(),
                writer_text(h.writer_pid, e.writer_alive),
                human_age(age_secs(h)),
            ),
            Probe::Shmbus(_) => (
                "unpublished".into(),
                String::new(),
                writer_text(0, e.writer_alive),
                "-".into(),
            ),
            Probe::ForeignQnxs => (
                "candles (QNXS, foreign)".into(),
                String::new(),
                "-".into(),
                "-".into(),
            ),
            Probe::Unknown if a.all => ("not shmbus".into(), String::new(), "-".into(), "-".into()),
            Probe::Unknown => continue,
        };
        json_rows.extend(shmbus_gateway::json::list_entry_json(e, a.all));
        rows.push([
            esc(&e.name).into_owned(),
            esc(&kind).into_owned(),
            human_size(e.size),
            if record.is_empty() {
                "-".into()
            } else {
                esc(&record).into_owned()
            },
            esc(&user_name(e.owner)).into_owned(),
            writer,
            age,
        ]);
    }
    // Persisted journals are directories of segment files.
    for (name, segments, size) in persisted_journals(dir) {
        json_rows.push(shmbus_gateway::json::persisted_journal_json(
            &name, segments, size,
        ));
        let kind = format!("journal ({segments} segments)");
        rows.push([
            esc(&name).into_owned(),
            kind,
            human_size(size),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
        ]);
    }
    let mut out = Out::buffered();
    if a.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&Value::Array(json_rows))?
        )?;
        return Ok(out.flush()?);
    }
    if rows.is_empty() {
        writeln!(out, "no shmbus regions in {}", esc_path(dir))?;
        return Ok(out.flush()?);
    }
    let head = ["NAME", "KIND", "SIZE", "RECORD", "OWNER", "WRITER", "AGE"];
    let widths: Vec<usize> = (0..head.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([head[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        line.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(&head.map(String::from)))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(out.flush()?)
}

pub fn inspect(a: &InspectArgs) -> Result<()> {
    if a.hex {
        return hexdump(&a.name, a.offset, a.len);
    }
    let region = Region::open_options()
        .allow_foreign_owner(a.allow_foreign_owner)
        .open(&a.name)
        .map_err(|e| match e {
            RegionError::NotFound { .. }
            | RegionError::InvalidName { .. }
            | RegionError::Symlink { .. }
            | RegionError::NotRegularFile { .. } => e.into(),
            e => anyhow::anyhow!(
                "{e} (`shmbus inspect {} --hex` shows the raw bytes)",
                a.name
            ),
        })?;
    let h = region.read_header();
    let alive = region.writer_alive()?;
    let mut doc = header_json(&h, &region, alive);
    let slots = if h.kind() == Some(RegionKind::Slots)
        && h.layout == <TradingData as shmbus::Record>::LAYOUT.fingerprint()
    {
        let r = SlotReader::<TradingData>::open_with(
            &a.name,
            Region::open_options().allow_foreign_owner(a.allow_foreign_owner),
        )?;
        doc["slots"] = shmbus_gateway::json::slots_summary_json(&r);
        let keys: Vec<String> = r.keys().into_iter().map(|(k, _)| k).collect();
        Some((r.capacity(), keys))
    } else {
        None
    };
    if let Some((key, contents)) = shmbus_gateway::json::contents_json(&a.name, &h) {
        doc[key] = contents;
    }
    // A journal's readers (or why they cannot be listed: a corrupt registry, an error below).
    let readers_error = doc["readers_error"].as_str().map(str::to_owned);
    let bridge_error = doc["bridge_error"].as_str().map(str::to_owned);
    let readers_failed = |mut out: Out| -> Result<()> {
        out.flush()?;
        if let Some(e) = &bridge_error {
            anyhow::bail!(
                "cannot read the bridge status {}: {}",
                esc(region.name().as_str()),
                esc(e)
            );
        }
        match &readers_error {
            Some(e) => anyhow::bail!(
                "cannot list the readers of {}: {e}",
                esc(region.name().as_str())
            ),
            None => Ok(()),
        }
    };
    let mut out = Out::buffered();
    if a.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return readers_failed(out);
    }
    writeln!(
        out,
        "region       {} ({})",
        esc(region.name().as_str()),
        esc_path(region.name().path())
    )?;
    writeln!(
        out,
        "kind         {} (code {})",
        esc(&h.kind_name()),
        h.kind_code
    )?;
    writeln!(
        out,
        "format       version {}, magic {:#018x}, header {} bytes at offset {}",
        h.version, h.magic, h.header_len, h.offset
    )?;
    writeln!(
        out,
        "size         {} ({} bytes)",
        human_size(h.total_size),
        h.total_size
    )?;
    if !h.layout_name.is_empty() || h.layout != 0 {
        writeln!(
            out,
            "record       {} (layout {:#018x})",
            esc(&h.layout_name),
            h.layout
        )?;
    }
    writeln!(
        out,
        "created      {} ago by pid {} (uid {}, {})",
        human_age(age_secs(&h)),
        h.creator_pid,
        h.creator_uid,
        esc(&user_name(h.creator_uid))
    )?;
    writeln!(
        out,
        "writer       {} (generation {})",
        writer_text(h.writer_pid, alive),
        h.writer_generation
    )?;
    writeln!(out, "body         at offset {}", h.body_offset)?;
    if let Some((capacity, keys)) = slots {
        let keys: Vec<_> = keys.iter().map(|k| esc(k)).collect();
        writeln!(
            out,
            "slots        {} of {} in use{}{}",
            keys.len(),
            capacity,
            if keys.is_empty() { "" } else { ": " },
            keys.join(" ")
        )?;
    }
    if let Some(readers) = doc["readers"].as_array() {
        writeln!(out, "readers      {} registered", readers.len())?;
        let now = shmbus::now_unix_ns();
        for r in readers {
            let updated = r["updated_ns"].as_u64().unwrap_or(0);
            writeln!(
                out,
                "             {}  pid {} ({})  position {}  lag {}  updated {} ago",
                esc(r["name"].as_str().unwrap_or("")),
                r["pid"],
                if r["alive"].as_bool() == Some(true) {
                    "alive"
                } else {
                    "dead"
                },
                r["position"],
                r["lag"],
                human_age(now.saturating_sub(updated) / 1_000_000_000),
            )?;
        }
    }
    if let Some(b) = doc.get("bridge") {
        crate::bridge_stats::inspect_text(&mut out, b)?;
    }
    readers_failed(out)
}

/// `xxd`-style dump of the file's bytes; works on files that are not valid regions.
fn hexdump(name: &str, offset: u64, len: u64) -> Result<()> {
    let parsed = RegionName::parse(name)?;
    let path = parsed.path();
    // A regular file only, never through a link, and never blocking (a FIFO is refused).
    let mut f = Region::open_file(name)?;
    let meta = f
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    anyhow::ensure!(
        offset <= meta.len(),
        "--offset {offset} is past the end of {} ({} bytes); give an offset from 0 to {}",
        path.display(),
        meta.len(),
        meta.len()
    );
    // Never more than the file holds past the offset, so no address below can overflow.
    let len = len.min(meta.len() - offset);
    let mut buf = Vec::new();
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset))
        .with_context(|| format!("cannot read {}", path.display()))?;
    f.take(len)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Out::buffered();
    writeln!(
        out,
        "{} ({} bytes), bytes {}..{}",
        esc_path(path),
        meta.len(),
        offset,
        offset + buf.len() as u64
    )?;
    for (i, chunk) in buf.chunks(16).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(
            out,
            "{:08x}: {:<47}  {ascii}",
            offset + i as u64 * 16,
            hex.join(" ")
        )?;
    }
    Ok(out.flush()?)
}

/// Removes one region or journal; a damaged one that is still recognisably shmbus's needs
/// --force, and says so. Anything else is refused, even with --force (see `Region::remove`).
fn remove(name: &str, force: bool) -> Result<()> {
    shmbus::journal::remove(name, force).map_err(|e| match e {
        shmbus::RemoveError::Region(
            e @ (RegionError::BadMagic { .. }
            | RegionError::Truncated { .. }
            | RegionError::VersionMismatch { .. }
            | RegionError::SizeMismatch { .. }
            | RegionError::Corrupt { .. }),
        ) if !force => anyhow::anyhow!("{e}; pass --force to remove it anyway"),
        e => e.into(),
    })
}

pub fn rm(a: &RmArgs) -> Result<()> {
    if let [name] = a.names.as_slice() {
        remove(name, a.force)?;
        writeln!(Out::lines(), "removed {}", esc(name))?;
        return Ok(());
    }
    let mut failed = 0;
    for name in &a.names {
        match remove(name, a.force) {
            Ok(()) => writeln!(Out::lines(), "removed {}", esc(name))?,
            Err(e) => {
                errln!("shmbus: error: {}", esc(&format!("{e:#}")));
                failed += 1;
            }
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} regions not removed",
        a.names.len()
    );
    Ok(())
}
