//! session-core's integration tests, in one binary: JSEP through the public API (`jsep`), the
//! state machines against reference models (`proptest_model`), SDP fixtures (`sdp_parse`), and
//! the two-peer simulator (`sim_basic`, `sim_regressions`).

/// The origin `Instant` the tests offset virtual time from (the core never reads the clock).
#[path = "../support/clock.rs"]
mod clock;

mod jsep;
mod proptest_model;
mod sdp_parse;
mod sim_basic;
mod sim_regressions;
