//! The benchmark's processes and regions: started, read (`/proc`), stopped and removed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// What the benchmark created and started: stopped (each child by its own pid) and removed
/// when dropped, whatever way the benchmark ends.
#[derive(Debug, Default)]
pub struct Cleanup {
    journals: Vec<String>,
    files: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Cleanup {
    /// Creates a ring journal of `ring` bytes named after this process and `tag`.
    pub fn journal(&mut self, tag: &str, ring: u64) -> Result<String> {
        let name = format!("shmbus-gwbench-{}-{tag}", std::process::id());
        let w = shmbus::journal::JournalWriter::builder(&name)
            .ring(ring)
            .populate(true)
            .create()
            .with_context(|| format!("cannot create the journal {name}"))?;
        self.journals.push(name.clone());
        // The writer process opens it; its lock is free once this writer is dropped.
        drop(w);
        Ok(name)
    }

    /// Creates the "floor + wake-ups" path's shared-memory file, named after this process and
    /// `tag`, in /dev/shm.
    pub fn wake_area(&mut self, tag: &str) -> Result<PathBuf> {
        let path = PathBuf::from(format!(
            "/dev/shm/shmbus-gwbench-{}-{tag}",
            std::process::id()
        ));
        self.files.push(path.clone());
        crate::peers::create_wake_area(&path)?;
        Ok(path)
    }

    /// Takes `child` into care; its index is for [`Cleanup::get`] and [`Cleanup::stop`].
    pub fn child(&mut self, child: Child) -> usize {
        self.children.push(child);
        self.children.len() - 1
    }

    pub fn get(&mut self, idx: usize) -> &mut Child {
        &mut self.children[idx]
    }

    /// Stops child `idx` now (by its pid).
    pub fn stop(&mut self, idx: usize) {
        let c = &mut self.children[idx];
        if matches!(c.try_wait(), Ok(None)) {
            let _ = c.kill();
        }
        let _ = c.wait();
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.stop(i);
        }
        for j in &self.journals {
            let _ = shmbus::Region::remove(j, true);
        }
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Starts this binary with a hidden subcommand, its stdout piped for its JSON reports.
pub fn spawn_peer(args: &[&str]) -> Result<(Child, BufReader<ChildStdout>)> {
    spawn(args, Stdio::null())
}

/// As [`spawn_peer`], with a pipe to the child's stdin.
pub fn spawn_peer_piped(args: &[&str]) -> Result<(Child, BufReader<ChildStdout>, ChildStdin)> {
    let (mut child, out) = spawn(args, Stdio::piped())?;
    let stdin = child.stdin.take().expect("stdin is piped");
    Ok((child, out, stdin))
}

fn spawn(args: &[&str], stdin: Stdio) -> Result<(Child, BufReader<ChildStdout>)> {
    let exe = std::env::current_exe().context("cannot find the benchmark binary")?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the benchmark's {}", args[0]))?;
    let out = BufReader::new(child.stdout.take().expect("stdout is piped"));
    Ok((child, out))
}

/// Reads one JSON line a child prints, or says why there is none.
pub fn read_report(
    out: &mut BufReader<ChildStdout>,
    child: &mut Child,
    what: &str,
) -> Result<Value> {
    let mut line = String::new();
    let n = out
        .read_line(&mut line)
        .with_context(|| format!("reading the {what}'s report"))?;
    if n == 0 {
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        bail!("the {what} process ended without reporting ({status}); see its error above");
    }
    serde_json::from_str(line.trim()).with_context(|| format!("bad report from the {what}: {line}"))
}

/// The `port` of a `{"port": P}` report.
pub fn port_of(v: &Value) -> Result<u16> {
    v["port"]
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .with_context(|| format!("no port in {v}"))
}

/// A running `shmbus serve` on a free loopback port.
#[derive(Debug)]
pub struct Serve {
    pub port: u16,
    pub pid: u32,
    pub idx: usize,
    _out: BufReader<ChildStdout>,
}

impl Serve {
    pub fn start(shmbus: &Path, cleanup: &mut Cleanup) -> Result<Self> {
        let mut child = Command::new(shmbus)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {} serve", shmbus.display()))?;
        let mut out = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let pid = child.id();
        let idx = cleanup.child(child);
        let mut line = String::new();
        out.read_line(&mut line)?;
        let port = line
            .trim()
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .with_context(|| format!("shmbus serve did not say where it listens: {line:?}"))?;
        Ok(Self {
            port,
            pid,
            idx,
            _out: out,
        })
    }
}

/// A running `redis-server` on a free loopback port, without persistence.
#[derive(Debug)]
pub struct Redis {
    pub port: u16,
}

impl Redis {
    pub fn start(bin: &Path, cleanup: &mut Cleanup) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(bin)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--loglevel", "warning"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {}: install it (bash scripts/setup.sh, or apt-get install redis-server) or pass --redis-server PATH",
                    bin.display()
                )
            })?;
        let idx = cleanup.child(child);
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ping = client
                .get_connection()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            match ping {
                Ok(_) => return Ok(Self { port }),
                Err(e) => {
                    if let Ok(Some(status)) = cleanup.get(idx).try_wait() {
                        bail!("redis-server on port {port} exited ({status}); see its log above");
                    }
                    if Instant::now() > deadline {
                        bail!("redis-server on port {port} did not answer PING within 10 s: {e}");
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// A process's cpu time (user + system) at a moment.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    ticks: u64,
    at: Instant,
}

impl ProcStat {
    /// utime + stime of `pid`, from /proc/PID/stat.
    pub fn read(pid: u32) -> Result<Self> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
        // Fields after the command name (which may hold spaces, inside parentheses): state is
        // field 3, utime 14 and stime 15.
        let rest = s
            .rsplit_once(')')
            .map(|(_, r)| r)
            .with_context(|| format!("unexpected /proc/{pid}/stat"))?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| -> Result<u64> {
            f.get(i)
                .and_then(|v| v.parse().ok())
                .with_context(|| format!("unexpected /proc/{pid}/stat"))
        };
        Ok(Self {
            ticks: num(11)? + num(12)?,
            at: Instant::now(),
        })
    }

    pub fn secs_since(&self, before: &Self) -> f64 {
        (self.at - before.at).as_secs_f64()
    }

    /// Cpu time between `before` and now as a percentage of one core over the same time.
    pub fn cpu_percent_since(&self, before: &Self) -> f64 {
        let hz = rustix::param::clock_ticks_per_second() as f64;
        let cpu = (self.ticks - before.ticks) as f64 / hz;
        100.0 * cpu / self.secs_since(before)
    }

    /// The peak resident memory of `pid` (VmHWM), in KiB.
    pub fn vm_hwm_kib(pid: u32) -> Result<u64> {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("cannot read /proc/{pid}/status"))?;
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("no VmHWM in /proc/{pid}/status"))
    }
}

/// The 1, 5 and 15-minute load averages, to spot other work on the machine during a run.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
