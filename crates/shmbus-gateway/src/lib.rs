//! # shmbus-gateway: HTTP and WebSocket straight from shared memory
//!
//! A read-only server over shmbus regions, used by `shmbus serve`: JSON over HTTP for regions,
//! slot tables, journals and candle stores; live subscriptions over a WebSocket; Prometheus
//! metrics. Every region is mapped read-only; the gateway writes no record, header or frame
//! (a sleeping journal reader only counts itself in the doorbell page's waiter word, like every
//! blocking reader: docs/FORMAT.md 5.4).
//!
//! Inside, each journal, slot table or candle store that somebody subscribes to has **one**
//! reader, on a dedicated thread (journals sleep in the core's futex wait with a timeout, never
//! on a runtime worker), which fans each update out to every subscriber's bounded queue. A slow
//! client never slows that reader or any other client: its journal subscriptions fall behind in
//! the region itself (the ring is the buffer) and get an exact gap notice if the ring overwrites
//! what they had not yet received. The protocol is in docs/GATEWAY.md.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let config = shmbus_gateway::Config::default();
//! let listener = tokio::net::TcpListener::bind(config.listen).await?;
//! shmbus_gateway::serve(listener, config, std::future::pending()).await
//! # }
//! ```

mod access;
mod bridge_metrics;
mod dashboard;
mod error;
mod http;
mod hub;
pub mod json;
mod metrics;
mod outbox;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use dashboard::CHART_LIBRARY_VERSION;
pub use error::ApiError;
pub use outbox::DEFAULT_QUEUE_BYTES;

/// Default most WebSocket clients at once.
pub const DEFAULT_MAX_CLIENTS: usize = 1000;
/// Shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a gateway serves and how.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (default 127.0.0.1:8080).
    pub listen: SocketAddr,
    /// Directory that `/api/regions` lists (default /dev/shm).
    pub dir: PathBuf,
    /// File-path regions that may be served (shared-memory names always may).
    pub regions: Vec<String>,
    /// Bearer token required on every request but `/healthz`, if set.
    pub token: Option<String>,
    /// Bound of each WebSocket client's send queue, in bytes.
    pub queue_bytes: usize,
    /// Most WebSocket clients at once (more are answered 503): with `queue_bytes`, this bounds
    /// the memory all queues can take.
    pub max_clients: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dir: PathBuf::from(shmbus::SHM_DIR),
            regions: Vec::new(),
            token: None,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            max_clients: DEFAULT_MAX_CLIENTS,
        }
    }
}

impl Config {
    /// Refuses a configuration that would expose the data unprotected: a non-loopback listen
    /// address without a token, or an empty token.
    ///
    /// # Errors
    ///
    /// A one-line reason saying what to change.
    pub fn check(&self) -> Result<(), String> {
        if let Some(t) = &self.token {
            if t.chars().count() < MIN_TOKEN_LEN {
                return Err(format!(
                    "the token has {} characters: put a secret of at least {MIN_TOKEN_LEN} URL-safe characters in the --token-file (e.g. `head -c 24 /dev/urandom | base64 | tr +/ -_`)",
                    t.chars().count()
                ));
            }
            if let Some(c) = t
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-_.~".contains(*c)))
            {
                return Err(format!(
                    "the token contains {c:?}: use only letters, digits and - _ . ~ (it is also sent as ?token= in URLs)"
                ));
            }
        }
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            return Err(format!(
                "refusing to listen on {} without a token: anyone who can reach it could read every region; pass --token-file FILE, or listen on 127.0.0.1",
                self.listen
            ));
        }
        if self.max_clients == 0 {
            return Err("--max-clients must be at least 1".into());
        }
        if self.queue_bytes < 4096 {
            return Err(format!(
                "the client queue bound {} is too small: use at least 4096 bytes",
                self.queue_bytes
            ));
        }
        for r in &self.regions {
            shmbus::RegionName::parse(r).map_err(|e| format!("--region {r:?}: {e}"))?;
        }
        Ok(())
    }
}

/// State shared by every request and connection.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) config: Config,
    pub(crate) access: access::Access,
    pub(crate) hubs: hub::Hubs,
    pub(crate) stats: Arc<metrics::GatewayStats>,
}

/// The gateway's routes, for embedding in another axum application.
///
/// # Errors
///
/// The configuration is refused by [`Config::check`].
pub fn router(config: Config) -> Result<axum::Router, String> {
    config.check()?;
    let state = Arc::new(AppState {
        access: access::Access::new(&config),
        hubs: hub::Hubs::default(),
        stats: Arc::default(),
        config,
    });
    Ok(http::routes(state))
}

/// Serves `config` on `listener` until `shutdown` completes.
///
/// # Errors
///
/// The configuration is refused ([`Config::check`]; as `InvalidInput`), or the server fails.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let app = router(config).map_err(std::io::Error::other)?;
    // Each frame goes out at once: with Nagle's algorithm a small frame waits for the ACK of
    // the previous one (tens of ms behind a delayed ACK).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
