//! A group member writes a `--group` region from the command line (issue 10, item 11): root
//! creates a slot table, a ring journal, a persisted journal and a candle region with `--group`,
//! gives them to group 65534, and `shmbus` runs as uid/gid 65534 (nobody/nogroup). Each writer
//! command is refused without `--allow-foreign-owner` (its error advises the flag), accepted with
//! it, and the data is there. Skipped, with the reason printed, when not run as root.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const NOBODY: u32 = 65534;
const ADVICE: &str = "belongs to uid 0, not to you (uid 65534); if you trust that user, open it \
     with allow_foreign_owner (hint: pass --allow-foreign-owner if you trust it)";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shmbus")
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn output(mut c: Command) -> Output {
    c.stdin(Stdio::null()).output().expect("run shmbus")
}

/// `shmbus ARGS` as root.
fn root(args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    output(c)
}

/// `shmbus ARGS` as uid and gid 65534 (no supplementary groups: std drops them).
fn nobody(args: &[&str]) -> Output {
    let mut c = Command::new(bin());
    c.args(args).uid(NOBODY).gid(NOBODY);
    output(c)
}

fn text(o: &Output) -> String {
    format!(
        "{:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_ok(o: &Output) {
    assert!(o.status.success(), "{}", text(o));
}

/// Refused for the owner, with the advice to pass the flag (not refused for an unknown flag).
fn assert_advises_flag(o: &Output) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("shmbus: error: "), "{}", text(o));
    assert!(err.contains(ADVICE), "{}", text(o));
}

/// Whether this test can run: root, and the binary runnable by uid 65534.
fn can_run(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        println!("{test}: skipped: needs root to run a process as uid {NOBODY}");
        return false;
    }
    let o = nobody(&["--version"]);
    if !o.status.success() {
        println!(
            "{test}: skipped: uid {NOBODY} cannot run {} ({})",
            bin(),
            text(&o)
        );
        return false;
    }
    true
}

/// A unique region path (in /dev/shm, or a persisted journal's directory in the temp dir),
/// removed when dropped.
struct Name {
    name: String,
    path: PathBuf,
}

impl Name {
    fn shm(tag: &str) -> Self {
        let name = format!("shmbus-foreign-{tag}-{}-{}", std::process::id(), next());
        let path = Path::new("/dev/shm").join(&name);
        Self { name, path }
    }

    fn dir(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "shmbus-foreign-{tag}-{}-{}",
            std::process::id(),
            next()
        ));
        let name = path.to_str().expect("utf-8").to_owned();
        Self { name, path }
    }

    /// Gives the region (every file, for a directory) to group 65534.
    fn chgrp(&self) {
        let mut paths = vec![self.path.clone()];
        if self.path.is_dir() {
            paths.extend(
                std::fs::read_dir(&self.path)
                    .expect("list")
                    .map(|e| e.expect("entry").path()),
            );
        }
        for p in paths {
            std::os::unix::fs::chown(&p, Some(0), Some(NOBODY)).expect("chown");
        }
    }
}

fn next() -> u32 {
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Drop for Name {
    fn drop(&mut self) {
        if self.path.is_dir() {
            let _ = std::fs::remove_dir_all(&self.path);
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[test]
fn a_group_member_writes_a_slot_table() {
    if !can_run("a_group_member_writes_a_slot_table") {
        return;
    }
    let n = Name::shm("slots");
    assert_ok(&root(&[
        "create", &n.name, "--kind", "slots", "--size", "64K", "--group",
    ]));
    n.chgrp();
    let put = ["slot", "put", &n.name, "BTCUSD", "--price", "97000.5"];
    assert_advises_flag(&nobody(&put));
    assert_ok(&nobody(&[&put[..], &["--allow-foreign-owner"]].concat()));
    let o = root(&["slot", "get", &n.name, "BTCUSD", "--json"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["price"], 97000.5);
    // feed writes the same table (and can be told the same).
    let feed = ["feed", &n.name, "--seconds", "0.2", "--rate", "200"];
    assert_advises_flag(&nobody(&feed));
    assert_ok(&nobody(&[&feed[..], &["--allow-foreign-owner"]].concat()));
    let o = root(&["slot", "get", &n.name, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(8), "{v}");
}

#[test]
fn a_group_member_appends_to_a_ring_journal() {
    if !can_run("a_group_member_appends_to_a_ring_journal") {
        return;
    }
    let n = Name::shm("ring");
    assert_ok(&root(&[
        "journal", "create", &n.name, "--ring", "64K", "--group",
    ]));
    n.chgrp();
    let append = ["append", &n.name, "hello from nobody"];
    assert_advises_flag(&nobody(&append));
    assert_ok(&nobody(&[&append[..], &["--allow-foreign-owner"]].concat()));
    let o = root(&["tail", &n.name, "--from", "start", "--json"]);
    assert_ok(&o);
    let lines: Vec<serde_json::Value> = o
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", text(&o));
    assert_eq!(lines[0]["payload"], "hello from nobody");
    // A reader in the group: journal watch advises the flag too, and takes it.
    let watch = [
        "journal",
        "watch",
        &n.name,
        "--seconds",
        "0.1",
        "--from-start",
    ];
    assert_advises_flag(&nobody(&watch));
    assert_ok(&nobody(&[&watch[..], &["--allow-foreign-owner"]].concat()));
}

#[test]
fn a_group_member_appends_to_a_persisted_journal_across_rolls() {
    if !can_run("a_group_member_appends_to_a_persisted_journal_across_rolls") {
        return;
    }
    let n = Name::dir("persisted");
    assert_ok(&root(&[
        "journal",
        "create",
        &n.name,
        "--segment-size",
        "64K",
        "--group",
    ]));
    n.chgrp();
    let messages: Vec<String> = (0..1000).map(|i| format!("{i:0>120}")).collect();
    let mut append = vec!["append", n.name.as_str()];
    append.extend(messages.iter().map(String::as_str));
    assert_advises_flag(&nobody(&append));
    append.push("--allow-foreign-owner");
    assert_ok(&nobody(&append));
    // 1000 messages of 120 bytes roll past the first 64 KiB segment: the new ones are written by
    // uid 65534 and stay group-shared, as the directory is.
    let segs: Vec<_> = std::fs::read_dir(&n.path)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(segs.len() > 1, "no roll: {segs:?}");
    for s in &segs {
        let mode = std::fs::metadata(s).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o660, "{} has mode {mode:o}", s.display());
    }
    assert!(
        segs.iter()
            .any(|s| std::fs::metadata(s).expect("stat").uid() == NOBODY),
        "no segment written by uid {NOBODY}"
    );
    let o = root(&[
        "tail",
        &n.name,
        "--from",
        "start",
        "-n",
        "5000",
        "--allow-foreign-owner",
    ]);
    assert_ok(&o);
    let got = String::from_utf8_lossy(&o.stdout);
    assert_eq!(got.lines().count(), 1000, "{}", text(&o));
    assert!(got.lines().last().unwrap_or("").ends_with(&messages[999]));
}

#[test]
fn a_group_member_imports_candles() {
    if !can_run("a_group_member_imports_candles") {
        return;
    }
    let n = Name::shm("candles");
    assert_ok(&root(&[
        "create", &n.name, "--kind", "candles", "--size", "1M", "--group",
    ]));
    n.chgrp();
    let goog = fixture("GOOG.csv");
    let import = [
        "candles",
        "import",
        &n.name,
        &goog,
        "--symbol",
        "GOOG",
        "--interval",
        "1d",
    ];
    assert_advises_flag(&nobody(&import));
    assert_ok(&nobody(&[&import[..], &["--allow-foreign-owner"]].concat()));
    // replay writes candle regions too.
    let btc = format!("{}=BTCUSD:1M", fixture("BTCUSD.csv"));
    let replay = ["replay", &btc, "--candles", &n.name, "--quiet"];
    assert_advises_flag(&nobody(&replay));
    assert_ok(&nobody(&[&replay[..], &["--allow-foreign-owner"]].concat()));
    let o = root(&["candles", "show", &n.name, "--json"]);
    assert_ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let counts: Vec<_> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|s| (s["symbol"].clone(), s["count"].clone()))
        .collect();
    assert_eq!(
        counts,
        vec![
            (serde_json::json!("GOOG"), serde_json::json!(300)),
            (serde_json::json!("BTCUSD"), serde_json::json!(156))
        ],
        "{v}"
    );
}
