//! Server configuration: limits, timers, tokens and static files.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::tls::ServerTls;
use crate::token::RoomTokenKey;

/// Everything the server can be told; [`ServerConfig::default`] is a sane production start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits that protect the server from clients.
    pub limits: Limits,
    /// How long a dropped peer stays suspended and can resume (default 30 s).
    pub grace: Duration,
    /// The interval between WebSocket pings from the server (default 15 s).
    pub ping_interval: Duration,
    /// How long after a ping a connection may stay silent before it is declared dead (default
    /// 10 s).
    pub pong_timeout: Duration,
    /// When set, `join` must carry a room token signed with this key (see [`RoomTokenKey`]).
    pub room_tokens: Option<RoomTokenKey>,
    /// Room tokens that expire later than this from now are refused as `invalid-token`
    /// (default 24 h): a leaked token is not a key for years.
    pub max_token_lifetime: Duration,
    /// When not empty, a WebSocket upgrade whose `Origin` header is not in this list is refused
    /// with HTTP 403 (exact match, e.g. `https://app.example.com`). Requests without `Origin`
    /// (non-browser clients) are allowed. Empty by default: any origin.
    pub allowed_origins: Vec<String>,
    /// When set, files under this directory are served for every path that is not an endpoint
    /// or an [`embedded`](Self::embedded) file.
    pub static_dir: Option<PathBuf>,
    /// Files compiled into the program (e.g. a browser page), each served at its own path
    /// (empty by default). They take precedence over `static_dir`.
    pub embedded: &'static [EmbeddedFile],
    /// When set, `/metrics` is served on this address (plain HTTP, its own listener) and not
    /// on the main one, so it need not be public (default: on the main address).
    pub metrics_addr: Option<SocketAddr>,
    /// Addresses of reverse proxies whose `X-Forwarded-For` header names the client (empty by
    /// default: the header is ignored). Connections from them are not limited per address;
    /// their clients are, by forwarded address.
    pub trusted_proxies: Vec<IpAddr>,
    /// When set, rooms live in this Redis (e.g. `redis://127.0.0.1:6379/0`) instead of in this
    /// process: any number of server processes using the same Redis serve the same rooms, a
    /// client resumes on any of them, and a restart of one loses no accepted message (see
    /// `docs/signaling-protocol.md`, "Backends"). Default: in memory.
    pub redis_url: Option<String>,
    /// When set, the server speaks TLS (`https://`, `wss://`) with this certificate and key
    /// (see [`ServerTls::from_pem_files`]); otherwise plain HTTP.
    pub tls: Option<ServerTls>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            grace: Duration::from_secs(30),
            ping_interval: Duration::from_secs(15),
            pong_timeout: Duration::from_secs(10),
            room_tokens: None,
            max_token_lifetime: Duration::from_secs(24 * 3600),
            allowed_origins: Vec::new(),
            static_dir: None,
            embedded: &[],
            tls: None,
            trusted_proxies: Vec::new(),
            metrics_addr: None,
            redis_url: None,
        }
    }
}

/// A file compiled into the program (`include_bytes!`), served by the server at `path`.
///
/// A path ending in `/index.html` is also served at its folder (`/index.html` at `/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedFile {
    /// The URL path, starting with `/` (e.g. `/app.js`).
    pub path: &'static str,
    /// The `Content-Type` header (e.g. `text/javascript; charset=utf-8`).
    pub content_type: &'static str,
    /// The file's bytes.
    pub body: &'static [u8],
}

/// Limits with their defaults; each violation has an error code or a close code.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted WebSocket message, in bytes (default 64 KiB); larger: close 1009.
    pub max_message_size: usize,
    /// Deepest nesting of arrays and objects in a signal's `data` (default 32); deeper:
    /// `bad-message`. Receivers parse `data`; this bounds their recursion.
    pub max_data_depth: usize,
    /// Longest room name, in bytes (default 128).
    pub max_room_name: usize,
    /// Peers (connected or suspended) per room (default 16).
    pub max_peers_per_room: usize,
    /// Concurrent WebSocket connections (default 10,000); beyond: HTTP 503 before the upgrade.
    pub max_connections: usize,
    /// Sustained frames per second per connection (token bucket refill, default 50). Every
    /// frame counts: text, binary, and the WebSocket control frames ping and pong.
    pub messages_per_second: u32,
    /// Token bucket size: frames a connection may send in a burst (default 100).
    pub message_burst: u32,
    /// Time from connect to `join`/`resume` (default 10 s); then close 4001.
    pub join_timeout: Duration,
    /// Frames queued to one connection before it counts as a slow consumer and is closed with
    /// 4010 (default 256).
    pub outbound_queue: usize,
    /// Bytes of relayed frames queued to one connection (not yet written to its socket) before
    /// it counts as a slow consumer and is closed with 4010 (default 256 KiB). A frame is
    /// always accepted into an empty queue. Queued frames are shared with the resume buffer,
    /// so a client that stops reading holds about `resume_buffer_bytes` of messages.
    pub outbound_queue_bytes: usize,
    /// Bytes the WebSocket layer may buffer for one socket that does not drain (default
    /// 128 KiB): written frames and the automatic pongs of a client that never reads. Must
    /// exceed `max_message_size` by at least 1 KiB. A frame that does not fit marks a slow
    /// consumer; pongs beyond it are coalesced into one.
    pub max_write_buffer: usize,
    /// Messages kept per peer for resume (default 256); a suspended peer that overflows it is
    /// evicted (`peer-left`); a connected peer's oldest entries are dropped (resume from before
    /// them fails with `resume-gap`).
    pub resume_buffer: usize,
    /// Bytes kept per peer for resume (default 1 MiB), with the same policy.
    pub resume_buffer_bytes: usize,
    /// Bytes held for all clients together, in resume buffers and outbound queues (default
    /// 256 MiB; a frame in both counts twice, so the bound is conservative). Beyond it, the
    /// oldest suspended peers are evicted first (`peer-left`; `drops{memory_budget}`), then
    /// the recipient's oldest kept messages are dropped (a resume from before them fails with
    /// `resume-gap`).
    pub max_held_bytes: usize,
    /// Time allowed to write one frame to a socket (default 10 s); then it is a slow consumer.
    pub write_timeout: Duration,
    /// Time a client has to send a request's headers, from the connection (or the end of the
    /// previous response on a keep-alive connection) (default 5 s); then the connection is
    /// closed. This is also the idle timeout of HTTP connections that are not WebSockets.
    pub header_timeout: Duration,
    /// Time a new connection has to finish the TLS handshake (default 5 s).
    pub tls_handshake_timeout: Duration,
    /// Open connections per client address (IPv6: per /64), counted from accept (before TLS
    /// and HTTP) (default 64); open connections and suspended peers together may reach twice
    /// this (so every peer of an address whose network dropped can come back and resume).
    /// Beyond, a new connection is closed at once (or, behind a trusted proxy, refused with
    /// HTTP 429).
    pub max_connections_per_address: usize,
    /// Sustained `join`/`resume` per second per client address (default 10).
    pub joins_per_second_per_address: u32,
    /// Joins a client address may make in a burst (default 40).
    pub join_burst_per_address: u32,
    /// Failed joins and resumes (bad or expired token, full room, invalid room, unknown resume
    /// token) per minute per client address (default 30, also the burst); beyond, the
    /// address's joins are refused until its allowance refills.
    pub failed_joins_per_minute_per_address: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_size: 64 * 1024,
            max_data_depth: 32,
            max_room_name: 128,
            max_peers_per_room: 16,
            max_connections: 10_000,
            messages_per_second: 50,
            message_burst: 100,
            join_timeout: Duration::from_secs(10),
            outbound_queue: 256,
            outbound_queue_bytes: 256 * 1024,
            max_write_buffer: 128 * 1024,
            resume_buffer: 256,
            resume_buffer_bytes: 1024 * 1024,
            max_held_bytes: 256 * 1024 * 1024,
            write_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(5),
            tls_handshake_timeout: Duration::from_secs(5),
            max_connections_per_address: 64,
            joins_per_second_per_address: 10,
            join_burst_per_address: 40,
            failed_joins_per_minute_per_address: 30,
        }
    }
}
