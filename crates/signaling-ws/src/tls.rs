//! TLS with rustls (ring provider): the server's certificate and key, the accepting listener
//! that hands finished handshakes to axum, and the client's root store for `wss://`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::RootCertStore;
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::accept::{accept_failed, admit, Accept};
use crate::addrs::{Addresses, Held};
use crate::metrics::{Handshake, Metrics};

/// TLS handshakes in progress at once; further TCP connections wait in the accept backlog.
const MAX_HANDSHAKES: usize = 1024;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The PEM text is malformed.
    #[error("bad PEM in {what}: {source}")]
    Pem {
        /// Which input (`certificate chain`, `private key`, `root certificates`).
        what: &'static str,
        /// The parser's error.
        #[source]
        source: pem::Error,
    },
    /// The certificate input holds no `CERTIFICATE` block.
    #[error("no certificate found in the certificate chain")]
    NoCertificate,
    /// rustls refused the certificate, key or root store.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server's TLS setting: a certificate chain and private key (PEM), or a ready rustls
/// configuration. Set [`ServerConfig::tls`](crate::ServerConfig::tls) to serve `https://` and
/// `wss://` instead of plain HTTP.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("alpn_protocols", &self.config.alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Loads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or
    /// SEC1) from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Self::from_pem(&read(cert_chain.as_ref())?, &read(private_key.as_ref())?)
    }

    /// The same, from PEM text in memory.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<Self, TlsError> {
        let certs = parse_certs(cert_chain, "certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(private_key).map_err(|source| TlsError::Pem {
            what: "private key",
            source,
        })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
        })
    }

    /// Uses a rustls configuration as it is (client authentication, certificate resolvers,
    /// another crypto provider). The server speaks HTTP/1.1 only.
    pub fn from_rustls(config: Arc<rustls::ServerConfig>) -> Self {
        Self { config }
    }
}

/// A rustls client configuration that trusts only the CA certificates in `roots_pem`, for
/// [`ClientConfig::tls`](crate::ClientConfig::tls) (a private CA, or a self-signed server).
pub fn client_tls_with_roots(roots_pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(roots_pem, "root certificates")? {
        roots.add(cert)?;
    }
    client_tls(roots)
}

/// The client's configuration for `wss://` when none is given: the Mozilla root store
/// (webpki-roots), ring provider.
pub(crate) fn default_client_tls() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    static DEFAULT: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    if let Some(config) = DEFAULT.get() {
        return Ok(Arc::clone(config));
    }
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = client_tls(roots)?;
    Ok(Arc::clone(DEFAULT.get_or_init(|| config)))
}

fn client_tls(roots: RootCertStore) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn parse_certs(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// A source of connections whose TLS handshake has finished. Handshakes run in their own
/// tasks (bounded in number and time), so a slow client cannot stall accepting.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<Held<TcpStream>>, SocketAddr)>,
    accept_task: JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(
        listener: TcpListener,
        tls: &ServerTls,
        handshake_timeout: Duration,
        addrs: Arc<Addresses>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let acceptor = TlsAcceptor::from(Arc::clone(&tls.config));
        let (tx, ready) = mpsc::channel(64);
        let accept_task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            tx,
            handshake_timeout,
            addrs,
            metrics,
        ));
        Self { ready, accept_task }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        // The serve loop drops the listener when it stops accepting (graceful shutdown).
        self.accept_task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<Held<TcpStream>>, SocketAddr)>,
    handshake_timeout: Duration,
    addrs: Arc<Addresses>,
    metrics: Arc<Metrics>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else {
            return;
        };
        let (tcp, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_failed(&e, &metrics).await;
                continue;
            }
        };
        // Before the handshake: one address cannot hold every handshake slot.
        let Some(tcp) = admit(tcp, addr, &addrs, &metrics) else {
            continue;
        };
        // Signals are small and latency-bound.
        let _ = tcp.io.set_nodelay(true);
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        let metrics = Arc::clone(&metrics);
        tokio::spawn(async move {
            match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    drop(permit);
                    metrics.handshake(Handshake::Ok);
                    let _ = ready.send((stream, addr)).await;
                }
                Ok(Err(e)) => {
                    metrics.handshake(Handshake::Failed);
                    tracing::debug!(%addr, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    metrics.handshake(Handshake::Timeout);
                    tracing::debug!(%addr, "TLS handshake timed out");
                }
            }
        });
    }
}

impl Accept for TlsListener {
    type Io = TlsStream<Held<TcpStream>>;

    async fn next(&mut self) -> (Self::Io, SocketAddr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task holds a sender until it is aborted, which only our Drop does.
            None => std::future::pending().await,
        }
    }
}
