//! Fuzz targets for Tether's untrusted-input parsers, and a stable-toolchain driver for them.
//!
//! The targets are thin shims over the feature-gated entry points of `tether-session-core`
//! (feature `fuzzing`): every input must be rejected with a typed error or accepted, never panic.
//! They run under libFuzzer (`fuzz_targets/`, feature `libfuzzer`, nightly) or under
//! [`driver`], a time-bounded mutation fuzzer that needs only stable Rust.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod driver;
mod mutate;

/// The fuzz targets, one function per untrusted input.
pub mod targets {
    /// SDP text (offers and answers from the other peer).
    pub fn sdp(data: &[u8]) {
        session_core::sdp::fuzz_parse(data);
    }

    /// `SignalMessage` JSON (anything a signaling channel delivers).
    pub fn signal(data: &[u8]) {
        session_core::signal::fuzz_signal(data);
    }

    /// A trickled ICE candidate line.
    pub fn candidate(data: &[u8]) {
        let text = String::from_utf8_lossy(data);
        let _ = text.parse::<session_core::candidate::Candidate>();
    }
}

/// A target's name and entry point.
pub type Target = (&'static str, fn(&[u8]));

/// Every target, by name (the names of `fuzz_targets/*.rs` and `corpus/*`).
pub const TARGETS: &[Target] = &[
    ("sdp", targets::sdp),
    ("signal", targets::signal),
    ("candidate", targets::candidate),
];
