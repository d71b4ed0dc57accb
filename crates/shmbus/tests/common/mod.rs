//! Helpers shared by the integration tests: unique names, a watchdog, child processes.
//!
//! Child processes use the re-exec trick: the test binary runs itself with
//! `--exact child_entry --include-ignored`, and an `#[ignore]`d `child_entry` test dispatches on
//! the [`ROLE_ENV`] variable. Children speak to the parent in stdout lines starting with
//! [`MARK`]; everything else on stdout (libtest's own chatter) is ignored.

#![allow(dead_code)] // each test file uses a part of these helpers

pub mod journal;

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Selects what a re-executed test binary does (unset: `child_entry` does nothing).
pub const ROLE_ENV: &str = "SHMBUS_CHILD_ROLE";
/// The region a child works on.
pub const NAME_ENV: &str = "SHMBUS_CHILD_NAME";
/// Prefix of the stdout lines a child addresses to its parent.
pub const MARK: &str = "SHMBUS:";
/// A child exits on its own after this long, whatever happens to its parent.
pub const CHILD_LIFETIME: Duration = Duration::from_secs(90);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// What the running test is doing right now, printed by a [`Watchdog`] that fires.
static NOTE: Mutex<String> = Mutex::new(String::new());

/// Records what the test is doing (e.g. which corrupt variant it reads), so that a watchdog
/// that fires can say where the test hung.
pub fn watchdog_note(note: impl Into<String>) {
    *NOTE.lock().unwrap_or_else(|p| p.into_inner()) = note.into();
}

/// A unique token for this process and call: `PID-N`.
pub fn unique(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{n}-{tag}", std::process::id())
}

/// A fresh directory under the system temp dir, removed (with its content) on drop.
#[derive(Debug)]
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("shmbus-test-{}", unique(tag)));
        std::fs::create_dir_all(&path).expect("create the test directory");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A region name (a file path, since it contains `/`) inside the directory.
    pub fn name(&self, file: &str) -> String {
        self.path
            .join(file)
            .to_str()
            .expect("temp paths are UTF-8")
            .to_owned()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A unique POSIX shared-memory name; its `/dev/shm` file is removed on drop.
#[derive(Debug)]
pub struct ShmName {
    pub name: String,
}

impl ShmName {
    pub fn new(tag: &str) -> Self {
        Self {
            name: format!("shmbus-test-{}", unique(tag)),
        }
    }

    pub fn path(&self) -> PathBuf {
        Path::new(shmbus::SHM_DIR).join(&self.name)
    }
}

impl Drop for ShmName {
    fn drop(&mut self) {
        // A persisted journal under a shm name is a directory.
        let path = self.path();
        if path.is_dir() {
            let _ = std::fs::remove_dir_all(path);
        } else {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Ends the whole test binary if the guarded test is still running after `limit`, so that a hang
/// fails fast instead of blocking CI. Children notice the exit (their stdin closes) and exit too.
#[derive(Debug)]
pub struct Watchdog {
    _disarm: Sender<()>,
}

impl Watchdog {
    pub fn new(what: &'static str, limit: Duration) -> Self {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                let note = NOTE.lock().unwrap_or_else(|p| p.into_inner()).clone();
                eprintln!("watchdog: test `{what}` still running after {limit:?}: aborting");
                if !note.is_empty() {
                    eprintln!("watchdog: last note: {note}");
                }
                std::process::exit(101);
            }
        });
        Self { _disarm: tx }
    }
}

/// Writes `bytes` at `offset` of a file (to forge corrupt regions).
pub fn patch(path: impl AsRef<Path>, offset: u64, bytes: &[u8]) {
    let f = OpenOptions::new()
        .write(true)
        .open(path.as_ref())
        .expect("open the file to patch");
    f.write_all_at(bytes, offset).expect("patch the file");
}

/// Reads the little-endian u32 at `offset` of a file.
pub fn read_u32(path: impl AsRef<Path>, offset: u64) -> u32 {
    let f = std::fs::File::open(path.as_ref()).expect("open the file");
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, offset).expect("read the file");
    u32::from_le_bytes(b)
}

/// Panics unless `msg` contains every one of `parts`.
#[track_caller]
pub fn assert_mentions(msg: &str, parts: &[&str]) {
    let missing: Vec<&&str> = parts.iter().filter(|p| !msg.contains(**p)).collect();
    assert!(
        missing.is_empty(),
        "error message {msg:?} does not mention {missing:?}"
    );
}

/// A re-executed copy of the test binary playing `role`. Killed and reaped on drop.
#[derive(Debug)]
pub struct ChildProc {
    role: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl ChildProc {
    /// Starts `role` on region `name` with extra environment variables.
    pub fn spawn(role: &str, name: &str, env: &[(&str, &str)]) -> Self {
        let exe = std::env::current_exe().expect("the test binary's path");
        let mut cmd = Command::new(exe);
        cmd.args([
            "--exact",
            "child_entry",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE_ENV, role)
        .env(NAME_ENV, name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn the child test binary");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(MARK) {
                    if tx.send(line[at + MARK.len()..].to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            role: role.to_owned(),
            child,
            stdin,
            lines: rx,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line `WORD ...` from the child and returns what follows `WORD`.
    ///
    /// # Panics
    ///
    /// If the child exits or stays silent for `timeout`.
    #[track_caller]
    pub fn expect(&mut self, word: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let (head, rest) = line.split_once(' ').unwrap_or((&line, ""));
                    if head == word {
                        return rest.to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "child `{}` (pid {}) did not say {word} within {timeout:?}",
                        self.role,
                        self.pid()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait_exit(Duration::from_secs(5));
                    panic!(
                        "child `{}` exited ({status:?}) before saying {word}",
                        self.role
                    )
                }
            }
        }
    }

    /// Whether the child is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends one line to the child's stdin.
    ///
    /// # Panics
    ///
    /// If stdin was closed or the child is gone.
    #[track_caller]
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        writeln!(stdin, "{line}").expect("write to the child's stdin");
        stdin.flush().expect("flush the child's stdin");
    }

    /// Closes the child's stdin (the signal to finish cleanly).
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILL (`Child::kill`), then reaps the child.
    pub fn kill(&mut self) -> ExitStatus {
        self.child.kill().expect("kill the child");
        self.child.wait().expect("reap the child")
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In a child: says `line` to the parent.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{MARK}{line}");
    let _ = out.flush();
}

/// In a child: exits after [`CHILD_LIFETIME`] whatever happens, so no child outlives its test.
pub fn limit_child_lifetime() {
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        eprintln!("child: lifetime of {CHILD_LIFETIME:?} exceeded, exiting");
        std::process::exit(3);
    });
}

/// In a child: exits as soon as stdin reaches end of file (the parent closed it or died).
pub fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        wait_for_stdin_eof();
        std::process::exit(0);
    });
}

/// In a child: the lines its parent sends with [`ChildProc::send`], read by a thread. The
/// channel disconnects when stdin reaches end of file.
pub fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// In a child: blocks until stdin reaches end of file.
pub fn wait_for_stdin_eof() {
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut sink);
}
