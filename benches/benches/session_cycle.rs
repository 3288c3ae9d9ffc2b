//! Session-core costs: a full simulated connect + ICE restart cycle, a bare manual
//! offer/answer exchange, and SDP parse/write of a real Chromium offer.
//!
//! Run with `cargo bench -p tether-benches --bench session_cycle` (or `cargo xtask bench`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use session_core::channel::DataChannelInit;
use session_core::config::{Config, Negotiation};
use session_core::policy::RestartPolicy;
use session_core::sdp::{self, Direction, Fingerprint, MediaKind};
use session_core::session::{OfferOptions, Session};
use session_core::sim::{PeerId, Sim, SimConfig};

/// Chromium 156's audio+video+data offer after gathering (with `a=candidate` lines).
const CHROMIUM_OFFER: &str =
    include_str!("../../crates/session-core/tests/fixtures/chromium/offer-av-data-gathered.sdp");

/// (a) Two simulated peers connect with a data channel (offer, answer, trickle, DTLS, SCTP),
/// then one of them restarts ICE and the restart completes.
fn sim_cycle(start: Instant) -> Sim {
    let mut sim = Sim::new(SimConfig::default(), start);
    sim.a_mut()
        .create_data_channel("chat", DataChannelInit::default())
        .expect("data channel");
    assert!(sim.run_until_settled(Duration::from_secs(10)), "connect");
    let now = sim.now();
    sim.peer_mut(PeerId::A).session.restart_ice(now);
    assert!(sim.run_until_settled(Duration::from_secs(10)), "restart");
    sim
}

fn manual_config(seed: u8) -> Config {
    let fingerprint = Fingerprint {
        algorithm: "sha-256".into(),
        value: vec![seed; 32],
    };
    let mut cfg = Config::new([seed; 32], vec![fingerprint], false);
    cfg.negotiation = Negotiation::Manual;
    cfg.restart_policy = RestartPolicy::manual();
    cfg
}

/// (b) One offer/answer exchange between two fresh manual sessions (audio, video, data).
fn manual_exchange(now: Instant) -> (Session, Session) {
    let mut a = Session::new(manual_config(0xA), now);
    let mut b = Session::new(manual_config(0xB), now);
    a.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    a.add_transceiver(MediaKind::Video, Direction::SendRecv);
    a.create_data_channel("chat", DataChannelInit::default())
        .expect("data channel");
    let offer = a.create_offer(OfferOptions::default(), now).expect("offer");
    a.set_local_description(offer.clone(), now)
        .expect("local offer");
    b.set_remote_description(offer, now).expect("remote offer");
    let answer = b.create_answer(now).expect("answer");
    b.set_local_description(answer.clone(), now)
        .expect("local answer");
    a.set_remote_description(answer, now)
        .expect("remote answer");
    (a, b)
}

fn benches(c: &mut Criterion) {
    let start = Instant::now();

    // Sanity checks outside the measurement.
    let sim = sim_cycle(start);
    assert_eq!(
        sim.a().transports()[0].generations.len(),
        2,
        "the restart created a second ICE generation"
    );
    println!(
        "sim cycle: {:?} of virtual time, {} simulator steps",
        sim.elapsed(),
        sim.steps()
    );
    let parsed = sdp::parse(CHROMIUM_OFFER).expect("Chromium offer parses");
    assert_eq!(parsed.media.len(), 3);
    assert!(parsed.media.iter().any(|m| !m.candidates.is_empty()));

    c.bench_function("sim_connect_and_ice_restart_cycle", |b| {
        b.iter(|| black_box(sim_cycle(start)))
    });
    c.bench_function("manual_offer_answer_exchange", |b| {
        b.iter(|| black_box(manual_exchange(start)))
    });
    c.bench_function("sdp_parse_chromium_offer", |b| {
        b.iter(|| sdp::parse(black_box(CHROMIUM_OFFER)).expect("parse"))
    });
    c.bench_function("sdp_write_chromium_offer", |b| {
        b.iter(|| sdp::write(black_box(&parsed)))
    });
}

criterion_group! {
    name = session_cycle;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(session_cycle);
