//! Errors of the transport adapter, split by cause.

use session_core::error::SessionError;

/// Why a [`PeerConnection`](crate::PeerConnection) could not be created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The self-signed DTLS certificate could not be generated (the DTLS or crypto crate's
    /// error is the source).
    #[error("cannot generate the DTLS certificate: {0}")]
    Certificate(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The OS gave no randomness for the session seed.
    #[error("no OS randomness for the session seed: {0}")]
    Randomness(#[source] getrandom::Error),
    /// An ICE server URL is malformed, or its TURN credentials are missing.
    #[error("bad ICE server {url:?}: {reason}")]
    BadIceServer {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An ICE server needs a transport the ICE agent does not have: webrtc-ice 0.17 speaks
    /// STUN and TURN over UDP only (no `stuns:`/`turns:`, no `?transport=tcp`).
    #[error("unsupported ICE server {url:?}: {reason}")]
    UnsupportedIceServer {
        /// The URL as given.
        url: String,
        /// Which transport it needs.
        reason: &'static str,
    },
}

/// Why [`DtlsIdentity::from_pem`](crate::DtlsIdentity::from_pem) refused a certificate and key
/// (the application's input is at fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The certificate PEM is malformed (the parser's message).
    #[error("bad certificate PEM: {0}")]
    CertificatePem(String),
    /// The certificate PEM holds no `CERTIFICATE` section.
    #[error("no CERTIFICATE section in the certificate PEM")]
    NoCertificate,
    /// The leaf certificate is not valid X.509 (the parser's message).
    #[error("the certificate is not valid X.509: {0}")]
    BadCertificate(String),
    /// The key PEM is malformed or holds no private key section (the parser's message).
    #[error("bad private key PEM: {0}")]
    KeyPem(String),
    /// The key is not one DTLS can use: not PKCS#8, or not ECDSA P-256, Ed25519 or RSA.
    #[error("unsupported private key: {0}")]
    UnsupportedKey(String),
    /// The private key does not belong to the (leaf) certificate.
    #[error("the private key does not match the certificate")]
    KeyMismatch,
}

/// Why a call on a [`PeerConnection`](crate::PeerConnection) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerConnectionError {
    /// The session refused the call (API misuse, closed, ...; see its `fault()`).
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The peer connection's driver has stopped (it was closed).
    #[error("the peer connection is closed")]
    Closed,
    /// A stream or track id for `a=msid` is empty, longer than 64 bytes, or contains
    /// whitespace or control characters.
    #[error("invalid msid stream or track id: {0:?}")]
    InvalidTrackId(String),
    /// A manual negotiation call (`create_offer`, `set_remote_description`, ...) on a peer
    /// connection that runs perfect negotiation over a `Signaling`, which owns offers, answers
    /// and candidates; use `PeerConnection::new_manual` to negotiate by hand.
    #[error("perfect negotiation is on: descriptions and candidates are not set by hand")]
    PerfectNegotiation,
    /// `set_configuration` got an ICE server the agent cannot use (see
    /// [`check_ice_servers`](crate::check_ice_servers)); nothing changed.
    #[error(transparent)]
    IceServer(#[from] SetupError),
    /// [`restart_ice_transport`](crate::PeerConnection::restart_ice_transport) named a mid
    /// that no negotiated m-section has: unknown, only in an offer not answered yet, or of a
    /// transport that closed. Nothing changed.
    #[error("no negotiated m-section has mid {mid:?} (negotiated: {negotiated:?})")]
    UnknownMid {
        /// The mid asked for.
        mid: String,
        /// The mids that could be restarted (or refused as bundled), sorted.
        negotiated: Vec<String>,
    },
    /// [`restart_ice_transport`](crate::PeerConnection::restart_ice_transport) named a mid
    /// bundled with others on one transport: restarting it would restart every stream of that
    /// transport. Nothing changed; use
    /// [`restart_ice`](crate::PeerConnection::restart_ice) for that, or
    /// `BundlePolicy::MaxCompat` ([`PeerConfig::bundle_policy`](crate::PeerConfig)) for a
    /// transport per stream.
    #[error(
        "mid {mid:?} is bundled: its transport {transport} also carries mids {shared_with:?}, \
         so restarting it would restart every stream on that transport (use restart_ice() for \
         that, or BundlePolicy::MaxCompat for a transport per stream)"
    )]
    BundledMid {
        /// The mid asked for.
        mid: String,
        /// The transport it shares.
        transport: session_core::transport::TransportId,
        /// The other mids on that transport, sorted.
        shared_with: Vec<String>,
    },
}

/// Why a data channel operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The channel closed (or never opened) before the operation.
    #[error("the data channel is closed")]
    Closed,
    /// The message is larger than the peer accepts (`a=max-message-size`).
    #[error("message of {size} bytes exceeds the peer's limit of {limit}")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The peer's limit.
        limit: usize,
    },
    /// SCTP refused the message (the crate's message).
    #[error("SCTP send failed: {0}")]
    Send(String),
}

/// A failure of the transport below the session, reported as
/// [`PeerEvent::TransportError`](crate::PeerEvent::TransportError).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer's DTLS certificate matches none of the fingerprints of its SDP: the peer (or
    /// someone on the path) misbehaved. The connection fails; no data is delivered.
    #[error("the peer's DTLS certificate does not match its SDP fingerprint")]
    FingerprintMismatch,
    /// The DTLS handshake failed or timed out (the crate's message).
    #[error("DTLS handshake failed: {0}")]
    Dtls(String),
    /// The SCTP association could not be established (the crate's message).
    #[error("SCTP association failed: {0}")]
    Sctp(String),
    /// An ICE agent could not be created or started (the crate's message).
    #[error("ICE agent failed: {0}")]
    Ice(String),
    /// A data channel could not be opened (the crate's message).
    #[error("data channel {stream_id} could not be opened: {reason}")]
    DataChannel {
        /// SCTP stream id.
        stream_id: u16,
        /// The crate's message.
        reason: String,
    },
    /// The peer wrote on an SCTP stream that no data channel here claimed: a negotiated channel
    /// (`DataChannelInit::negotiated`) the peer created and wrote on, which the application
    /// here did not create with the same id in time (10 s), or more than 16 such streams at
    /// once. The stream was reset (the peer's channel closes) and what it carried is dropped.
    #[error(
        "data on SCTP stream {stream_id}, which no data channel claimed ({reason}): stream reset"
    )]
    UnclaimedStream {
        /// SCTP stream id (the peer's negotiated id).
        stream_id: u16,
        /// Why it was reset.
        reason: UnclaimedReason,
    },
    /// The signaling channel failed or ended.
    #[error("signaling: {0}")]
    Signaling(#[source] crate::SignalingError),
    /// An ICE generation finished gathering without a single local candidate, so it cannot
    /// connect. Relay-only: the TURN server refused the allocation (wrong user name or
    /// credential, quota) or did not answer; otherwise no usable interface or address passed
    /// the gathering filters.
    #[error(
        "ICE generation {generation} gathered no local candidate{}",
        if *relay_only {
            " (relay-only: the TURN server refused the allocation or did not answer; check its \
             URL, user name and credential)"
        } else {
            " (no usable interface or address)"
        }
    )]
    NoCandidates {
        /// The generation.
        generation: u32,
        /// Only relayed candidates were asked for.
        relay_only: bool,
    },
    /// SRTP keys could not be derived from DTLS (the crate's message).
    #[error("SRTP setup failed: {0}")]
    Srtp(String),
}

/// Why a stream the peer wrote on was reset before a channel claimed it
/// ([`TransportError::UnclaimedStream`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnclaimedReason {
    /// No negotiated channel with its id was created within 10 s.
    #[error("not claimed within 10 s")]
    Expired,
    /// 16 streams were already waiting to be claimed.
    #[error("too many unclaimed streams")]
    TooMany,
}

/// Why an RTP/RTCP operation on an [`RtpSender`](crate::RtpSender) or
/// [`RtpReceiver`](crate::RtpReceiver) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrackError {
    /// The peer connection closed (or the track was removed).
    #[error("the track's peer connection is closed")]
    Closed,
    /// The negotiated direction does not let this transceiver send.
    #[error("the negotiated direction does not send on this transceiver")]
    NotSending,
    /// The packet's SSRC is neither the sender's nor its RTX SSRC.
    #[error("SSRC {0} does not belong to this sender")]
    ForeignSsrc(u32),
    /// The packet could not be serialized (the crate's message).
    #[error("cannot serialize the packet: {0}")]
    Marshal(String),
    /// SRTP refused to protect the packet, e.g. its packet index is exhausted (the crate's
    /// message).
    #[error("SRTP protect failed: {0}")]
    Protect(String),
}
