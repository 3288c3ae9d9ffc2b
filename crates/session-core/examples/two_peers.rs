//! Two peers through Tether's session core in the deterministic simulator: they connect with a
//! data channel, survive an explicit ICE restart, a network change and a link failure, and
//! close. Prints the timeline of each peer in virtual time.
//!
//! Run: `cargo run -p tether-session-core --example two_peers`

use std::time::{Duration, Instant};

use session_core::session::Event;
use session_core::sim::{PeerId, Sim, SimConfig};

fn main() {
    // The simulator needs one real instant as the origin of its virtual time.
    #[allow(clippy::disallowed_methods)]
    let start = Instant::now();
    let mut sim = Sim::new(
        SimConfig {
            seed: 7,
            signal_delay: (Duration::from_millis(20), Duration::from_millis(200)),
            ..Default::default()
        },
        start,
    );
    println!("peer A creates a data channel; perfect negotiation does the rest");
    sim.a_mut()
        .create_data_channel("chat", Default::default())
        .expect("data channel");
    let ok = sim.run_until_settled(Duration::from_secs(10));
    report(&sim, "connected", ok);

    let now = sim.now();
    sim.b_mut().restart_ice(now);
    let ok = sim.run_until_settled(Duration::from_secs(10));
    report(&sim, "explicit ICE restart by B (make-before-break)", ok);

    sim.network_changed(PeerId::A);
    let ok = sim.run_until_settled(Duration::from_secs(10));
    report(&sim, "network change on A (restart policy)", ok);

    sim.set_link(false);
    sim.run_for(Duration::from_secs(12));
    sim.set_link(true);
    let ok = sim.run_until_settled(Duration::from_secs(60));
    report(
        &sim,
        "link down for 12 s, then up (restart on failure, with backoff)",
        ok,
    );

    let now = sim.now();
    sim.a_mut().close(now);
    sim.run_for(Duration::from_secs(1));
    report(
        &sim,
        "A hangs up",
        sim.a().is_closed() && sim.b().is_closed(),
    );

    for id in [PeerId::A, PeerId::B] {
        println!("\n=== timeline of peer {id:?} ===");
        for (t, e) in &sim.peer(id).events {
            if interesting(e) {
                println!("{:>10.3?}  {e:?}", t.saturating_duration_since(start));
            }
        }
    }
    let stats = sim.path_stats();
    println!(
        "\ndata path: {} outage(s), longest {:?}, total {:?}; invariant violations: {}",
        stats.outages,
        stats.longest_gap,
        stats.total_down,
        sim.violations().len()
    );
    assert!(sim.violations().is_empty(), "{:?}", sim.violations());
}

fn report(sim: &Sim, what: &str, ok: bool) {
    println!(
        "[{:>9.3?}] {what}: {}",
        sim.elapsed(),
        if ok { "ok" } else { "NOT SETTLED" }
    );
    assert!(ok, "{what} did not settle");
}

fn interesting(e: &Event) -> bool {
    !matches!(e, Event::IceGatheringStateChange(_))
}
