//! Issue test 5: a local network change moves a live session to another link.
//!
//! Two network namespaces (`tether-a-PID`, `tether-b-PID`), created and removed by the test,
//! are joined by two veth links: "wifi" (10.201.1.0/24) and "cellular" (10.201.2.0/24). One
//! peer runs in each: a thread `setns`es into its namespace and builds its own tokio runtime
//! there, so every worker thread and socket lives inside; the two runtimes signal through a
//! memory pair. A paced transfer runs A -> B; the test takes down A's end of the link the
//! selected pair uses (`ip link set DEV down`); A's network watcher sees the interface go down
//! (B's sees its carrier go), the restart policy restarts ICE, the new generation connects over
//! the other link, and every message arrives, checked byte by byte and in order. The recovery
//! time (link down -> first message after the outage) is printed and asserted under 800 ms, and
//! A must have replayed the outage's DTLS records on the new path (`switch.rs`): without the
//! replay, SCTP resent the lost chunks only on its T3 timer (1-3 s).
//!
//! Needs root (CAP_SYS_ADMIN) and `ip` (iproute2). Nothing is sent outside the two namespaces
//! (they have no route anywhere else). `cargo test -p tether-transport-tokio --test netns --
//! --nocapture`.

mod common;
use common::flow::payload;
use common::wait_event;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use session_core::channel::DataChannelInit;
use session_core::policy::RestartReason;
use session_core::session::Event;
use transport_tokio::{
    memory_pair, GatherOptions, MemorySignaling, Message, NetworkWatch, PeerConfig, PeerConnection,
    PeerEvent, PeerEvents, Stats,
};

/// Message size and pacing of the transfer (one message per `PACE`).
const MSG: usize = 1024;
const PACE: Duration = Duration::from_millis(5);
/// How often the peers' network watchers poll the interface list.
const WATCH: Duration = Duration::from_millis(250);

/// Runs `ip ARGS`, panicking with its stderr on failure.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `ip` ({e}): install iproute2"));
    assert!(
        out.status.success(),
        "`ip {}` failed ({}): {}; this test needs root (CAP_SYS_ADMIN)",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Is the link up with a carrier (`state UP`)?
fn link_up(ns: &str, dev: &str) -> bool {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show", "dev", dev])
        .output()
        .expect("ip");
    String::from_utf8_lossy(&out.stdout).contains("state UP")
}

/// The two namespaces and their links; removed on drop (also when the test fails).
struct Lab {
    ns: [String; 2],
    /// A's end of the wifi and cellular links (B's ends are named with `b`).
    wifi: [String; 2],
    cell: [String; 2],
}

impl Lab {
    fn new() -> Self {
        let pid = std::process::id();
        let lab = Lab {
            ns: [format!("tether-a-{pid}"), format!("tether-b-{pid}")],
            wifi: [format!("wa{pid}"), format!("wb{pid}")],
            cell: [format!("ca{pid}"), format!("cb{pid}")],
        };
        // From here on, drop removes whatever was created.
        for ns in &lab.ns {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        for (ends, subnet) in [(&lab.wifi, 1), (&lab.cell, 2)] {
            ip(&[
                "link", "add", &ends[0], "netns", &lab.ns[0], "type", "veth", "peer", "name",
                &ends[1], "netns", &lab.ns[1],
            ]);
            for (side, (ns, dev)) in lab.ns.iter().zip(ends.iter()).enumerate() {
                let addr = format!("10.201.{subnet}.{}/24", side + 1);
                ip(&["-n", ns, "addr", "add", &addr, "dev", dev]);
                ip(&["-n", ns, "link", "set", dev, "up"]);
            }
        }
        // veth carriers come up asynchronously: start the peers on a settled network, or
        // their watchers see the links come up and (rightly) restart ICE.
        let deadline = Instant::now() + Duration::from_secs(10);
        for side in 0..2 {
            for dev in [&lab.wifi[side], &lab.cell[side]] {
                while !link_up(&lab.ns[side], dev) {
                    assert!(Instant::now() < deadline, "{dev} did not come up");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        lab
    }

    /// Runs `f` on a new thread inside namespace `side` (0: A, 1: B), in a runtime of its own.
    fn spawn<T: Send + 'static>(
        &self,
        side: usize,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/run/netns/{}", self.ns[side]);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("namespace file");
            nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f)
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.ns {
            // Removing a namespace removes its veth ends (and so the links).
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn peer_config(polite: bool, seed: u8) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    // Host candidates on every non-loopback IPv4 address of the namespace: both links.
    c.gather = GatherOptions::default();
    c.seed = Some([seed; 32]);
    c.network_watch = NetworkWatch::Poll { interval: WATCH };
    c
}

/// What the test thread tells the sender (A).
enum Control {
    /// Report A's stats.
    Stats(std_mpsc::Sender<Stats>),
    /// Stop sending; report the count.
    Stop,
}

/// What A saw.
#[derive(Debug)]
struct SenderReport {
    sent: u64,
    /// Longest time one `send` call waited.
    longest_send: Duration,
    /// Automatic restarts, with when they began.
    restarts: Vec<(Instant, RestartReason)>,
    /// Promotions of new generations, with when.
    promotions: Vec<(Instant, u32)>,
}

fn note(ev: PeerEvent, report: &mut SenderReport) {
    match ev {
        PeerEvent::Session(Event::AutomaticRestart(reason)) => {
            report.restarts.push((Instant::now(), reason))
        }
        PeerEvent::Session(Event::IceGenerationPromoted { generation, .. }) => {
            report.promotions.push((Instant::now(), generation.0))
        }
        _ => {}
    }
}

/// Peer A: opens the channel, sends paced numbered messages until told to stop. Its events
/// are read by a task of their own, so their times are exact even while a send waits.
async fn sender(
    sig: MemorySignaling,
    control: std_mpsc::Receiver<Control>,
    sent_tx: tokio::sync::watch::Sender<Option<u64>>,
) -> SenderReport {
    let (pc, mut events): (PeerConnection, PeerEvents) =
        PeerConnection::new(peer_config(false, 41), sig).unwrap();
    let watcher = tokio::spawn(async move {
        let mut report = SenderReport {
            sent: 0,
            longest_send: Duration::ZERO,
            restarts: Vec::new(),
            promotions: Vec::new(),
        };
        while let Some(ev) = events.recv().await {
            note(ev, &mut report);
        }
        report
    });
    let dc = pc
        .create_data_channel("data", DataChannelInit::default())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), dc.wait_open())
        .await
        .expect("channel did not open in 20 s")
        .unwrap();
    let mut sent = 0u64;
    let mut longest_send = Duration::ZERO;
    let mut ticks = tokio::time::interval(PACE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match control.try_recv() {
            Ok(Control::Stats(reply)) => {
                let _ = reply.send(pc.stats().await.unwrap());
            }
            Ok(Control::Stop) => break,
            Err(_) => {}
        }
        // A send waits while SCTP holds more than the high-water mark, as it would in a
        // real application.
        let t = Instant::now();
        dc.send(payload(sent, MSG)).await.unwrap();
        longest_send = longest_send.max(t.elapsed());
        sent += 1;
    }
    sent_tx.send_replace(Some(sent));
    // Close once B has everything (it closes first, then so do we).
    let _ = tokio::time::timeout(Duration::from_secs(30), pc.wait_closed()).await;
    pc.close().await;
    pc.wait_closed().await;
    let mut report = watcher.await.unwrap();
    report.sent = sent;
    report.longest_send = longest_send;
    report
}

/// Peer B: receives and checks every message until A's final count is reached; returns the
/// arrival times.
async fn receiver(
    sig: MemorySignaling,
    mut sent_rx: tokio::sync::watch::Receiver<Option<u64>>,
    progress: std_mpsc::Sender<u64>,
) -> Vec<Instant> {
    let (pc, mut events) = PeerConnection::new(peer_config(true, 42), sig).unwrap();
    let mut dc = wait_event(&mut events, Duration::from_secs(20), |ev| match ev {
        PeerEvent::DataChannel(dc) => Some(dc),
        _ => None,
    })
    .await;
    let mut arrivals = Vec::new();
    let mut next = 0u64;
    loop {
        let expected = *sent_rx.borrow_and_update();
        if expected.is_some_and(|e| next >= e) {
            break;
        }
        tokio::select! {
            _ = sent_rx.changed(), if expected.is_none() => {}
            _ = events.recv() => {}
            msg = tokio::time::timeout(Duration::from_secs(30), dc.recv()) => {
                let msg = msg.expect("no message for 30 s").expect("channel closed early");
                arrivals.push(Instant::now());
                let Message::Binary(data) = msg else { panic!("unexpected {msg:?}") };
                let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                assert_eq!(seq, next, "lost, duplicated or reordered message");
                assert_eq!(data, payload(seq, data.len()), "corrupted message {seq}");
                next += 1;
                if next % 50 == 0 {
                    let _ = progress.send(next);
                }
            }
        }
    }
    pc.close().await;
    pc.wait_closed().await;
    arrivals
}

/// Waits until B has received `n` more messages than `from`.
fn wait_progress(progress: &std_mpsc::Receiver<u64>, from: &mut u64, n: u64, within: Duration) {
    let target = *from + n;
    let deadline = Instant::now() + within;
    while *from < target {
        let left = deadline.saturating_duration_since(Instant::now());
        *from = progress
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("transfer stuck at {from} messages (wanted {target})"));
    }
}

fn stats(control: &std_mpsc::Sender<Control>) -> Stats {
    let (tx, rx) = std_mpsc::channel();
    control.send(Control::Stats(tx)).unwrap();
    rx.recv_timeout(Duration::from_secs(10)).expect("stats")
}

fn subnet_of(addr: SocketAddr) -> u8 {
    match addr.ip() {
        IpAddr::V4(v4) if v4.octets()[..2] == [10, 201] => v4.octets()[2],
        other => panic!("selected address {other} is not on a test link"),
    }
}

#[test]
fn link_down_moves_the_session_to_the_other_link() {
    if std::env::var_os("TETHER_TRACE").is_some() {
        // Timestamped driver and session logs: `TETHER_TRACE=1 cargo test ... -- --nocapture`.
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    let lab = Lab::new();
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (control_tx, control_rx) = std_mpsc::channel();
    let (progress_tx, progress_rx) = std_mpsc::channel();
    let (sent_tx, sent_rx) = tokio::sync::watch::channel(None);
    let a = lab.spawn(0, sender(sa, control_rx, sent_tx));
    let b = lab.spawn(1, receiver(sb, sent_rx, progress_tx));

    let mut received = 0;
    wait_progress(&progress_rx, &mut received, 200, Duration::from_secs(30));
    // One generation, nothing pending.
    let deadline = Instant::now() + Duration::from_secs(10);
    let before = loop {
        let s = stats(&control_tx);
        if s.generations.len() == 1 {
            break s;
        }
        assert!(Instant::now() < deadline, "extra generations: {s:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let g = &before.generations[0];
    let local = g.local.expect("selected pair");
    let used = subnet_of(local);
    let (dev, name, other) = if used == 1 {
        (&lab.wifi[0], "wifi", 2)
    } else {
        (&lab.cell[0], "cellular", 1)
    };
    println!(
        "transfer runs over {name} ({local} -> {:?}); taking {dev} down",
        g.remote
    );

    let down = Instant::now();
    ip(&["-n", &lab.ns[0], "link", "set", dev, "down"]);
    // The session must recover by itself and carry on.
    wait_progress(&progress_rx, &mut received, 400, Duration::from_secs(60));
    let after = stats(&control_tx);
    let promoted = after
        .generations
        .iter()
        .find(|g| g.promoted)
        .expect("a promoted generation");
    assert!(promoted.generation.0 >= 1, "no restart happened: {after:?}");
    let new_local = promoted.local.expect("selected pair");
    assert_eq!(
        subnet_of(new_local),
        other,
        "the new path is not on the other link: {after:?}"
    );
    let new_remote = promoted.remote.expect("selected pair");
    assert_eq!(subnet_of(new_remote), other, "remote end: {after:?}");

    control_tx.send(Control::Stop).unwrap();
    let report = a.join().expect("sender panicked");
    let arrivals = b.join().expect("receiver panicked");
    assert_eq!(arrivals.len() as u64, report.sent);

    // Recovery: from the link going down to the first arrival after the longest outage.
    let (gap, resumed) = arrivals
        .windows(2)
        .filter(|w| w[1] > down)
        .map(|w| (w[1] - w[0], w[1]))
        .max()
        .expect("arrivals after the link went down");
    let restart = report
        .restarts
        .iter()
        .find(|(t, _)| *t > down)
        .map(|(t, r)| (*t - down, *r));
    let promotion = report
        .promotions
        .iter()
        .find(|(t, _)| *t > down)
        .map(|(t, g)| (*t - down, *g));
    println!(
        "network change ({name} down): {} messages of {MSG} B every {PACE:?}, zero lost/\
         duplicated/reordered; automatic restart after {restart:?}, new generation promoted \
         after {promotion:?}, data resumed after {:?} (longest inter-arrival gap {gap:?}, \
         longest send {:?}); now {new_local} -> {new_remote}; A replayed {} DTLS records",
        report.sent,
        resumed - down,
        report.longest_send,
        after.dtls_datagrams_replayed,
    );
    // The outage's unacknowledged records went again on the new path (switch.rs), so SCTP
    // did not have to wait for its retransmission timer.
    assert!(
        after.dtls_datagrams_replayed > 0,
        "no DTLS record was replayed on the new path: {after:?}"
    );
    // Without the replay, the lost chunks waited for SCTP's T3 timer: data resumed 1-3 s
    // after the link went down (RTO min 1 s, doubled once spent on the dead path); with it,
    // within a millisecond of the promotion (~0.2-0.3 s, the watcher polls every 250 ms).
    assert!(
        resumed - down < Duration::from_millis(800),
        "data resumed only {:?} after the link went down (promotion after {promotion:?})",
        resumed - down
    );
    assert!(
        matches!(restart, Some((_, RestartReason::NetworkChanged))),
        "the watcher did not trigger the restart: {report:?}"
    );
    drop(lab);
}
