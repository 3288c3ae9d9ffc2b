//! Fuzz targets for Tether's untrusted inputs, as plain functions.
//!
//! Each target takes the fuzzer's bytes and either feeds them to a parser or reads a structured
//! input from them (with [`arbitrary`]), then checks invariants: no panic, round trips that
//! give back what was parsed, legal states. They are called by the libFuzzer shims in
//! `fuzz_targets/` (nightly, `cargo xtask fuzz`) and, on stable, by `tests/replay.rs`, which
//! replays every seed and every saved crash (`regressions/<target>/`) through the same function.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod media;
mod parsers;
mod session;
mod signaling;
mod transport;

/// The fuzz targets, one function per untrusted input (the names of `fuzz_targets/*.rs`).
pub mod targets {
    pub use crate::media::{annexb, depacketize, ivf, jitter, ogg, rtcp};
    pub use crate::parsers::{candidate, sdp, signal};
    pub use crate::session::{describe_session_case, session};
    pub use crate::signaling::{ws_client_frame, ws_server_frame};
    pub use crate::transport::{dcep, demux, sctp_plane};
}

/// A target's name and entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name (also the names of `seeds/`, `dicts/` and `regressions/` entries).
pub const TARGETS: &[Target] = &[
    ("sdp", targets::sdp),
    ("candidate", targets::candidate),
    ("signal", targets::signal),
    ("session", targets::session),
    ("ws_client_frame", targets::ws_client_frame),
    ("ws_server_frame", targets::ws_server_frame),
    ("depacketize", targets::depacketize),
    ("rtcp", targets::rtcp),
    ("jitter", targets::jitter),
    ("ivf", targets::ivf),
    ("ogg", targets::ogg),
    ("annexb", targets::annexb),
    ("demux", targets::demux),
    ("dcep", targets::dcep),
    ("sctp_plane", targets::sctp_plane),
];
