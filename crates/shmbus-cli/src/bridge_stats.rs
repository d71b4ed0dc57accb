//! `shmbus bridge out|in --stats-interval SECS`: one line per interval on stderr, read from the
//! bridge's own status region (`shmbus::bridge_status`), as `shmbus inspect` reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shmbus::Region;
use shmbus::bridge_status::{BridgeInfo, Direction, read_status};

use crate::output::esc;

/// `--stats-interval`: seconds, like the CLI's other durations, but at least 0.01.
pub fn parse_interval(s: &str) -> Result<f64, String> {
    let v = crate::size::parse_seconds(s)?;
    if v < 0.01 {
        return Err(format!(
            "invalid --stats-interval {s:?}: at least 0.01 seconds (leave it out for no stats lines)"
        ));
    }
    Ok(v)
}

/// The stats line of one interval: rates over it, then the region's figures.
pub fn line(prev: Option<&BridgeInfo>, now: &BridgeInfo, secs: f64) -> String {
    let (m0, b0) = prev.map_or((0, 0), |p| (p.messages, p.bytes));
    let secs = secs.max(1e-9);
    let rate = now.messages.saturating_sub(m0) as f64 / secs;
    let bytes = now.bytes.saturating_sub(b0) as f64 / secs;
    let what = match now.direction {
        Direction::Out => "published",
        Direction::In => "stored",
    };
    format!(
        "{rate:.1} msg/s, {bytes:.0} B/s, in flight {}, lag {}, {what} {}, duplicates {}, gaps {}, lost {}, rewinds {}, reconnects {}",
        now.in_flight,
        now.lag,
        now.messages,
        now.duplicates,
        now.gaps,
        now.lost,
        now.rewinds,
        now.reconnects
    )
}

/// Prints a stats line every `interval` until dropped; the drop prints the last one (the
/// partial interval up to the stop, with the region already marked stopped). Dropped without
/// [`Printer::finish`] (the bridge failed), it stops without a last line.
pub struct Printer {
    done: Arc<AtomicBool>,
    quiet: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Printer {
    /// Starts printing the figures of status region `name` (of `bridge DIR`).
    pub fn start(name: String, dir: Direction, interval: f64) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let quiet = Arc::new(AtomicBool::new(false));
        let (flag, hush) = (done.clone(), quiet.clone());
        let interval = Duration::from_secs_f64(interval);
        let thread = std::thread::spawn(move || {
            let mut prev: Option<BridgeInfo> = None;
            let mut since = Instant::now();
            loop {
                let last = wait(&flag, since + interval);
                if last && hush.load(Ordering::Relaxed) {
                    return;
                }
                let now = Instant::now();
                // Not readable yet, or not ours yet (a previous run's figures, or another
                // bridge's that holds it): nothing to say now.
                let ours = |i: &BridgeInfo| i.pid == std::process::id();
                if let Some(info) = read_status(&name, &Region::open_options())
                    .ok()
                    .filter(ours)
                {
                    let secs = now.duration_since(since).as_secs_f64();
                    errln!(
                        "shmbus bridge {}: {}{}",
                        dir.name(),
                        if last { "final: " } else { "" },
                        line(prev.as_ref(), &info, secs)
                    );
                    prev = Some(info);
                    since = now;
                }
                if last {
                    return;
                }
            }
        });
        Self {
            done,
            quiet,
            thread: Some(thread),
        }
    }
}

/// Sleeps until `until` or until `done`; true if `done`.
fn wait(done: &AtomicBool, until: Instant) -> bool {
    loop {
        if done.load(Ordering::Acquire) {
            return true;
        }
        let now = Instant::now();
        if now >= until {
            return false;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(20)));
    }
}

impl Printer {
    /// Stops the printer after its last line.
    pub fn finish(mut self) {
        self.stop(true);
    }

    fn stop(&mut self, last_line: bool) {
        self.quiet.store(!last_line, Ordering::Relaxed);
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Printer {
    fn drop(&mut self) {
        self.stop(false);
    }
}

/// `shmbus inspect` of a bridge status region: its figures (the `bridge` object of
/// `inspect --json`), one line each.
pub fn inspect_text(out: &mut crate::output::Out, b: &serde_json::Value) -> anyhow::Result<()> {
    let s = |k: &str| esc(b[k].as_str().unwrap_or("")).into_owned();
    let n = |k: &str| b[k].as_u64().unwrap_or(0);
    let ago = |k: &str| {
        crate::size::human_age(shmbus::now_unix_ns().saturating_sub(n(k)) / 1_000_000_000)
    };
    let what = if s("direction") == "in" {
        "stored"
    } else {
        "published"
    };
    writeln!(
        out,
        "bridge       {} {} stream {}{}",
        s("direction"),
        s("journal"),
        s("stream"),
        if s("subject").is_empty() {
            String::new()
        } else {
            format!(" (subject {})", s("subject"))
        }
    )?;
    writeln!(
        out,
        "state        {} (pid {}), started {} ago, updated {} ago",
        s("state"),
        n("pid"),
        ago("started_ns"),
        ago("updated_ns")
    )?;
    writeln!(
        out,
        "messages     {what} {} ({} bytes), duplicates {}, gaps {} ({} messages lost)",
        n("messages"),
        n("bytes"),
        n("duplicates"),
        n("gaps"),
        n("lost")
    )?;
    writeln!(
        out,
        "position     journal next {}, stream sequence {}, lag {}, in flight {}",
        n("journal_next"),
        n("stream_seq"),
        n("lag"),
        n("in_flight")
    )?;
    writeln!(
        out,
        "errors       rewinds {}, reconnects {}",
        n("rewinds"),
        n("reconnects")
    )?;
    Ok(())
}
