//! Network faults between two network namespaces: a live session must survive each one, lose
//! nothing, and say how long it took.
//!
//! Two namespaces (`tether-a-PID-N`, `tether-b-PID-N`), created and removed by each test, are
//! joined by two veth links: "wifi" (10.201.1.0/24) and "cellular" (10.201.2.0/24). One peer
//! runs in each: a thread `setns`es into its namespace and builds its own tokio runtime there,
//! so every worker thread and socket lives inside; the two runtimes signal through a memory
//! pair. A paced transfer runs A -> B, every message checked byte by byte and in order. Then A's
//! side of the network breaks:
//!
//! - **link down** (`ip link set DEV down` on the link the selected pair uses): A's network
//!   watcher sees it, the restart policy restarts ICE, the new generation connects over the other
//!   link. Asserted under 800 ms (the replay of the outage's DTLS records and SCTP's
//!   retransmit-on-promotion mean no SCTP timer is waited for).
//! - **silent blackhole** (nftables drops everything on that link, the interface stays up: Wi-Fi
//!   gone bad, a NAT rebinding): only ICE's own checks can tell; the session must move to the
//!   other link by itself. The time is printed (the goal: 3 s), not asserted.
//! - **total outage** (both links dropped for 3 s, then restored): the session must carry on
//!   over the path that comes back; the time from the restore to the first message is printed
//!   (the goal: 1 s).
//! - **loss and delay** (5 % of the packets dropped and the rest delayed 50 ms ± 10 ms, each way,
//!   on the selected path for 30 s; user-space netem over NFQUEUE, `common/netem.rs`): nothing
//!   may be lost and the session must stay up; the delivery rate, the longest stall and the
//!   longest latency are printed next to Linux TCP's between the same two addresses under the
//!   same impairment.
//!
//! Needs root (CAP_SYS_ADMIN), `ip` (iproute2), `nft` (nftables) and `iptables` (NFQUEUE).
//! Nothing is sent outside the namespaces (they have no route anywhere else). `cargo test -p
//! tether-transport-tokio --test netns -- --nocapture` (`TETHER_TRACE=1` adds the driver's and
//! session's logs).

use crate::lab::{blackhole, heal, ip, Lab};
use crate::netem::{self, Impairment, Netem};
use crate::tcp;
use test_support::payload;
use test_support::wait_event;

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use session_core::channel::DataChannelInit;
use session_core::policy::RestartReason;
use session_core::session::{ClosedBy, Event};
use transport_tokio::{
    memory_pair, GatherOptions, MemorySignaling, Message, NetworkWatch, PeerConfig, PeerConnection,
    PeerEvent, PeerEvents, Stats,
};

/// Message size and pacing of the transfer (one message per `PACE`).
const MSG: usize = 1024;
const PACE: Duration = Duration::from_millis(5);
/// The peers' network watchers: netlink events (the default), with a slow fallback poll so
/// that a link change can only be seen through an event.
const WATCH: NetworkWatch = NetworkWatch::Events {
    fallback: Duration::from_secs(5),
};
/// [`Fault::LossAndDelay`]'s impairment, on both directions of the selected path.
const LOSSY: Impairment = Impairment {
    loss_per_mille: 50,
    delay: Duration::from_millis(50),
    jitter: Duration::from_millis(10),
    seed: 17,
};

fn peer_config(polite: bool, seed: u8) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    // Host candidates on every non-loopback IPv4 address of the namespace: both links.
    c.gather = GatherOptions::default();
    c.seed = Some([seed; 32]);
    c.network_watch = WATCH;
    c
}

/// What the test thread tells the sender (A).
enum Control {
    /// Report A's stats.
    Stats(std_mpsc::Sender<Stats>),
    /// Stop sending; report the count.
    Stop,
    /// `restart_ice()` (an application restart).
    RestartIce,
}

/// What A saw.
#[derive(Debug)]
struct SenderReport {
    sent: u64,
    /// Longest time one `send` call waited.
    longest_send: Duration,
    /// When each `send` returned (the message was SCTP's).
    sent_at: Vec<Instant>,
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
            sent_at: Vec::new(),
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
    let mut sent_at = Vec::new();
    let mut ticks = tokio::time::interval(PACE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match control.try_recv() {
            Ok(Control::Stats(reply)) => {
                let _ = reply.send(pc.stats().await.unwrap());
            }
            Ok(Control::Stop) => break,
            Ok(Control::RestartIce) => pc.restart_ice().await.unwrap(),
            Err(_) => {}
        }
        // A send waits while SCTP holds more than the high-water mark, as it would in a
        // real application.
        let t = Instant::now();
        dc.send(payload(sent, MSG)).await.unwrap();
        longest_send = longest_send.max(t.elapsed());
        sent_at.push(Instant::now());
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
    report.sent_at = sent_at;
    report
}

/// Peer B: receives and checks every message until A's final count is reached; returns the
/// arrival times and B's own automatic restarts (either side may detect a dead path first).
async fn receiver(
    sig: MemorySignaling,
    mut sent_rx: tokio::sync::watch::Receiver<Option<u64>>,
    progress: std_mpsc::Sender<u64>,
) -> (Vec<Instant>, Vec<(Instant, RestartReason)>) {
    let (pc, mut events) = PeerConnection::new(peer_config(true, 42), sig).unwrap();
    let mut dc = wait_event(&mut events, Duration::from_secs(20), |ev| match ev {
        PeerEvent::DataChannel(dc) => Some(dc),
        _ => None,
    })
    .await;
    let mut arrivals = Vec::new();
    let mut restarts = Vec::new();
    let mut next = 0u64;
    loop {
        let expected = *sent_rx.borrow_and_update();
        if expected.is_some_and(|e| next >= e) {
            break;
        }
        tokio::select! {
            _ = sent_rx.changed(), if expected.is_none() => {}
            ev = events.recv() => {
                if let Some(PeerEvent::Session(Event::AutomaticRestart(reason))) = ev {
                    restarts.push((Instant::now(), reason));
                }
            }
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
    (arrivals, restarts)
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

/// How A's side of the network breaks (see the module docs).
#[derive(Debug, Clone, Copy)]
enum Fault {
    LinkDown,
    /// The selected pair's address of A is removed (the link stays up), and put back once the
    /// session recovered.
    AddressRemoved,
    Blackhole,
    Outage(Duration),
    /// This many `restart_ice()` calls (300 ms apart), then the link goes down.
    RestartsThenLinkDown(u32),
    /// [`LOSSY`] on the selected path (its two addresses) for this long, then healed.
    LossAndDelay(Duration),
}

/// What a run saw.
struct Run {
    name: &'static str,
    /// The selected pair when the fault began (A's end first).
    path: (SocketAddr, SocketAddr),
    /// The subnet of the other link.
    other: u8,
    report: SenderReport,
    /// B's automatic restarts.
    remote_restarts: Vec<(Instant, RestartReason)>,
    /// When the fault began, and when it was healed (an outage's restore).
    down: Instant,
    healed: Option<Instant>,
    /// The first arrival after the longest inter-arrival gap that ended after `down`.
    resumed: Instant,
    gap: Duration,
    after: Stats,
    /// Every arrival at B.
    arrivals: Vec<Instant>,
    /// What the impairment did ([`Fault::LossAndDelay`]).
    netem: Option<netem::Counts>,
}

/// The transfer in a lab of its own, broken by `fault`.
fn run(fault: Fault) -> Run {
    run_in(&Lab::new(), fault)
}

/// Drops or delays the packets between `local` (in namespace `ns`) and `remote` ([`LOSSY`])
/// for `period`; returns when it began (the rules in place) and ended (their removal begins:
/// removing them can take a second on a loaded machine, and the backlog drains meanwhile),
/// and what it did.
fn impair(
    ns: &str,
    (local, remote): (SocketAddr, SocketAddr),
    period: Duration,
) -> (Instant, Instant, netem::Counts) {
    let v4 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => panic!("{v6}: the lab is IPv4"),
    };
    let netem = Netem::start(ns, v4(local), v4(remote), LOSSY);
    let start = Instant::now();
    std::thread::sleep(period);
    let end = Instant::now();
    (start, end, netem.stop())
}

/// The transfer in `lab`, broken by `fault`.
fn run_in(lab: &Lab, fault: Fault) -> Run {
    if std::env::var_os("TETHER_TRACE").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .try_init();
    }
    let (sa, sb) = memory_pair(Duration::ZERO);
    let (control_tx, control_rx) = std_mpsc::channel();
    let (progress_tx, progress_rx) = std_mpsc::channel();
    let (sent_tx, sent_rx) = tokio::sync::watch::channel(None);
    let a = lab.spawn(0, sender(sa, control_rx, sent_tx));
    let b = lab.spawn(1, receiver(sb, sent_rx, progress_tx));

    let mut received = 0;
    wait_progress(&progress_rx, &mut received, 200, Duration::from_secs(30));
    if let Fault::RestartsThenLinkDown(n) = fault {
        for _ in 0..n {
            control_tx.send(Control::RestartIce).unwrap();
            std::thread::sleep(Duration::from_millis(300));
        }
        wait_progress(&progress_rx, &mut received, 100, Duration::from_secs(30));
    }
    // One generation, nothing pending (superseded ones are retired 2 s after a switch).
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
    let (local, remote) = (
        g.local.expect("selected pair"),
        g.remote.expect("selected pair"),
    );
    let used = subnet_of(local);
    let (dev, name, other) = if used == 1 {
        (&lab.wifi[0], "wifi", 2)
    } else {
        (&lab.cell[0], "cellular", 1)
    };
    println!("{fault:?}: transfer runs over {name} ({local} -> {remote}); breaking {dev}");

    // Progress reported while we waited is old news: the wait below counts from now.
    while let Ok(n) = progress_rx.try_recv() {
        received = n;
    }
    let mut down = Instant::now();
    let mut healed = None;
    let mut netem = None;
    match fault {
        Fault::LinkDown | Fault::RestartsThenLinkDown(_) => {
            ip(&["-n", &lab.ns[0], "link", "set", dev, "down"])
        }
        Fault::AddressRemoved => {
            let cidr = format!("{}/24", local.ip());
            ip(&["-n", &lab.ns[0], "addr", "del", &cidr, "dev", dev]);
        }
        Fault::Blackhole => blackhole(&lab.ns[0], &[dev]),
        Fault::Outage(t) => {
            blackhole(&lab.ns[0], &[&lab.wifi[0], &lab.cell[0]]);
            std::thread::sleep(t);
            heal(&lab.ns[0]);
            healed = Some(Instant::now());
        }
        Fault::LossAndDelay(t) => {
            let (start, end, counts) = impair(&lab.ns[0], (local, remote), t);
            (down, healed, netem) = (start, Some(end), Some(counts));
        }
    }
    // The session must recover by itself and carry on.
    wait_progress(&progress_rx, &mut received, 400, Duration::from_secs(90));
    let after = stats(&control_tx);
    if let Fault::AddressRemoved = fault {
        // Back again (a DHCP renewal): a network change too (the session may restart onto
        // it), and nothing may be lost.
        let cidr = format!("{}/24", local.ip());
        ip(&["-n", &lab.ns[0], "addr", "add", &cidr, "dev", dev]);
        wait_progress(&progress_rx, &mut received, 200, Duration::from_secs(30));
    }
    control_tx.send(Control::Stop).unwrap();
    let report = a.join().expect("sender panicked");
    let (arrivals, remote_restarts) = b.join().expect("receiver panicked");
    assert_eq!(arrivals.len() as u64, report.sent);

    let (gap, mut resumed) = arrivals
        .windows(2)
        .filter(|w| w[1] > down)
        .map(|w| (w[1] - w[0], w[1]))
        .max()
        .expect("arrivals after the fault");
    if gap < 4 * PACE {
        // No stall at all (the new path was promoted before a message went missing): the
        // longest gap is the machine's jitter, anywhere in the run. Data "resumed" with the
        // first arrival after the fault.
        resumed = *arrivals
            .iter()
            .find(|t| **t > down)
            .expect("arrivals after the fault");
    }
    Run {
        name,
        path: (local, remote),
        other,
        report,
        remote_restarts,
        down,
        healed,
        resumed,
        gap,
        after,
        arrivals,
        netem,
    }
}

impl Run {
    fn restart(&self) -> Option<(Duration, RestartReason)> {
        self.report
            .restarts
            .iter()
            .find(|(t, _)| *t > self.down)
            .map(|(t, r)| (*t - self.down, *r))
    }

    /// The first automatic restart after the fault on either side (both sides see a silent
    /// path die at about the same time; whichever restarts first, the other answers).
    fn restart_by_either(&self) -> Option<(Duration, RestartReason)> {
        self.report
            .restarts
            .iter()
            .chain(&self.remote_restarts)
            .filter(|(t, _)| *t > self.down)
            .min_by_key(|(t, _)| *t)
            .map(|(t, r)| (*t - self.down, *r))
    }

    fn promotion(&self) -> Option<(Duration, u32)> {
        self.report
            .promotions
            .iter()
            .find(|(t, _)| *t > self.down)
            .map(|(t, g)| (*t - self.down, *g))
    }

    /// The promoted generation's path, which must be on the other link (and come from a
    /// restart after the fault).
    fn moved_to_the_other_link(&self) -> (SocketAddr, SocketAddr) {
        let promoted = self
            .after
            .generations
            .iter()
            .find(|g| g.promoted)
            .expect("a promoted generation");
        assert!(
            promoted.generation.0 >= 1,
            "no restart happened: {:?}",
            self.after
        );
        let local = promoted.local.expect("selected pair");
        let remote = promoted.remote.expect("selected pair");
        assert_eq!(subnet_of(local), self.other, "local end: {:?}", self.after);
        assert_eq!(
            subnet_of(remote),
            self.other,
            "remote end: {:?}",
            self.after
        );
        (local, remote)
    }

    /// A's watcher saw the fault (an OS event) and the policy restarted for it.
    fn assert_network_change_restarted(&self) {
        assert!(
            matches!(self.restart(), Some((_, RestartReason::NetworkChanged))),
            "no automatic restart for the network change: {:?}",
            self.report
        );
    }

    /// [`print`](Self::print) for a reader, [`result`](Self::result) for the bench.
    fn report_as(&self, what: &str, case: &str) {
        self.print(what);
        self.result(case);
    }

    /// The times of this run as a `RESULT` line (ms) for `cargo xtask bench --only faults`.
    fn result(&self, case: &str) {
        let ms = |d: Duration| format!("{:.1}", d.as_secs_f64() * 1000.0);
        let mut line = format!("RESULT fault={case}");
        if let Some((t, _)) = self.restart_by_either() {
            line += &format!(" restart_ms={}", ms(t));
        }
        if let Some((t, _)) = self.promotion() {
            line += &format!(" promoted_ms={}", ms(t));
        }
        line += &format!(" resumed_ms={}", ms(self.resumed - self.down));
        if let Some(h) = self.healed {
            line += &format!(
                " after_restore_ms={}",
                ms(self.resumed.saturating_duration_since(h))
            );
        }
        line += &format!(" gap_ms={}", ms(self.gap));
        println!("{line}");
    }

    fn print(&self, what: &str) {
        println!(
            "{what} ({}): {} messages of {MSG} B every {PACE:?}, zero lost/duplicated/\
             reordered; automatic restart after {:?} (A) / {:?} (either), new generation promoted after {:?}, data \
             resumed after {:?}{} (longest inter-arrival gap {:?}, longest send {:?}); A \
             replayed {} DTLS records",
            self.name,
            self.report.sent,
            self.restart(),
            self.restart_by_either(),
            self.promotion(),
            self.resumed - self.down,
            self.healed
                .map(|h| format!(
                    ", {:?} after the restore",
                    self.resumed.saturating_duration_since(h)
                ))
                .unwrap_or_default(),
            self.gap,
            self.report.longest_send,
            self.after.dtls_datagrams_replayed,
        );
    }
}

#[test]
fn link_down_moves_the_session_to_the_other_link() {
    if !test_support::privileged("link_down_moves_the_session_to_the_other_link") {
        return;
    }
    let r = run(Fault::LinkDown);
    r.moved_to_the_other_link();
    r.report_as("network change (link down)", "link_down");
    // Without the replay / retransmit-on-promotion, the lost chunks waited for SCTP's T3 timer:
    // data resumed 1-3 s after the link went down; with it, within a millisecond of the
    // promotion (20-60 ms after the link went down: the watcher hears netlink at once).
    assert!(
        r.resumed - r.down < Duration::from_millis(800),
        "data resumed only {:?} after the link went down (promotion after {:?})",
        r.resumed - r.down,
        r.promotion()
    );
    r.assert_network_change_restarted();
}

#[test]
fn silent_blackhole_of_the_active_link_moves_the_session_to_the_other_link() {
    if !test_support::privileged(
        "silent_blackhole_of_the_active_link_moves_the_session_to_the_other_link",
    ) {
        return;
    }
    let r = run(Fault::Blackhole);
    r.moved_to_the_other_link();
    r.report_as("silent blackhole", "silent_blackhole");
    assert!(
        matches!(
            r.restart_by_either(),
            Some((_, RestartReason::Disconnected | RestartReason::Failed))
        ),
        "no restart for the dead path: A {:?}, B {:?}",
        r.report,
        r.remote_restarts
    );
}

#[test]
fn ten_application_restarts_leave_the_recovery_of_a_later_link_failure_intact() {
    if !test_support::privileged(
        "ten_application_restarts_leave_the_recovery_of_a_later_link_failure_intact",
    ) {
        return;
    }
    // Before: the application's restarts used up the automatic budget (10), and the link
    // failure after them was never recovered.
    let r = run(Fault::RestartsThenLinkDown(10));
    r.moved_to_the_other_link();
    r.report_as(
        "ten restart_ice, then link down",
        "ten_restarts_then_link_down",
    );
    r.assert_network_change_restarted();
}

#[test]
fn a_three_second_total_outage_is_survived() {
    if !test_support::privileged("a_three_second_total_outage_is_survived") {
        return;
    }
    let r = run(Fault::Outage(Duration::from_secs(3)));
    r.report_as("total outage of 3 s, then restored", "outage_3s");
}

#[test]
fn an_address_removed_moves_the_session_to_the_other_link() {
    if !test_support::privileged("an_address_removed_moves_the_session_to_the_other_link") {
        return;
    }
    // The interface stays up; only the address the selected pair used goes (netlink reports
    // it), then comes back once the session moved.
    let r = run(Fault::AddressRemoved);
    r.moved_to_the_other_link();
    r.report_as("address removed, then added back", "address_removed");
    r.assert_network_change_restarted();
}

/// Long outages (20 s and 60 s): not in the default run (they take 90 s);
/// `cargo test -p tether-transport-tokio --test netns long_outages -- --ignored --nocapture`,
/// or `cargo xtask bench --only faults`, which runs them too.
#[test]
#[ignore = "90 s; run by hand or by `cargo xtask bench --only faults`"]
fn long_outages_of_20_and_60_s_are_survived() {
    if !test_support::privileged("long_outages_of_20_and_60_s_are_survived") {
        return;
    }
    for secs in [20, 60] {
        let r = run(Fault::Outage(Duration::from_secs(secs)));
        r.report_as(
            &format!("total outage of {secs} s, then restored"),
            &format!("outage_{secs}s"),
        );
    }
}

/// How a transfer fared while its path was impaired.
struct Delivery {
    /// Messages per second that arrived in the impaired period.
    rate: f64,
    /// The longest time between two consecutive arrivals that overlaps it.
    stall: Duration,
    /// The longest time from the end of a `send` (or TCP write) to the arrival, for the
    /// messages that arrived in it.
    latency: Duration,
    /// Messages that arrived in each 5 s of it.
    per_5s: Vec<usize>,
}

impl Delivery {
    fn new(sent_at: &[Instant], arrivals: &[Instant], from: Instant, to: Instant) -> Self {
        let within = |t: &&Instant| (from..to).contains(*t);
        Delivery {
            rate: arrivals.iter().filter(within).count() as f64 / (to - from).as_secs_f64(),
            stall: arrivals
                .windows(2)
                .filter(|w| w[1] > from && w[0] < to)
                .map(|w| w[1] - w[0])
                .max()
                .unwrap_or(to - from),
            latency: sent_at
                .iter()
                .zip(arrivals)
                .filter(|(_, t)| within(t))
                .map(|(s, t)| t.saturating_duration_since(*s))
                .max()
                .unwrap_or_default(),
            per_5s: (0..(to - from).as_secs().div_ceil(5))
                .map(|i| {
                    let start = from + Duration::from_secs(5 * i);
                    let end = (start + Duration::from_secs(5)).min(to);
                    arrivals
                        .iter()
                        .filter(|t| (start..end).contains(*t))
                        .count()
                })
                .collect(),
        }
    }
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} msg/s (per 5 s: {:?}), longest stall {:.3?}, longest latency {:.3?}",
            self.rate, self.per_5s, self.stall, self.latency
        )
    }
}

/// The same paced transfer over TCP between the addresses of `path` (A's first), with
/// [`LOSSY`] on them for `period` once 200 messages went through.
fn tcp_baseline(
    lab: &Lab,
    path: (SocketAddr, SocketAddr),
    period: Duration,
) -> (Delivery, netem::Counts) {
    let from = SocketAddr::new(path.0.ip(), 0);
    let to = SocketAddr::new(path.1.ip(), 5017);
    let (progress_tx, progress_rx) = std_mpsc::channel();
    let (listening_tx, listening_rx) = std_mpsc::channel();
    let b = lab.spawn(1, async move {
        let listener = tokio::net::TcpListener::bind(to).await.unwrap();
        listening_tx.send(()).unwrap();
        tcp::receive(listener, MSG, progress_tx).await
    });
    listening_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("TCP listener");
    let (stop_tx, stop_rx) = std_mpsc::channel();
    let a = lab.spawn(0, tcp::send(from, to, MSG, PACE, stop_rx));
    let mut received = 0;
    wait_progress(&progress_rx, &mut received, 200, Duration::from_secs(30));
    let (start, end, counts) = impair(&lab.ns[0], (from, to), period);
    while let Ok(n) = progress_rx.try_recv() {
        received = n;
    }
    wait_progress(&progress_rx, &mut received, 400, Duration::from_secs(90));
    stop_tx.send(()).unwrap();
    let sent_at = a.join().expect("TCP sender panicked");
    let arrivals = b.join().expect("TCP receiver panicked");
    assert_eq!(arrivals.len(), sent_at.len(), "TCP lost messages");
    (Delivery::new(&sent_at, &arrivals, start, end), counts)
}

/// How long [`five_percent_loss_and_jitter_on_the_selected_path_lose_nothing`] impairs each of
/// its two transfers (the whole test takes about 65 s).
const IMPAIRED: Duration = Duration::from_secs(30);

#[test]
fn five_percent_loss_and_jitter_on_the_selected_path_lose_nothing() {
    if !test_support::privileged("five_percent_loss_and_jitter_on_the_selected_path_lose_nothing") {
        return;
    }
    // A bad but working path (5 % loss, 50 ms ± 10 ms each way) must not lose,
    // duplicate or reorder anything (the receiver checks), nor end the session. How fast it
    // delivers is printed next to TCP's, not asserted (the machine is noisy).
    let lab = Lab::new();
    let r = run_in(&lab, Fault::LossAndDelay(IMPAIRED));
    let healed = r.healed.expect("impairment ended");
    let counts = r.netem.expect("impairment counts");
    assert!(
        counts.dropped > 0 && counts.queued > counts.dropped,
        "the impairment did nothing: {counts:?}"
    );
    // Still connected at the end, on the impaired path or another one (a pair may cross the
    // links: A's cellular address to B's wifi one).
    let promoted = r
        .after
        .generations
        .iter()
        .find(|g| g.promoted)
        .unwrap_or_else(|| panic!("no promoted generation: {:?}", r.after));
    let (local, remote) = (
        promoted.local.expect("selected pair"),
        promoted.remote.expect("selected pair"),
    );
    let ends = (subnet_of(local), subnet_of(remote));
    let ours = Delivery::new(&r.report.sent_at, &r.arrivals, r.down, healed);
    let after_down = |v: &[(Instant, RestartReason)]| {
        v.iter()
            .filter(|(t, _)| *t > r.down)
            .map(|(_, why)| *why)
            .collect::<Vec<_>>()
    };
    println!(
        "loss and delay on {} -> {} for {IMPAIRED:?}: {} messages, zero lost/duplicated/\
         reordered; netem {counts:?}; automatic restarts A {:?}, B {:?}; promotions {:?}; ends \
         on {local} -> {remote} (subnets {ends:?}, generation {}); longest send {:?}",
        r.path.0,
        r.path.1,
        r.report.sent,
        after_down(&r.report.restarts),
        after_down(&r.remote_restarts),
        r.report
            .promotions
            .iter()
            .filter(|(t, _)| *t > r.down)
            .map(|(_, g)| g)
            .collect::<Vec<_>>(),
        promoted.generation.0,
        r.report.longest_send,
    );
    let (tcp, tcp_counts) = tcp_baseline(&lab, r.path, IMPAIRED);
    // Which congestion control the TCP baseline used: `TETHER_TCP_CC`, or the host's default
    // (new namespaces inherit it); BBR does not slow down for random loss, CUBIC does.
    let tcp_cc = std::env::var("TETHER_TCP_CC").unwrap_or_else(|_| {
        std::fs::read_to_string("/proc/sys/net/ipv4/tcp_congestion_control")
            .map_or_else(|_| "?".to_owned(), |s| s.trim().to_owned())
    });
    println!("TCP ({tcp_cc}) between the same addresses: netem {tcp_counts:?}");
    println!(
        "loss and delay ({} % loss, {:?} ± {:?} each way, {IMPAIRED:?}, both senders pace {:.0} \
         msg/s): ours {ours}; TCP {tcp}",
        f64::from(LOSSY.loss_per_mille) / 10.0,
        LOSSY.delay,
        LOSSY.jitter,
        1.0 / PACE.as_secs_f64(),
    );
    println!(
        "RESULT fault=loss_5pct_delay_50ms msg_s={:.1} stall_ms={:.0} tcp_msg_s={:.1} \
         tcp_stall_ms={:.0} tcp_cc={tcp_cc}",
        ours.rate,
        ours.stall.as_secs_f64() * 1000.0,
        tcp.rate,
        tcp.stall.as_secs_f64() * 1000.0,
    );
}

/// Waits (bounded) for the connection's `Closed` event and returns who closed it.
async fn closed_by(events: &mut PeerEvents, within: Duration) -> ClosedBy {
    wait_event(events, within, |ev| match ev {
        PeerEvent::Session(Event::Closed(by)) => Some(by),
        _ => None,
    })
    .await
}

#[test]
fn a_session_without_a_path_past_the_limit_closes_as_unreachable() {
    if !test_support::privileged("a_session_without_a_path_past_the_limit_closes_as_unreachable") {
        return;
    }
    // After a long outage the session must not hang with a channel that looks open;
    // past `give_up_after` it closes with a typed reason and frees everything.
    let lab = Lab::new();
    let (sa, sb) = memory_pair(Duration::ZERO);
    let config = |polite, seed| {
        let mut c = peer_config(polite, seed);
        c.restart_policy.give_up_after = Some(Duration::from_secs(3));
        c
    };
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let a = lab.spawn(0, async move {
        let (pc, mut events) = PeerConnection::new(config(false, 51), sa).unwrap();
        let dc = pc
            .create_data_channel("data", DataChannelInit::default())
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(20), dc.wait_open())
            .await
            .expect("channel did not open")
            .unwrap();
        ready_tx.send(()).unwrap();
        let by = closed_by(&mut events, Duration::from_secs(30)).await;
        let at = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), pc.wait_closed())
            .await
            .expect("wait_closed hangs");
        let sent = dc.send(payload(0, 8)).await;
        (by, at, sent.is_err())
    });
    let b = lab.spawn(1, async move {
        let (pc, mut events) = PeerConnection::new(config(true, 52), sb).unwrap();
        let by = closed_by(&mut events, Duration::from_secs(60)).await;
        tokio::time::timeout(Duration::from_secs(10), pc.wait_closed())
            .await
            .expect("wait_closed hangs");
        (by, Instant::now())
    });
    ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("not connected");
    let down = Instant::now();
    blackhole(&lab.ns[0], &[&lab.wifi[0], &lab.cell[0]]);
    let (a_by, a_at, send_failed) = a.join().expect("A panicked");
    let (b_by, b_at) = b.join().expect("B panicked");
    println!(
        "no path: A closed {:?} after {:?}, B {:?} after {:?} (give_up_after 3 s, after ICE's \
         2 s of silence)",
        a_by,
        a_at - down,
        b_by,
        b_at - down
    );
    println!(
        "RESULT fault=no_path_give_up_3s closed_ms={:.0}",
        (a_at.min(b_at) - down).as_secs_f64() * 1000.0
    );
    // Whichever side gives up first tells the other with `bye` (signaling still works).
    assert!(
        matches!(
            (a_by, b_by),
            (
                ClosedBy::Unreachable,
                ClosedBy::Unreachable | ClosedBy::Remote
            ) | (ClosedBy::Remote, ClosedBy::Unreachable)
        ),
        "A {a_by:?}, B {b_by:?}"
    );
    assert!(send_failed, "a send after the close succeeded");
}
