//! Scenarios in the deterministic simulator: connect, data channels, restart, close.

use std::time::Duration;

use crate::clock::t0;

use session_core::session::Event;
use session_core::sim::{PeerId, Sim, SimConfig};

#[test]
fn connects_with_a_data_channel() {
    let mut sim = Sim::new(SimConfig::default(), t0());
    let ch = sim
        .a_mut()
        .create_data_channel("chat", Default::default())
        .unwrap();
    assert!(
        sim.run_until_settled(Duration::from_secs(10)),
        "{}",
        sim.report()
    );
    assert!(sim.violations().is_empty(), "{}", sim.report());
    assert!(
        sim.peer(PeerId::A)
            .events
            .iter()
            .any(|(_, e)| *e == Event::DataChannelOpen(ch)),
        "{}",
        sim.report()
    );
    assert!(
        sim.peer(PeerId::B)
            .events
            .iter()
            .any(|(_, e)| matches!(e, Event::DataChannel { label, .. } if label == "chat")),
        "{}",
        sim.report()
    );
    println!("{}", sim.report());
}

fn connected_sim(cfg: SimConfig) -> Sim {
    let mut sim = Sim::new(cfg, t0());
    sim.a_mut()
        .create_data_channel("chat", Default::default())
        .unwrap();
    assert!(
        sim.run_until_settled(Duration::from_secs(10)),
        "{}",
        sim.report()
    );
    sim
}

fn creds(sim: &Sim) -> Vec<String> {
    let t = sim.a().transports();
    t.iter()
        .filter_map(|t| sim.a().negotiated_credentials(t.id))
        .map(|(l, r)| format!("{}/{}", l.ufrag, r.ufrag))
        .collect()
}

#[test]
fn explicit_restart_from_each_side_is_make_before_break() {
    let mut sim = connected_sim(SimConfig::default());
    for side in [PeerId::A, PeerId::B, PeerId::A] {
        let before = creds(&sim);
        let now = sim.now();
        sim.peer_mut(side).session.restart_ice(now);
        assert!(
            sim.run_until_settled(Duration::from_secs(10)),
            "{}",
            sim.report()
        );
        let after = creds(&sim);
        assert_ne!(before, after, "credentials change after a restart");
        assert!(sim.violations().is_empty(), "{}", sim.report());
    }
    let stats = sim.path_stats();
    assert_eq!(
        stats.outages,
        0,
        "no outage during explicit restarts: {stats:?}\n{}",
        sim.report()
    );
    let gens = &sim.a().transports()[0].generations;
    assert_eq!(gens.len(), 4, "{gens:?}");
}

#[test]
fn glare_is_resolved_by_politeness() {
    let mut sim = connected_sim(SimConfig::default());
    let now = sim.now();
    sim.a_mut().restart_ice(now);
    sim.b_mut().restart_ice(now);
    sim.b_mut()
        .create_data_channel("second", Default::default())
        .unwrap();
    assert!(
        sim.run_until_settled(Duration::from_secs(10)),
        "{}",
        sim.report()
    );
    assert!(sim.violations().is_empty(), "{}", sim.report());
    assert!(
        sim.peer(PeerId::A).signal_errors.is_empty(),
        "{}",
        sim.report()
    );
    assert!(
        sim.peer(PeerId::B).signal_errors.is_empty(),
        "{}",
        sim.report()
    );
}

#[test]
fn link_failure_triggers_policy_restart_and_recovers() {
    let mut sim = connected_sim(SimConfig::default());
    sim.set_link(false);
    sim.run_for(Duration::from_secs(12));
    assert!(!sim.settled());
    sim.set_link(true);
    assert!(
        sim.run_until_settled(Duration::from_secs(60)),
        "{}",
        sim.report()
    );
    assert!(sim.violations().is_empty(), "{}", sim.report());
    let restarts = sim
        .peer(PeerId::A)
        .events
        .iter()
        .chain(&sim.peer(PeerId::B).events)
        .filter(|(_, e)| matches!(e, Event::AutomaticRestart(_)))
        .count();
    assert!(restarts >= 1, "{}", sim.report());
}

#[test]
fn network_change_restarts_and_keeps_the_path() {
    let mut sim = connected_sim(SimConfig::default());
    let before = creds(&sim);
    sim.network_changed(PeerId::B);
    assert!(
        sim.run_until_settled(Duration::from_secs(10)),
        "{}",
        sim.report()
    );
    assert_ne!(before, creds(&sim));
    assert_eq!(sim.path_stats().outages, 0, "{}", sim.report());
}

#[test]
fn close_from_either_side_reaches_closed() {
    for side in [PeerId::A, PeerId::B] {
        let mut sim = connected_sim(SimConfig::default());
        let now = sim.now();
        sim.peer_mut(side).session.close(now);
        sim.run_for(Duration::from_secs(1));
        assert!(
            sim.a().is_closed() && sim.b().is_closed(),
            "{}",
            sim.report()
        );
        assert!(sim.violations().is_empty(), "{}", sim.report());
        assert_eq!(sim.a().poll_timeout(), None);
    }
}

/// The signaling channel is gone when A hangs up: its `bye` never arrives, but its DTLS
/// close_notify does, and B ends as closed by the peer instead of restarting ICE towards it.
#[test]
fn a_hang_up_without_signaling_closes_the_peer_through_dtls() {
    let mut sim = connected_sim(SimConfig::default());
    sim.set_signal_loss(1.0);
    let now = sim.now();
    sim.a_mut().close(now);
    sim.run_for(Duration::from_secs(1));
    assert!(sim.b().is_closed(), "{}", sim.report());
    let closed: Vec<_> = sim
        .peer(PeerId::B)
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Closed(by) => Some(*by),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![session_core::session::ClosedBy::Remote]);
    assert!(sim.violations().is_empty(), "{}", sim.report());
}

#[test]
fn wrong_fingerprint_fails_the_connection() {
    let mut sim = Sim::new(
        SimConfig {
            wrong_fingerprint_b: true,
            ..Default::default()
        },
        t0(),
    );
    sim.a_mut()
        .create_data_channel("chat", Default::default())
        .unwrap();
    sim.run_for(Duration::from_secs(2));
    assert_eq!(
        sim.a().connection_state(),
        session_core::state::PeerConnectionState::Failed,
        "{}",
        sim.report()
    );
    assert!(sim
        .peer(PeerId::A)
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::PeerMisbehaved(_))));
    assert!(!sim
        .peer(PeerId::A)
        .events
        .iter()
        .any(|(_, e)| matches!(e, Event::DataChannelOpen(_))));
}

#[test]
fn lossy_duplicating_signaling_still_converges() {
    for seed in 1..=20 {
        let cfg = SimConfig {
            seed,
            signal_loss: 0.2,
            signal_duplicate: 0.2,
            signal_delay: (Duration::from_millis(5), Duration::from_millis(300)),
            ..Default::default()
        };
        let mut sim = Sim::new(cfg, t0());
        sim.a_mut()
            .create_data_channel("chat", Default::default())
            .unwrap();
        assert!(
            sim.run_until_settled(Duration::from_secs(120)),
            "seed {seed}\n{}",
            sim.report()
        );
        let now = sim.now();
        sim.b_mut().restart_ice(now);
        assert!(
            sim.run_until_settled(Duration::from_secs(120)),
            "seed {seed}\n{}",
            sim.report()
        );
        assert!(sim.violations().is_empty(), "seed {seed}\n{}", sim.report());
    }
}
