//! The [`Simulator`] handle: start/stop, and the Rust twin of the control API, split by
//! concept like the control API itself.

mod demo;
mod directory;
mod faults;
mod http_push;
mod inject;
mod observe;
mod serve;
mod wait;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::SimConfig;
use crate::error::{Result, SimError};
use crate::server;
use crate::state::Shared;

pub use demo::DemoSeed;
pub use observe::ApiCallCount;

/// A running simulator. Dropping it stops the server (like [`Simulator::shutdown`], without waiting).
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Starts on `127.0.0.1:0` with production timings.
    pub async fn start() -> Result<Self> {
        Self::start_with(SimConfig::default()).await
    }

    /// Starts on `127.0.0.1:0` with `config`.
    pub async fn start_with(config: SimConfig) -> Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` with `config`.
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> Result<Self> {
        let listener = listen_deep(addr)?;
        let local = listener.local_addr()?;
        let base_url = match &config.public_base_url {
            Some(u) => u.clone(),
            None => {
                let host = if local.ip().is_unspecified() {
                    "127.0.0.1".to_owned()
                } else {
                    local.ip().to_string()
                };
                Url::parse(&format!("http://{host}:{}/", local.port()))
                    .map_err(|e| SimError::Invalid(format!("base url: {e}")))?
            }
        };
        let shared = Arc::new(Shared::new(config, base_url));
        let router = server::router(Arc::clone(&shared));
        let server = tokio::spawn(serve::serve(listener, router, shared.shutdown_rx()));
        tracing::info!(%local, "DingTalk simulator listening");
        Ok(Self {
            shared,
            addr: local,
            server: Some(server),
        })
    }

    /// Stops the server and every connection, waiting (briefly) for the server to finish.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }

    /// `http://127.0.0.1:PORT/`: serves the OpenAPI, the legacy API, Stream and `/_sim`.
    #[must_use]
    pub fn base_url(&self) -> Url {
        self.shared.base_url.clone()
    }

    /// [`dingtalk::Endpoints`] pointing both APIs at the simulator.
    #[must_use]
    pub fn endpoints(&self) -> dingtalk::Endpoints {
        dingtalk::Endpoints::single(self.base_url())
    }

    /// The bound socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configuration in force.
    #[must_use]
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Monotonic ms since the sim started (the clock of every `*_ms` record).
    #[must_use]
    pub fn now_ms(&self) -> u64 {
        self.shared.now_ms()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// Binds `addr` with a deep accept queue. tokio's default of 1,024 overflowed in the 9 AM
/// bench, where thousands of turns connect at once: the kernel dropped connection attempts,
/// which then waited seconds for a retransmitted SYN or were reset. A real service behind its
/// load balancers does not refuse a burst that way. The kernel caps the queue at
/// `net.core.somaxconn`.
fn listen_deep(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)
}
