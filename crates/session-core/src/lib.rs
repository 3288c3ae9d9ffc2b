//! Tether session core: the WebRTC session lifecycle as a sans-IO state machine.
//!
//! A [`Session`](session::Session) is one peer connection's brain: JSEP signaling (offers,
//! answers, provisional answers, rollback), trickle ICE, ICE generations and make-before-break
//! restarts, perfect negotiation, data channels and transceivers, and the W3C state
//! aggregation. It does no I/O: it never reads a clock (time comes in as `now`), never asks the
//! OS for randomness (a seed comes with the [`Config`](config::Config)) and never touches a
//! socket. An adapter (Tether's `transport-tokio`, or your own) owns the sockets and runs the
//! loop below.
//!
//! # The run loop
//!
//! Feed inputs through `handle_*` (and application calls), then drain the three output
//! queues, then sleep until [`poll_timeout`](session::Session::poll_timeout):
//!
//! ```
//! use std::time::Instant;
//! use session_core::config::Config;
//! use session_core::session::{Event, Session};
//! use session_core::signal::SignalMessage;
//! use session_core::transport::{TransportCommand, TransportEvent};
//!
//! /// What an adapter provides: sockets, ICE agents, DTLS, a signaling channel, a clock.
//! trait Io {
//!     fn execute(&mut self, cmd: TransportCommand);
//!     fn send_to_peer(&mut self, msg: SignalMessage);
//!     fn deliver(&mut self, event: Event);
//! }
//!
//! /// One turn of the driver: call after every input and whenever `poll_timeout` is reached.
//! fn drive(session: &mut Session, io: &mut impl Io, now: Instant) -> Option<Instant> {
//!     if session.poll_timeout().is_some_and(|t| t <= now) {
//!         session.handle_timeout(now);
//!     }
//!     while let Some(cmd) = session.poll_transport() {
//!         io.execute(cmd); // start an ICE agent, add a candidate, start DTLS, ...
//!     }
//!     while let Some(msg) = session.poll_signal() {
//!         io.send_to_peer(msg); // JSON via SignalMessage::to_json
//!     }
//!     while let Some(event) = session.poll_event() {
//!         io.deliver(event); // state changes, data channels, tracks, ...
//!     }
//!     session.poll_timeout() // sleep until then, or until the next input
//! }
//!
//! /// Inputs: a transport event, a message from the peer.
//! fn on_inputs(session: &mut Session, ev: TransportEvent, json: &str, now: Instant) {
//!     session.handle_transport_event(ev, now);
//!     if let Err(e) = session.handle_signal_json(json, now) {
//!         // Typed, with who is at fault; the session stays usable.
//!         eprintln!("signal rejected ({:?}): {e}", e.fault());
//!     }
//! }
//!
//! // With perfect negotiation (the default) the application only forwards messages:
//! fn start(seed: [u8; 32], fingerprint: session_core::sdp::Fingerprint, polite: bool, now: Instant) -> Session {
//!     let mut session = Session::new(Config::new(seed, vec![fingerprint], polite), now);
//!     session.create_data_channel("chat", Default::default()).unwrap();
//!     session // the offer goes out at the first handle_timeout
//! }
//! # let _ = (drive as fn(&mut Session, &mut NoIo, Instant) -> Option<Instant>, on_inputs, start);
//! # struct NoIo;
//! # impl Io for NoIo { fn execute(&mut self, _: TransportCommand) {} fn send_to_peer(&mut self, _: SignalMessage) {} fn deliver(&mut self, _: Event) {} }
//! ```
//!
//! # Modules
//! - [`session`]: the [`Session`](session::Session), its events and outcomes.
//! - [`transport`]: the boundary with the I/O layer (commands and events, per ICE generation).
//! - [`signal`]: [`SignalMessage`](signal::SignalMessage), the JSON peers exchange.
//! - [`sdp`], [`candidate`]: parsers and writers for untrusted input (fuzzable with the
//!   `fuzzing` feature).
//! - [`signaling`], [`state`]: the W3C state machines and aggregation rules.
//! - [`policy`]: automatic ICE restarts with backoff.
//! - [`sim`]: a deterministic two-peer simulator for tests.
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
pub mod sim;
pub mod state;
pub mod transceiver;
pub mod transport;

/// Test support: the origin `Instant` unit tests offset virtual time from. It lives outside
/// `src/` because the core never reads the clock.
#[cfg(test)]
#[path = "../tests/support/clock.rs"]
mod test_clock;
