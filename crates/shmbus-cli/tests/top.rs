//! `shmbus top --once` against real regions, a real writer process and a registered reader.

use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn top_shows_kind_writer_rate_and_newest_sequence() {
    let dir = std::env::temp_dir().join(format!("shmbus-top-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let bin = env!("CARGO_BIN_EXE_shmbus");
    let (s, j) = (dir.join("quotes.shm"), dir.join("trades.ring"));
    let (s, j) = (s.to_str().unwrap(), j.to_str().unwrap());
    let run = |args: &[&str]| {
        let o = Command::new(bin).args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["journal", "create", j, "--ring", "16M"]);
    let mut feed = Command::new(bin)
        .args([
            "feed",
            s,
            "--create",
            "--journal",
            j,
            "--rate",
            "2000",
            "--symbols",
            "4",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // A registered reader of the journal (docs/FORMAT.md 7).
    let mut watch = Command::new(bin)
        .args(["journal", "watch", j, "--name", "top-reader"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let out = run(&["top", "--once", "--interval", "0.5", dir.to_str().unwrap()]);
    let pid = feed.id();
    feed.kill().unwrap();
    feed.wait().unwrap();
    let watch_pid = watch.id();
    watch.kill().unwrap();
    watch.wait().unwrap();
    let line = |name: &str, out: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in\n{out}"))
            .to_owned()
    };
    let head = out.lines().next().unwrap();
    assert!(
        head.starts_with("NAME") && head.contains("RATE") && head.contains("NEWEST"),
        "{out}"
    );
    for (name, kind) in [(s, "slots"), (j, "journal")] {
        let l = line(name, &out);
        assert!(
            l.contains(kind) && l.contains(&format!("{pid} alive")),
            "{l}"
        );
        // About 2000 updates/s.
        let rate: f64 = l
            .split_whitespace()
            .find_map(|w| w.strip_suffix("/s"))
            .unwrap()
            .parse()
            .unwrap();
        assert!((500.0..5000.0).contains(&rate), "{l}");
    }
    assert!(line(s, &out).contains("4 symbols"), "{out}");
    // The reader's row, right under its journal: alive, reading about 2000/s, lag small (it
    // publishes every 256 messages and when it catches up); the registry is not a row.
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| l.starts_with(j)).unwrap();
    let r = lines[at + 1];
    assert!(
        r.starts_with("  > top-reader") && r.contains(&format!("{watch_pid} alive")),
        "{out}"
    );
    let rate: f64 = r
        .split_whitespace()
        .find_map(|w| w.strip_suffix("/s"))
        .unwrap()
        .parse()
        .unwrap();
    assert!((500.0..5000.0).contains(&rate), "{r}");
    let lag: u64 = r.split_whitespace().last().unwrap().parse().unwrap();
    assert!(lag <= 500, "{r}");
    assert!(!out.contains(".readers"), "{out}");
    // Killed: shown dead, rate 0.
    let out = run(&["top", "--once", "--interval", "0.2", dir.to_str().unwrap()]);
    let l = line(j, &out);
    assert!(
        l.contains(&format!("{pid} DEAD")) && l.contains(" 0/s"),
        "{l}"
    );
}
