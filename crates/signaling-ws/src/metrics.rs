//! Counters and gauges, rendered as Prometheus text on `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a message (or a connection) was dropped; one `tether_signaling_drops_total` series each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    RateLimited,
    BadMessage,
    Binary,
    TooBig,
    UnknownPeer,
    SlowConsumer,
    Liveness,
    JoinTimeout,
    Evicted,
    ConnectionLimit,
    /// A connection refused because its address has its maximum of connections.
    AddressLimit,
    /// A join refused because its address joins too fast.
    JoinRate,
    /// A join refused because its address failed too many joins.
    FailedJoins,
    /// A suspended peer removed to keep the held bytes within the global budget.
    MemoryBudget,
    /// A connection closed for a WebSocket protocol violation (1002) or bad UTF-8 (1007).
    ProtocolViolation,
    /// A WebSocket upgrade refused for its `Origin`.
    Origin,
}

const DROPS: [(DropReason, &str); 16] = [
    (DropReason::RateLimited, "rate_limited"),
    (DropReason::BadMessage, "bad_message"),
    (DropReason::Binary, "binary"),
    (DropReason::TooBig, "too_big"),
    (DropReason::UnknownPeer, "unknown_peer"),
    (DropReason::SlowConsumer, "slow_consumer"),
    (DropReason::Liveness, "liveness"),
    (DropReason::JoinTimeout, "join_timeout"),
    (DropReason::Evicted, "evicted"),
    (DropReason::ConnectionLimit, "connection_limit"),
    (DropReason::AddressLimit, "address_limit"),
    (DropReason::JoinRate, "join_rate"),
    (DropReason::FailedJoins, "failed_joins"),
    (DropReason::MemoryBudget, "memory_budget"),
    (DropReason::ProtocolViolation, "protocol_violation"),
    (DropReason::Origin, "origin"),
];

/// Why `accept` failed; one `tether_signaling_accept_errors_total` series each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcceptError {
    /// One connection was aborted before it was accepted.
    Connection,
    /// Out of file descriptors (EMFILE, ENFILE) or socket memory: no new client gets in.
    NoDescriptors,
    Other,
}

const ACCEPT_ERRORS: [(AcceptError, &str); 3] = [
    (AcceptError::Connection, "connection"),
    (AcceptError::NoDescriptors, "no_descriptors"),
    (AcceptError::Other, "other"),
];

/// How a TLS handshake ended; one `tether_signaling_tls_handshakes_total` series each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Ok,
    Failed,
    Timeout,
}

const HANDSHAKES: [(Handshake, &str); 3] = [
    (Handshake::Ok, "ok"),
    (Handshake::Failed, "failed"),
    (Handshake::Timeout, "timeout"),
];

/// The server's counters. Gauges of rooms and peers are read from the hub at render time.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_open: AtomicU64,
    pub(crate) joins_total: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) signals_relayed: AtomicU64,
    pub(crate) resumes_ok: AtomicU64,
    pub(crate) resumes_failed: AtomicU64,
    pub(crate) suspensions_total: AtomicU64,
    pub(crate) grace_expired: AtomicU64,
    /// WebSocket ping and pong frames received from clients.
    pub(crate) control_frames_in: AtomicU64,
    /// HTTP requests other than WebSocket upgrades (`/metrics`, `/healthz`, files, ...).
    pub(crate) http_requests: AtomicU64,
    /// Connections closed because a request's headers (or the next request on an idle
    /// keep-alive connection) did not arrive within the header timeout.
    pub(crate) header_timeouts: AtomicU64,
    accept_errors: [AtomicU64; ACCEPT_ERRORS.len()],
    handshakes: [AtomicU64; HANDSHAKES.len()],
    /// Bytes of relayed frames in connections' outbound queues (a gauge).
    queued_bytes: AtomicU64,
    /// The highest held bytes (resume buffers plus queues) seen after a delivery.
    held_peak: AtomicU64,
    drops: [AtomicU64; DROPS.len()],
}

/// Room and peer gauges, sampled from the hub.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Gauges {
    pub(crate) rooms: usize,
    pub(crate) peers: usize,
    pub(crate) suspended: usize,
    pub(crate) queued_bytes: usize,
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn accept_error(&self, why: AcceptError) {
        if let Some(i) = ACCEPT_ERRORS.iter().position(|(a, _)| *a == why) {
            Self::inc(&self.accept_errors[i]);
        }
    }

    pub(crate) fn handshake(&self, how: Handshake) {
        if let Some(i) = HANDSHAKES.iter().position(|(h, _)| *h == how) {
            Self::inc(&self.handshakes[i]);
        }
    }

    /// Adds `delta` (negative: subtracts) to the queued-bytes gauge.
    pub(crate) fn queued(&self, delta: isize) {
        if delta >= 0 {
            self.queued_bytes
                .fetch_add(delta.unsigned_abs() as u64, Ordering::Relaxed);
        } else {
            self.queued_bytes
                .fetch_sub(delta.unsigned_abs() as u64, Ordering::Relaxed);
        }
    }

    /// Records the held bytes after a delivery, for the high-water mark.
    pub(crate) fn observe_held(&self, held: usize) {
        self.held_peak.fetch_max(held as u64, Ordering::Relaxed);
    }

    /// The queued-bytes gauge.
    pub(crate) fn queued_bytes(&self) -> usize {
        usize::try_from(self.queued_bytes.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    pub(crate) fn dropped(&self, why: DropReason) {
        if let Some(i) = DROPS.iter().position(|(d, _)| *d == why) {
            Self::inc(&self.drops[i]);
        }
    }

    /// The Prometheus text exposition of every series.
    pub(crate) fn render(&self, g: Gauges) -> String {
        let mut out = String::with_capacity(2048);
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        one(
            "tether_signaling_connections_total",
            "counter",
            "WebSocket connections accepted.",
            get(&self.connections_total),
        );
        one(
            "tether_signaling_connections",
            "gauge",
            "WebSocket connections open.",
            get(&self.connections_open),
        );
        one(
            "tether_signaling_rooms",
            "gauge",
            "Rooms with at least one peer.",
            g.rooms as u64,
        );
        one(
            "tether_signaling_peers",
            "gauge",
            "Peers, connected or suspended.",
            g.peers as u64,
        );
        one(
            "tether_signaling_peers_suspended",
            "gauge",
            "Peers in their grace window.",
            g.suspended as u64,
        );
        one(
            "tether_signaling_resume_buffer_bytes",
            "gauge",
            "Bytes kept for resume, all peers.",
            g.queued_bytes as u64,
        );
        let queued = get(&self.queued_bytes);
        one(
            "tether_signaling_queued_bytes",
            "gauge",
            "Bytes of relayed frames waiting in outbound queues, all connections.",
            queued,
        );
        one(
            "tether_signaling_held_bytes",
            "gauge",
            "Bytes held for clients: resume buffers plus outbound queues (an upper bound: a \
             queued frame is usually also in a resume buffer).",
            (g.queued_bytes as u64).saturating_add(queued),
        );
        one(
            "tether_signaling_held_bytes_peak",
            "gauge",
            "The highest held bytes seen since the start (checked after each delivery, before \
             the memory budget is enforced).",
            get(&self.held_peak),
        );
        one(
            "tether_signaling_joins_total",
            "counter",
            "Successful joins.",
            get(&self.joins_total),
        );
        one(
            "tether_signaling_messages_received_total",
            "counter",
            "Text frames received from clients.",
            get(&self.messages_in),
        );
        one(
            "tether_signaling_bytes_received_total",
            "counter",
            "Bytes of text frames received.",
            get(&self.bytes_in),
        );
        one(
            "tether_signaling_control_frames_received_total",
            "counter",
            "WebSocket ping and pong frames received (they count in the rate limit).",
            get(&self.control_frames_in),
        );
        one(
            "tether_signaling_messages_sent_total",
            "counter",
            "Frames written to clients.",
            get(&self.messages_out),
        );
        one(
            "tether_signaling_bytes_sent_total",
            "counter",
            "Bytes of frames written to clients.",
            get(&self.bytes_out),
        );
        one(
            "tether_signaling_signals_relayed_total",
            "counter",
            "Signals accepted for a recipient.",
            get(&self.signals_relayed),
        );
        one(
            "tether_signaling_suspensions_total",
            "counter",
            "Peers suspended after a drop.",
            get(&self.suspensions_total),
        );
        one(
            "tether_signaling_grace_expired_total",
            "counter",
            "Suspended peers removed at grace expiry.",
            get(&self.grace_expired),
        );
        one(
            "tether_signaling_http_requests_total",
            "counter",
            "Plain HTTP requests (not WebSocket upgrades).",
            get(&self.http_requests),
        );
        one(
            "tether_signaling_header_timeouts_total",
            "counter",
            "Connections closed for not sending request headers within the header timeout.",
            get(&self.header_timeouts),
        );
        let _ = writeln!(
            out,
            "# HELP tether_signaling_accept_errors_total Failed accepts, by reason.\n\
             # TYPE tether_signaling_accept_errors_total counter"
        );
        for (i, (_, label)) in ACCEPT_ERRORS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tether_signaling_accept_errors_total{{reason=\"{label}\"}} {}",
                get(&self.accept_errors[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP tether_signaling_tls_handshakes_total TLS handshakes, by result.\n\
             # TYPE tether_signaling_tls_handshakes_total counter"
        );
        for (i, (_, label)) in HANDSHAKES.iter().enumerate() {
            let _ = writeln!(
                out,
                "tether_signaling_tls_handshakes_total{{result=\"{label}\"}} {}",
                get(&self.handshakes[i])
            );
        }
        let _ = writeln!(
            out,
            "# HELP tether_signaling_resumes_total Resume attempts by result.\n\
             # TYPE tether_signaling_resumes_total counter\n\
             tether_signaling_resumes_total{{result=\"ok\"}} {}\n\
             tether_signaling_resumes_total{{result=\"failed\"}} {}",
            get(&self.resumes_ok),
            get(&self.resumes_failed)
        );
        let _ = writeln!(
            out,
            "# HELP tether_signaling_drops_total Messages or connections dropped, by reason.\n\
             # TYPE tether_signaling_drops_total counter"
        );
        for (i, (_, label)) in DROPS.iter().enumerate() {
            let _ = writeln!(
                out,
                "tether_signaling_drops_total{{reason=\"{label}\"}} {}",
                get(&self.drops[i])
            );
        }
        out
    }
}
