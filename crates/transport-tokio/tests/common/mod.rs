//! Helpers shared by the integration test binaries.

use std::time::Duration;

use session_core::session::{ClosedBy, Event};
use transport_tokio::{GatherOptions, PeerConfig, PeerEvent, PeerEvents};

/// A peer configuration that gathers loopback host candidates only, with a pinned seed if given.
pub(crate) fn config(polite: bool, seed: Option<u8>) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    c.gather = GatherOptions::loopback_only();
    c.seed = seed.map(|s| [s; 32]);
    c
}

/// Waits for an event matching `f`, failing after `within`.
pub(crate) async fn wait_event<T>(
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
pub(crate) async fn expect_closed(events: &mut PeerEvents, by: ClosedBy) {
    let got = wait_event(events, Duration::from_secs(10), |ev| match ev {
        PeerEvent::Session(Event::Closed(b)) => Some(b),
        _ => None,
    })
    .await;
    assert_eq!(got, by, "closed by the wrong side");
}
