//! `PeerConnection::stats()` over real sockets on 127.0.0.1: the selected pair's datagram and
//! byte counters and each data channel's message, byte and buffered-amount numbers, checked
//! against what the test sent and received.

use test_support::payload;
use test_support::{config, connect_pair};

use std::time::Duration;

use session_core::channel::{DataChannelInit, DataChannelState};
use transport_tokio::{ChannelStats, Message, PeerConnection, Stats, HIGH_WATER};

fn channel<'a>(stats: &'a Stats, label: &str) -> &'a ChannelStats {
    stats
        .channels
        .iter()
        .find(|c| c.label == label)
        .unwrap_or_else(|| panic!("no stats for channel {label}: {:?}", stats.channels))
}

/// Waits until the stats show nothing buffered on channel "data"; returns how long it took.
async fn wait_unbuffered(pc: &PeerConnection, within: Duration) -> Duration {
    let start = std::time::Instant::now();
    loop {
        let s = pc.stats().await.unwrap();
        if channel(&s, "data").buffered_amount == 0 {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "still buffered after {within:?}: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Both peers' stats once each side's selected pair received exactly what the other sent,
/// datagram for datagram and byte for byte, both ways (loopback loses nothing: with nothing in
/// flight they agree; consent checks only make them disagree for a moment).
async fn consistent_stats(a: &PeerConnection, b: &PeerConnection) -> (Stats, Stats) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (sa, sb) = (a.stats().await.unwrap(), b.stats().await.unwrap());
        if let ([ga], [gb]) = (&sa.generations[..], &sb.generations[..]) {
            if ga.packets_sent == gb.packets_received
                && ga.bytes_sent == gb.bytes_received
                && gb.packets_sent == ga.packets_received
                && gb.bytes_sent == ga.bytes_received
            {
                return (sa, sb);
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pair's counters never agreed: {sa:?} {sb:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_pair_datagrams_and_channel_messages() {
    let mut p = connect_pair(
        config(false, Some(61)),
        config(true, Some(62)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;
    // A -> B: 20 binary messages of 1..=20 KiB, 5 texts, one empty binary.
    let mut a_bytes = 0u64;
    for i in 1..=20u64 {
        let m = payload(i, i as usize * 1024);
        a_bytes += m.len() as u64;
        p.dc_a.send(m).await.unwrap();
    }
    for i in 0..5 {
        let t = format!("text {i}");
        a_bytes += t.len() as u64;
        p.dc_a.send_text(t).await.unwrap();
    }
    p.dc_a.send(Vec::new()).await.unwrap();
    for _ in 0..26 {
        tokio::time::timeout(Duration::from_secs(10), p.dc_b.recv())
            .await
            .expect("A's message not received")
            .expect("channel ended");
    }
    // B -> A: 3 messages of 100 bytes.
    for i in 0..3 {
        p.dc_b.send(payload(i, 100)).await.unwrap();
    }
    for _ in 0..3 {
        tokio::time::timeout(Duration::from_secs(10), p.dc_a.recv())
            .await
            .expect("B's message not received")
            .expect("channel ended");
    }

    // B's 100-byte messages stay buffered at B until A's SACK: 20 ms to 200 ms (delayed SACK),
    // sometimes ~1 s (only after B's T3 retransmission); wait for it, so "quiet" means
    // acknowledged.
    let b_acked = wait_unbuffered(&p.b, Duration::from_secs(10)).await;
    let (sa, sb) = consistent_stats(&p.a, &p.b).await;
    let (ca, cb) = (channel(&sa, "data"), channel(&sb, "data"));
    assert_eq!(ca.state, DataChannelState::Open);
    assert_eq!(cb.state, DataChannelState::Open);
    assert_eq!(ca.stream_id, cb.stream_id);
    assert!(ca.stream_id.is_some());
    assert_eq!((ca.messages_sent, ca.bytes_sent), (26, a_bytes));
    assert_eq!((cb.messages_received, cb.bytes_received), (26, a_bytes));
    assert_eq!((cb.messages_sent, cb.bytes_sent), (3, 300));
    assert_eq!((ca.messages_received, ca.bytes_received), (3, 300));
    assert_eq!((ca.buffered_amount, cb.buffered_amount), (0, 0));

    // The selected pair: one generation each, both promoted, and (above) what one side sent
    // is what the other received, datagram for datagram.
    let (ga, gb) = (&sa.generations[0], &sb.generations[0]);
    assert!(ga.promoted && gb.promoted);
    // Payload plus DTLS/SCTP overhead; every DTLS datagram B read was counted on the path.
    assert!(ga.bytes_sent > a_bytes, "{} <= {a_bytes}", ga.bytes_sent);
    assert!(gb.bytes_sent > 300);
    assert!(ga.packets_sent >= 26);
    assert_eq!(gb.packets_received, sb.dtls_datagrams_in);
    println!(
        "stats: A sent {} datagrams / {} bytes for {a_bytes} payload bytes in 26 messages; \
         B sent {} / {}",
        ga.packets_sent, ga.bytes_sent, gb.packets_sent, gb.bytes_sent
    );

    // Buffered amount: B stops reading, A writes 400 x 32 KiB (more than B's queue and SCTP
    // window hold) from a task, which stalls. (Not with a timeout around `send`: a cancelled
    // `send` waiting for room in `webrtc-sctp`'s pending queue leaves its bytes counted in the
    // stream's buffered amount for good, a `webrtc-sctp` 0.17 quirk.)
    const BULK: u64 = 400;
    let dc_a = p.dc_a;
    let writer = tokio::spawn(async move {
        for i in 0..BULK {
            dc_a.send(payload(i, 32 * 1024)).await.unwrap();
        }
        dc_a
    });
    // Stalled: B's channel queue is full (26 messages read + 256 queued for the handle, the
    // crate's bound; the rest waits in SCTP, whose window closes) and more than HIGH_WATER is
    // buffered at A, where `send` therefore waits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let stalled = loop {
        let (sa, sb) = (p.a.stats().await.unwrap(), p.b.stats().await.unwrap());
        let (ca, cb) = (channel(&sa, "data").clone(), channel(&sb, "data"));
        if cb.messages_received == 26 + 256 && ca.buffered_amount > HIGH_WATER as u64 {
            break ca;
        }
        assert!(!writer.is_finished(), "every send completed: no stall");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stall in 20 s: {ca:?} {cb:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!writer.is_finished(), "every send completed: no stall");
    assert!(
        stalled.buffered_amount > 0,
        "nothing buffered while B does not read"
    );
    assert!(stalled.messages_sent < 26 + BULK);
    // B reads everything; then nothing is buffered.
    for i in 0..BULK {
        let got = tokio::time::timeout(Duration::from_secs(10), p.dc_b.recv())
            .await
            .expect("message not received");
        assert_eq!(got, Some(Message::Binary(payload(i, 32 * 1024))));
    }
    let dc_a = writer.await.unwrap();
    let a_acked = wait_unbuffered(&p.a, Duration::from_secs(10)).await;
    assert_eq!(dc_a.buffered_amount(), 0);
    let s = p.a.stats().await.unwrap();
    assert_eq!(channel(&s, "data").messages_sent, 26 + BULK);
    assert_eq!(channel(&s, "data").bytes_sent, a_bytes + BULK * 32 * 1024);
    println!(
        "stats: B's 3 messages acknowledged after {b_acked:?}; A stalled with {} bytes buffered \
         after {} messages, drained {a_acked:?} after B read them",
        stalled.buffered_amount, stalled.messages_sent
    );
    p.a.close().await;
    p.a.wait_closed().await;
}

/// A `send` dropped by a timeout while SCTP's queue is full still sends its message, so the
/// buffered amount returns to 0 once the receiver read everything (before: the dropped
/// message's bytes stayed counted as buffered for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_send_leaves_no_phantom_buffered_amount() {
    let mut p = connect_pair(
        config(false, Some(63)),
        config(true, Some(64)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;
    // B does not read: A sends until a send has to wait, and drops that one.
    let mut completed = 0u64;
    loop {
        assert!(completed < 2000, "sends never had to wait");
        let send = p.dc_a.send(payload(completed, 32 * 1024));
        match tokio::time::timeout(Duration::from_millis(500), send).await {
            Ok(r) => {
                r.unwrap();
                completed += 1;
            }
            Err(_) => break,
        }
    }
    // B reads every completed send's message (after the stall SCTP may take its
    // retransmission timer, seconds, to resume), then the dropped one if it was sent; every
    // message intact and in order.
    let mut received = 0u64;
    loop {
        let within = if received < completed { 20 } else { 3 };
        let Ok(m) = tokio::time::timeout(Duration::from_secs(within), p.dc_b.recv()).await else {
            break;
        };
        let Some(Message::Binary(data)) = m else {
            panic!("unexpected end or text");
        };
        assert_eq!(data, payload(received, 32 * 1024));
        received += 1;
    }
    assert!(
        received == completed || received == completed + 1,
        "{received} received for {completed} completed sends"
    );
    let drained = wait_unbuffered(&p.a, Duration::from_secs(20)).await;
    let (sa, sb) = (p.a.stats().await.unwrap(), p.b.stats().await.unwrap());
    assert_eq!(channel(&sa, "data").messages_sent, received);
    assert_eq!(channel(&sb, "data").messages_received, received);
    println!(
        "dropped send: {completed} completed, {received} received (the dropped one {}), \
         nothing buffered {drained:?} after",
        if received > completed {
            "sent"
        } else {
            "not sent"
        }
    );
    p.a.close().await;
    p.a.wait_closed().await;
}
