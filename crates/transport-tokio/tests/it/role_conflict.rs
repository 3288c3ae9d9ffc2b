//! ICE role conflicts between two Tether peers over loopback: `webrtc-ice` 0.17 does not
//! resolve them (RFC 8445 §7.3.1.1), transport-tokio does by replacing the stalled generation's
//! agent with one of the other role. `PeerConfig::ice_role_override` (testing only) forces the
//! conflict on the first generation.

use std::time::Duration;

use session_core::transport::IceRole;
use test_support::{config, connect_pair, Pair};
use transport_tokio::{Message, Stats};

/// The impolite peer's wait before it flips (`ice::generation::FLIP_AFTER_IMPOLITE`).
const FLIP_AFTER_IMPOLITE: Duration = Duration::from_millis(2000);

async fn first_generation(stats: Stats) -> transport_tokio::GenerationStats {
    stats
        .generations
        .into_iter()
        .next()
        .expect("a live ICE generation")
}

/// Connects A (impolite, offerer: controlling) and B (polite, answerer: controlled), with the
/// first generation's role forced on A and/or B; checks that text flows both ways. Returns the
/// pair and the setup time.
async fn connect_with(a_role: Option<IceRole>, b_role: Option<IceRole>) -> (Pair, Duration) {
    let mut ca = config(false, Some(1));
    ca.ice_role_override = a_role;
    let mut cb = config(true, Some(2));
    cb.ice_role_override = b_role;
    let mut p = connect_pair(ca, cb, Default::default(), Duration::ZERO).await;
    p.dc_a.send_text("ping").await.expect("send A");
    p.dc_b.send_text("pong").await.expect("send B");
    let within = Duration::from_secs(5);
    let got_b = tokio::time::timeout(within, p.dc_b.recv())
        .await
        .expect("B waits");
    assert!(matches!(got_b, Some(Message::Text(t)) if t == "ping"));
    let got_a = tokio::time::timeout(within, p.dc_a.recv())
        .await
        .expect("A waits");
    assert!(matches!(got_a, Some(Message::Text(t)) if t == "pong"));
    let setup = p.setup;
    (p, setup)
}

async fn close(p: Pair) {
    p.a.close().await;
    p.b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_conflict_no_flip_no_delay() {
    let (p, setup) = connect_with(None, None).await;
    eprintln!("no conflict: set up in {setup:?}");
    let a = first_generation(p.a.stats().await.expect("stats A")).await;
    let b = first_generation(p.b.stats().await.expect("stats B")).await;
    assert!(!a.role_flipped && !b.role_flipped, "{a:?} {b:?}");
    assert_eq!(a.ice_role, IceRole::Controlling);
    assert_eq!(b.ice_role, IceRole::Controlled);
    assert!(setup < FLIP_AFTER_IMPOLITE, "set up in {setup:?}");
    close(p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_controlling_recovers_by_the_impolite_flip() {
    let (p, setup) = connect_with(None, Some(IceRole::Controlling)).await;
    eprintln!("both controlling: recovered, set up in {setup:?}");
    let a = first_generation(p.a.stats().await.expect("stats A")).await;
    let b = first_generation(p.b.stats().await.expect("stats B")).await;
    assert!(a.role_flipped, "the impolite peer flips: {a:?}");
    assert_eq!(a.ice_role, IceRole::Controlled);
    assert!(!b.role_flipped, "the polite peer keeps its role: {b:?}");
    assert_eq!(b.ice_role, IceRole::Controlling);
    assert!(
        setup >= FLIP_AFTER_IMPOLITE,
        "a conflict cannot connect before the flip"
    );
    assert!(setup < Duration::from_secs(5), "recovery took {setup:?}");
    close(p).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_controlled_recovers_by_the_impolite_flip() {
    let (p, setup) = connect_with(Some(IceRole::Controlled), None).await;
    eprintln!("both controlled: recovered, set up in {setup:?}");
    let a = first_generation(p.a.stats().await.expect("stats A")).await;
    let b = first_generation(p.b.stats().await.expect("stats B")).await;
    assert!(a.role_flipped, "the impolite peer flips: {a:?}");
    assert_eq!(a.ice_role, IceRole::Controlling);
    assert!(!b.role_flipped, "the polite peer keeps its role: {b:?}");
    assert!(
        setup >= FLIP_AFTER_IMPOLITE,
        "a conflict cannot connect before the flip"
    );
    assert!(setup < Duration::from_secs(5), "recovery took {setup:?}");
    close(p).await;
}
