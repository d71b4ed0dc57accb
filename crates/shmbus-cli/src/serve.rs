//! `shmbus serve`: the HTTP + WebSocket gateway (crate `shmbus-gateway`) over the regions.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::size::parse_size;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Directory whose regions /api/regions lists.
    #[arg(long, default_value = shmbus::SHM_DIR)]
    dir: PathBuf,
    /// A file-path region that may be served (repeatable); shared-memory names always may.
    #[arg(long = "region", value_name = "PATH")]
    regions: Vec<String>,
    /// File holding the bearer token that every request but /healthz must carry
    /// (required to listen on anything but loopback).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Bound of each WebSocket client's send queue (e.g. 256K, 4M).
    #[arg(long, value_parser = parse_size, default_value = "1M")]
    queue: u64,
    /// Most WebSocket clients at once (more are refused with 503).
    #[arg(long, default_value_t = shmbus_gateway::DEFAULT_MAX_CLIENTS)]
    max_clients: usize,
}

pub fn run(a: &ServeArgs) -> Result<()> {
    let token = a
        .token_file
        .as_ref()
        .map(|f| {
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))
                .map(|t| t.trim().to_owned())
        })
        .transpose()?;
    let config = shmbus_gateway::Config {
        listen: a.listen,
        dir: a.dir.clone(),
        regions: a.regions.clone(),
        token,
        queue_bytes: usize::try_from(a.queue).context("--queue is too large")?,
        max_clients: a.max_clients,
    };
    config.check().map_err(anyhow::Error::msg)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        // Tests and scripts read this line to find the port.
        outln!("shmbus serve: listening on http://{addr}");
        let stop = crate::watch::stop_flag();
        let shutdown = async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            r = shmbus_gateway::serve(listener, config, std::future::pending()) => r.context("the server failed"),
            () = shutdown => Ok(()),
        }
    })
}
