//! Test support: a real `nats-server` with JetStream on a free loopback port and a temporary
//! store directory, killed (by its pid) and cleaned up when dropped, also when a test panics.
//! A 3-server cluster with routes is here too, for the failover tests to come.
//!
//! The binary is `nats-server` on `PATH` (or /usr/sbin/nats-server, Debian's package, which
//! scripts/setup.sh installs), or the one `SHMBUS_NATS_SERVER` names.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the nats-server binary is.
pub fn binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SHMBUS_NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// A free TCP port on 127.0.0.1 (free when asked: the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One running nats-server.
#[derive(Debug)]
pub struct NatsServer {
    child: Option<Child>,
    /// Client port on 127.0.0.1.
    pub port: u16,
    /// Cluster (route) port, for a cluster member.
    pub cluster_port: Option<u16>,
    /// Its JetStream store directory.
    pub store: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// Remove `store` on drop (the server owns it).
    own_dir: Option<PathBuf>,
}

fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "shmbus-nats-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a temporary directory");
    d
}

impl NatsServer {
    /// Starts `nats-server -js -a 127.0.0.1 -p PORT -sd TMPDIR/js` and waits until it accepts
    /// connections (and JetStream is up). Panics if it cannot (a test fixture).
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// As [`NatsServer::start`], with more options for the server (e.g. `--auth TOKEN`, or
    /// `--user U --pass P`).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = temp_dir("single");
        let port = free_port();
        let store = dir.join("js");
        let args = vec![
            "-js".into(),
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-sd".into(),
            store.display().to_string(),
        ];
        let args = args
            .into_iter()
            .chain(extra.iter().map(|a| (*a).to_owned()))
            .collect();
        let mut s = Self {
            child: None,
            port,
            cluster_port: None,
            store,
            args,
            log: dir.join("server.log"),
            own_dir: Some(dir),
        };
        s.spawn();
        s
    }

    /// The client URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The first and the last sequence `stream` holds; `None` if the server does not answer.
    pub fn stream_range(&self, stream: &str) -> Option<(u64, u64)> {
        ask_stream(&self.url(), stream, |i| {
            Some((i.state.first_sequence, i.state.last_sequence))
        })
    }

    fn spawn(&mut self) {
        let bin = binary().expect("nats-server is not installed: run scripts/setup.sh");
        let log = std::fs::File::create(&self.log).expect("server log file");
        let child = Command::new(bin)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Waits until the port accepts and the log says JetStream is ready (or the server died).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    panic!(
                        "nats-server exited at start ({status}):\n{}",
                        self.log_text()
                    );
                }
            }
            let up = TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            let log = self.log_text();
            // A cluster member is ready for clients once it accepts; JetStream elects its
            // meta leader later (tests wait for that through the client).
            if up && (self.cluster_port.is_some() || log.contains("Server is ready")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not become ready in 20 s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and reaps it (its store stays).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again with the same port and store (after [`NatsServer::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log_text();
            if !log.is_empty() {
                eprintln!(
                    "nats-server on port {} logged:\n{}",
                    self.port,
                    tail(&log, 4000)
                );
            }
        }
        if let Some(d) = self.own_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut i = s.len().saturating_sub(n);
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

/// A JetStream cluster of servers on loopback, each with its own store, joined by routes.
#[derive(Debug)]
pub struct NatsCluster {
    /// The members.
    pub servers: Vec<NatsServer>,
    dir: PathBuf,
}

impl NatsCluster {
    /// Starts `n` servers (3 for a RAFT quorum) named s0, s1, ... in cluster `shmbus`.
    pub fn start(n: usize) -> Self {
        let dir = temp_dir("cluster");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut servers = Vec::new();
        for (i, &(port, cport)) in ports.iter().enumerate() {
            let store = dir.join(format!("s{i}"));
            let args = vec![
                "-js".into(),
                "-a".into(),
                "127.0.0.1".into(),
                "-p".into(),
                port.to_string(),
                "-sd".into(),
                store.display().to_string(),
                "-n".into(),
                format!("s{i}"),
                "--cluster_name".into(),
                "shmbus".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{cport}"),
                "--routes".into(),
                routes.clone(),
            ];
            let mut s = NatsServer {
                child: None,
                port,
                cluster_port: Some(cport),
                store,
                args,
                log: dir.join(format!("s{i}.log")),
                own_dir: None,
            };
            s.spawn();
            servers.push(s);
        }
        Self { servers, dir }
    }

    /// A client URL listing every member.
    pub fn url(&self) -> String {
        self.servers
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The index of the member that leads `stream` (its RAFT leader), asked through the
    /// members still running; `None` if none answers.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        let leader = self.ask(stream, |i| i.cluster.clone()?.leader)?;
        leader.strip_prefix('s')?.parse().ok()
    }

    /// `f` of `stream`'s info, asked through the members still running.
    fn ask<T>(
        &self,
        stream: &str,
        f: impl FnOnce(&async_nats::jetstream::stream::Info) -> Option<T>,
    ) -> Option<T> {
        let url = self
            .servers
            .iter()
            .filter(|s| s.child.is_some())
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",");
        ask_stream(&url, stream, f)
    }

    /// The last sequence of `stream`, asked through the members still running; `None` if none
    /// answers.
    pub fn stream_last_seq(&self, stream: &str) -> Option<u64> {
        self.ask(stream, |i| Some(i.state.last_sequence))
    }

    /// The store directory of every member.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        // Each member prints its own log if the test failed.
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `f` of `stream`'s info, asked through `url`; `None` if no server answers.
fn ask_stream<T>(
    url: &str,
    stream: &str,
    f: impl FnOnce(&async_nats::jetstream::stream::Info) -> Option<T>,
) -> Option<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let js = async_nats::jetstream::new(crate::connect(url).await.ok()?);
        let mut s = js.get_stream(stream).await.ok()?;
        f(s.info().await.ok()?)
    })
}
