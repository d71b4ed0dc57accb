//! `shmbus demo`: a feed process writes a random-walk price feed into a slot table while a
//! reader process prints live prices, update rate and write-to-read latency. Cleans up after.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;
use shmbus::{Region, SlotWriter, TradingData};

use crate::size::human_ns;
use crate::watch::stop_flag;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How long to run (default: $DEMO_SECONDS, else 10).
    #[arg(long, env = "DEMO_SECONDS", default_value_t = 10.0)]
    pub seconds: f64,
    /// Number of symbols.
    #[arg(long, default_value_t = 8)]
    pub symbols: usize,
    /// Updates per second across all symbols.
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,
}

/// Removes the demo's region and summary files however the demo ends.
struct Cleanup {
    region: String,
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Region::remove(&self.region, true);
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn spawn(args: &[&str]) -> Result<Child> {
    let exe = std::env::current_exe().context("cannot find the shmbus binary")?;
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start `shmbus {}`", args.join(" ")))
}

fn wait(child: &mut Child, what: &str, deadline: Instant) -> Result<()> {
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("the {what} process failed ({status})");
            }
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the {what} process did not stop in time and was killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_summary(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null)
}

pub fn run(a: &DemoArgs) -> Result<()> {
    stop_flag(); // Ctrl-C stops the children (same process group) and then us, cleanly.
    let pid = std::process::id();
    let name = format!("shmbus-demo-{pid}");
    let tmp = std::env::temp_dir();
    let feed_json = tmp.join(format!("shmbus-demo-{pid}-feed.json"));
    let read_json = tmp.join(format!("shmbus-demo-{pid}-reader.json"));
    let cleanup = Cleanup {
        region: name.clone(),
        files: vec![feed_json.clone(), read_json.clone()],
    };
    let table = SlotWriter::<TradingData>::builder(&name)
        .capacity(64)
        .create()?;
    let path = table.region().name().path().display().to_string();
    drop(table); // the feed process becomes the writer
    println!(
        "shmbus demo: {} symbols at {:.0} updates/s for {:.0} s through slot table {name} ({path}); Ctrl-C stops early",
        a.symbols, a.rate, a.seconds
    );
    println!(
        "  writer: `shmbus feed`  ->  slot table  ->  reader: `shmbus slot watch` (busy-polling)\n"
    );
    let secs = a.seconds.to_string();
    let (symbols, rate) = (a.symbols.to_string(), a.rate.to_string());
    let mut feed = spawn(&[
        "feed",
        &name,
        "--symbols",
        &symbols,
        "--rate",
        &rate,
        "--seconds",
        &secs,
        "--summary-json",
        feed_json.to_str().unwrap_or_default(),
    ])?;
    // Let the feed register its symbols before the reader starts.
    std::thread::sleep(Duration::from_millis(100));
    let mut reader = spawn(&[
        "slot",
        "watch",
        &name,
        "--seconds",
        &secs,
        "--interval-ms",
        "1000",
        "--summary-json",
        read_json.to_str().unwrap_or_default(),
    ])?;
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds.max(0.0) + 15.0);
    let feed_result = wait(&mut feed, "feed", deadline);
    let reader_result = wait(&mut reader, "reader", deadline);
    feed_result?;
    reader_result?;
    let (f, r) = (read_summary(&feed_json), read_summary(&read_json));
    let removed = Region::remove(&name, false).is_ok();
    drop(cleanup);
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let lat = |k: &str| human_ns(r["latency_ns"][k].as_u64().unwrap_or(0));
    println!("\nsummary");
    println!(
        "  feed     {:.0} updates across {:.0} symbols in {:.1} s ({:.0}/s)",
        num(&f, "written"),
        num(&f, "symbols"),
        num(&f, "seconds"),
        num(&f, "written") / num(&f, "seconds").max(1e-9)
    );
    println!(
        "  reader   {:.0} updates seen ({:.0} coalesced by the seqlock: a reader sees the latest value, not every value)",
        num(&r, "seen"),
        (num(&r, "written") - num(&r, "seen")).max(0.0)
    );
    println!(
        "  latency  write-to-read p50 {}  p99 {}  p99.9 {}  max {}",
        lat("p50"),
        lat("p99"),
        lat("p999"),
        lat("max")
    );
    println!(
        "  cleanup  region {name} {}",
        if removed { "removed" } else { "force-removed" }
    );
    if stop_flag().load(Ordering::Relaxed) {
        println!("  (stopped early by Ctrl-C)");
    }
    Ok(())
}
