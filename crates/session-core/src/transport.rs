//! The boundary with the I/O layer: commands the core gives ([`TransportCommand`], from
//! [`Session::poll_transport`](crate::session::Session::poll_transport)) and events the I/O layer
//! reports ([`TransportEvent`], into
//! [`Session::handle_transport_event`](crate::session::Session::handle_transport_event)).

use std::fmt;

use crate::candidate::Candidate;
use crate::channel::{ChannelId, DataChannelInit};
use crate::config::{IceServer, IceTransportPolicy};
use crate::ice::IceCredentials;
use crate::sdp::Fingerprint;
use crate::state::{DtlsTransportState, IceTransportState};

/// One ICE/DTLS transport: a BUNDLE group, or one m-section when not bundled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransportId(pub u32);

impl fmt::Display for TransportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

/// An ICE generation of a transport: 0 for the first credentials, +1 for each restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Generation(pub u32);

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

/// ICE agent role (RFC 8445): the offerer of the first exchange controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IceRole {
    /// Nominates pairs.
    Controlling,
    /// Follows the controlling agent's nomination.
    Controlled,
}

/// DTLS role, from the negotiated `a=setup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DtlsRole {
    /// `setup:active`: sends the ClientHello; uses even SCTP stream ids.
    Client,
    /// `setup:passive`: answers the ClientHello; uses odd SCTP stream ids.
    Server,
}

/// What the I/O layer must do. Drain with
/// [`Session::poll_transport`](crate::session::Session::poll_transport) after every input.
///
/// Deliberately exhaustive (unlike the other public enums): this is the contract between the
/// core and its adapters, and an adapter that ignores a command breaks the session. A new
/// command is a breaking change that every adapter must handle (a compile error there, not a
/// `warn!` arm).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportCommand {
    /// Create an ICE agent for a new generation and start gathering with `local` credentials.
    /// Earlier generations of the transport keep running (make-before-break).
    StartGeneration {
        /// Transport.
        transport: TransportId,
        /// The new generation.
        generation: Generation,
        /// Local credentials of this generation.
        local: IceCredentials,
        /// ICE role.
        role: IceRole,
        /// STUN/TURN servers to gather with.
        ice_servers: Vec<IceServer>,
        /// Candidate policy.
        policy: IceTransportPolicy,
    },
    /// The remote credentials of a generation are known: start connectivity checks.
    SetRemoteCredentials {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
        /// Remote credentials.
        remote: IceCredentials,
    },
    /// Add a remote candidate to a generation's agent.
    AddRemoteCandidate {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
        /// The candidate.
        candidate: Candidate,
    },
    /// The remote peer has no more candidates for this generation.
    RemoteEndOfCandidates {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
    },
    /// Start DTLS over the transport's selected generation.
    StartDtls {
        /// Transport.
        transport: TransportId,
        /// Our DTLS role.
        role: DtlsRole,
        /// The peer's certificate must match one of these.
        remote_fingerprints: Vec<Fingerprint>,
    },
    /// Route the transport's traffic (DTLS, SRTP) over this generation from now on.
    PromoteGeneration {
        /// Transport.
        transport: TransportId,
        /// The generation that now carries traffic.
        generation: Generation,
    },
    /// Close this generation's agent; its candidates are no longer valid.
    RetireGeneration {
        /// Transport.
        transport: TransportId,
        /// The generation to close.
        generation: Generation,
    },
    /// Start the SCTP association over the transport's DTLS.
    StartSctp {
        /// Transport.
        transport: TransportId,
        /// Our SCTP port.
        local_port: u16,
        /// The peer's SCTP port.
        remote_port: u16,
        /// Largest message the peer accepts.
        max_message_size: u64,
    },
    /// Open a data channel (DCEP unless negotiated) once SCTP is up.
    OpenDataChannel {
        /// Local handle.
        channel: ChannelId,
        /// SCTP stream id.
        stream_id: u16,
        /// Label.
        label: String,
        /// Options.
        init: DataChannelInit,
    },
    /// Close a data channel (reset its stream).
    CloseDataChannel {
        /// Local handle.
        channel: ChannelId,
        /// SCTP stream id.
        stream_id: u16,
    },
    /// Close everything: data channels, SCTP, DTLS (close_notify), every ICE agent.
    Close,
}

/// What the I/O layer reports. Feed with
/// [`Session::handle_transport_event`](crate::session::Session::handle_transport_event).
///
/// Exhaustive, like [`TransportCommand`]: adapters construct these, and fuzzers and tests
/// generate every variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// A generation's agent found a local candidate.
    LocalCandidate {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
        /// The candidate.
        candidate: Candidate,
    },
    /// A generation's agent finished gathering.
    GatheringComplete {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
    },
    /// A generation's agent changed ICE state.
    IceStateChanged {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
        /// New state.
        state: IceTransportState,
    },
    /// The transport's DTLS changed state.
    DtlsStateChanged {
        /// Transport.
        transport: TransportId,
        /// New state.
        state: DtlsTransportState,
    },
    /// DTLS failed because the peer's certificate does not match the SDP fingerprint.
    FingerprintMismatch {
        /// Transport.
        transport: TransportId,
    },
    /// A data channel is open.
    DataChannelOpen {
        /// SCTP stream id.
        stream_id: u16,
    },
    /// The peer opened a data channel (DCEP DATA_CHANNEL_OPEN).
    RemoteDataChannel {
        /// SCTP stream id.
        stream_id: u16,
        /// Label.
        label: String,
        /// Options.
        init: DataChannelInit,
    },
    /// A data channel closed.
    DataChannelClosed {
        /// SCTP stream id.
        stream_id: u16,
    },
    /// Local network interfaces or addresses changed.
    NetworkChanged,
}
