//! `shmbus bridge`: carries a journal's messages into a NATS JetStream stream (`out`) and a
//! stream's messages into a local journal (`in`), exactly once across restarts and kill -9.
//!
//! docs/BRIDGE.md gives the design and the exactly-once argument; in short:
//!
//! * **out** publishes every frame with headers naming it (`Shmbus-Journal` = the creation time
//!   of the journal file holding it, `Shmbus-Seq`, `Shmbus-Type`) and `Nats-Msg-Id` =
//!   journal id + sequence, pipelined with a bounded window of acks in flight. Each publish
//!   carries `Nats-Expected-Last-Msg-Id` = the id of the message before it, so the stream can
//!   only ever hold a gap-free prefix of the journal; on any ack error, and on every start,
//!   the bridge resumes after the stream's last message (read back from the stream).
//! * **in** pulls from a durable consumer, appends each message to the local journal, writes an
//!   intent record (in its status region `JOURNAL.bridge-in`) before committing a batch and
//!   acks after the commit; on start it derives the last stored stream sequence from that record
//!   and the journal's own newest sequence, and restarts the consumer just after it.
//!
//! Every bridge keeps its live figures in its status region (`shmbus::bridge_status`;
//! `JOURNAL.bridge-out.STREAM` for `out`), updated by the hooks of `ops.rs`.
//! * **mirror** (`bridge in --slots --candles`) applies the local journal's `Trade` and `Bar`
//!   messages to a slot table and a candle region after each commit, each exactly once across
//!   kill -9 (a progress record `JOURNAL.bridge-mirror` per chunk; see `Mirror`).
//! * **`--core`** ([`run_out_core`], [`run_in_core`]) carries the same messages over a plain
//!   NATS subject: lower latency, loss on a disconnect accepted but never silent (gap frames).

#![warn(missing_docs)]

mod core_mode;
mod inbound;
mod mirror;
pub mod nats_server;
mod ops;
mod outbound;
mod state;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};

pub use core_mode::{CoreInOptions, CoreInStats, run_in_core, run_out_core, server_round_trip};
pub use inbound::{InOptions, InStats, default_durable, run_in};
pub use mirror::{Mirror, MirrorOptions, MirrorStats, mirror_path};
pub use outbound::{From, OutOptions, OutStats, run_out};
pub use state::InState;

/// Header: the identity of the journal file holding the message (hex of its `created_ns`).
pub const H_JOURNAL: &str = "Shmbus-Journal";
/// Header: the message's sequence in its journal (decimal).
pub const H_SEQ: &str = "Shmbus-Seq";
/// Header: the message's type tag (decimal).
pub const H_TYPE: &str = "Shmbus-Type";
/// Header: on a gap marker, the sequences lost, `FROM-TO` (inclusive, decimal).
pub const H_GAP: &str = "Shmbus-Gap";
/// Header: when the bridge read the message, ns since the Unix epoch (frames carry no time).
pub const H_TIME: &str = "Shmbus-Time";

/// The type tag of a gap frame that `bridge in` writes for a gap marker: its payload is two
/// little-endian u64, the first and the last sequence lost on the sending side.
pub const GAP_TYPE: u16 = 0xFFFF;

/// The `Nats-Msg-Id` of a message: journal file identity and sequence.
pub fn msg_id(journal_id: u64, seq: u64) -> String {
    format!("{journal_id:016x}:{seq}")
}

/// The `Nats-Msg-Id` of a gap marker for the sequences `from..=to`.
pub fn gap_id(journal_id: u64, from: u64, to: u64) -> String {
    format!("{journal_id:016x}:gap:{from}-{to}")
}

/// Connects to a NATS server: one attempt at first (an unreachable server or a bad URL is one
/// clear error), then the client reconnects by itself, forever, with its own backoff.
///
/// # Errors
///
/// The URL is malformed, or the server cannot be reached or refuses us.
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    connect_with(url, &Auth::default()).await
}

/// How the bridge proves who it is to the NATS server: at most one of a token, a user and
/// password, or a `.creds` file (JWT + NKey seed); and TLS. TLS follows the URL (`tls://`), the
/// server's demand or [`Tls`] (any of its files asks for it), with the system's roots and
/// [`Tls::ca`].
#[derive(Clone, Default)]
pub struct Auth {
    /// A bearer token (`nats-server --auth TOKEN`).
    pub token: Option<String>,
    /// A user and its password.
    pub user: Option<(String, String)>,
    /// A credentials file (`nsc` makes them).
    pub creds: Option<std::path::PathBuf>,
    /// A private CA to trust and a client certificate to show.
    pub tls: Tls,
}

/// TLS beyond the system's roots (PEM files).
#[derive(Clone, Debug, Default)]
pub struct Tls {
    /// CA certificates to trust besides the system's (a private CA that signed the server's).
    pub ca: Option<PathBuf>,
    /// A client certificate (chain) and its private key, for servers that verify clients.
    pub cert: Option<(PathBuf, PathBuf)>,
}

impl Tls {
    /// Any TLS file given: the connection must then be TLS.
    fn wanted(&self) -> bool {
        self.ca.is_some() || self.cert.is_some()
    }

    /// Checks that the files are readable PEM of the right kind, so that a wrong path is one
    /// line naming the file (the client would only report a failed handshake).
    fn check(&self) -> Result<()> {
        let pem = |path: &Path, what: &str, marker: &str| -> Result<()> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the TLS {what} file {}", path.display()))?;
            anyhow::ensure!(
                text.contains("-----BEGIN") && text.contains(marker),
                "the TLS {what} file {} holds no PEM {}: give a PEM file (-----BEGIN {}...)",
                path.display(),
                marker.to_ascii_lowercase(),
                marker
            );
            Ok(())
        };
        if let Some(ca) = &self.ca {
            pem(ca, "CA", "CERTIFICATE")?;
        }
        if let Some((cert, key)) = &self.cert {
            pem(cert, "client certificate", "CERTIFICATE")?;
            pem(key, "client key", "PRIVATE KEY")?;
        }
        Ok(())
    }
}

impl std::fmt::Debug for Auth {
    /// Names the kind of credentials, never their text.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("creds", &self.creds)
            .field("tls", &self.tls)
            .finish()
    }
}

impl Auth {
    /// What the server is told: for an error line that says which credentials were refused.
    fn describe(&self) -> &'static str {
        match (&self.token, &self.user, &self.creds) {
            (Some(_), _, _) => "the token",
            (_, Some(_), _) => "the user and password",
            (_, _, Some(_)) => "the credentials file",
            _ => "no credentials",
        }
    }
}

/// Connects with `auth` (see [`connect`]). A refused login is one line naming what was sent.
pub async fn connect_with(url: &str, auth: &Auth) -> Result<async_nats::Client> {
    let servers = url
        .split(',')
        .map(|u| u.trim().parse::<async_nats::ServerAddr>())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("cannot connect to NATS at {url}: the URL is malformed (e.g. nats://127.0.0.1:4222, comma-separated for several servers)"))?;
    auth.tls.check()?;
    let tls = servers.iter().any(|s| s.tls_required()) || auth.tls.wanted();
    let mut options = match &auth.creds {
        Some(path) => async_nats::ConnectOptions::with_credentials_file(path)
            .await
            .with_context(|| {
                format!(
                    "cannot read the NATS credentials file {}: it must be a .creds file (a JWT and an NKey seed, as `nsc` writes)",
                    path.display()
                )
            })?,
        None => async_nats::ConnectOptions::new(),
    };
    if let Some(t) = &auth.token {
        options = options.token(t.clone());
    }
    if let Some((u, p)) = &auth.user {
        options = options.user_and_password(u.clone(), p.clone());
    }
    if let Some(ca) = &auth.tls.ca {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &auth.tls.cert {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options
        .name("shmbus-bridge")
        .require_tls(tls)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .event_callback(ops::on_event)
        .connect(servers)
        .await
        .map_err(|e| refused(url, auth, tls, &e))
}

/// The one line for a connection refused at start: what failed and what to pass.
fn refused(url: &str, auth: &Auth, tls: bool, e: &async_nats::ConnectError) -> anyhow::Error {
    use async_nats::ConnectErrorKind as K;
    // Its Display carries its source (e.g. the rustls error).
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    let at = format!("cannot connect to NATS at {url}");
    let what = if lower.contains("authoriz") || matches!(e.kind(), K::AuthorizationViolation) {
        format!(
            "the server refused {} ({text}): check --token, --user/--password or --creds (or NATS_TOKEN, NATS_USER/NATS_PASSWORD, NATS_CREDS)",
            auth.describe()
        )
    } else if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        format!(
            "{}the server's TLS certificate is signed by a CA this client does not trust ({text}): pass --tls-ca FILE with that CA's certificate (PEM)",
            if tls {
                ""
            } else {
                "the server requires TLS, and "
            }
        )
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        format!(
            "the server's TLS certificate does not name the host in the URL ({text}): connect by a name (or IP) the certificate lists"
        )
    } else if lower.contains("alert: certificaterequired")
        || lower.contains("alert: badcertificate")
        || lower.contains("alert: unknownca")
    {
        // A server that verifies clients ends the handshake with one of these alerts.
        match &auth.tls.cert {
            None => format!(
                "the server wants a TLS client certificate ({text}): pass --tls-cert FILE --tls-key FILE"
            ),
            Some((cert, _)) => format!(
                "the server refused the TLS client certificate {} ({text}): it must be signed by a CA the server trusts (nats-server --tlscacert)",
                cert.display()
            ),
        }
    } else if tls
        && (matches!(e.kind(), K::Tls)
            || lower.contains("corrupt message")
            || lower.contains("peer misbehaved")
            || lower.contains("peer is incompatible"))
    {
        // rustls reads the server's plain INFO line as a corrupt TLS record.
        format!(
            "the TLS handshake failed ({text}): check that the server has TLS on (nats-server --tls) and that --tls-ca, --tls-cert and --tls-key are the right files"
        )
    } else if matches!(e.kind(), K::Tls) {
        format!(
            "the server requires TLS and the handshake failed ({text}): use a tls:// URL and pass --tls-ca FILE if a private CA signed its certificate"
        )
    } else {
        format!("{text}: check the URL and that nats-server runs there (with -js)")
    };
    anyhow::anyhow!("{at}: {what}")
}

/// Parses a header value as a number.
fn header_u64(h: &async_nats::HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.as_str().parse().ok()
}

/// The gap range of a gap marker's header.
fn header_gap(h: &async_nats::HeaderMap) -> Option<(u64, u64)> {
    let (a, b) = h.get(H_GAP)?.as_str().split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}
