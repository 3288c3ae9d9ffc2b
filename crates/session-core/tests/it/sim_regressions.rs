//! Regressions found by the property tests (`proptest_model.rs`), each minimized to a fixed
//! seed and a few operations in the deterministic simulator.

use std::time::Duration;

use crate::clock::t0;

use session_core::sdp::{Direction, MediaKind};
use session_core::session::{CandidateDropReason, Event};
use session_core::signaling::SignalingState;
use session_core::sim::{PeerId, Sim, SimConfig};

fn sim(seed: u64) -> Sim {
    Sim::new(
        SimConfig {
            seed,
            ..SimConfig::default()
        },
        t0(),
    )
}

fn connected(seed: u64) -> Sim {
    let mut sim = sim(seed);
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

fn credentials(sim: &Sim) -> Vec<String> {
    let a = sim.a();
    a.transports()
        .iter()
        .filter_map(|t| a.negotiated_credentials(t.id))
        .map(|(l, r)| format!("{}/{}", l.ufrag, r.ufrag))
        .collect()
}

fn clean(sim: &Sim) {
    assert!(sim.violations().is_empty(), "{}", sim.report());
    for p in [PeerId::A, PeerId::B] {
        assert!(sim.peer(p).signal_errors.is_empty(), "{}", sim.report());
    }
}

/// Glare: B restarts while A offers a new transceiver. A (polite) rolls back, answers B's
/// offer and re-offers at once; B (impolite) ignores A's offer. A's answer, sent first, can
/// arrive after A's newer offer. B used to record the ignored offer's `o=` version, took the
/// answer for stale and both peers waited in have-local-offer forever. B also dropped the
/// candidates of the answer's generation, whose ufrag A's ignored offer had announced first.
#[test]
fn answer_overtaken_by_the_ignored_offer_is_not_stale() {
    let mut sim = connected(7_477_393_180_775_121_769);
    let now = sim.now();
    sim.b_mut().restart_ice(now);
    let _ = sim
        .a_mut()
        .add_transceiver(MediaKind::Audio, Direction::SendRecv);
    assert!(
        sim.run_until_settled(Duration::from_secs(30)),
        "{}",
        sim.report()
    );
    clean(&sim);
    let live_remote: Vec<String> = sim
        .b()
        .transports()
        .iter()
        .flat_map(|t| t.generations.iter().filter_map(|g| g.remote_ufrag.clone()))
        .collect();
    let dropped_live = sim.peer(PeerId::B).events.iter().any(|(_, e)| {
        matches!(e, Event::CandidateDropped { candidate, reason: CandidateDropReason::IgnoredOffer }
            if live_remote.iter().any(|u| candidate.ends_with(&format!("ufrag {u}"))))
    });
    assert!(!dropped_live, "{}", sim.report());
}

/// An answer that rejects (port 0) an m-section our offer accepted: the offerer must treat
/// it as rejected (transceiver stopped, transport closed when nothing else uses it), not as
/// negotiated. Here A stops its only transceiver while B's policy restart offers it again;
/// A, polite, answers B's offer rejecting the section.
#[test]
fn answer_rejecting_a_section_stops_it_on_the_offerer() {
    let mut sim = sim(0);
    let _ = sim
        .a_mut()
        .add_transceiver(MediaKind::Audio, Direction::SendRecv);
    sim.run_for(Duration::from_millis(50));
    let id = sim.a().transceivers()[0].id;
    sim.a_mut().stop_transceiver(id);
    sim.network_changed(PeerId::B);
    sim.run_for(Duration::from_secs(30));
    clean(&sim);
    for p in [PeerId::A, PeerId::B] {
        let s = &sim.peer(p).session;
        assert_eq!(
            s.signaling_state(),
            SignalingState::Stable,
            "{}",
            sim.report()
        );
        assert!(!s.restart_pending(), "{}", sim.report());
        for t in s.transceivers() {
            assert!(
                t.stopped && t.current_direction.is_none(),
                "{p:?}: {t:?}\n{}",
                sim.report()
            );
        }
    }
}

/// Stopping the last transceiver while a restart is in progress closes the transport: its
/// generations are retired newest first, so the path carrying traffic is never retired
/// while a newer generation is still starting (the simulator's make-before-break check).
#[test]
fn transport_teardown_during_a_restart_retires_newest_first() {
    let mut sim = sim(2_512_262_232_144_054_864);
    let _ = sim
        .a_mut()
        .add_transceiver(MediaKind::Audio, Direction::SendRecv);
    sim.run_for(Duration::from_millis(43));
    let now = sim.now();
    sim.a_mut().restart_ice(now);
    sim.run_for(Duration::ZERO);
    let id = sim.a().transceivers()[0].id;
    sim.a_mut().stop_transceiver(id);
    sim.run_for(Duration::from_secs(30));
    clean(&sim);
}

/// W3C: an answerer renegotiates when its transceiver's direction no longer matches what it
/// could answer (here `add_track` reuses a transceiver that answered recvonly).
#[test]
fn answerer_renegotiates_a_changed_direction() {
    let mut sim = sim(0);
    let _ = sim
        .b_mut()
        .add_transceiver(MediaKind::Video, Direction::SendRecv);
    let _ = sim.b_mut().add_track(MediaKind::Audio);
    sim.run_for(Duration::from_millis(50));
    let audio = sim.a_mut().add_track(MediaKind::Audio);
    assert!(
        sim.run_until_settled(Duration::from_secs(30)),
        "{}",
        sim.report()
    );
    clean(&sim);
    let t = &sim.a().transceivers()[audio.index() as usize];
    assert_eq!(
        t.current_direction,
        Some(Direction::SendRecv),
        "{}",
        sim.report()
    );
}

/// A restart negotiated while the link is down: its generations fail and are dropped, the
/// old path comes back with the link. The restart never really completed, so it is requested
/// again and credentials do change in the end.
#[test]
fn a_restart_whose_generation_failed_is_requested_again() {
    let mut sim = connected(0);
    let before = credentials(&sim);
    sim.set_link(false);
    let now = sim.now();
    sim.a_mut().restart_ice(now);
    sim.run_for(Duration::from_millis(7_981));
    sim.set_link(true);
    assert!(
        sim.run_until_settled(Duration::from_secs(60)),
        "{}",
        sim.report()
    );
    clean(&sim);
    assert_ne!(credentials(&sim), before, "{}", sim.report());
}

/// Found by the property test (seed 0, Clean): B's offer moved the BUNDLE tag to a new transport
/// (its first m-section was stopped), and A's answer rejected every m-section. The generation B
/// had started for that offer stayed "negotiating" forever, so B's connection state never
/// reached connected. Once an exchange completes, nothing is left negotiating.
#[test]
fn a_generation_of_an_exchange_that_rejected_everything_is_retired() {
    let cfg = SimConfig {
        seed: 0,
        signal_delay: (Duration::from_millis(20), Duration::from_millis(20)),
        ..Default::default()
    };
    let mut sim = Sim::new(cfg, t0());
    sim.b_mut()
        .add_transceiver(MediaKind::Audio, Direction::SendRecv);
    sim.b_mut()
        .add_transceiver(MediaKind::Audio, Direction::SendRecv);
    sim.run_for(Duration::from_millis(21));
    let id = sim.b().transceivers()[0].id;
    sim.b_mut().stop_transceiver(id);
    sim.run_for(Duration::ZERO);
    sim.a_mut()
        .add_transceiver(MediaKind::Audio, Direction::SendRecv);
    sim.run_for(Duration::ZERO);
    let id = sim.a().transceivers()[1].id;
    sim.a_mut().stop_transceiver(id);
    assert!(sim.run_until_settled(Duration::from_secs(30)));
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}
