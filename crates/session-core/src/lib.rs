//! Tether session core: the WebRTC session lifecycle as a sans-IO state machine.
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
