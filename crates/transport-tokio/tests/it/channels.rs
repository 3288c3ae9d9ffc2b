//! Data channel kinds end to end over real sockets on 127.0.0.1: unordered and partially
//! reliable channels (max retransmits, max packet lifetime) through a lossy UDP relay, and the
//! buffered-amount low-water wait.
//!
//! The relay stands between the peers: a signaling wrapper rewrites each peer's candidates to
//! the relay's socket facing the other peer, so every packet crosses it; once armed it drops one
//! in ten DTLS application-data records from A to B (handshakes, STUN and B's SACKs pass).

use test_support::payload;
use test_support::{config, connect_pair};

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use session_core::channel::DataChannelInit;
use session_core::signal::SignalMessage;
use tokio::net::UdpSocket;
use transport_tokio::{
    memory_pair, DataChannel, MemorySignaling, Message, PeerConnection, PeerEvent, Signaling,
    SignalingError,
};

/// A UDP relay between A and B that can drop A's DTLS application data.
struct Relay {
    /// A talks to this socket (it stands for B).
    to_a: Arc<UdpSocket>,
    /// B talks to this socket (it stands for A).
    to_b: Arc<UdpSocket>,
    /// The peers' real addresses, from their candidates and then their packets.
    a: Mutex<Option<SocketAddr>>,
    b: Mutex<Option<SocketAddr>>,
    armed: AtomicBool,
    dropped: AtomicU64,
    forwarded: AtomicU64,
}

impl Relay {
    async fn start() -> (Arc<Self>, Vec<tokio::task::JoinHandle<()>>) {
        let relay = Arc::new(Relay {
            to_a: Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()),
            to_b: Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()),
            a: Mutex::new(None),
            b: Mutex::new(None),
            armed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let tasks = vec![
            tokio::spawn(Arc::clone(&relay).pump(true)),
            tokio::spawn(Arc::clone(&relay).pump(false)),
        ];
        (relay, tasks)
    }

    /// Forwards what A sends (`from_a`) to B, or what B sends to A.
    async fn pump(self: Arc<Self>, from_a: bool) {
        let (rx, tx) = if from_a {
            (&self.to_a, &self.to_b)
        } else {
            (&self.to_b, &self.to_a)
        };
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut buf = vec![0u8; 65536];
        loop {
            let Ok((n, src)) = rx.recv_from(&mut buf).await else {
                return;
            };
            let (me, other) = if from_a {
                (&self.a, &self.b)
            } else {
                (&self.b, &self.a)
            };
            *me.lock().unwrap() = Some(src);
            let Some(dst) = *other.lock().unwrap() else {
                continue;
            };
            // DTLS record of type application_data (23).
            if from_a && self.armed.load(Ordering::Relaxed) && n > 0 && buf[0] == 23 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if rng % 10 == 0 {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            self.forwarded.fetch_add(1, Ordering::Relaxed);
            let _ = tx.send_to(&buf[..n], dst).await;
        }
    }
}

/// One peer's signaling: its candidates (trickled or in SDP) are rewritten to the relay.
struct ViaRelay {
    inner: MemorySignaling,
    relay: Arc<Relay>,
    is_a: bool,
    /// `(real port, relay port)` pairs rewritten so far, for the SDP.
    ports: Vec<(u16, u16)>,
}

impl ViaRelay {
    fn rewrite_candidate(&mut self, line: &str) -> String {
        let mut fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
        let real = fields
            .get(5)
            .and_then(|p| p.parse::<u16>().ok())
            .filter(|_| fields.get(4).map(String::as_str) == Some("127.0.0.1"));
        let Some(real) = real else {
            return line.to_owned();
        };
        let (me, facing_other) = if self.is_a {
            (&self.relay.a, &self.relay.to_b)
        } else {
            (&self.relay.b, &self.relay.to_a)
        };
        *me.lock().unwrap() = Some(SocketAddr::from(([127, 0, 0, 1], real)));
        let port = facing_other.local_addr().unwrap().port();
        self.ports.push((real, port));
        fields[5] = port.to_string();
        fields.join(" ")
    }
}

#[async_trait]
impl Signaling for ViaRelay {
    async fn send(&mut self, mut msg: SignalMessage) -> Result<(), SignalingError> {
        match &mut msg {
            SignalMessage::Candidate { candidate } => {
                candidate.candidate = self.rewrite_candidate(&candidate.candidate);
            }
            SignalMessage::Description { description } => {
                let lines: Vec<String> = description
                    .sdp
                    .split("\r\n")
                    .map(|l| match l.strip_prefix("a=") {
                        Some(c) if c.starts_with("candidate:") => {
                            format!("a={}", self.rewrite_candidate(c))
                        }
                        _ => l.to_owned(),
                    })
                    .collect();
                description.sdp = lines.join("\r\n");
            }
            _ => {}
        }
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        self.inner.recv().await
    }
}

/// Two peers whose traffic crosses a lossy relay, with one channel per `init` (labels "0",
/// "1", ...), opened by A.
async fn through_relay(
    inits: &[DataChannelInit],
) -> (
    Arc<Relay>,
    PeerConnection,
    PeerConnection,
    Vec<(DataChannel, DataChannel)>,
) {
    let (relay, _tasks) = Relay::start().await;
    let (sa, sb) = memory_pair(Duration::ZERO);
    let wrap = |inner, is_a| ViaRelay {
        inner,
        relay: Arc::clone(&relay),
        is_a,
        ports: Vec::new(),
    };
    let (a, _a_events) = PeerConnection::new(config(false, Some(31)), wrap(sa, true)).unwrap();
    let (b, mut b_events) = PeerConnection::new(config(true, Some(32)), wrap(sb, false)).unwrap();
    let mut ours = Vec::new();
    for (i, init) in inits.iter().enumerate() {
        ours.push(
            a.create_data_channel(&i.to_string(), init.clone())
                .await
                .unwrap(),
        );
    }
    let mut theirs: Vec<Option<DataChannel>> = (0..inits.len()).map(|_| None).collect();
    tokio::time::timeout(Duration::from_secs(20), async {
        while theirs.iter().any(Option::is_none) {
            if let Some(PeerEvent::DataChannel(dc)) = b_events.recv().await {
                let i: usize = dc.label().parse().unwrap();
                theirs[i] = Some(dc);
            }
        }
    })
    .await
    .expect("channels did not reach B");
    for dc in &ours {
        tokio::time::timeout(Duration::from_secs(20), dc.wait_open())
            .await
            .unwrap()
            .unwrap();
    }
    // Every packet crossed the relay: the peers never learned each other's real address.
    let stats = a.stats().await.unwrap();
    let remote = stats.generations[0].remote.unwrap();
    assert_eq!(
        remote,
        relay.to_a.local_addr().unwrap(),
        "A bypasses the relay"
    );
    let pairs = ours
        .into_iter()
        .zip(theirs.into_iter().map(Option::unwrap))
        .collect();
    (relay, a, b, pairs)
}

/// What a receiver saw on a partially reliable channel.
#[derive(Debug, Default)]
struct Seen {
    seqs: Vec<u64>,
    /// The longest time between two messages.
    longest_gap: Duration,
}

/// Reads `dc` until `quiet` passes without a message (after `done` is set), or until
/// `complete_at` messages arrived, and checks every message's bytes; returns the sequence
/// numbers in arrival order.
async fn drain(
    dc: &mut DataChannel,
    done: &AtomicBool,
    quiet: Duration,
    complete_at: Option<usize>,
) -> Seen {
    let mut seen = Seen::default();
    let mut last: Option<Instant> = None;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(Instant::now() < deadline, "receiver ran for 180 s");
        if complete_at.is_some_and(|n| seen.seqs.len() >= n) {
            return seen;
        }
        match tokio::time::timeout(quiet, dc.recv()).await {
            Ok(Some(Message::Binary(data))) => {
                let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                assert_eq!(data, payload(seq, data.len()), "corrupted message {seq}");
                seen.seqs.push(seq);
                let now = Instant::now();
                if let Some(prev) = last.replace(now) {
                    seen.longest_gap = seen.longest_gap.max(now - prev);
                }
            }
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) if done.load(Ordering::Relaxed) => return seen,
            Err(_) => {}
        }
    }
}

/// Four channels of different reliability through a relay that drops 10 % of A's records.
///
/// What the SCTP association does here (rtc-sctp 0.21.1, traced 2026-12-07): a chunk lost at the
/// tail of a burst, or a lost fast retransmission, waits for the T3 timer (RTO at least 1 s,
/// doubled on each expiry without a new RTT sample), and while unordered messages are queued the
/// association sends them before any ordered one. So the reliable ordered channel can go quiet
/// for several seconds (4 to 14.4 s seen on a loaded machine) and then catches up: nothing is
/// lost, duplicated or reordered. The network fault tests own the time (no stall over 0.5 s under loss); this
/// test owns correctness, and prints the longest silence of the reliable ordered channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partially_reliable_and_unordered_channels_through_loss() {
    let inits = [
        // Reliable, ordered: the control.
        DataChannelInit::default(),
        // Unordered, no retransmission.
        DataChannelInit {
            ordered: false,
            max_retransmits: Some(0),
            ..Default::default()
        },
        // Ordered, abandoned when not delivered within 5 ms. The association abandons such a
        // message only when it would retransmit it, so how many are lost depends on which
        // chunks the relay drops: no loss is asserted.
        DataChannelInit {
            max_packet_life_time: Some(5),
            ..Default::default()
        },
        // Unordered but reliable.
        DataChannelInit {
            ordered: false,
            ..Default::default()
        },
    ];
    let (relay, a, b, mut pairs) = through_relay(&inits).await;
    for (i, (ours, theirs)) in pairs.iter().enumerate() {
        let mut want = inits[i].clone();
        want.negotiated = None;
        assert_eq!(ours.init(), Some(want.clone()), "A's channel {i}");
        assert_eq!(theirs.init(), Some(want), "B's channel {i}");
    }

    relay.armed.store(true, Ordering::Relaxed);
    const COUNT: u64 = 250;
    const LEN: usize = 1000;
    // Set once both reliable channels have everything: the partially reliable ones then stop
    // reading after 2 s of silence (what they have not received by then was abandoned).
    let done = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::new();
    let mut senders = Vec::new();
    for (i, (ours, mut theirs)) in pairs.drain(..).enumerate() {
        let done = Arc::clone(&done);
        // A reliable channel is read until it has every message; a silence of 60 s (T3 backoffs
        // of 1 + 2 + 4 + 8 + 16 s and more) would mean something is really lost.
        let reliable =
            inits[i].max_retransmits.is_none() && inits[i].max_packet_life_time.is_none();
        let (quiet, complete_at) = if reliable {
            (Duration::from_secs(60), Some(COUNT as usize))
        } else {
            (Duration::from_secs(2), None)
        };
        receivers.push((
            reliable,
            tokio::spawn(async move { drain(&mut theirs, &done, quiet, complete_at).await }),
        ));
        senders.push(ours);
    }
    // Interleave the four channels' messages, paced (2 ms per round).
    for seq in 0..COUNT {
        for dc in &senders {
            dc.send(payload(seq, LEN)).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut seen: Vec<Option<Seen>> = (0..receivers.len()).map(|_| None).collect();
    for reliable_pass in [true, false] {
        for (i, (reliable, r)) in receivers.iter_mut().enumerate() {
            if *reliable == reliable_pass {
                seen[i] = Some(r.await.unwrap());
            }
        }
        done.store(true, Ordering::Relaxed);
    }
    let seen: Vec<Seen> = seen.into_iter().map(Option::unwrap).collect();
    let dropped = relay.dropped.load(Ordering::Relaxed);
    assert!(dropped > 0, "the relay dropped nothing");

    let all: Vec<u64> = (0..COUNT).collect();
    let unique = |s: &Seen| s.seqs.iter().copied().collect::<BTreeSet<_>>();
    // Reliable channels: everything, exactly once; the ordered one in order.
    if seen[0].seqs != all {
        // Where the rest is: still buffered at A (unacknowledged), or acknowledged and stuck at
        // B (then B's `messages_received` says whether it reached the handle).
        let (sa, sb) = (a.stats().await.unwrap(), b.stats().await.unwrap());
        panic!(
            "reliable ordered channel: {} of {COUNT} in order ({:?}...)\nA: {:#?}\nB: {:#?}",
            seen[0].seqs.len(),
            &seen[0].seqs[..seen[0].seqs.len().min(8)],
            sa,
            sb
        );
    }
    assert_eq!(
        seen[3].seqs.len() as u64,
        COUNT,
        "reliable unordered: duplicates?"
    );
    assert_eq!(unique(&seen[3]).len() as u64, COUNT, "reliable unordered");
    // Partially reliable ones: no duplicates; max-retransmits 0 lost some.
    for (i, s) in seen.iter().enumerate().skip(1).take(2) {
        assert_eq!(unique(s).len(), s.seqs.len(), "duplicates on channel {i}");
    }
    assert!(
        (seen[1].seqs.len() as u64) < COUNT,
        "max-retransmits 0 lost nothing although {dropped} records were dropped"
    );
    // The ordered partially reliable channel keeps the order across its gaps.
    assert!(
        seen[2].seqs.windows(2).all(|w| w[0] < w[1]),
        "max-packet-life-time channel reordered"
    );
    // The unordered reliable one delivered some message ahead of an earlier lost one.
    let reordered = |s: &Seen| s.seqs.windows(2).filter(|w| w[0] > w[1]).count();
    println!(
        "through a relay dropping {dropped} of {} records from A: reliable {} of {COUNT} \
         (longest silence {:?}); unordered max-retransmits 0: {} ({} out of order); ordered \
         max-packet-life-time 5 ms: {}; unordered reliable: {} ({} out of order)",
        dropped + relay.forwarded.load(Ordering::Relaxed),
        seen[0].seqs.len(),
        seen[0].longest_gap,
        seen[1].seqs.len(),
        reordered(&seen[1]),
        seen[2].seqs.len(),
        seen[3].seqs.len(),
        reordered(&seen[3]),
    );
    assert!(
        reordered(&seen[3]) > 0,
        "the unordered reliable channel delivered everything in order despite loss"
    );
    a.close().await;
    b.close().await;
    a.wait_closed().await;
    b.wait_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffered_amount_low_waits_for_the_threshold() {
    let mut p = connect_pair(
        config(false, Some(33)),
        config(true, Some(34)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;
    // Default threshold, nothing buffered: returns at once.
    tokio::time::timeout(Duration::from_millis(100), p.dc_a.buffered_amount_low())
        .await
        .expect("did not return at once")
        .unwrap();
    const THRESHOLD: usize = 64 * 1024;
    p.dc_a.set_buffered_amount_low_threshold(THRESHOLD).unwrap();

    // B's application does not read: its queue (256 messages) fills, then SCTP's receive
    // window closes and A's data stays buffered; A stops when a send would wait. (The dropped
    // send's message is still sent, after the others; B checks the first `seq`.)
    let mut seq = 0u64;
    loop {
        assert!(seq < 2000, "sends never had to wait");
        match tokio::time::timeout(
            Duration::from_millis(500),
            p.dc_a.send(payload(seq, 32 * 1024)),
        )
        .await
        {
            Ok(sent) => {
                sent.unwrap();
                seq += 1;
            }
            Err(_) => break,
        }
    }
    let high = p.dc_a.buffered_amount();
    assert!(high > THRESHOLD, "only {high} bytes buffered");
    const PAUSE: Duration = Duration::from_millis(300);
    let reader = tokio::spawn(async move {
        tokio::time::sleep(PAUSE).await;
        for want in 0..seq {
            let Some(Message::Binary(data)) = p.dc_b.recv().await else {
                panic!("channel ended");
            };
            assert_eq!(data, payload(want, data.len()));
        }
    });
    let start = Instant::now();
    tokio::time::timeout(Duration::from_secs(10), p.dc_a.buffered_amount_low())
        .await
        .expect("low water not reached in 10 s")
        .unwrap();
    let waited = start.elapsed();
    let low = p.dc_a.buffered_amount();
    assert!(low <= THRESHOLD, "returned with {low} bytes buffered");
    // Nothing drains while B does not read: the wait cannot end before B reads.
    assert!(
        waited >= PAUSE - Duration::from_millis(50),
        "returned after {waited:?}, before B started reading"
    );
    println!(
        "buffered_amount_low: {high} bytes buffered after {seq} messages, down to {low} \
         (threshold {THRESHOLD}) after {waited:?} (B paused {PAUSE:?})"
    );
    reader.await.unwrap();
    p.a.close().await;
    p.a.wait_closed().await;
}

/// Waits until `dc` has nothing buffered in SCTP (every byte acknowledged by the peer's SCTP).
async fn wait_acked(dc: &DataChannel) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while dc.buffered_amount() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("data not acknowledged in 10 s");
}

async fn recv_exact(dc: &mut DataChannel, want: &[Message]) {
    for (i, w) in want.iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(10), dc.recv())
            .await
            .unwrap_or_else(|_| panic!("message {i} not received in 10 s"))
            .unwrap_or_else(|| panic!("channel ended before message {i}"));
        assert_eq!(&got, w, "message {i}");
    }
}

fn negotiated(id: u16) -> DataChannelInit {
    DataChannelInit {
        negotiated: Some(id),
        ..DataChannelInit::default()
    }
}

/// Negotiated channels (no DCEP, both sides create stream 7 / 9 themselves) carry text and
/// binary both ways; data A writes before B created its side lands on B's channel once it is
/// created (in order, nothing lost), is not taken for a new DCEP channel, and does not stop B
/// from accepting the peer's later DCEP channels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiated_channels_both_ways_and_data_before_the_other_side_created_it() {
    let mut p = connect_pair(
        config(false, Some(41)),
        config(true, Some(42)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;

    // Both sides create id 7.
    let mut a7 = p.a.create_data_channel("n7", negotiated(7)).await.unwrap();
    let mut b7 = p.b.create_data_channel("n7", negotiated(7)).await.unwrap();
    for dc in [&a7, &b7] {
        tokio::time::timeout(Duration::from_secs(10), dc.wait_open())
            .await
            .expect("negotiated channel not open in 10 s")
            .unwrap();
    }
    a7.send_text("from A").await.unwrap();
    a7.send(vec![1u8, 2, 3]).await.unwrap();
    b7.send_text("from B").await.unwrap();
    b7.send(payload(7, 40_000)).await.unwrap();
    recv_exact(
        &mut b7,
        &[
            Message::Text("from A".into()),
            Message::Binary(vec![1u8, 2, 3].into()),
        ],
    )
    .await;
    recv_exact(
        &mut a7,
        &[
            Message::Text("from B".into()),
            Message::Binary(payload(7, 40_000)),
        ],
    )
    .await;

    // A creates id 9 and writes before B has created it: a text, a binary larger than
    // `webrtc-data`'s 8 KiB DCEP read buffer, an empty text.
    let mut a9 = p.a.create_data_channel("n9", negotiated(9)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), a9.wait_open())
        .await
        .expect("A's channel 9 not open in 10 s")
        .unwrap();
    let early = [
        Message::Text("early".into()),
        Message::Binary(payload(9, 70_000)),
        Message::Text(String::new()),
    ];
    for m in &early {
        match m {
            Message::Text(t) => a9.send_text(t.clone()).await.unwrap(),
            Message::Binary(b) => a9.send(b.clone()).await.unwrap(),
            _ => unreachable!(),
        }
    }
    // Everything reached B's SCTP (acknowledged), and B holds the stream for a channel to
    // claim it.
    wait_acked(&a9).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = p.b.stats().await.unwrap();
        if s.unclaimed_streams == [9] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "B does not hold stream 9: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Nothing surfaced on B meanwhile: no new channel, no transport error.
    while let Ok(ev) = tokio::time::timeout(Duration::from_millis(100), p.b_events.recv()).await {
        match ev.expect("B's events ended") {
            PeerEvent::DataChannel(dc) => panic!("early data taken for a new channel: {dc:?}"),
            PeerEvent::TransportError(e) => panic!("transport error on B: {e}"),
            _ => {}
        }
    }
    let mut b9 = p.b.create_data_channel("n9", negotiated(9)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), b9.wait_open())
        .await
        .expect("B's channel 9 not open in 10 s")
        .unwrap();
    recv_exact(&mut b9, &early).await;
    assert_eq!(p.b.stats().await.unwrap().unclaimed_streams, [0u16; 0]);
    // And after: both ways on 9.
    a9.send_text("later").await.unwrap();
    b9.send(vec![9u8; 10]).await.unwrap();
    recv_exact(&mut b9, &[Message::Text("later".into())]).await;
    recv_exact(&mut a9, &[Message::Binary(vec![9u8; 10].into())]).await;
    // Channel 7 is untouched by 9.
    a7.send_text("7 still").await.unwrap();
    recv_exact(&mut b7, &[Message::Text("7 still".into())]).await;

    // B still accepts DCEP channels from A.
    let after =
        p.a.create_data_channel("after", DataChannelInit::default())
            .await
            .unwrap();
    let mut b_after =
        test_support::wait_event(&mut p.b_events, Duration::from_secs(10), |ev| match ev {
            PeerEvent::DataChannel(dc) => {
                assert_eq!(dc.label(), "after");
                Some(dc)
            }
            PeerEvent::TransportError(e) => panic!("transport error on B: {e}"),
            _ => None,
        })
        .await;
    after.send_text("dcep").await.unwrap();
    recv_exact(&mut b_after, &[Message::Text("dcep".into())]).await;
    p.a.close().await;
    p.a.wait_closed().await;
}

/// More streams written on by the peer than may wait unclaimed (16): the 17th is reset and
/// reported on B (`UnclaimedStream`, `TooMany`), A's channel on it closes; the 16 others wait
/// and deliver their message once B creates its side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unclaimed_streams_beyond_the_bound_are_reset_and_reported() {
    let mut p = connect_pair(
        config(false, Some(43)),
        config(true, Some(44)),
        DataChannelInit::default(),
        Duration::ZERO,
    )
    .await;
    let ids: Vec<u16> = (200..217).collect();
    let mut ours = Vec::new();
    for &id in &ids {
        let dc = p.a.create_data_channel("n", negotiated(id)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), dc.wait_open())
            .await
            .expect("not open in 10 s")
            .unwrap();
        dc.send_text(format!("to {id}")).await.unwrap();
        ours.push(dc);
    }
    let rejected =
        test_support::wait_event(&mut p.b_events, Duration::from_secs(10), |ev| match ev {
            PeerEvent::TransportError(transport_tokio::TransportError::UnclaimedStream {
                stream_id,
                reason,
            }) => {
                assert_eq!(reason, transport_tokio::UnclaimedReason::TooMany);
                Some(stream_id)
            }
            PeerEvent::DataChannel(dc) => panic!("early data taken for a new channel: {dc:?}"),
            _ => None,
        })
        .await;
    assert!(ids.contains(&rejected), "reset stream {rejected}");
    // A's channel on the reset stream closes.
    let i = ids.iter().position(|&id| id == rejected).unwrap();
    let mut gone = ours.swap_remove(i);
    let end = tokio::time::timeout(Duration::from_secs(10), gone.recv())
        .await
        .expect("A's channel on the reset stream did not close");
    assert_eq!(end, None);
    // The 16 others were kept: B claims each and gets its message.
    for &id in ids.iter().filter(|&&id| id != rejected) {
        let mut dc = p.b.create_data_channel("n", negotiated(id)).await.unwrap();
        recv_exact(&mut dc, &[Message::Text(format!("to {id}"))]).await;
    }
    p.a.close().await;
    p.a.wait_closed().await;
}

/// A negotiated channel (no DCEP) gets its partial reliability too: unordered with no
/// retransmission, it loses messages through the lossy relay like the DCEP channel of the same
/// kind. (`webrtc-data` 0.17 applies reliability to a stream only on a DCEP exchange; left
/// reliable, it lost at most the few messages still late at `drain`'s quiet cutoff.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiated_channel_gets_its_partial_reliability() {
    let (relay, a, b, _pairs) = through_relay(&[DataChannelInit::default()]).await;
    let neg = DataChannelInit {
        ordered: false,
        max_retransmits: Some(0),
        negotiated: Some(100),
        ..Default::default()
    };
    let ours = a.create_data_channel("neg", neg.clone()).await.unwrap();
    let mut theirs = b.create_data_channel("neg", neg).await.unwrap();
    for dc in [&ours, &theirs] {
        tokio::time::timeout(Duration::from_secs(10), dc.wait_open())
            .await
            .expect("negotiated channel not open in 10 s")
            .unwrap();
    }
    relay.armed.store(true, Ordering::Relaxed);
    const COUNT: u64 = 250;
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    let receiver =
        tokio::spawn(async move { drain(&mut theirs, &flag, Duration::from_secs(2), None).await });
    for seq in 0..COUNT {
        ours.send(payload(seq, 1000)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    done.store(true, Ordering::Relaxed);
    let seen = receiver.await.unwrap();
    let dropped = relay.dropped.load(Ordering::Relaxed);
    let unique: BTreeSet<u64> = seen.seqs.iter().copied().collect();
    assert_eq!(unique.len(), seen.seqs.len(), "duplicates");
    let lost = COUNT - seen.seqs.len() as u64;
    println!(
        "negotiated unordered max-retransmits 0: {lost} of {COUNT} lost, {dropped} records dropped"
    );
    assert!(
        lost >= COUNT / 50,
        "only {lost} lost although {dropped} records were dropped: reliability not applied"
    );
    a.close().await;
    b.close().await;
    a.wait_closed().await;
    b.wait_closed().await;
}
