//! Accepting connections and serving HTTP/1.1 on them: accept errors are logged and counted,
//! every request's headers must arrive within the header timeout (which also closes idle
//! keep-alive connections), and each request carries the client's address.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::addrs::{Addresses, Admission, Held};
use crate::metrics::{AcceptError, DropReason, Metrics};

/// Largest buffered request head (request line and headers); hyper's minimum is 8 KiB.
pub(crate) const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Pause after an accept error that is not about one connection (e.g. out of descriptors), so
/// the loop does not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(250);

/// A source of accepted connections with their peer addresses.
pub(crate) trait Accept: Send + 'static {
    /// The connection's stream.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection; errors are handled (logged, counted, retried) inside.
    fn next(&mut self) -> impl Future<Output = (Self::Io, SocketAddr)> + Send;
}

/// Plain TCP.
pub(crate) struct TcpIncoming {
    pub(crate) listener: TcpListener,
    pub(crate) addrs: Arc<Addresses>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Accept for TcpIncoming {
    type Io = Held<TcpStream>;

    async fn next(&mut self) -> (Held<TcpStream>, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, addr)) => {
                    let Some(held) = admit(tcp, addr, &self.addrs, &self.metrics) else {
                        continue;
                    };
                    // Signals are small and latency-bound.
                    let _ = held.io.set_nodelay(true);
                    return (held, addr);
                }
                Err(e) => accept_failed(&e, &self.metrics).await,
            }
        }
    }
}

/// Counts `tcp` against its address; None (the connection is closed) when the address
/// already has its maximum.
pub(crate) fn admit<T>(
    tcp: T,
    addr: SocketAddr,
    addrs: &Arc<Addresses>,
    metrics: &Metrics,
) -> Option<Held<T>> {
    let slot = match addrs.admit_peer(addr.ip()) {
        Admission::Counted(slot) => Some(slot),
        Admission::Proxy => None,
        Admission::Refused => {
            metrics.dropped(DropReason::AddressLimit);
            tracing::debug!(%addr, "connection refused: per-address limit");
            return None;
        }
    };
    Some(Held {
        io: tcp,
        _slot: slot,
    })
}

/// Logs and counts a failed `accept`; pauses unless the error was about one connection only.
pub(crate) async fn accept_failed(e: &io::Error, metrics: &Metrics) {
    let kind = classify(e);
    metrics.accept_error(kind);
    match kind {
        AcceptError::Connection => tracing::debug!(error = %e, "accept: connection failed"),
        AcceptError::NoDescriptors => {
            tracing::error!(error = %e, "accept failed: out of file descriptors; raise the limit (ulimit -n) or lower max_connections");
            tokio::time::sleep(ACCEPT_BACKOFF).await;
        }
        AcceptError::Other => {
            tracing::error!(error = %e, "accept failed");
            tokio::time::sleep(ACCEPT_BACKOFF).await;
        }
    }
}

/// Sorts an accept error: one aborted connection, the process or system out of descriptors
/// (EMFILE, ENFILE) or memory for sockets (ENOBUFS, ENOMEM), or anything else.
pub(crate) fn classify(e: &io::Error) -> AcceptError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset => return AcceptError::Connection,
        io::ErrorKind::OutOfMemory => return AcceptError::NoDescriptors,
        _ => {}
    }
    // Linux errno values: ENOMEM 12, ENFILE 23, EMFILE 24, ENOBUFS 105.
    match e.raw_os_error() {
        Some(12 | 23 | 24 | 105) => AcceptError::NoDescriptors,
        _ => AcceptError::Other,
    }
}

/// Serves `router` on every connection from `incoming` until `stop` turns true, then lets open
/// HTTP exchanges finish (upgraded WebSockets are no longer HTTP's: they have their own tasks).
pub(crate) fn spawn_serve<I: Accept>(
    mut incoming: I,
    router: Router,
    mut stop: watch::Receiver<bool>,
    header_timeout: Duration,
    metrics: Arc<Metrics>,
) -> JoinHandle<io::Result<()>> {
    tokio::spawn(async move {
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_buf_size(MAX_REQUEST_HEAD)
            .keep_alive(true);
        let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
        loop {
            let (io, addr) = tokio::select! {
                biased;
                () = async { let _ = stop.wait_for(|down| *down).await; } => break,
                conn = incoming.next() => conn,
            };
            let service = TowerToHyperService::new(router.clone());
            let counters = Arc::clone(&metrics);
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                if !req.headers().contains_key(hyper::header::UPGRADE) {
                    Metrics::inc(&counters.http_requests);
                }
                req.extensions_mut().insert(ConnectInfo(addr));
                hyper::service::Service::call(&service, req)
            });
            let conn = http
                .serve_connection(TokioIo::new(io), service)
                .with_upgrades();
            let mut stop = stop.clone();
            let open = open_tx.clone();
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let mut conn = pin!(conn);
                let served = tokio::select! {
                    served = conn.as_mut() => served,
                    () = async { let _ = stop.wait_for(|down| *down).await; } => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = served {
                    if e.is_timeout() {
                        Metrics::inc(&metrics.header_timeouts);
                        tracing::debug!(%addr, "HTTP header timeout");
                    } else {
                        tracing::trace!(%addr, error = %e, "HTTP connection failed");
                    }
                }
                drop(open);
            });
        }
        drop(incoming);
        drop(open_tx);
        while open_rx.recv().await.is_some() {}
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_errors_are_sorted() {
        let emfile = io::Error::from_raw_os_error(24);
        assert_eq!(classify(&emfile), AcceptError::NoDescriptors);
        assert_eq!(
            classify(&io::Error::from_raw_os_error(23)),
            AcceptError::NoDescriptors
        );
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::ConnectionAborted)),
            AcceptError::Connection
        );
        assert_eq!(
            classify(&io::Error::from(io::ErrorKind::PermissionDenied)),
            AcceptError::Other
        );
    }
}
