//! Two `transport-tokio` peer connections on loopback, connected by a memory signaling pair,
//! and waiting for their events.

use std::time::Duration;

use transport_tokio::{ClosedBy, Event, GatherOptions, PeerConfig, PeerEvent, PeerEvents};

/// A peer configuration that gathers loopback host candidates only, with a pinned seed if given.
pub fn config(polite: bool, seed: Option<u8>) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    c.gather = GatherOptions::loopback_only();
    c.seed = seed.map(|s| [s; 32]);
    c
}

/// Waits for an event matching `f`, failing after `within`.
pub async fn wait_event<T>(
    events: &mut PeerEvents,
    within: Duration,
    mut f: impl FnMut(PeerEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(within, async {
        loop {
            let ev = events.recv().await.expect("event stream ended");
            if let Some(t) = f(ev) {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

/// Waits for the session's `Closed` event and checks who closed it.
pub async fn expect_closed(events: &mut PeerEvents, by: ClosedBy) {
    let got = wait_event(events, Duration::from_secs(10), |ev| match ev {
        PeerEvent::Session(Event::Closed(b)) => Some(b),
        _ => None,
    })
    .await;
    assert_eq!(got, by, "closed by the wrong side");
}

/// Two connected peers with one open data channel ("data", created by A).
#[derive(Debug)]
pub struct Pair {
    /// Peer A (impolite; created the channel).
    pub a: transport_tokio::PeerConnection,
    /// Peer B (polite).
    pub b: transport_tokio::PeerConnection,
    /// A's events (after the channel opened).
    pub a_events: PeerEvents,
    /// B's events (after the channel opened).
    pub b_events: PeerEvents,
    /// A's end of the channel.
    pub dc_a: transport_tokio::DataChannel,
    /// B's end of the channel.
    pub dc_b: transport_tokio::DataChannel,
    /// `create_data_channel` to open on both sides.
    pub setup: Duration,
}

/// Creates A (impolite) and B (polite) with these configurations over a memory signaling
/// pair with `delay`, and opens a data channel from A.
pub async fn connect_pair(
    ca: transport_tokio::PeerConfig,
    cb: transport_tokio::PeerConfig,
    init: transport_tokio::DataChannelInit,
    delay: Duration,
) -> Pair {
    let (sa, sb) = transport_tokio::memory_pair(delay);
    let (a, a_events) = transport_tokio::PeerConnection::new(ca, sa).expect("peer A");
    let (b, mut b_events) = transport_tokio::PeerConnection::new(cb, sb).expect("peer B");
    let start = std::time::Instant::now();
    let dc_a = a.create_data_channel("data", init).await.expect("channel");
    let dc_b = wait_event(&mut b_events, Duration::from_secs(20), |ev| match ev {
        PeerEvent::DataChannel(dc) => Some(dc),
        _ => None,
    })
    .await;
    tokio::time::timeout(Duration::from_secs(20), dc_a.wait_open())
        .await
        .expect("channel did not open in 20 s")
        .expect("channel closed");
    Pair {
        a,
        b,
        a_events,
        b_events,
        dc_a,
        dc_b,
        setup: start.elapsed(),
    }
}
