//! Tether session core: the WebRTC session lifecycle as a sans-IO state machine.
//!
//! A [`Session`] is one peer connection's brain: JSEP signaling (offers,
//! answers, provisional answers, rollback), trickle ICE, ICE generations and make-before-break
//! restarts, perfect negotiation, data channels and transceivers, and the W3C state
//! aggregation. It does no I/O: it never reads a clock (time comes in as `now`), never asks the
//! OS for randomness (a seed comes with the [`Config`]) and never touches a
//! socket. An adapter (Tether's `transport-tokio`, or your own) owns the sockets and runs the
//! loop below.
//!
//! # The run loop
//!
//! Feed inputs through `handle_*` (and application calls), then drain the three output
//! queues, then sleep until [`poll_timeout`](session::Session::poll_timeout). Two sessions
//! driven to connected, with a toy transport in place of sockets:
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::{Duration, Instant};
//! use session_core::config::Config;
//! use session_core::sdp::Fingerprint;
//! use session_core::session::{Event, Session};
//! use session_core::state::{DtlsTransportState, IceTransportState, PeerConnectionState};
//! use session_core::transport::{TransportCommand, TransportEvent};
//!
//! /// One turn of a driver: call after every input and whenever `poll_timeout` is reached.
//! /// Commands go to the I/O layer (here a toy one, below), messages to the peer as JSON.
//! fn drive(s: &mut Session, io: &mut ToyTransport, to_peer: &mut Vec<String>, now: Instant) {
//!     if s.poll_timeout().is_some_and(|t| t <= now) {
//!         s.handle_timeout(now);
//!     }
//!     while let Some(ev) = io.events.pop_front() {
//!         s.handle_transport_event(ev, now);
//!     }
//!     while let Some(cmd) = s.poll_transport() {
//!         io.execute(cmd); // a real adapter starts ICE agents, DTLS, SCTP, ...
//!     }
//!     while let Some(msg) = s.poll_signal() {
//!         to_peer.push(msg.to_json()); // offers, answers, candidates, bye
//!     }
//!     while let Some(event) = s.poll_event() {
//!         if let Event::ConnectionStateChange(state) = event {
//!             println!("connection: {state:?}");
//!         }
//!     }
//! }
//!
//! /// Stands in for sockets: a generation "connects" once it has the peer's credentials,
//! /// DTLS as soon as it starts.
//! #[derive(Default)]
//! struct ToyTransport {
//!     events: VecDeque<TransportEvent>,
//! }
//!
//! impl ToyTransport {
//!     fn execute(&mut self, cmd: TransportCommand) {
//!         self.events.extend(match cmd {
//!             TransportCommand::StartGeneration { transport, generation, .. } => {
//!                 Some(TransportEvent::GatheringComplete { transport, generation })
//!             }
//!             TransportCommand::SetRemoteCredentials { transport, generation, .. } => {
//!                 let state = IceTransportState::Connected;
//!                 Some(TransportEvent::IceStateChanged { transport, generation, state })
//!             }
//!             TransportCommand::StartDtls { transport, .. } => {
//!                 let state = DtlsTransportState::Connected;
//!                 Some(TransportEvent::DtlsStateChanged { transport, state })
//!             }
//!             _ => None,
//!         });
//!     }
//! }
//!
//! // Two peers with perfect negotiation (the default): the application only creates a
//! // channel and forwards messages; offer, answer and ICE credentials follow by themselves.
//! let fp = |b| Fingerprint { algorithm: "sha-256".into(), value: vec![b; 32] };
//! // The adapter reads the clock, never the core: this example is the adapter here. Any
//! // instant does; the sessions only compare the ones they are given.
//! let start = <Instant>::now();
//! let mut a = Session::new(Config::new([1; 32], vec![fp(0xaa)], false), start);
//! let mut b = Session::new(Config::new([2; 32], vec![fp(0xbb)], true), start);
//! a.create_data_channel("chat", Default::default()).unwrap();
//! let (mut io_a, mut io_b) = (ToyTransport::default(), ToyTransport::default());
//! let mut now = start;
//! for _ in 0..100 {
//!     let (mut a_to_b, mut b_to_a) = (Vec::new(), Vec::new());
//!     drive(&mut a, &mut io_a, &mut a_to_b, now);
//!     drive(&mut b, &mut io_b, &mut b_to_a, now);
//!     for json in a_to_b {
//!         // Typed errors say who is at fault; a refused message leaves the session usable.
//!         b.handle_signal_json(&json, now).unwrap();
//!     }
//!     for json in b_to_a {
//!         a.handle_signal_json(&json, now).unwrap();
//!     }
//!     now += Duration::from_millis(10);
//! }
//! assert_eq!(a.connection_state(), PeerConnectionState::Connected);
//! assert_eq!(b.connection_state(), PeerConnectionState::Connected);
//! ```
//!
//! # Modules
//! - [`session`]: the [`Session`], its events and outcomes.
//! - [`transport`]: the boundary with the I/O layer (commands and events, per ICE generation).
//! - [`signal`]: [`SignalMessage`], the JSON peers exchange.
//! - [`sdp`], [`candidate`]: parsers and writers for untrusted input (fuzzable with the
//!   `fuzzing` feature).
//! - [`signaling`], [`state`]: the W3C state machines and aggregation rules.
//! - [`policy`]: automatic ICE restarts with backoff.
//! - `sim` (with the `sim` feature): a deterministic two-peer simulator for tests, benches and
//!   fuzzing.
//!
//! The design, the states and the restart flow are described in `docs/session-core.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod candidate;
pub mod channel;
pub mod config;
pub mod error;
pub mod ice;
pub mod policy;
mod rng;
pub mod sdp;
pub mod session;
pub mod signal;
pub mod signaling;
#[cfg(feature = "sim")]
pub mod sim;
pub mod state;
pub mod transceiver;
pub mod transport;

// What a user of the core needs, at the root (the modules keep the rest).
pub use channel::{ChannelId, DataChannelInit, DataChannelState};
pub use config::{BundlePolicy, Config, ConfigUpdate, IceServer, IceTransportPolicy, Negotiation};
pub use error::{ConfigError, PeerError, SessionError};
pub use policy::{RestartPolicy, RestartReason};
pub use sdp::{Direction, MediaKind};
pub use session::{CandidateOutcome, ClosedBy, Event, OfferOptions, Session};
pub use signal::{IceCandidateInit, SessionDescription, SignalMessage, SignalParseError};
pub use signaling::{SdpType, SignalingState};
pub use state::{IceConnectionState, IceGatheringState, PeerConnectionState};
pub use transceiver::TransceiverId;
pub use transport::{Generation, TransportCommand, TransportEvent, TransportId};

/// Test support: the origin `Instant` unit tests offset virtual time from. It lives outside
/// `src/` because the core never reads the clock.
#[cfg(test)]
#[path = "../tests/support/clock.rs"]
mod test_clock;
