//! What the session tells the application ([`Event`], from
//! [`Session::poll_event`](super::Session::poll_event)).

use crate::candidate::CandidateError;
use crate::channel::ChannelId;
use crate::error::PeerError;
use crate::policy::RestartReason;
use crate::sdp::MediaKind;
use crate::signaling::SignalingState;
use crate::state::{IceConnectionState, IceGatheringState, PeerConnectionState};
use crate::transceiver::TransceiverId;
use crate::transport::{Generation, TransportId};

/// Who closed the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClosedBy {
    /// [`Session::close`](super::Session::close).
    Local,
    /// The peer hung up: it sent `bye`, or closed DTLS (close_notify) on every transport in
    /// use (its `bye` may be lost with a broken signaling channel).
    Remote,
    /// No working path for `RestartPolicy::give_up_after` (the peer is told with `bye`).
    Unreachable,
}

/// Why a remote candidate was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandidateDropReason {
    /// Its ufrag belongs to a generation that was retired (a stale candidate).
    RetiredGeneration,
    /// Its ufrag matches no generation, and the queue for early candidates overflowed.
    UnknownGeneration,
    /// Its `sdpMid`/`sdpMLineIndex` names no m-section of the remote description.
    UnknownMid,
    /// It belongs to an offer that perfect negotiation ignored (glare, impolite side).
    IgnoredOffer,
    /// The candidate line is malformed.
    Malformed(CandidateError),
    /// The session is closed.
    Closed,
}

/// What happened to a remote candidate given to
/// [`Session::add_ice_candidate`](super::Session::add_ice_candidate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CandidateOutcome {
    /// Handed to the transport for this generation.
    Applied {
        /// Transport.
        transport: TransportId,
        /// Generation.
        generation: Generation,
    },
    /// Kept until the description it belongs to is applied.
    Queued,
    /// Not applied, with the reason (also reported as [`Event::CandidateDropped`]).
    Dropped(CandidateDropReason),
}

/// An event for the application. Drain with [`Session::poll_event`](super::Session::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Manual negotiation only: create and send an offer.
    NegotiationNeeded,
    /// `signalingstatechange`.
    SignalingStateChange(SignalingState),
    /// `icegatheringstatechange`.
    IceGatheringStateChange(IceGatheringState),
    /// `iceconnectionstatechange`.
    IceConnectionStateChange(IceConnectionState),
    /// `connectionstatechange`.
    ConnectionStateChange(PeerConnectionState),
    /// A new ICE generation started on a transport (a restart, or the first generation).
    IceGenerationStarted {
        /// Transport.
        transport: TransportId,
        /// The new generation.
        generation: Generation,
        /// Why (`None` for a transport's first generation).
        reason: Option<RestartReason>,
    },
    /// The peer answered our ICE restart offer with the credentials it already used (an
    /// implementation without ICE restart does this). The restart's new generation was
    /// dropped at once and the working one keeps carrying traffic; the request is not
    /// retried (it would be declined the same way).
    IceRestartDeclined {
        /// Transport.
        transport: TransportId,
        /// The generation that keeps carrying the transport's traffic.
        kept: Generation,
    },
    /// A generation now carries the transport's traffic; older ones were retired.
    IceGenerationPromoted {
        /// Transport.
        transport: TransportId,
        /// The generation.
        generation: Generation,
    },
    /// The policy started an automatic restart.
    AutomaticRestart(RestartReason),
    /// A remote candidate was dropped.
    CandidateDropped {
        /// The candidate line (or empty for end-of-candidates).
        candidate: String,
        /// Why.
        reason: CandidateDropReason,
    },
    /// The peer's description broke the rules (also returned as an error).
    PeerMisbehaved(PeerError),
    /// The remote sends media on this transceiver (`track`).
    Track {
        /// Transceiver.
        transceiver: TransceiverId,
        /// Its mid.
        mid: String,
        /// Audio or video.
        kind: MediaKind,
    },
    /// The peer opened a data channel (`datachannel`).
    DataChannel {
        /// Handle.
        channel: ChannelId,
        /// Label.
        label: String,
    },
    /// A data channel is open.
    DataChannelOpen(ChannelId),
    /// A data channel closed.
    DataChannelClose(ChannelId),
    /// The session is closed; no further events follow.
    Closed(ClosedBy),
}
