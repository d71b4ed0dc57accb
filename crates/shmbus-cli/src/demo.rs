//! `shmbus demo`: a feed process writes a random-walk price feed into a slot table while a
//! reader process prints live prices, update rate and write-to-read latency, and `shmbus serve`
//! shows it all on the web dashboard; then a replay of real bars. Cleans up after.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::Value;
use shmbus::journal::JournalWriter;
use shmbus::{Region, SlotWriter, TradingData};

use crate::size::human_ns;
use crate::watch::stop_flag;

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How long to run (default: $DEMO_SECONDS, else 10).
    #[arg(long, env = "DEMO_SECONDS", default_value_t = 10.0, value_parser = crate::size::parse_seconds)]
    pub seconds: f64,
    /// Number of symbols.
    #[arg(long, default_value_t = 8)]
    pub symbols: usize,
    /// Updates per second across all symbols (0.001 to 1e9).
    #[arg(long, default_value_t = 5000.0, value_parser = crate::size::parse_rate)]
    pub rate: f64,
    /// Where `shmbus serve` listens while the demo runs (the dashboard's address). When the
    /// port is taken, any free port is used instead.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
}

/// The demo's `shmbus serve` process, stopped (SIGTERM, then waited for) when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    /// Starts `shmbus serve` on `listen`, or on a free port of the same address when that one
    /// cannot be bound, and reads the address it prints.
    fn start(listen: SocketAddr) -> Result<Server> {
        match Server::spawn(listen) {
            Ok(s) => Ok(s),
            Err(_) if listen.port() != 0 => Server::spawn(SocketAddr::new(listen.ip(), 0)),
            Err(e) => Err(e),
        }
    }

    fn spawn(listen: SocketAddr) -> Result<Server> {
        let exe = std::env::current_exe().context("cannot find the shmbus binary")?;
        let mut child = Command::new(exe)
            .args(["serve", "--listen", &listen.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start `shmbus serve`")?;
        // The server prints one line once it listens, and nothing after; a server that cannot
        // bind exits, which ends the pipe (an empty line).
        let mut first = String::new();
        if let Some(out) = child.stdout.take() {
            std::io::BufReader::new(out).read_line(&mut first)?;
        }
        match first.trim().strip_prefix("shmbus serve: listening on ") {
            Some(url) => {
                // Its later errors (there should be none) reach the terminal.
                if let Some(mut err) = child.stderr.take() {
                    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::stderr()));
                }
                Ok(Server {
                    url: url.to_owned(),
                    child,
                })
            }
            None => {
                let _ = child.kill();
                let mut why = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut err, &mut why);
                }
                let _ = child.wait();
                anyhow::bail!(
                    "`shmbus serve --listen {listen}` did not start: {}",
                    why.trim()
                )
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let _ = self.child.wait();
    }
}

/// Removes the demo's regions and summary files however the demo ends.
struct Cleanup {
    regions: Vec<String>,
    files: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for r in &self.regions {
            let _ = Region::remove(r, true);
        }
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
    crate::bench::wait_child(
        child,
        what,
        deadline.saturating_duration_since(Instant::now()),
    )
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
    let trades = format!("shmbus-demo-{pid}-trades");
    let live = format!("shmbus-demo-{pid}-live");
    let tmp = std::env::temp_dir();
    let json = |what: &str| tmp.join(format!("shmbus-demo-{pid}-{what}.json"));
    let (feed_json, read_json, trades_json) = (json("feed"), json("reader"), json("trades"));
    let cleanup = Cleanup {
        regions: vec![name.clone(), trades.clone(), live.clone()],
        files: vec![feed_json.clone(), read_json.clone(), trades_json.clone()],
    };
    let table = SlotWriter::<TradingData>::builder(&name)
        .capacity(64)
        .create()?;
    let path = table.region().name().path().display().to_string();
    drop(table); // the feed process becomes the writer
    drop(JournalWriter::builder(&trades).ring(16 << 20).create()?);
    let server = Server::start(a.listen)?;
    outln!(
        "shmbus demo: {} symbols at {:.0} updates/s for {:.0} s; Ctrl-C stops early",
        a.symbols,
        a.rate,
        a.seconds
    );
    outln!(
        "  dashboard {}/?slots={name}&journal={trades}&candles={live}&symbol=BTCUSD&interval=1s",
        server.url
    );
    outln!("            (open it in a browser while the demo runs)");
    outln!("  writer   `shmbus feed`: a random walk per symbol -> slot table {name} ({path})");
    outln!(
        "                          and every update as a 128-byte Trade -> ring journal {trades}"
    );
    outln!("                          and 1s and 1m bars -> candle region {live}");
    outln!("  reader 1 `shmbus slot watch`: busy-polls the slot table (latest price per symbol)");
    outln!("  reader 2 `shmbus journal watch`: sleeps on the journal's futex until each commit\n");
    let secs = a.seconds.to_string();
    let reader_secs = (a.seconds + 5.0).to_string();
    let (symbols, rate) = (a.symbols.to_string(), a.rate.to_string());
    let path_of = |p: &Path| p.to_str().unwrap_or_default().to_owned();
    // The journal is new: its reader takes every trade from the first, however late it starts.
    let mut journal_reader = spawn(&[
        "journal",
        "watch",
        &trades,
        "--from-start",
        "--seconds",
        &reader_secs,
        "--summary-json",
        &path_of(&trades_json),
    ])?;
    let mut feed = spawn(&[
        "feed",
        &name,
        "--symbols",
        &symbols,
        "--rate",
        &rate,
        "--seconds",
        &secs,
        "--journal",
        &trades,
        "--candles",
        &live,
        "--summary-json",
        &path_of(&feed_json),
    ])?;
    // Let the feed register its symbols before the slot reader starts.
    std::thread::sleep(Duration::from_millis(100));
    let mut reader = spawn(&[
        "slot",
        "watch",
        &name,
        "--seconds",
        &reader_secs,
        "--interval-ms",
        "1000",
        "--summary-json",
        &path_of(&read_json),
    ])?;
    let deadline = Instant::now() + Duration::from_secs_f64(a.seconds + 15.0);
    let feed_result = wait(&mut feed, "feed", deadline);
    // The readers run until the feed is done (and has committed its last trade), then stop
    // cleanly on SIGTERM, printing their summaries.
    std::thread::sleep(Duration::from_millis(50));
    for child in [&reader, &journal_reader] {
        if let Some(pid) = i32::try_from(child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
    let results = [
        feed_result,
        wait(&mut reader, "slot reader", deadline),
        wait(&mut journal_reader, "journal reader", deadline),
    ];
    for r in results {
        r?;
    }
    let (f, r, t) = (
        read_summary(&feed_json),
        read_summary(&read_json),
        read_summary(&trades_json),
    );
    let removed = [&name, &trades, &live]
        .iter()
        .all(|r| Region::remove(r, false).is_ok());
    drop(cleanup);
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let lat = |v: &Value, k: &str| human_ns(v["latency_ns"][k].as_u64().unwrap_or(0));
    outln!("\nsummary");
    outln!(
        "  feed     {:.0} updates across {:.0} symbols in {:.1} s ({:.0}/s), each to the slot table and the journal",
        num(&f, "written"),
        num(&f, "symbols"),
        num(&f, "seconds"),
        num(&f, "written") / num(&f, "seconds").max(1e-9)
    );
    outln!(
        "  slots    {:.0} updates seen ({:.0} coalesced: a slot holds the latest value, not every value)",
        num(&r, "seen"),
        (num(&r, "written") - num(&r, "seen")).max(0.0)
    );
    outln!(
        "           write-to-read latency (busy-poll)  p50 {}  p99 {}  p99.9 {}  max {}",
        lat(&r, "p50"),
        lat(&r, "p99"),
        lat(&r, "p999"),
        lat(&r, "max")
    );
    outln!(
        "  journal  {:.0} trades received, {:.0} lost (every trade, in order)",
        num(&t, "trades"),
        num(&t, "lost")
    );
    outln!(
        "           write-to-read latency (futex wake-up)  p50 {}  p99 {}  p99.9 {}  max {}",
        lat(&t, "p50"),
        lat(&t, "p99"),
        lat(&t, "p999"),
        lat(&t, "max")
    );
    outln!(
        "  cleanup  {name}, {trades} and {live} {}",
        if removed { "removed" } else { "force-removed" }
    );
    if stop_flag().load(Ordering::Relaxed) {
        outln!("  (stopped early by Ctrl-C)");
        return Ok(());
    }
    let replayed = replay_phase(pid);
    drop(server);
    replayed
}

/// Real market data bundled in the binary (see tests/fixtures/README.md).
const GOOG_CSV: &str = include_str!("../tests/fixtures/GOOG.csv");
const BTCUSD_CSV: &str = include_str!("../tests/fixtures/BTCUSD.csv");

/// Phase 2: `shmbus replay` of bundled daily and monthly bars into a candle region and a
/// journal, followed by a reader process, then a look at the stored series.
fn replay_phase(pid: u32) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("shmbus-demo-{pid}-data"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (goog, btc) = (dir.join("GOOG.csv"), dir.join("BTCUSD.csv"));
    std::fs::write(&goog, GOOG_CSV)?;
    std::fs::write(&btc, BTCUSD_CSV)?;
    let candles = format!("shmbus-demo-{pid}-candles");
    let bars = format!("shmbus-demo-{pid}-bars");
    let bars_json = dir.join("bars.json");
    let _cleanup = Cleanup {
        regions: vec![candles.clone(), bars.clone()],
        files: vec![goog.clone(), btc.clone(), bars_json.clone()],
    };
    let _dir_cleanup = DirCleanup(dir.clone());
    outln!(
        "\nreplay: real daily GOOG and monthly BTCUSD bars, merged in time order, replayed in 2 s"
    );
    outln!(
        "  writer   `shmbus replay` -> candle region {candles} (QuantNexus layout) and journal {bars}"
    );
    outln!("  reader   `shmbus journal watch` receives every bar as it is published\n");
    drop(JournalWriter::builder(&bars).ring(4 << 20).create()?);
    let mut reader = spawn(&[
        "journal",
        "watch",
        &bars,
        "--from-start",
        "--seconds",
        "30",
        "--summary-json",
        bars_json.to_str().unwrap_or_default(),
    ])?;
    std::thread::sleep(Duration::from_millis(100));
    let goog_spec = format!("{}=GOOG:1d", goog.display());
    let btc_spec = format!("{}=BTCUSD:1M", btc.display());
    let mut replay = spawn(&[
        "replay",
        &goog_spec,
        &btc_spec,
        "--candles",
        &candles,
        "--journal",
        &bars,
        "--duration",
        "2",
        "--size",
        "4M",
    ])?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let replay_result = wait(&mut replay, "replay", deadline);
    std::thread::sleep(Duration::from_millis(50));
    if let Some(p) = i32::try_from(reader.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
    }
    let reader_result = wait(&mut reader, "journal reader", deadline);
    replay_result?;
    reader_result?;
    let r = read_summary(&bars_json);
    let store = shmbus::candles::CandleReader::open(&candles)?;
    let stats = store.stats()?;
    outln!("\nsummary");
    outln!(
        "  journal  {} bars received by the reader process, {} lost",
        r["bars"].as_u64().unwrap_or(0),
        r["lost"].as_u64().unwrap_or(0)
    );
    outln!(
        "  candles  {} series, {} candles, {} bytes used, {} writes",
        stats.total_symbols,
        stats.total_candles,
        stats.memory_used,
        stats.write_count
    );
    for s in store.list_series()? {
        let last = store.latest(&s.symbol, &s.interval)?;
        if let Some(c) = last {
            outln!(
                "           {:<7} {:<3} {:>4} bars, last {}  O {:.2} H {:.2} L {:.2} C {:.2}",
                s.symbol,
                s.interval,
                s.count,
                crate::candles_cmd::fmt_ms(c.timestamp),
                c.open,
                c.high,
                c.low,
                c.close
            );
        }
    }
    let removed = Region::remove(&candles, false).is_ok() && Region::remove(&bars, false).is_ok();
    outln!(
        "  cleanup  {candles} and {bars} {}",
        if removed { "removed" } else { "force-removed" }
    );
    Ok(())
}

struct DirCleanup(PathBuf);

impl Drop for DirCleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
