//! How a [`SignalingClient`](crate::SignalingClient) connects, reconnects and gets room
//! tokens.

use std::sync::Arc;
use std::time::Duration;

/// How the client connects and reconnects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The server's WebSocket URL, e.g. `ws://127.0.0.1:8080/ws` or `wss://signal.example/ws`.
    pub url: String,
    /// TLS for `wss://` URLs; `None` trusts the Mozilla root store (webpki-roots). Build one that
    /// trusts a private CA with [`client_tls_with_roots`](crate::client_tls_with_roots).
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The room to join.
    pub room: String,
    /// A signed room token, when the server requires one.
    pub token: Option<String>,
    /// Where fresh room tokens come from (default none): asked before every `join`, including
    /// the one after a resume turned out impossible, so a client whose first token has expired
    /// can still rejoin its room. `None` from it falls back to `token`.
    pub token_source: Option<TokenSource>,
    /// Time allowed for connecting and the join/resume handshake (default 10 s).
    pub connect_timeout: Duration,
    /// First reconnect delay (default 100 ms); doubles up to `backoff_max`, with jitter.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (default 5 s).
    pub backoff_max: Duration,
    /// How long to keep trying to reconnect before giving up (default 60 s).
    pub reconnect_for: Duration,
    /// Interval of WebSocket pings from the client (default 15 s).
    pub ping_interval: Duration,
    /// Silence after which the connection is considered lost (default 30 s).
    pub read_timeout: Duration,
    /// Acknowledge received messages every this many (default 16).
    pub ack_every: u64,
    /// Other URLs of the same service (server processes sharing one Redis): a reconnect that
    /// fails on one URL tries the next (default none).
    pub fallback_urls: Vec<String>,
}

impl ClientConfig {
    /// Defaults for `url` and `room`.
    pub fn new(url: &str, room: &str) -> Self {
        Self {
            url: url.to_owned(),
            tls: None,
            room: room.to_owned(),
            token: None,
            token_source: None,
            connect_timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            reconnect_for: Duration::from_secs(60),
            ping_interval: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            ack_every: 16,
            fallback_urls: Vec::new(),
        }
    }

    /// The same, with a signed room token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The same, with a source of fresh room tokens (see
    /// [`token_source`](Self::token_source)).
    pub fn with_token_source(
        mut self,
        source: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.token_source = Some(TokenSource(Arc::new(source)));
        self
    }

    /// The same, with a TLS configuration for `wss://` (e.g. from
    /// [`client_tls_with_roots`](crate::client_tls_with_roots)).
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The same, with other URLs to reconnect to (see [`fallback_urls`](Self::fallback_urls)).
    pub fn with_fallback_urls(mut self, urls: impl IntoIterator<Item = String>) -> Self {
        self.fallback_urls = urls.into_iter().collect();
        self
    }

    /// The same, with another reconnect budget.
    pub fn with_reconnect_for(mut self, budget: Duration) -> Self {
        self.reconnect_for = budget;
        self
    }
}

/// A source of fresh room tokens for [`ClientConfig::token_source`].
#[derive(Clone)]
pub struct TokenSource(pub Arc<dyn Fn() -> Option<String> + Send + Sync>);

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSource")
    }
}
