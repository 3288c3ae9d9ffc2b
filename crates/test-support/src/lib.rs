//! What Tether's test suites share (a dev-dependency only; never part of a library).
//!
//! - [`privileged`]: the one switch for tests that need root (network namespaces, iptables,
//!   browsers and TURN servers contained in a namespace).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod privileged;

pub use privileged::{is_root, privileged, SKIP_PRIVILEGED};
