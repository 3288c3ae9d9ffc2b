//! An automatic partial ICE restart over real sockets: two peers, unbundled
//! (`BundlePolicy::MaxCompat`: audio and data on transports of their own), both on the loopback
//! of a network namespace the test creates (root, `ip`, `nft`). nftables then silently drops
//! every packet of the audio transport's selected pair (by A's port; the interface stays up).
//! Its ICE consent fails, the restart policy restarts that transport alone, and the data
//! transport keeps its generation and pair while a paced transfer on it goes on, nothing lost.

use crate::lab::{heal, nft, Lab};
use test_support::payload;
use test_support::{config, wait_event};

use std::time::{Duration, Instant};

use session_core::config::BundlePolicy;
use session_core::sdp::MediaKind;
use session_core::session::Event;
use transport_tokio::{memory_pair, Message, PeerConnection, PeerEvent, Stats};

const WAIT: Duration = Duration::from_secs(20);
const PACE: Duration = Duration::from_millis(10);

/// The promoted generation and its pair of the transport carrying `mid`.
fn transport_of(
    stats: &Stats,
    mid: &str,
) -> (u32, Option<(std::net::SocketAddr, std::net::SocketAddr)>) {
    let t = stats
        .transports
        .iter()
        .find(|t| t.mids.iter().any(|m| m == mid))
        .unwrap_or_else(|| panic!("no transport for mid {mid}: {stats:?}"));
    let g = stats
        .generations
        .iter()
        .find(|g| g.transport == t.id && g.promoted)
        .unwrap_or_else(|| panic!("nothing promoted on {t:?}: {stats:?}"));
    (g.generation.0, g.local.zip(g.remote))
}

#[test]
fn a_dead_path_of_one_transport_restarts_that_transport_alone() {
    if !test_support::privileged("a_dead_path_of_one_transport_restarts_that_transport_alone") {
        return;
    }
    let lab = Lab::new();
    let ns = lab.ns[0].clone();
    // Everything in one runtime inside the namespace: the peers live as long as it does.
    let peers = lab.spawn(0, async move {
        let cfg = |polite, seed| {
            let mut c = config(polite, Some(seed));
            c.bundle_policy = BundlePolicy::MaxCompat;
            c
        };
        let (sa, sb) = memory_pair(Duration::ZERO);
        let (a, mut a_events) = PeerConnection::new(cfg(false, 61), sa).unwrap();
        let (b, mut b_events) = PeerConnection::new(cfg(true, 62), sb).unwrap();
        let audio = a.add_track(MediaKind::Audio, "s", "mic").await.unwrap();
        let dc_a = a
            .create_data_channel("data", Default::default())
            .await
            .unwrap();
        let mut dc_b = wait_event(&mut b_events, WAIT, |ev| match ev {
            PeerEvent::DataChannel(dc) => Some(dc),
            _ => None,
        })
        .await;
        tokio::time::timeout(WAIT, dc_a.wait_open())
            .await
            .unwrap()
            .unwrap();
        let audio_mid = tokio::time::timeout(WAIT, audio.parameters())
            .await
            .unwrap()
            .unwrap()
            .mid;
        // Both transports connected, each on its own pair.
        let (before, data_mid) = tokio::time::timeout(WAIT, async {
            loop {
                let s = a.stats().await.unwrap();
                let connected = s
                    .generations
                    .iter()
                    .filter(|g| g.promoted && g.local.is_some())
                    .count();
                if s.transports.len() == 2 && connected == 2 {
                    let data_mid = s
                        .transports
                        .iter()
                        .flat_map(|t| &t.mids)
                        .find(|m| **m != audio_mid)
                        .cloned()
                        .unwrap();
                    return (s, data_mid);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("both transports connect");
        let (audio_gen, audio_pair) = transport_of(&before, &audio_mid);
        let (data_gen, data_pair) = transport_of(&before, &data_mid);
        assert_eq!((audio_gen, data_gen), (0, 0));
        let audio_port = audio_pair.expect("audio pair").0.port();

        // A paced transfer on the data transport, checked in order at B.
        let sender = tokio::spawn(async move {
            let mut n = 0u64;
            let mut ticks = tokio::time::interval(PACE);
            let stop = Instant::now() + Duration::from_secs(8);
            while Instant::now() < stop {
                ticks.tick().await;
                dc_a.send(payload(n, 256)).await.unwrap();
                n += 1;
            }
            (n, dc_a)
        });
        let receiver = tokio::spawn(async move {
            let mut arrivals = Vec::new();
            let mut next = 0u64;
            while let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_secs(3), dc_b.recv()).await
            {
                let Message::Binary(data) = msg else {
                    panic!("unexpected {msg:?}")
                };
                let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                assert_eq!(seq, next, "lost, duplicated or reordered message");
                next += 1;
                arrivals.push(Instant::now());
            }
            (next, arrivals)
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Drop the audio transport's packets (A's port, both ways); the data transport's pair
        // uses other ports and keeps working.
        nft(
            &ns,
            &format!(
                "table inet tether_fault {{\n\
                 chain in {{ type filter hook input priority 0; policy accept; \
                 udp sport {audio_port} drop; udp dport {audio_port} drop; }}\n\
                 chain out {{ type filter hook output priority 0; policy accept; \
                 udp sport {audio_port} drop; udp dport {audio_port} drop; }}\n\
                 }}\n"
            ),
        );
        let down = Instant::now();
        // The audio transport alone moves to a new generation.
        let restarted = tokio::time::timeout(WAIT, async {
            loop {
                let s = a.stats().await.unwrap();
                if transport_of(&s, &audio_mid).0 >= 1 {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the audio transport never restarted");
        let promoted_after = down.elapsed();
        let mut reasons = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::ZERO, a_events.recv()).await {
            if let PeerEvent::Session(Event::AutomaticRestart(r)) = ev {
                reasons.push(r);
            }
        }
        let (n_sent, _dc_a) = sender.await.unwrap();
        let (n_received, arrivals) = receiver.await.unwrap();
        let after = a.stats().await.unwrap();
        let b_after = b.stats().await.unwrap();
        heal(&ns);
        a.close().await;
        b.close().await;
        drop(audio);
        assert_eq!(n_received, n_sent, "the data transfer lost messages");
        for (side, s) in [
            ("A", &restarted),
            ("A at the end", &after),
            ("B at the end", &b_after),
        ] {
            let gens: Vec<u32> = s
                .generations
                .iter()
                .filter(|g| {
                    s.transports
                        .iter()
                        .any(|t| t.id == g.transport && t.mids.contains(&data_mid))
                })
                .map(|g| g.generation.0)
                .collect();
            assert_eq!(
                gens,
                vec![0],
                "{side}: the data transport restarted too: {s:?}"
            );
        }
        assert_eq!(
            transport_of(&after, &data_mid).1,
            data_pair,
            "the data pair changed"
        );
        let gap = arrivals
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        println!(
            "audio transport's path dropped: its new generation promoted after \
             {promoted_after:?} (A's automatic restarts: {reasons:?}); data transport untouched \
             (generation 0, same pair), {n_received} messages every {PACE:?}, none lost, longest \
             gap {gap:?}"
        );
    });
    peers.join().expect("the peers' thread");
}
