//! The HTTP side: the router (`/ws`, `/healthz`, `/readyz`, `/metrics`, static files), the
//! connection limit, and graceful shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;
use tracing::Instrument;

use crate::accept::{spawn_serve, TcpIncoming};
use crate::backend::BackendError;
use crate::config::{EmbeddedFile, ServerConfig};
use crate::hub::Hub;
use crate::metrics::{DropReason, Metrics};
use crate::protocol::CloseCode;
use crate::tls::TlsListener;

/// Initial read buffer per connection.
const READ_BUFFER: usize = 4 * 1024;
/// Bytes buffered before a write flushes (frames are flushed one by one anyway).
const WRITE_BUFFER: usize = 0;

/// The WebSocket endpoint's path.
pub const WS_PATH: &str = "/ws";

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding or inspecting the listening socket failed.
    #[error("cannot listen: {0}")]
    Listen(#[source] io::Error),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// The HTTP server ended with an error.
    #[error("server failed: {0}")]
    Serve(#[source] io::Error),
    /// The room backend (Redis) cannot be used.
    #[error("room backend: {0}")]
    Backend(#[source] BackendError),
    /// Connections were still open when the shutdown deadline passed.
    #[error("{0} connection(s) still open at the shutdown deadline")]
    ShutdownTimeout(usize),
}

/// The signaling server. Start it with [`Server::bind`] or [`Server::serve`].
#[derive(Debug)]
pub struct Server;

/// A running server: its address, and the way to stop it.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    drained: mpsc::Receiver<()>,
    task: JoinHandle<io::Result<()>>,
    metrics_task: Option<JoinHandle<io::Result<()>>>,
    metrics_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    tls: bool,
}

#[derive(Debug)]
struct Shared {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    open: AtomicUsize,
    shutdown: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and starts serving. With
    /// [`ServerConfig::redis_url`], first checks that Redis answers.
    pub async fn bind(addr: SocketAddr, config: ServerConfig) -> Result<ServerHandle, ServerError> {
        let listener = TcpListener::bind(addr).await.map_err(ServerError::Listen)?;
        let handle = Self::serve(listener, config)?;
        if let Err(e) = handle.shared.hub.backend().ready().await {
            let _ = handle.shutdown(Duration::from_secs(1)).await;
            return Err(ServerError::Backend(e));
        }
        Ok(handle)
    }

    /// Starts serving on an already bound listener (a Redis backend connects on first use).
    pub fn serve(listener: TcpListener, config: ServerConfig) -> Result<ServerHandle, ServerError> {
        check(&config)?;
        let local_addr = listener.local_addr().map_err(ServerError::Listen)?;
        let metrics = Arc::new(Metrics::default());
        let static_dir = config.static_dir.clone();
        let embedded = config.embedded;
        let tls = config.tls.clone();
        let config_metrics_addr = config.metrics_addr;
        let hub = Arc::new(Hub::new(Arc::new(config), Arc::clone(&metrics))?);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (drain_tx, drained) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            hub,
            metrics,
            open: AtomicUsize::new(0),
            shutdown: shutdown_rx.clone(),
            drain: drain_tx,
        });
        let metrics_listener = match config_metrics_addr {
            Some(addr) => {
                let std = std::net::TcpListener::bind(addr).map_err(ServerError::Listen)?;
                std.set_nonblocking(true).map_err(ServerError::Listen)?;
                Some(TcpListener::from_std(std).map_err(ServerError::Listen)?)
            }
            None => None,
        };
        let mut router = Router::new()
            .route(WS_PATH, get(upgrade))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/readyz", get(readyz));
        if metrics_listener.is_none() {
            router = router.route("/metrics", get(metrics_text));
        }
        for file in embedded {
            router = router.route(file.path, get(move || serve_embedded(file)));
            if let Some(dir) = file.path.strip_suffix("index.html") {
                router = router.route(dir, get(move || serve_embedded(file)));
            }
        }
        if let Some(dir) = static_dir {
            router = router.fallback_service(ServeDir::new(dir));
        }
        let router = router.with_state(Arc::clone(&shared));
        let limits = &shared.hub.config().limits;
        let (header_timeout, handshake_timeout) =
            (limits.header_timeout, limits.tls_handshake_timeout);
        let metrics = Arc::clone(&shared.metrics);
        let task = match &tls {
            Some(tls) => {
                let incoming = TlsListener::new(
                    listener,
                    tls,
                    handshake_timeout,
                    Arc::clone(shared.hub.addrs()),
                    Arc::clone(&metrics),
                );
                spawn_serve(incoming, router, shutdown_rx, header_timeout, metrics)
            }
            None => {
                let incoming = TcpIncoming {
                    listener,
                    addrs: Arc::clone(shared.hub.addrs()),
                    metrics: Arc::clone(&metrics),
                };
                spawn_serve(incoming, router, shutdown_rx, header_timeout, metrics)
            }
        };
        let (metrics_addr, metrics_task) = match metrics_listener {
            Some(listener) => {
                let addr = listener.local_addr().map_err(ServerError::Listen)?;
                let router = Router::new()
                    .route("/metrics", get(metrics_text))
                    .with_state(Arc::clone(&shared));
                let incoming = TcpIncoming {
                    listener,
                    addrs: Arc::clone(shared.hub.addrs()),
                    metrics: Arc::clone(&shared.metrics),
                };
                let stop = shared.shutdown.clone();
                let metrics = Arc::clone(&shared.metrics);
                let task = spawn_serve(incoming, router, stop, header_timeout, metrics);
                tracing::info!(%addr, "metrics listening");
                (Some(addr), Some(task))
            }
            None => (None, None),
        };
        tracing::info!(%local_addr, tls = tls.is_some(), "signaling server listening");
        Ok(ServerHandle {
            local_addr,
            shutdown: shutdown_tx,
            drained,
            task,
            metrics_task,
            metrics_addr,
            shared,
            tls: tls.is_some(),
        })
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The WebSocket URL of this server: `ws://<addr>/ws`, or `wss://<addr>/ws` with TLS.
    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{WS_PATH}", self.local_addr)
    }

    /// The address `/metrics` is served on: [`ServerConfig::metrics_addr`]'s bound address
    /// when set, else this server's own address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr.unwrap_or(self.local_addr)
    }

    /// Whether the server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The number of open WebSocket connections.
    pub fn connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes every WebSocket with 1001 (going away), and waits up to
    /// `deadline` for connections to finish.
    pub async fn shutdown(self, deadline: Duration) -> Result<(), ServerError> {
        let ServerHandle {
            shutdown,
            mut drained,
            task,
            metrics_task,
            shared,
            ..
        } = self;
        tracing::info!("signaling server shutting down");
        let _ = shutdown.send(true);
        shared.hub.close_all(CloseCode::GoingAway);
        let metrics = Arc::clone(&shared.metrics);
        // Our copy of the drain sender goes with `shared`; connection tasks hold the others.
        drop(shared);
        let wait = async {
            if let Some(metrics_task) = metrics_task {
                let _ = metrics_task.await;
            }
            let served = task.await;
            while drained.recv().await.is_some() {}
            served
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(ServerError::Serve(e)),
            Ok(Err(join)) => return Err(ServerError::Serve(io::Error::other(join))),
            Err(_) => {
                let open = metrics.connections_open.load(Ordering::Relaxed);
                return Err(ServerError::ShutdownTimeout(open as usize));
            }
        }
        Ok(())
    }
}

fn check(config: &ServerConfig) -> Result<(), ServerError> {
    let l = &config.limits;
    if l.max_message_size < 256 {
        return Err(ServerError::Config(
            "max_message_size must be at least 256 bytes",
        ));
    }
    if l.outbound_queue == 0 || l.resume_buffer == 0 || l.max_peers_per_room < 2 {
        return Err(ServerError::Config(
            "outbound_queue and resume_buffer must be positive, max_peers_per_room at least 2",
        ));
    }
    if l.outbound_queue_bytes == 0 || l.max_held_bytes == 0 {
        return Err(ServerError::Config(
            "outbound_queue_bytes and max_held_bytes must be positive",
        ));
    }
    if l.max_write_buffer < l.max_message_size.saturating_add(1024) {
        return Err(ServerError::Config(
            "max_write_buffer must exceed max_message_size by at least 1 KiB",
        ));
    }
    if l.messages_per_second == 0 || l.message_burst == 0 {
        return Err(ServerError::Config(
            "the message rate and burst must be positive",
        ));
    }
    if l.max_connections_per_address == 0
        || l.joins_per_second_per_address == 0
        || l.join_burst_per_address == 0
        || l.failed_joins_per_minute_per_address == 0
    {
        return Err(ServerError::Config(
            "the per-address limits must be positive",
        ));
    }
    if l.header_timeout.is_zero() || l.tls_handshake_timeout.is_zero() {
        return Err(ServerError::Config(
            "header_timeout and tls_handshake_timeout must be positive",
        ));
    }
    if config.ping_interval.is_zero() || config.pong_timeout.is_zero() {
        return Err(ServerError::Config(
            "ping_interval and pong_timeout must be positive",
        ));
    }
    Ok(())
}

/// Decrements the open-connection count when a connection ends (or never upgrades).
struct OpenGuard(Arc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
        self.0
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if *shared.shutdown.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let allowed = &shared.hub.config().allowed_origins;
    if !allowed.is_empty() {
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or(""));
        if origin.is_some_and(|o| !allowed.iter().any(|a| a == o)) {
            shared.metrics.dropped(DropReason::Origin);
            return (StatusCode::FORBIDDEN, "origin not allowed\n").into_response();
        }
    }
    let addrs = shared.hub.addrs();
    let client = addrs.client(peer.ip(), &headers);
    // A direct connection was counted when it was accepted; one through a trusted proxy is
    // counted here, by the client address the proxy forwarded.
    let slot = if addrs.is_trusted(peer.ip()) {
        match addrs.admit(client) {
            Some(slot) => Some(slot),
            None => {
                shared.metrics.dropped(DropReason::AddressLimit);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, "5")],
                    "too many connections from this address\n",
                )
                    .into_response();
            }
        }
    } else {
        None
    };
    let limits = &shared.hub.config().limits;
    if shared.open.fetch_add(1, Ordering::Relaxed) >= limits.max_connections {
        shared.open.fetch_sub(1, Ordering::Relaxed);
        shared.metrics.dropped(DropReason::ConnectionLimit);
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            "too many connections\n",
        )
            .into_response();
    }
    Metrics::inc(&shared.metrics.connections_total);
    Metrics::inc(&shared.metrics.connections_open);
    let guard = OpenGuard(Arc::clone(&shared));
    let size = limits.max_message_size;
    // Small initial buffers: they grow for large frames, and 5,000 idle connections at the
    // 128 KiB default would hold 640 MiB.
    ws.max_message_size(size)
        .max_frame_size(size)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        // Unbounded by default: pongs to a client that never reads would pile up here.
        .max_write_buffer_size(limits.max_write_buffer)
        .on_upgrade(move |socket| {
            let hub = Arc::clone(&shared.hub);
            let shutdown = shared.shutdown.clone();
            let drain = shared.drain.clone();
            async move {
                crate::conn::run(socket, hub, client, shutdown, drain).await;
                drop(slot);
                drop(guard);
            }
            .instrument(tracing::debug_span!("ws"))
        })
}

async fn serve_embedded(file: &'static EmbeddedFile) -> Response {
    (
        [
            (header::CONTENT_TYPE, file.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        file.body,
    )
        .into_response()
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if *shared.shutdown.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn metrics_text(State(shared): State<Arc<Shared>>) -> Response {
    let body = shared.metrics.render(shared.hub.gauges());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
