//! Two real peer connections over loopback UDP (127.0.0.1 only, no STUN/TURN), negotiating
//! through an in-memory signaling pair with perfect negotiation.

use test_support::{config, connect_pair, expect_closed, Pair};

use std::time::{Duration, Instant};

use bytes::Bytes;
use session_core::channel::DataChannelInit;
use session_core::error::PeerError;
use session_core::session::{ClosedBy, Event};
use session_core::state::PeerConnectionState;
use transport_tokio::{
    memory_pair, DataChannel, DtlsIdentity, Message, PeerConnection, PeerEvent, PeerEvents,
    TransportError,
};

const MSG: usize = 32 * 1024;

/// A and B (seeds 1 and 2) connected over a memory signaling pair with `delay`, with the "data"
/// channel open.
async fn connect(delay: Duration) -> Pair {
    let p = connect_pair(
        config(false, Some(1)),
        config(true, Some(2)),
        DataChannelInit::default(),
        delay,
    )
    .await;
    assert_eq!(p.dc_b.label(), "data");
    p
}

use test_support::payload;

/// What the receiving side saw.
#[derive(Debug)]
struct Received {
    count: u64,
    bytes: u64,
    longest_gap: Duration,
}

/// Receives `count` messages, checking every byte and the order; echoes text messages.
async fn receive(dc: &mut DataChannel, count: u64) -> Received {
    let mut next = 0u64;
    let mut bytes = 0u64;
    let mut longest_gap = Duration::ZERO;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    while next < count {
        let msg = tokio::time::timeout(Duration::from_secs(20), dc.recv())
            .await
            .expect("stalled for 20 s")
            .expect("channel closed early");
        let now = Instant::now();
        let Message::Binary(data) = msg else {
            panic!("unexpected message {msg:?}");
        };
        let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
        assert_eq!(seq, next, "lost, duplicated or reordered message");
        assert_eq!(data, payload(seq, data.len()), "corrupted message {seq}");
        if first.is_some() {
            longest_gap = longest_gap.max(now - last);
        } else {
            first = Some(now);
        }
        last = now;
        bytes += data.len() as u64;
        next += 1;
    }
    Received {
        count: next,
        bytes,
        longest_gap,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_echo_transfer_and_close() {
    let mut p = connect(Duration::ZERO).await;
    println!(
        "setup (create_data_channel -> open on both sides): {:?}",
        p.setup
    );

    // Echo: text from A, B sends it back.
    p.dc_a.send_text("hello").await.unwrap();
    let got = p.dc_b.recv().await.unwrap();
    assert_eq!(got, Message::Text("hello".into()));
    p.dc_b.send_text("hello back").await.unwrap();
    assert_eq!(
        p.dc_a.recv().await.unwrap(),
        Message::Text("hello back".into())
    );
    p.dc_a.send(Bytes::new()).await.unwrap();
    assert_eq!(p.dc_b.recv().await.unwrap(), Message::Binary(Bytes::new()));

    // 10 MiB in 32 KiB messages, every byte and the order checked.
    let count = (10 * 1024 * 1024 / MSG) as u64;
    let mut dc_b = p.dc_b;
    let rx = tokio::spawn(async move {
        let r = receive(&mut dc_b, count).await;
        (r, dc_b)
    });
    let start = Instant::now();
    for seq in 0..count {
        p.dc_a.send(payload(seq, MSG)).await.unwrap();
    }
    let (r, mut dc_b) = rx.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(r.count, count);
    let mib = r.bytes as f64 / (1024.0 * 1024.0);
    println!(
        "transfer: {mib:.1} MiB in {elapsed:?} = {:.1} MiB/s (32 KiB messages), longest gap {:?}",
        mib / elapsed.as_secs_f64(),
        r.longest_gap
    );

    // The data moved between our own sockets and the drivers, not through the ICE agents.
    let (sent, direct_sent) =
        promoted_counts(&p.a, |g| (g.packets_sent, g.direct_packets_sent)).await;
    let (got, direct_got) =
        promoted_counts(&p.b, |g| (g.packets_received, g.direct_packets_received)).await;
    println!("A sent {sent} datagrams ({direct_sent} direct), B got {got} ({direct_got} direct)");
    assert!(
        sent > 8_000 && direct_sent * 10 >= sent * 9,
        "A: {direct_sent} of {sent} direct"
    );
    assert!(
        got > 8_000 && direct_got * 10 >= got * 9,
        "B: {direct_got} of {got} direct"
    );

    // Close from A: both reach closed, the channel ends on B.
    p.a.close().await;
    expect_closed(&mut p.a_events, ClosedBy::Local).await;
    expect_closed(&mut p.b_events, ClosedBy::Remote).await;
    tokio::time::timeout(Duration::from_secs(10), async {
        while dc_b.recv().await.is_some() {}
    })
    .await
    .expect("B's channel did not close");
    tokio::time::timeout(Duration::from_secs(10), async {
        p.a.wait_closed().await;
        p.b.wait_closed().await;
    })
    .await
    .expect("drivers did not stop");
    assert!(p.dc_a.send_text("late").await.is_err());
}

/// `pick`'s two counters of `pc`'s promoted generation.
async fn promoted_counts(
    pc: &PeerConnection,
    pick: impl Fn(&transport_tokio::GenerationStats) -> (u64, u64),
) -> (u64, u64) {
    let stats = pc.stats().await.expect("stats");
    let g = stats
        .generations
        .iter()
        .find(|g| g.promoted)
        .expect("a promoted generation");
    pick(g)
}

/// With `GatherOptions::batched_io` off, the agents' own sockets carry everything (one system
/// call per datagram), and the data arrives all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_batched_io_the_agent_sockets_carry_the_data() {
    let (mut ca, mut cb) = (config(false, Some(1)), config(true, Some(2)));
    ca.gather.batched_io = false;
    cb.gather.batched_io = false;
    let mut p = connect_pair(ca, cb, DataChannelInit::default(), Duration::ZERO).await;
    let count = 64;
    let mut dc_b = p.dc_b;
    let rx = tokio::spawn(async move { receive(&mut dc_b, count).await });
    for seq in 0..count {
        p.dc_a.send(payload(seq, MSG)).await.unwrap();
    }
    assert_eq!(rx.await.unwrap().count, count);
    let (sent, direct_sent) =
        promoted_counts(&p.a, |g| (g.packets_sent, g.direct_packets_sent)).await;
    let (got, direct_got) =
        promoted_counts(&p.b, |g| (g.packets_received, g.direct_packets_received)).await;
    assert!(sent > 1_000 && got > 1_000, "{sent} sent, {got} received");
    assert_eq!((direct_sent, direct_got), (0, 0));
    p.a.close().await;
    expect_closed(&mut p.a_events, ClosedBy::Local).await;
}

/// Sends messages from `seq` on; after `lead` messages `restarter` restarts ICE, and sending
/// goes on until the restarter promoted generation `generation` and retired the old one, plus
/// some more. Returns the next sequence number and the time from `restart_ice` to promotion.
async fn send_through_restart(
    dc: &DataChannel,
    mut seq: u64,
    lead: u64,
    restarter: &PeerConnection,
    events: &mut PeerEvents,
    generation: u32,
) -> (u64, Duration) {
    let restart_at = seq + lead;
    let mut promoted_at: Option<u64> = None;
    let mut restart_started: Option<Instant> = None;
    let mut switch_time = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "restart did not complete in 30 s"
        );
        if seq == restart_at {
            restarter.restart_ice().await.unwrap();
            restart_started = Some(Instant::now());
        }
        dc.send(payload(seq, MSG)).await.unwrap();
        seq += 1;
        // Look at the restarter's events without waiting.
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::ZERO, events.recv()).await {
            if let PeerEvent::Session(Event::IceGenerationPromoted { generation: g, .. }) = ev {
                if g.0 == generation && promoted_at.is_none() {
                    promoted_at = Some(seq);
                    switch_time = restart_started.map(|t| t.elapsed()).unwrap_or_default();
                }
            }
        }
        if promoted_at.is_some_and(|at| seq >= at + 128) {
            // The old generation is retired after the grace period (2 s).
            if restarter.stats().await.unwrap().generations.len() == 1 {
                return (seq, switch_time);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_ice_mid_transfer_loses_nothing() {
    let mut p = connect(Duration::from_millis(200)).await;
    println!("setup with 200 ms signaling delay: {:?}", p.setup);
    let before = p.a.stats().await.unwrap();
    assert_eq!(before.generations.len(), 1);
    let old_local = before.generations[0].local;

    let mut dc_b = p.dc_b;
    let (count_tx, count_rx) = tokio::sync::oneshot::channel::<u64>();
    let rx = tokio::spawn(async move {
        // Receive until the sender says how many there were.
        let mut count_rx = count_rx;
        let mut total = Received {
            count: 0,
            bytes: 0,
            longest_gap: Duration::ZERO,
        };
        let mut next = 0u64;
        let mut last = Instant::now();
        let mut expected: Option<u64> = None;
        loop {
            if expected.is_some_and(|e| next >= e) {
                break;
            }
            tokio::select! {
                n = &mut count_rx, if expected.is_none() => { expected = Some(n.unwrap()); }
                msg = tokio::time::timeout(Duration::from_secs(20), dc_b.recv()) => {
                    let Message::Binary(data) = msg.expect("stalled for 20 s").expect("closed early") else {
                        panic!("unexpected text");
                    };
                    let now = Instant::now();
                    let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                    assert_eq!(seq, next, "lost, duplicated or reordered message");
                    assert_eq!(data, payload(seq, data.len()), "corrupted message {seq}");
                    if next > 0 {
                        total.longest_gap = total.longest_gap.max(now - last);
                    }
                    last = now;
                    total.bytes += data.len() as u64;
                    next += 1;
                }
            }
        }
        total.count = next;
        (total, dc_b)
    });

    let start = Instant::now();
    // A restarts, then B: each side in turn, while A keeps sending.
    let (seq, a_switch) = send_through_restart(&p.dc_a, 0, 64, &p.a, &mut p.a_events, 1).await;
    let mid = p.a.stats().await.unwrap();
    let (sent, b_switch) = send_through_restart(&p.dc_a, seq, 64, &p.b, &mut p.b_events, 2).await;
    count_tx.send(sent).unwrap();
    let (r, _dc_b) = rx.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(r.count, sent);

    // B waited for its own retirement of generation 1; A promotes a little later and retires
    // its own after the same grace: wait for it (bounded) instead of assuming it is done.
    let deadline = Instant::now() + Duration::from_secs(10);
    let after = loop {
        let s = p.a.stats().await.unwrap();
        if s.generations.len() == 1 || Instant::now() > deadline {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(after.generations.len(), 1, "old generation not retired");
    let g = &after.generations[0];
    assert!(g.generation.0 == 2 && g.promoted);
    let paths = [old_local, mid.generations[0].local, g.local];
    assert!(
        paths[0] != paths[1] && paths[1] != paths[2],
        "a restart did not move to a new path: {paths:?}"
    );
    println!(
        "two restarts (A then B) mid-transfer, 200 ms signaling: {} messages ({:.1} MiB) in {elapsed:?}, \
         zero lost/duplicated/reordered; restart_ice -> promoted: A {a_switch:?}, B {b_switch:?}; \
         longest inter-arrival gap {:?}; A's local path {paths:?}",
        r.count,
        r.bytes as f64 / (1024.0 * 1024.0),
        r.longest_gap,
    );

    // Close from B this time.
    p.b.close().await;
    expect_closed(&mut p.b_events, ClosedBy::Local).await;
    expect_closed(&mut p.a_events, ClosedBy::Remote).await;
}

/// Issue test 1's full size: 100 MiB in 32 KiB messages, every byte and the order checked
/// (~8 s on the 2-core CI machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_100_mib() {
    let mut p = connect(Duration::ZERO).await;
    let count = (100 * 1024 * 1024 / MSG) as u64;
    let mut dc_b = p.dc_b;
    let rx = tokio::spawn(async move { receive(&mut dc_b, count).await });
    let start = Instant::now();
    for seq in 0..count {
        p.dc_a.send(payload(seq, MSG)).await.unwrap();
    }
    let r = rx.await.unwrap();
    let elapsed = start.elapsed();
    assert_eq!(r.count, count);
    let mib = r.bytes as f64 / (1024.0 * 1024.0);
    println!(
        "transfer: {mib:.1} MiB in {elapsed:?} = {:.1} MiB/s (32 KiB messages), longest gap {:?}",
        mib / elapsed.as_secs_f64(),
        r.longest_gap
    );
    p.a.close().await;
    expect_closed(&mut p.b_events, ClosedBy::Remote).await;
}

/// What one side of the wrong-fingerprint test saw.
#[derive(Debug, Default)]
struct Seen {
    certificate_mismatch: bool,
    fingerprint_error: bool,
    failed: bool,
    closed: bool,
    /// Data channels offered to the application or opened: must stay empty.
    channels: Vec<String>,
    other_errors: Vec<TransportError>,
}

impl Seen {
    fn note(&mut self, ev: PeerEvent) {
        match ev {
            PeerEvent::Session(Event::PeerMisbehaved(PeerError::CertificateMismatch {
                ..
            })) => {
                self.certificate_mismatch = true;
            }
            PeerEvent::Session(Event::ConnectionStateChange(PeerConnectionState::Failed)) => {
                self.failed = true;
            }
            PeerEvent::Session(Event::Closed(_)) => self.closed = true,
            PeerEvent::Session(Event::DataChannelOpen(id)) => {
                self.channels.push(format!("open {id:?}"))
            }
            PeerEvent::DataChannel(dc) => self.channels.push(format!("remote {}", dc.label())),
            PeerEvent::TransportError(TransportError::FingerprintMismatch) => {
                self.fingerprint_error = true;
            }
            PeerEvent::TransportError(e) => self.other_errors.push(e),
            _ => {}
        }
    }

    fn victim_done(&self) -> bool {
        self.certificate_mismatch && self.fingerprint_error && self.failed
    }
}

/// Reads events until `done` holds, or `within` elapsed (returns whether it held).
async fn observe(
    events: &mut PeerEvents,
    seen: &mut Seen,
    within: Duration,
    done: impl Fn(&Seen) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while !done(seen) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(ev)) => seen.note(ev),
            Ok(None) | Err(_) => break,
        }
    }
    done(seen)
}

/// One peer advertises a fingerprint that is not its certificate's: the other side fails the
/// connection with the typed error, no channel opens, no data arrives, both close cleanly.
/// `offerer_lies`: the liar is A (the offerer, which creates the channel), else B.
async fn wrong_fingerprint(offerer_lies: bool) {
    let (sa, sb) = memory_pair(Duration::ZERO);
    let mut ca = config(false, Some(3));
    let mut cb = config(true, Some(4));
    let wrong = DtlsIdentity::generate().unwrap().fingerprint();
    if offerer_lies {
        ca.advertise_fingerprint_override = Some(wrong.clone());
    } else {
        cb.advertise_fingerprint_override = Some(wrong.clone());
    }
    let (a, mut a_events) = PeerConnection::new(ca, sa).unwrap();
    let (b, mut b_events) = PeerConnection::new(cb, sb).unwrap();
    let liar = if offerer_lies { &a } else { &b };
    assert_eq!(liar.fingerprint(), &wrong);

    let start = Instant::now();
    let dc_a = a
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    // The application tries to send: the write waits for an open channel that never comes.
    let sender = tokio::spawn(async move {
        let sent = dc_a.send_text("must never arrive").await;
        (sent, dc_a)
    });

    let (mut seen_a, mut seen_b) = (Seen::default(), Seen::default());
    let (victim_events, victim_seen, liar_events, liar_seen) = if offerer_lies {
        (&mut b_events, &mut seen_b, &mut a_events, &mut seen_a)
    } else {
        (&mut a_events, &mut seen_a, &mut b_events, &mut seen_b)
    };
    let failed = observe(
        victim_events,
        victim_seen,
        Duration::from_secs(20),
        Seen::victim_done,
    )
    .await;
    let detected = start.elapsed();
    assert!(
        failed,
        "the victim did not fail with the typed error: {victim_seen:?}"
    );
    // Whatever the liar's DTLS does now, nothing may open: watch both sides a little longer.
    observe(
        victim_events,
        victim_seen,
        Duration::from_millis(500),
        |_| false,
    )
    .await;
    observe(liar_events, liar_seen, Duration::from_millis(500), |_| {
        false
    })
    .await;
    assert!(
        !sender.is_finished(),
        "send completed on a failed connection"
    );

    // Both close cleanly; the pending send fails instead of delivering.
    a.close().await;
    b.close().await;
    for (events, seen) in [(&mut a_events, &mut seen_a), (&mut b_events, &mut seen_b)] {
        assert!(
            observe(events, seen, Duration::from_secs(10), |s| s.closed).await,
            "not closed: {seen:?}"
        );
        // Drain to the end of the stream: the driver stopped.
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(ev) = events.recv().await {
                seen.note(ev);
            }
        })
        .await
        .expect("event stream did not end after close");
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        a.wait_closed().await;
        b.wait_closed().await;
    })
    .await
    .expect("drivers did not stop");
    let (sent, dc_a) = tokio::time::timeout(Duration::from_secs(10), sender)
        .await
        .expect("send still waiting after close")
        .unwrap();
    assert!(sent.is_err(), "send succeeded: {sent:?}");
    assert!(!dc_a.is_open());
    assert!(
        seen_a.channels.is_empty() && seen_b.channels.is_empty(),
        "a data channel opened: A {:?}, B {:?}",
        seen_a.channels,
        seen_b.channels
    );
    let (victim, liar) = if offerer_lies {
        (&seen_b, &seen_a)
    } else {
        (&seen_a, &seen_b)
    };
    assert!(
        !liar.certificate_mismatch && !liar.fingerprint_error,
        "the liar saw a mismatch: {liar:?}"
    );
    println!(
        "wrong fingerprint ({} lies): victim failed after {detected:?}; victim {victim:?}; liar {liar:?}",
        if offerer_lies { "offerer" } else { "answerer" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fingerprint_of_offerer_fails_the_answerer() {
    wrong_fingerprint(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fingerprint_of_answerer_fails_the_offerer() {
    wrong_fingerprint(false).await;
}

/// A signaling channel that hands each message over only after a delay (a slow write to a
/// server); `close` waits until everything was handed over. What was handed over is logged.
struct SlowSignaling {
    handed: std::sync::Arc<std::sync::Mutex<Vec<session_core::signal::SignalMessage>>>,
    writes: Vec<tokio::task::JoinHandle<()>>,
}

#[async_trait::async_trait]
impl transport_tokio::Signaling for SlowSignaling {
    async fn send(
        &mut self,
        msg: session_core::signal::SignalMessage,
    ) -> Result<(), transport_tokio::SignalingError> {
        let handed = self.handed.clone();
        self.writes.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            handed.lock().unwrap().push(msg);
        }));
        Ok(())
    }

    async fn recv(
        &mut self,
    ) -> Result<Option<session_core::signal::SignalMessage>, transport_tokio::SignalingError> {
        std::future::pending().await
    }

    async fn close(&mut self) -> Result<(), transport_tokio::SignalingError> {
        for w in self.writes.drain(..) {
            let _ = w.await;
        }
        Ok(())
    }
}

/// `wait_closed` returns only once the hang-up has left through the signaling channel (its
/// `close`), so an application that exits right after loses no `bye`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_closed_returns_after_the_bye_was_handed_to_signaling() {
    let handed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let signaling = SlowSignaling {
        handed: handed.clone(),
        writes: Vec::new(),
    };
    let (pc, _events) = PeerConnection::new(config(false, Some(1)), signaling).unwrap();
    pc.close().await;
    tokio::time::timeout(Duration::from_secs(10), pc.wait_closed())
        .await
        .expect("wait_closed");
    let handed = handed.lock().unwrap().clone();
    assert!(
        handed
            .iter()
            .any(|m| matches!(m, session_core::signal::SignalMessage::Bye { .. })),
        "the bye had not left when wait_closed returned: {handed:?}"
    );
}

/// A memory signaling end whose outgoing messages are dropped once `cut` is set (a signaling
/// server that went away).
struct Cuttable {
    inner: transport_tokio::MemorySignaling,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[async_trait::async_trait]
impl transport_tokio::Signaling for Cuttable {
    async fn send(
        &mut self,
        msg: session_core::signal::SignalMessage,
    ) -> Result<(), transport_tokio::SignalingError> {
        if self.cut.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(());
        }
        self.inner.send(msg).await
    }

    async fn recv(
        &mut self,
    ) -> Result<Option<session_core::signal::SignalMessage>, transport_tokio::SignalingError> {
        self.inner.recv().await
    }
}

/// The signaling server is gone when A hangs up: its `bye` is lost, its DTLS close_notify is
/// not, and B ends as closed by the peer (before: B restarted ICE towards it for minutes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hang_up_without_signaling_reaches_the_peer_through_dtls() {
    let (sa, sb) = transport_tokio::memory_pair(Duration::ZERO);
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sa = Cuttable {
        inner: sa,
        cut: cut.clone(),
    };
    let (a, _a_events) = PeerConnection::new(config(false, None), sa).unwrap();
    let (_b, mut b_events) = PeerConnection::new(config(true, None), sb).unwrap();
    let dc_a = a
        .create_data_channel("x", DataChannelInit::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), dc_a.wait_open())
        .await
        .expect("channel did not open")
        .unwrap();
    cut.store(true, std::sync::atomic::Ordering::SeqCst);
    let start = Instant::now();
    a.close().await;
    expect_closed(&mut b_events, ClosedBy::Remote).await;
    println!(
        "B closed {:?} after A's close, without a bye",
        start.elapsed()
    );
}

/// ICE servers the agent cannot use are refused by `set_configuration` too (as by `new`),
/// with a typed error, instead of being skipped silently by the agent later.
#[tokio::test]
async fn set_configuration_refuses_ice_servers_the_agent_cannot_use() {
    let (sa, _sb) = memory_pair(Duration::ZERO);
    let (pc, _events) = PeerConnection::new(config(false, Some(1)), sa).unwrap();
    let turns = session_core::config::IceServer {
        urls: vec!["turns:127.0.0.1:5349".into()],
        username: Some("u".into()),
        credential: Some("p".into()),
    };
    let refused = pc
        .set_configuration(vec![turns], session_core::config::IceTransportPolicy::Relay)
        .await;
    assert!(
        matches!(
            refused,
            Err(transport_tokio::PeerConnectionError::IceServer(
                transport_tokio::SetupError::UnsupportedIceServer { .. }
            ))
        ),
        "{refused:?}"
    );
    pc.close().await;
}
