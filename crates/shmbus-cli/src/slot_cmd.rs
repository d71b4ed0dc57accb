//! `shmbus slot put | get`.

use anyhow::Result;
use shmbus::{RegionError, SlotError, SlotReader, SlotWriter, TradingData};
use shmbus_gateway::json::slot_json;

use crate::output::{Out, esc};
use crate::size::human_ns;

#[derive(Debug, clap::Args)]
pub struct PutArgs {
    /// Slot table name.
    name: String,
    /// Symbol (the slot's key, at most 31 bytes).
    symbol: String,
    /// Price.
    #[arg(long, allow_negative_numbers = true)]
    price: f64,
    /// Volume.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    volume: i32,
    /// Timestamp in ns since the Unix epoch (default: now).
    #[arg(long)]
    timestamp: Option<u64>,
    /// Publish the record with valid = 0.
    #[arg(long)]
    invalid: bool,
    /// Create the table (1024 slots) if it does not exist.
    #[arg(long)]
    create: bool,
    /// Accept a region owned by another user (a group member writing a `--group` region).
    #[arg(long)]
    allow_foreign_owner: bool,
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Slot table name.
    name: String,
    /// Symbol; every symbol when left out.
    symbol: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Accept a region owned by another user.
    #[arg(long)]
    allow_foreign_owner: bool,
}

pub fn put(a: &PutArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let mut writer = match SlotWriter::<TradingData>::open_with(&a.name, opts) {
        Err(SlotError::Region(RegionError::NotFound { .. })) if a.create => {
            SlotWriter::<TradingData>::builder(&a.name).create()?
        }
        other => other?,
    };
    let mut rec = TradingData::new(
        a.price,
        a.volume,
        a.timestamp.unwrap_or_else(shmbus::now_unix_ns),
    );
    if a.invalid {
        rec.valid = 0;
    }
    let id = writer.put(&a.symbol, &rec)?;
    let seq = writer.read(id)?.map_or(0, |v| v.seq);
    writeln!(
        Out::lines(),
        "{} {} = {} x {} (seq {seq}{})",
        esc(&a.name),
        esc(&a.symbol),
        rec.price,
        rec.volume,
        if a.invalid { ", invalid" } else { "" }
    )?;
    Ok(())
}

pub fn get(a: &GetArgs) -> Result<()> {
    let opts = shmbus::Region::open_options().allow_foreign_owner(a.allow_foreign_owner);
    let reader = SlotReader::<TradingData>::open_with(&a.name, opts)?;
    let keys = match &a.symbol {
        Some(s) => vec![(s.clone(), reader.find(s)?)],
        None => reader.keys(),
    };
    let mut out = Vec::new();
    for (key, id) in keys {
        out.push((key, reader.read(id)?));
    }
    let mut w = Out::buffered();
    if a.json {
        let docs: Vec<_> = out.iter().map(|(k, v)| slot_json(k, v.as_ref())).collect();
        let doc = if a.symbol.is_some() {
            docs[0].clone()
        } else {
            serde_json::Value::Array(docs)
        };
        writeln!(w, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(w.flush()?);
    }
    if out.is_empty() {
        writeln!(w, "{}: no symbols yet", esc(&a.name))?;
    }
    let now = shmbus::now_unix_ns();
    for (key, v) in out {
        let key = esc(&key);
        match v {
            Some(v) => writeln!(
                w,
                "{key:<12} {:>14.4} x {:<8} {:<7} age {:<10} seq {}",
                v.value.price,
                v.value.volume,
                if v.value.is_valid() {
                    "valid"
                } else {
                    "INVALID"
                },
                human_ns(now.saturating_sub(v.value.timestamp)),
                v.seq
            )?,
            None => writeln!(w, "{key:<12} (never written)")?,
        }
    }
    Ok(w.flush()?)
}
