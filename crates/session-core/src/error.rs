//! Errors, split by who is at fault (after rustls): the application misused the API
//! ([`SessionError::InvalidState`], [`SessionError::InvalidModification`], ...) or the peer
//! misbehaved ([`PeerError`], malformed SDP).

use crate::candidate::CandidateError;
use crate::channel::DataChannelError;
use crate::sdp::SdpError;
use crate::signal::SignalParseError;
use crate::signaling::InvalidTransition;

/// Who caused an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fault {
    /// The application called the API in a way the specification forbids.
    Application,
    /// The remote peer sent something invalid.
    Peer,
    /// The session is closed.
    Closed,
}

/// The remote peer violated JSEP/ICE/DTLS rules in a description it sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// An answer changed ICE credentials of a transport we did not restart.
    #[error("answer restarts ICE on m-section {mid:?} without a restart in our offer")]
    UnexpectedIceRestartInAnswer {
        /// First mid of the transport.
        mid: String,
    },
    /// The peer's DTLS fingerprint changed during renegotiation.
    #[error("DTLS fingerprint of m-section {mid:?} changed during renegotiation")]
    FingerprintChanged {
        /// First mid of the transport.
        mid: String,
    },
    /// An answer uses `a=setup:actpass` or `holdconn`.
    #[error("answer has an invalid a=setup on m-section {mid:?}")]
    InvalidSetupInAnswer {
        /// The mid.
        mid: String,
    },
    /// The DTLS role changed on an established transport.
    #[error("DTLS role changed on m-section {mid:?}")]
    DtlsRoleChanged {
        /// The mid.
        mid: String,
    },
    /// The answer's m-sections do not match the offer's (count, order or mids).
    #[error("answer m-sections do not match the offer")]
    AnswerMismatch,
    /// An offer removed or reordered m-sections that were negotiated before.
    #[error("offer reorders or removes negotiated m-sections")]
    MLinesChanged,
    /// An m-section's kind differs from the transceiver its mid belongs to.
    #[error("m-section {mid:?} changed its media kind")]
    MidKindChanged {
        /// The mid.
        mid: String,
    },
    /// The peer's DTLS certificate does not match the fingerprint in its description.
    #[error("peer certificate on m-section {mid:?} does not match its a=fingerprint")]
    CertificateMismatch {
        /// First mid of the transport.
        mid: String,
    },
    /// Our offer bundled everything; the answer did not accept the BUNDLE group.
    #[error("answer rejected BUNDLE (Tether requires BUNDLE when it offers it)")]
    BundleRejected,
    /// The answer put m-sections into a BUNDLE group we did not offer.
    #[error("answer BUNDLE group differs from the offer")]
    BundleMismatch,
}

/// Errors of [`Session`](crate::session::Session) operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// W3C `InvalidStateError`: not allowed in the current signaling state.
    #[error(transparent)]
    InvalidState(#[from] InvalidTransition),
    /// W3C `InvalidStateError`: the session is closed.
    #[error("the session is closed")]
    Closed,
    /// W3C `InvalidModificationError`: a local description that is not the one this session
    /// created, or an operation needing a description that does not exist.
    #[error("invalid modification: {0}")]
    InvalidModification(&'static str),
    /// The remote description could not be parsed or misses mandatory fields.
    #[error("remote SDP: {0}")]
    Sdp(#[from] SdpError),
    /// The remote peer violated the protocol.
    #[error("peer error: {0}")]
    Peer(#[from] PeerError),
    /// A remote candidate is malformed.
    #[error("remote candidate: {0}")]
    Candidate(#[from] CandidateError),
    /// A data channel could not be created.
    #[error("data channel: {0}")]
    DataChannel(#[from] DataChannelError),
    /// A signal message could not be parsed.
    #[error("signal message: {0}")]
    Signal(#[from] SignalParseError),
    /// An immutable configuration field was changed.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
}

impl SessionError {
    /// Who is at fault.
    pub fn fault(&self) -> Fault {
        match self {
            SessionError::InvalidState(_)
            | SessionError::InvalidModification(_)
            | SessionError::DataChannel(_)
            | SessionError::Config(_) => Fault::Application,
            SessionError::Closed => Fault::Closed,
            SessionError::Sdp(_)
            | SessionError::Peer(_)
            | SessionError::Candidate(_)
            | SessionError::Signal(_) => Fault::Peer,
        }
    }
}

/// `set_configuration` changed something that cannot change (W3C `InvalidModificationError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The bundle policy is fixed at construction.
    #[error("bundle policy cannot change")]
    BundlePolicyChanged,
    /// The certificate is fixed at construction.
    #[error("certificates cannot change")]
    CertificateChanged,
    /// An ICE server URL is not `stun:`/`turn:`/`turns:`.
    #[error("invalid ICE server URL {0:?}")]
    InvalidIceServer(String),
}
