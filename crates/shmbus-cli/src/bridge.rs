//! `shmbus bridge out|in`: journals to and from NATS JetStream (crate `shmbus-bridge`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use shmbus::bridge_status::Direction;
use shmbus_bridge::{From, InOptions, OutOptions};

use crate::size::{parse_seconds, parse_size};

#[derive(Debug, clap::Subcommand)]
pub enum BridgeCommand {
    /// Publish a journal into a JetStream stream, exactly once across restarts.
    Out(OutArgs),
    /// Write a JetStream stream into a local journal, exactly once across restarts.
    In(InArgs),
}

/// The NATS server and how to log in: the same for `out` and `in`.
#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// NATS server URL, e.g. nats://127.0.0.1:4222 (comma-separated for several; tls://... for
    /// TLS).
    #[arg(long)]
    nats: String,
    #[command(flatten)]
    auth: AuthArgs,
    #[command(flatten)]
    tls: TlsArgs,
}

/// TLS beyond the URL's `tls://` and the system's roots.
#[derive(Debug, clap::Args)]
struct TlsArgs {
    /// Trust the CA certificates in this PEM file (a private CA that signed the server's
    /// certificate); asks for TLS.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// Show this client certificate (PEM) to servers that verify clients; asks for TLS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl ServerArgs {
    fn auth(&self) -> Result<shmbus_bridge::Auth> {
        Ok(shmbus_bridge::Auth {
            tls: shmbus_bridge::Tls {
                ca: self.tls.tls_ca.clone(),
                cert: self.tls.tls_cert.clone().zip(self.tls.tls_key.clone()),
            },
            ..self.auth.auth()?
        })
    }
}

/// Credentials for the NATS server: at most one kind. From the environment too, so that they
/// need not appear in the process list.
#[derive(Debug, clap::Args)]
#[group(multiple = false)]
struct AuthArgs {
    /// A file holding the server's token (the file's content, trimmed).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The server's token.
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// User name; its password is read from the environment variable NATS_PASSWORD (never from
    /// the command line, which other users can see).
    #[arg(long, env = "NATS_USER")]
    user: Option<String>,
    /// A .creds file (JWT and NKey seed, as `nsc` writes).
    #[arg(long, env = "NATS_CREDS", value_name = "FILE")]
    creds: Option<PathBuf>,
}

impl AuthArgs {
    fn auth(&self) -> Result<shmbus_bridge::Auth> {
        let token = match (&self.token_file, &self.token) {
            (Some(f), _) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the token file {}", f.display()))?
                    .trim()
                    .to_owned(),
            ),
            (None, t) => t.clone(),
        };
        let user = match &self.user {
            Some(u) => {
                // The password only from the environment: never on a command line.
                let p = std::env::var("NATS_PASSWORD").map_err(|_| {
                    anyhow::anyhow!(
                        "--user {u} needs its password in the environment variable NATS_PASSWORD"
                    )
                })?;
                Some((u.clone(), p))
            }
            None => None,
        };
        Ok(shmbus_bridge::Auth {
            token,
            user,
            creds: self.creds.clone(),
            ..Default::default()
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct OutArgs {
    /// Journal to publish (a ring or a persisted journal).
    journal: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Stream name (created if missing; an existing one must have exactly --subject).
    #[arg(long, required_unless_present = "core")]
    stream: Option<String>,
    /// Subject to publish on.
    #[arg(long)]
    subject: String,
    /// Publish on the plain NATS subject (no stream, no acks): lower latency; a disconnect loses
    /// messages, which `bridge in --core` records as gap frames.
    #[arg(long, conflicts_with_all = ["stream", "replicas", "max_age", "max_bytes", "stats_interval"])]
    core: bool,
    /// Where to start when the stream holds nothing from this journal: start, end or a
    /// sequence (otherwise the bridge goes on after the stream's last message).
    #[arg(long, default_value = "start", value_parser = parse_from)]
    from: From,
    /// Publishes awaiting their ack, at most.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65536))]
    window: u32,
    /// Replicas of the stream it creates (checked on an existing stream when given).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    replicas: Option<u8>,
    /// Maximum age of messages in the stream it creates, in seconds (checked when given).
    #[arg(long, value_parser = parse_seconds)]
    max_age: Option<f64>,
    /// Maximum bytes of the stream it creates, e.g. 10G (checked when given).
    #[arg(long, value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Print a line of figures (msg/s, bytes/s, in flight, lag, totals) to stderr every SECS.
    #[arg(long, value_name = "SECS", value_parser = crate::bridge_stats::parse_interval)]
    stats_interval: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct InArgs {
    /// Local journal to write (create it first with `shmbus journal create`).
    journal: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Stream to read.
    #[arg(long, required_unless_present = "core")]
    stream: Option<String>,
    /// Subscribe to the plain NATS subject --subject that `bridge out --core` publishes on;
    /// a jump in its sequences is written as a gap frame with the range lost.
    #[arg(long, requires = "subject", conflicts_with_all = ["stream", "durable", "max_ack_pending", "stats_interval", "slots", "candles"])]
    core: bool,
    /// The subject to subscribe to (with --core).
    #[arg(long)]
    subject: Option<String>,
    /// Durable consumer name (default: shmbus-in- and the journal's name).
    #[arg(long)]
    durable: Option<String>,
    /// Messages delivered and not yet acked, at most.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_ack_pending: u32,
    /// Messages committed to the journal together, at most.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,
    /// Print a line of figures (msg/s, bytes/s, in flight, lag, totals) to stderr every SECS.
    #[arg(long, value_name = "SECS", value_parser = crate::bridge_stats::parse_interval)]
    stats_interval: Option<f64>,
    #[command(flatten)]
    mirror: MirrorArgs,
}

/// `bridge in --slots / --candles`: the journal's Trade and Bar messages mirrored into regions.
#[derive(Debug, clap::Args)]
struct MirrorArgs {
    /// Also keep this slot table at the latest TradingData of every symbol, from the Trade
    /// messages (created if missing; an existing one must be empty or this bridge's own).
    #[arg(long, value_name = "TABLE")]
    slots: Option<String>,
    /// Slots of a table --slots creates.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    slots_capacity: u32,
    /// Also upsert the Bar messages into this candle region (created if missing).
    #[arg(long, value_name = "REGION")]
    candles: Option<String>,
    /// Size of a region --candles creates, e.g. 128M.
    #[arg(long, value_parser = parse_size, default_value_t = shmbus::candles::DEFAULT_SIZE)]
    candles_size: u64,
}

fn parse_from(s: &str) -> Result<From, String> {
    match s {
        "start" => Ok(From::Start),
        "end" => Ok(From::End),
        n => n
            .parse()
            .map(From::Seq)
            .map_err(|_| format!("invalid --from {n:?}: use start, end or a sequence number")),
    }
}

/// Runs `f` on a runtime until it ends or Ctrl-C / SIGTERM asks it to stop. `one_thread`: a
/// current-thread runtime (`bridge out`: its loop and the NATS client's writer then hand
/// publishes over without waking another thread, which measured faster on 2 vCPUs; `bridge in`
/// measured slower that way).
fn run_async<T>(
    one_thread: bool,
    f: impl AsyncFnOnce(tokio::sync::watch::Receiver<bool>) -> Result<T>,
) -> Result<T> {
    let rt = if one_thread {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(2);
        b
    }
    .enable_all()
    .build()
    .context("cannot start the async runtime")?;
    rt.block_on(async {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let flag = crate::watch::stop_flag();
        tokio::spawn(async move {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = tx.send(true);
        });
        f(rx).await
    })
}

/// The `--stats-interval` printer of a bridge, if asked for.
fn stats_printer(
    journal: &str,
    dir: Direction,
    stream: &str,
    interval: Option<f64>,
) -> Option<crate::bridge_stats::Printer> {
    let name = shmbus::bridge_status::status_name(journal, dir, stream).ok()?;
    interval.map(|i| crate::bridge_stats::Printer::start(name, dir, i))
}

pub fn run(c: &BridgeCommand) -> Result<()> {
    match c {
        BridgeCommand::Out(a) => {
            let o = OutOptions {
                journal: a.journal.clone(),
                url: a.server.nats.clone(),
                auth: a.server.auth()?,
                stream: a.stream.clone().unwrap_or_default(),
                subject: a.subject.clone(),
                from: a.from,
                window: a.window as usize,
                replicas: a.replicas.map(usize::from),
                max_age: a.max_age.map(Duration::from_secs_f64),
                max_bytes: a
                    .max_bytes
                    .map(i64::try_from)
                    .transpose()
                    .context("--max-bytes is too large")?,
            };
            let stats = if a.core {
                run_async(true, async |stop| {
                    shmbus_bridge::run_out_core(&o, stop).await
                })?
            } else {
                let printer =
                    stats_printer(&o.journal, Direction::Out, &o.stream, a.stats_interval);
                let stats = run_async(true, async |stop| shmbus_bridge::run_out(&o, stop).await)?;
                if let Some(p) = printer {
                    p.finish();
                }
                stats
            };
            errln!("shmbus bridge out: stopped: {stats}");
        }
        BridgeCommand::In(a) if a.core => {
            let o = shmbus_bridge::CoreInOptions {
                url: a.server.nats.clone(),
                auth: a.server.auth()?,
                subject: a.subject.clone().unwrap_or_default(),
                journal: a.journal.clone(),
                batch: a.batch as usize,
            };
            let stats = run_async(false, async |stop| {
                shmbus_bridge::run_in_core(&o, stop).await
            })?;
            errln!("shmbus bridge in: stopped: {stats}");
        }
        BridgeCommand::In(a) => {
            if a.subject.is_some() {
                anyhow::bail!(
                    "bridge in: --subject is for --core only (without it, the stream given by --stream is read)"
                );
            }
            let o = InOptions {
                url: a.server.nats.clone(),
                auth: a.server.auth()?,
                stream: a.stream.clone().unwrap_or_default(),
                durable: a.durable.clone(),
                journal: a.journal.clone(),
                max_ack_pending: i64::from(a.max_ack_pending),
                batch: a.batch as usize,
                mirror: shmbus_bridge::MirrorOptions {
                    slots: a.mirror.slots.clone(),
                    slots_capacity: a.mirror.slots_capacity,
                    candles: a.mirror.candles.clone(),
                    candles_size: a.mirror.candles_size,
                },
            };
            let printer = stats_printer(&o.journal, Direction::In, &o.stream, a.stats_interval);
            let stats = run_async(false, async |stop| shmbus_bridge::run_in(&o, stop).await)?;
            if let Some(p) = printer {
                p.finish();
            }
            errln!("shmbus bridge in: stopped: {stats}");
        }
    }
    Ok(())
}
