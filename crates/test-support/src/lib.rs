//! What Tether's test suites share (a dev-dependency only; never part of a library).
//!
//! - [`privileged`]: the one switch for tests that need root (network namespaces, iptables,
//!   browsers and TURN servers contained in a namespace).
//! - [`payload`] / [`check_payload`]: messages whose bytes follow from their number.
//! - [`ffprobe`]: what ffmpeg's prober decodes from a file we wrote.
//! - [`connect_pair`], [`wait_event`], [`config`], [`expect_closed`]: two `transport-tokio`
//!   peers on loopback and their events; [`flow`]: a checked message flow over a data channel.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ffprobe;
pub mod flow;
mod payload;
mod peers;
mod privileged;

pub use payload::{check_payload, payload};
pub use peers::{config, connect_pair, expect_closed, wait_event, Pair};
pub use privileged::{is_root, privileged, SKIP_PRIVILEGED};
