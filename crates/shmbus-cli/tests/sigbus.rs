//! Issue 10, item 1, from the command line: `shmbus feed`, `slot watch`, `journal watch` and
//! `tail -f` have group-shared regions mapped when another uid (65534, in the regions' group)
//! truncates them. Each must end with one clear error line and exit status 1, never die by
//! SIGBUS (exit 135 from a shell). Needs root to run `truncate` as another uid; skips otherwise.

use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NOBODY: u32 = 65534;

/// A unique shm name, removed when dropped.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        Self(format!("shmbus-cli-sigbus-{tag}-{}", std::process::id()))
    }

    fn path(&self) -> PathBuf {
        Path::new("/dev/shm").join(&self.0)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.path());
    }
}

/// A running `shmbus` process, killed and reaped on drop.
struct Proc {
    what: String,
    child: Child,
}

impl Proc {
    fn spawn(args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_shmbus"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run shmbus");
        Self {
            what: format!("shmbus {}", args.join(" ")),
            child,
        }
    }

    /// Waits for the exit; returns the status and stderr.
    fn finish(&mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "`{}` still runs {timeout:?} after the truncation",
                self.what
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut err = String::new();
        let _ = self
            .child
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut err);
        (status, err)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_shmbus"))
        .args(args)
        .output()
        .expect("run shmbus");
    assert!(
        o.status.success(),
        "shmbus {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn truncate_as_nobody(path: &Path) {
    let o = Command::new("truncate")
        .args(["-s", "0"])
        .arg(path)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run truncate");
    assert!(
        o.status.success(),
        "truncate as uid {NOBODY}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn processes_with_a_truncated_region_mapped_exit_with_one_line_not_sigbus() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run `truncate` as uid {NOBODY} (another user)");
        return;
    }
    let (slots, journal) = (Name::new("slots"), Name::new("journal"));
    run(&[
        "create", &slots.0, "--kind", "slots", "--size", "64K", "--group",
    ]);
    run(&["journal", "create", &journal.0, "--ring", "1M", "--group"]);
    for p in [slots.path(), journal.path()] {
        std::os::unix::fs::chown(&p, None, Some(NOBODY)).expect("chgrp to 65534");
    }
    let mut procs = [
        Proc::spawn(&[
            "feed",
            &slots.0,
            "--journal",
            &journal.0,
            "--rate",
            "1000",
            "--seconds",
            "60",
        ]),
        Proc::spawn(&["slot", "watch", &slots.0, "--seconds", "60"]),
        Proc::spawn(&["journal", "watch", &journal.0, "--seconds", "60"]),
        Proc::spawn(&["tail", &journal.0, "-f"]),
    ];
    // Let every process map its region and get going.
    std::thread::sleep(Duration::from_millis(1500));
    for p in &mut procs {
        if p.child.try_wait().expect("wait").is_some() {
            let what = p.what.clone();
            panic!(
                "`{what}` ended before the truncation: {:?}",
                p.finish(Duration::ZERO)
            );
        }
    }
    truncate_as_nobody(&journal.path());
    truncate_as_nobody(&slots.path());
    for p in &mut procs {
        let (status, err) = p.finish(Duration::from_secs(15));
        assert_eq!(
            status.signal(),
            None,
            "`{}` died by a signal ({status:?}); stderr: {err}",
            p.what
        );
        assert_eq!(status.code(), Some(1), "`{}`: {err}", p.what);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "`{}`: one error line, got {err:?}", p.what);
        assert!(
            lines[0].starts_with("shmbus: error: ")
                && lines[0]
                    .contains("was truncated by another process while this one had it mapped"),
            "`{}`: {err}",
            p.what
        );
    }
}
