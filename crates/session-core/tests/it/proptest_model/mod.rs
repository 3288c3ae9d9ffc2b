//! Property tests of the session state machines against small reference models.
//!
//! Two properties:
//! - `sim_operations_keep_invariants`: random operation sequences on both peers of the
//!   deterministic simulator (perfect negotiation), with safety invariants checked after every
//!   operation and liveness checked after quiescence when the network works.
//! - `manual_jsep_matches_model`: two sessions with `Negotiation::Manual` driven directly
//!   (no simulator) with random `create_offer`/`create_answer`/`set_local_description`/
//!   `set_remote_description`/`add_ice_candidate` calls, checked call by call against a tiny
//!   reference model of the W3C/JSEP signaling state machine.
//!
//! Failing inputs are saved to `proptest-regressions/proptest_model.txt` (replayed first on
//! the next run); proptest prints the minimal failing input, which includes the simulator
//! seed, and every assertion message repeats it.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::clock::t0;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use session_core::channel::DataChannelInit;
use session_core::config::{
    BundlePolicy, Config, ConfigUpdate, IceServer, IceTransportPolicy, Negotiation,
};
use session_core::error::{ConfigError, SessionError};
use session_core::sdp::{Direction, MediaKind};
use session_core::session::{CandidateOutcome, Event, OfferOptions, Session};
use session_core::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use session_core::signaling::{SdpType, SignalingState};
use session_core::sim::{sim_fingerprint, PeerId, Sim, SimConfig};
use session_core::state::{IceConnectionState, PeerConnectionState};
use session_core::transceiver::answer_direction;
use session_core::transport::{TransportCommand, TransportId};

/// Cases of the simulator property per default run.
const SIM_CASES: u32 = 7_000;
/// Cases of the manual JSEP property per default run.
const MANUAL_CASES: u32 = 3_000;

/// `cases`, or the value of the environment variable `var` (for long local stress runs, e.g.
/// `SIM_CASES=60000 cargo test -p tether-session-core --test it proptest_model`).
fn config_from_env(var: &str, cases: u32) -> ProptestConfig {
    let cases = std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    config(cases)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/proptest_model.txt",
        ))),
        // Shrinking replays whole simulations: bound it so a failure reports in reasonable time.
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    }
}

mod manual;
mod sim;
