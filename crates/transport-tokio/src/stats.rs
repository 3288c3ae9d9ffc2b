//! What `PeerConnection::stats` reports (W3C `getStats`, in part): plain data, shared by the
//! handle and the driver.

use std::net::SocketAddr;

use session_core::candidate::CandidateType;
use session_core::channel::ChannelId;
use session_core::transport::{Generation, TransportId};

/// The selected path of one live ICE generation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerationStats {
    /// Transport.
    pub transport: TransportId,
    /// Generation.
    pub generation: Generation,
    /// Does it carry the transport's traffic?
    pub promoted: bool,
    /// Local address of the selected pair, once connected.
    pub local: Option<SocketAddr>,
    /// Remote address of the selected pair, once connected.
    pub remote: Option<SocketAddr>,
    /// Type of the selected pair's local candidate (`Relay` when it goes through TURN).
    pub local_type: Option<CandidateType>,
    /// Type of the selected pair's remote candidate.
    pub remote_type: Option<CandidateType>,
    /// The ICE role this generation's agent checks with.
    pub ice_role: session_core::transport::IceRole,
    /// Whether the generation stalled and its agent was replaced by one of the other role
    /// (suspected ICE role conflict, see docs/transport-tokio.md).
    pub role_flipped: bool,
    /// Datagrams written to this generation's selected pair (DTLS, SRTP, SRTCP; ICE's own STUN
    /// checks are not counted). W3C `RTCIceCandidatePairStats.packetsSent`.
    pub packets_sent: u64,
    /// Bytes of those datagrams (UDP payload). W3C `bytesSent`.
    pub bytes_sent: u64,
    /// Datagrams read from this generation's selected pair (what arrived before the path
    /// connected, or after it was retired, is not counted). W3C `packetsReceived`.
    pub packets_received: u64,
    /// Bytes of those datagrams (UDP payload). W3C `bytesReceived`.
    ///
    /// Not reported: round-trip time. `webrtc-ice` 0.17.2 measures none (its
    /// `get_candidate_pairs_stats` fills ids, state and nomination and leaves every counter and
    /// RTT at zero), and neither `dtls` nor `webrtc-sctp` exposes one.
    pub bytes_received: u64,
    /// Of `packets_sent`, those written straight to our own socket of the selected pair, in
    /// batches (UDP GSO), without the ICE agent ([`GatherOptions::batched_io`](crate::GatherOptions)).
    pub direct_packets_sent: u64,
    /// Of `packets_received`, those our own socket's reader handed straight to the transport
    /// (read with `recvmmsg`/GRO), without the ICE agent.
    pub direct_packets_received: u64,
}

/// One data channel (W3C `RTCDataChannelStats`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// The channel's identity in its session.
    pub id: ChannelId,
    /// Its label.
    pub label: String,
    /// SCTP stream id, once assigned (W3C `dataChannelIdentifier`).
    pub stream_id: Option<u16>,
    /// Its state.
    pub state: session_core::channel::DataChannelState,
    /// Messages handed to SCTP by `send`/`send_text` (empty ones included).
    pub messages_sent: u64,
    /// Payload bytes of those messages.
    pub bytes_sent: u64,
    /// Messages read from SCTP for this channel (queued for the application or already read).
    pub messages_received: u64,
    /// Payload bytes of those messages.
    pub bytes_received: u64,
    /// Bytes queued in SCTP and not yet acknowledged (W3C `bufferedAmount`); 0 unless open.
    pub buffered_amount: u64,
}

/// One transport (W3C `RTCTransportStats`, in part): a BUNDLE group, or one m-section when
/// not bundled ([`PeerConfig::bundle_policy`](crate::PeerConfig)). Its ICE generations are the
/// [`Stats::generations`] with its id.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportStats {
    /// The transport.
    pub id: TransportId,
    /// The mids of the m-sections it carries, sorted (one when not bundled).
    pub mids: Vec<String>,
}

/// A snapshot of the transport (W3C `getStats`, in part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every transport the session negotiated, with its mids.
    pub transports: Vec<TransportStats>,
    /// Every live ICE generation.
    pub generations: Vec<GenerationStats>,
    /// DTLS datagrams received, over every generation.
    pub dtls_datagrams_in: u64,
    /// Datagrams written while no path was promoted (or refused by the path).
    pub datagrams_dropped_out: u64,
    /// DTLS records sent again on a newly promoted path after an outage (the ones the dead
    /// path may have lost), so SCTP need not wait for its retransmission timer.
    pub dtls_datagrams_replayed: u64,
    /// The SRTP/RTP path.
    pub media: MediaStats,
    /// Every data channel the session knows that the application has a handle on (or will
    /// have: local ones from creation; the peer's once accepted), by channel id.
    pub channels: Vec<ChannelStats>,
    /// SCTP streams the peer started with data that no channel claimed yet, sorted: held
    /// (up to a limit, for a while) for a negotiated channel the application has not created
    /// yet, then reset with [`TransportError::UnclaimedStream`](crate::TransportError).
    pub unclaimed_streams: Vec<u16>,
}

/// Counters of the SRTP/RTP path of a peer connection (every transport and track).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaStats {
    /// RTP packets unprotected (before routing).
    pub rtp_packets_in: u64,
    /// Compound RTCP packets unprotected.
    pub rtcp_packets_in: u64,
    /// SRTP/SRTCP packets dropped: the authentication tag (or AEAD) check failed.
    pub auth_failed: u64,
    /// SRTP/SRTCP packets dropped by replay protection.
    pub replayed: u64,
    /// Packets dropped as malformed (bad RTP/RTCP header, padding, too short).
    pub malformed: u64,
    /// RTP packets (or RTCP packets of a compound) that matched no receiver or sender.
    pub unroutable: u64,
    /// Packets (RTP) or compound packets (RTCP) dropped because the track's queue was full
    /// or its handle gone (the newest is dropped).
    pub queue_dropped: u64,
    /// RTP packets protected and written.
    pub rtp_packets_out: u64,
    /// Compound RTCP packets protected and written.
    pub rtcp_packets_out: u64,
    /// RTP/RTCP datagrams dropped because they arrived before SRTP was ready and 128 were
    /// already waiting for the keys.
    pub dropped_before_srtp: u64,
}
