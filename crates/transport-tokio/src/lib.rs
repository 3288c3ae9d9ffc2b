//! Tether's transport on tokio: real I/O for [`session_core`]'s sans-IO session.
//!
//! A [`PeerConnection`] spawns one driver task that owns the
//! [`Session`](session_core::session::Session) and every socket and task below it:
//!
//! - **ICE**: one `webrtc-ice` agent per ICE generation (`StartGeneration`), so an ICE restart
//!   is make-before-break: the new agent gathers and checks while the old path carries data.
//! - **Switchable path**: DTLS runs over a connection that reads from every live generation
//!   and writes to the promoted one (`PromoteGeneration`); the old agent is closed when the
//!   core retires its generation. An RFC 7983 first-byte demultiplexer ([`PacketKind`]) lets
//!   only DTLS reach DTLS.
//! - **DTLS** (`dtls` 0.17) with a self-signed certificate, or one the application supplies
//!   ([`DtlsIdentity::from_pem`]); the peer's
//!   certificate is checked against its SDP `a=fingerprint` during the handshake (a mismatch
//!   fails the transport with [`TransportError::FingerprintMismatch`]).
//! - **SCTP** (`webrtc-sctp`) over DTLS and **data channels** (`webrtc-data`, DCEP or
//!   negotiated; a negotiated channel's data that arrives before this side created it waits
//!   for it), exposed as [`DataChannel`] handles.
//! - **SRTP** (`webrtc-srtp`) keyed from the DTLS exporter, and **RTP tracks**:
//!   [`PeerConnection::add_track`] returns an [`RtpSender`]; the peer's tracks arrive as
//!   [`PeerEvent::Track`] with an [`RtpReceiver`]. The generation readers unprotect and route
//!   packets (by SSRC, MID header extension or payload type) straight into the track's bounded
//!   queue; senders protect and write on the promoted path themselves.
//! - **STUN/TURN**: with [`PeerConfig::ice_servers`] each generation's agent also gathers
//!   server-reflexive and relayed (TURN/UDP) candidates; [`PeerConfig::ice_transport_policy`]
//!   `Relay` keeps relayed ones only. [`PeerConnection::set_configuration`] changes both; as in
//!   browsers they apply to the next ICE generation (the session restarts ICE for it).
//!   [`Stats`] gives each generation's selected pair with its candidate types and the datagrams
//!   and bytes it carried, and each data channel's messages, bytes and buffered amount
//!   ([`ChannelStats`]).
//! - **Partial ICE restart**: with [`PeerConfig::bundle_policy`] `BundlePolicy::MaxCompat`
//!   each m-section has its own transport (ICE generations, path, DTLS);
//!   [`PeerConnection::restart_ice_transport`] restarts one of them while the others carry on
//!   untouched ([`Stats::transports`] says which mids each carries).
//! - **Network changes**: a [`NetworkWatch`] task reads the interface list when the OS reports
//!   a link or address change (Linux netlink; every second as a fallback) and reports changes
//!   to the session, whose restart policy moves the connection to
//!   the new network; [`PeerConnection::network_changed`] does the same by hand.
//! - **Signaling** through any [`Signaling`] implementation; [`memory_pair`] is an in-memory
//!   one. With perfect negotiation the application only creates channels.
//! - **Manual negotiation**: [`PeerConnection::new_manual`] runs without a [`Signaling`]; the
//!   application calls the W3C JSEP methods ([`PeerConnection::create_offer`],
//!   [`set_local_description`](PeerConnection::set_local_description),
//!   [`add_ice_candidate`](PeerConnection::add_ice_candidate), ...) and sends the
//!   [`PeerEvent::LocalCandidate`]s itself.
//!
//! The driver drains the session's queues after every input (`poll_transport` commands are
//! executed, `poll_signal` messages sent, `poll_event` events published) and sleeps until
//! `poll_timeout` or the next input: an application command, an ICE or I/O report, or a signal
//! message. All queues are bounded; the overflow policy of each is documented where it lives
//! ([`PeerEvents`], [`DataChannel`]). Each peer connection logs under one `tracing` span
//! (`peer{id=..}`); ICE passwords and DTLS keys are never logged.
//!
//! # Example
//!
//! ```no_run
//! use session_core::channel::DataChannelInit;
//! use transport_tokio::{memory_pair, GatherOptions, PeerConfig, PeerConnection, PeerEvent};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let (sig_a, sig_b) = memory_pair(std::time::Duration::ZERO);
//! let mut config_a = PeerConfig::new(false); // impolite
//! config_a.gather = GatherOptions::loopback_only();
//! let mut config_b = PeerConfig::new(true); // polite
//! config_b.gather = GatherOptions::loopback_only();
//! let (a, _a_events) = PeerConnection::new(config_a, sig_a)?;
//! let (_b, mut b_events) = PeerConnection::new(config_b, sig_b)?;
//!
//! let chat = a.create_data_channel("chat", DataChannelInit::default()).await?;
//! chat.send_text("hello").await?; // waits until the channel is open
//! while let Some(event) = b_events.recv().await {
//!     if let PeerEvent::DataChannel(mut dc) = event {
//!         println!("{:?}", dc.recv().await);
//!         break;
//!     }
//! }
//! a.close().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
mod channel;
mod command;
mod demux;
mod driver;
mod dtls;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod ice;

mod manual;
mod media_track;
mod netwatch;
mod peer;
mod plane;
mod route;
mod rtp_path;
mod signaling;
mod srtp;
mod stats;
mod switch;
mod track;

pub use channel::{DataChannel, Message, HIGH_WATER, LOW_WATER};
pub use demux::PacketKind;
pub use dtls::DtlsIdentity;
pub use error::{
    ChannelError, IdentityError, PeerConnectionError, SetupError, TrackError, TransportError,
    UnclaimedReason,
};
pub use event::{PeerEvent, PeerEvents};
pub use ice::{
    check_ice_servers, GatherOptions, IceTimeouts, InterfaceFilter, IpFilter,
    DEFAULT_UDP_RECEIVE_BUFFER,
};
pub use media_track::{LocalTrack, MediaTrackError, RemoteTrack};
pub use netwatch::NetworkWatch;
pub use peer::{PeerConfig, PeerConnection};
pub use rtp_path::RtcpPackets;
pub use signaling::{memory_pair, MemorySignaling, Signaling, SignalingError};
pub use stats::{ChannelStats, GenerationStats, MediaStats, Stats, TransportStats};
pub use track::{RtpParameters, RtpReceiver, RtpSender, RTCP_QUEUE, RTP_QUEUE};

/// The sans-IO core this crate drives, for everything beyond the types re-exported below.
pub use session_core;
// The core's types that this crate's API takes and returns, so that an application needs only
// `transport_tokio::...` (the core's own `PeerError`, what a remote peer did wrong, stays at
// `session_core::PeerError`: it reaches applications inside `SessionError`).
pub use session_core::candidate::CandidateType;
pub use session_core::sdp::{Codec, Fingerprint};
pub use session_core::{
    BundlePolicy, ChannelId, ClosedBy, DataChannelInit, DataChannelState, Direction, Event,
    Generation, IceCandidateInit, IceConnectionState, IceGatheringState, IceServer,
    IceTransportPolicy, MediaKind, PeerConnectionState, RestartPolicy, RestartReason, SdpType,
    SessionDescription, SessionError, SignalMessage, SignalingState, TransceiverId, TransportId,
};
