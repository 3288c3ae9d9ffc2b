//! A deterministic simulator: two [`Session`]s joined by a simulated signaling channel (seeded
//! delay, loss, duplication and so reordering) and a simulated transport that reports ICE,
//! DTLS, SCTP and data channel events per generation, in virtual time that jumps to the next
//! deadline. It also checks invariants as it runs (see [`Sim::violations`]).
//!
//! This is a test harness (after quinn-proto's `Pair` and str0m's netem): it never touches a
//! clock or a socket, so every run with the same seed is identical.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use session_core::sim::{Sim, SimConfig};
//! use session_core::state::PeerConnectionState;
//!
//! // Virtual time is offset from any instant (the test, not the core, reads the clock).
//! let mut sim = Sim::new(SimConfig::default(), <Instant>::now());
//! sim.a_mut().create_data_channel("chat", Default::default()).unwrap();
//! assert!(sim.run_until_settled(Duration::from_secs(10)));
//! assert!(sim.violations().is_empty());
//! assert_eq!(sim.a().connection_state(), PeerConnectionState::Connected);
//! assert_eq!(sim.b().connection_state(), PeerConnectionState::Connected);
//! // Ten virtual seconds at most, however long the machine takes.
//! assert!(sim.elapsed() < Duration::from_secs(10));
//! ```

mod net;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::config::Config;
use crate::sdp::Fingerprint;
use crate::session::{Event, Session};
use crate::signal::SignalMessage;
use crate::signaling::{SdpType, Side, SignalingState};
use crate::state::{IceConnectionState, PeerConnectionState};
use crate::transport::TransportEvent;

pub use net::PathStats;
use net::SimNet;

/// Which simulated peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum PeerId {
    /// The polite peer.
    A,
    /// The impolite peer.
    B,
}

impl PeerId {
    fn other(self) -> Self {
        match self {
            PeerId::A => PeerId::B,
            PeerId::B => PeerId::A,
        }
    }

    fn index(self) -> usize {
        match self {
            PeerId::A => 0,
            PeerId::B => 1,
        }
    }
}

/// Knobs of the simulated world.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of everything random in the simulation (also the sessions' seeds).
    pub seed: u64,
    /// Signaling delay: uniform in this range (reordering follows from the spread).
    pub signal_delay: (Duration, Duration),
    /// Probability that a signal message is lost.
    pub signal_loss: f64,
    /// Probability that a signal message is delivered twice.
    pub signal_duplicate: f64,
    /// Time to gather the first candidate.
    pub gather_delay: Duration,
    /// Time from "both sides can check" to connected.
    pub check_delay: Duration,
    /// DTLS handshake time.
    pub dtls_delay: Duration,
    /// A connected generation whose path is down becomes disconnected after this long.
    pub consent_timeout: Duration,
    /// ... and failed after this long (also: a generation that never connects). 25 s, as
    /// transport-tokio's `IceTimeouts::default().failed`, so that simulated recovery takes
    /// the time the real one does.
    pub failed_timeout: Duration,
    /// Give peer B a certificate that does not match the fingerprint it announces.
    pub wrong_fingerprint_b: bool,
    /// Record every signal message (sent, lost, delivered, with the outcome) for
    /// [`Sim::report`]. Off by default: it costs a string per message.
    pub trace_signals: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            signal_delay: (Duration::from_millis(10), Duration::from_millis(30)),
            signal_loss: 0.0,
            signal_duplicate: 0.0,
            gather_delay: Duration::from_millis(5),
            check_delay: Duration::from_millis(40),
            dtls_delay: Duration::from_millis(30),
            consent_timeout: Duration::from_secs(2),
            failed_timeout: Duration::from_secs(25),
            wrong_fingerprint_b: false,
            trace_signals: false,
        }
    }
}

/// Something scheduled in virtual time.
#[derive(Debug, Clone)]
pub(crate) enum Pending {
    Signal(PeerId, String),
    Transport(PeerId, TransportEvent),
    /// Re-evaluate the simulated network (timers of checks, consent, DTLS).
    Net,
}

/// One simulated peer: its session and what it saw.
#[derive(Debug)]
pub struct SimPeer {
    /// The session under test.
    pub session: Session,
    /// Every event the session emitted, with its virtual time.
    pub events: Vec<(Instant, Event)>,
    /// Errors returned by `handle_signal`.
    pub signal_errors: Vec<String>,
    last_signaling: SignalingState,
    closed_seen: bool,
}

/// The simulator. See the [module docs](self).
#[derive(Debug)]
pub struct Sim {
    cfg: SimConfig,
    start: Instant,
    now: Instant,
    rng: ChaCha8Rng,
    queue: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    items: Vec<Option<Pending>>,
    seq: u64,
    peers: [SimPeer; 2],
    net: SimNet,
    violations: Vec<String>,
    steps: u64,
    /// Signal trace (with [`SimConfig::trace_signals`]).
    signal_trace: Vec<String>,
}

/// Fingerprint of a simulated peer's certificate.
pub fn sim_fingerprint(peer: PeerId) -> Fingerprint {
    Fingerprint {
        algorithm: "sha-256".into(),
        value: vec![if peer == PeerId::A { 0xA1 } else { 0xB2 }; 32],
    }
}

impl Sim {
    /// Two sessions with default configurations (A polite, B impolite, perfect negotiation).
    pub fn new(cfg: SimConfig, start: Instant) -> Self {
        let (a, b) = Self::default_configs(&cfg);
        Self::with_configs(cfg, a, b, start)
    }

    /// The configurations [`Sim::new`] gives A and B (seeded from `cfg.seed`), to change a
    /// field and pass to [`Sim::with_configs`].
    pub fn default_configs(cfg: &SimConfig) -> (Config, Config) {
        let a = Config::new(
            seed_bytes(cfg.seed, 0xA),
            vec![sim_fingerprint(PeerId::A)],
            true,
        );
        let b = Config::new(
            seed_bytes(cfg.seed, 0xB),
            vec![sim_fingerprint(PeerId::B)],
            false,
        );
        (a, b)
    }

    /// Two sessions with the given configurations.
    pub fn with_configs(cfg: SimConfig, a: Config, b: Config, start: Instant) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let peer = |c: Config| SimPeer {
            session: Session::new(c, start),
            events: Vec::new(),
            signal_errors: Vec::new(),
            last_signaling: SignalingState::Stable,
            closed_seen: false,
        };
        let net = SimNet::new(&cfg);
        Self {
            cfg,
            start,
            now: start,
            rng,
            queue: BinaryHeap::new(),
            items: Vec::new(),
            seq: 0,
            peers: [peer(a), peer(b)],
            net,
            violations: Vec::new(),
            steps: 0,
            signal_trace: Vec::new(),
        }
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time elapsed since the start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Peer A's session.
    pub fn a(&self) -> &Session {
        &self.peers[0].session
    }

    /// Peer B's session.
    pub fn b(&self) -> &Session {
        &self.peers[1].session
    }

    /// Peer A's session, for application calls. Outputs are drained at the next step.
    pub fn a_mut(&mut self) -> &mut Session {
        &mut self.peers[0].session
    }

    /// Peer B's session, for application calls.
    pub fn b_mut(&mut self) -> &mut Session {
        &mut self.peers[1].session
    }

    /// A peer.
    pub fn peer(&self, id: PeerId) -> &SimPeer {
        &self.peers[id.index()]
    }

    /// A peer, mutable.
    pub fn peer_mut(&mut self, id: PeerId) -> &mut SimPeer {
        &mut self.peers[id.index()]
    }

    /// A readable report of the run for a failing test: every event of each peer with its
    /// virtual time, `handle_signal` errors, transports, violations and path statistics.
    pub fn report(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for id in [PeerId::A, PeerId::B] {
            let peer = self.peer(id);
            let _ = writeln!(s, "== {id:?} ==");
            for (t, e) in &peer.events {
                let _ = writeln!(s, "{:>10?} {e:?}", t.saturating_duration_since(self.start));
            }
            let _ = writeln!(s, "signal errors: {:?}", peer.signal_errors);
            let _ = writeln!(s, "transports: {:?}", peer.session.transports());
        }
        if !self.signal_trace.is_empty() {
            let _ = writeln!(s, "== signals ==");
            for line in &self.signal_trace {
                let _ = writeln!(s, "{line}");
            }
        }
        let _ = writeln!(s, "violations: {:?}", self.violations);
        let _ = writeln!(s, "path: {:?}", self.path_stats());
        s
    }

    /// Invariant violations seen so far (empty when everything held).
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Media/data path statistics (outages after the first connection).
    pub fn path_stats(&self) -> PathStats {
        self.net.path_stats(self.now)
    }

    /// Number of inputs processed.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Brings the link between the peers up or down (every generation's path at once).
    pub fn set_link(&mut self, up: bool) {
        self.net.set_link(up);
        self.schedule(self.now, Pending::Net);
    }

    /// Changes the probability that a signal message is lost (e.g. heal a lossy channel to
    /// check that the pair then converges).
    pub fn set_signal_loss(&mut self, p: f64) {
        self.cfg.signal_loss = p;
    }

    /// Tells a peer's session that the local network changed.
    pub fn network_changed(&mut self, peer: PeerId) {
        let now = self.now;
        self.peers[peer.index()]
            .session
            .handle_transport_event(TransportEvent::NetworkChanged, now);
        self.drain(peer);
    }

    pub(crate) fn schedule(&mut self, at: Instant, item: Pending) {
        self.seq += 1;
        self.items.push(Some(item));
        self.queue
            .push(Reverse((at, self.seq, self.items.len() - 1)));
    }

    fn next_deadline(&self) -> Option<Instant> {
        let q = self.queue.peek().map(|Reverse((t, _, _))| *t);
        [
            q,
            self.peers[0].session.poll_timeout(),
            self.peers[1].session.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Processes everything due at the next deadline. Returns false when nothing is left.
    pub fn step(&mut self) -> bool {
        // Outputs produced by application calls since the last step.
        self.drain(PeerId::A);
        self.drain(PeerId::B);
        let Some(at) = self.next_deadline() else {
            return false;
        };
        self.now = self.now.max(at);
        self.steps += 1;
        let now = self.now;
        for id in [PeerId::A, PeerId::B] {
            if self.peers[id.index()]
                .session
                .poll_timeout()
                .is_some_and(|t| t <= now)
            {
                self.peers[id.index()].session.handle_timeout(now);
                self.drain(id);
            }
        }
        while let Some(Reverse((t, _, idx))) = self.queue.peek().copied() {
            if t > now {
                break;
            }
            self.queue.pop();
            let Some(item) = self.items[idx].take() else {
                continue;
            };
            self.deliver(item);
        }
        // Keep the arena from growing without bound.
        if self.queue.is_empty() {
            self.items.clear();
        }
        true
    }

    fn deliver(&mut self, item: Pending) {
        let now = self.now;
        match item {
            Pending::Signal(to, json) => {
                let peer = &mut self.peers[to.index()];
                match SignalMessage::from_json(&json) {
                    Ok(msg) => {
                        let summary = self.cfg.trace_signals.then(|| summarize(&msg));
                        let result = peer.session.handle_signal(msg, now);
                        let state = peer.session.signaling_state();
                        if let Err(e) = &result {
                            peer.signal_errors.push(e.to_string());
                        }
                        if let Some(summary) = summary {
                            let elapsed = now.saturating_duration_since(self.start);
                            let outcome = match &result {
                                Ok(()) => format!("ok -> {state:?}"),
                                Err(e) => format!("ERROR {e}"),
                            };
                            self.signal_trace
                                .push(format!("{elapsed:>10?} {to:?} <- {summary}: {outcome}"));
                        }
                    }
                    Err(e) => self
                        .violations
                        .push(format!("wire format round trip failed: {e}")),
                }
                self.drain(to);
            }
            Pending::Transport(to, ev) => {
                self.peers[to.index()]
                    .session
                    .handle_transport_event(ev, now);
                self.drain(to);
            }
            Pending::Net => {}
        }
        self.reconcile();
    }

    fn reconcile(&mut self) {
        let now = self.now;
        for (at, to, ev) in self.net.reconcile(now) {
            self.schedule(at, Pending::Transport(to, ev));
        }
        if let Some(at) = self.net.next_timer(now) {
            let already = self.queue.iter().any(|Reverse((t, _, i))| {
                *t == at && matches!(self.items.get(*i), Some(Some(Pending::Net)))
            });
            if !already {
                self.schedule(at, Pending::Net);
            }
        }
    }

    /// Drains a peer's outputs into the simulated world and checks invariants.
    fn drain(&mut self, id: PeerId) {
        let now = self.now;
        loop {
            let mut progressed = false;
            while let Some(cmd) = self.peers[id.index()].session.poll_transport() {
                progressed = true;
                if let Err(v) = self.net.command(id, cmd, now) {
                    self.violations.push(format!("{id:?}: {v}"));
                }
            }
            while let Some(msg) = self.peers[id.index()].session.poll_signal() {
                progressed = true;
                self.send_signal(id, msg);
            }
            while let Some(ev) = self.peers[id.index()].session.poll_event() {
                progressed = true;
                self.check_event(id, &ev);
                self.peers[id.index()].events.push((now, ev));
            }
            if !progressed {
                break;
            }
        }
        self.reconcile();
    }

    fn send_signal(&mut self, from: PeerId, msg: SignalMessage) {
        let json = msg.to_json();
        let lost = self.chance(self.cfg.signal_loss);
        if self.cfg.trace_signals {
            let elapsed = self.now.saturating_duration_since(self.start);
            let fate = if lost { "LOST" } else { "sent" };
            self.signal_trace.push(format!(
                "{elapsed:>10?} {from:?} -> {}: {fate}",
                summarize(&msg)
            ));
        }
        if lost {
            return;
        }
        let copies = if self.chance(self.cfg.signal_duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let (lo, hi) = self.cfg.signal_delay;
            let spread = hi.saturating_sub(lo).as_micros() as u64;
            let extra = if spread == 0 {
                0
            } else {
                self.rng.next_u64() % (spread + 1)
            };
            let at = self.now + lo + Duration::from_micros(extra);
            self.schedule(at, Pending::Signal(from.other(), json.clone()));
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }

    fn check_event(&mut self, id: PeerId, ev: &Event) {
        let peer = &mut self.peers[id.index()];
        if peer.closed_seen {
            self.violations
                .push(format!("{id:?}: event after Closed: {ev:?}"));
            return;
        }
        match ev {
            Event::SignalingStateChange(next) => {
                let prev = peer.last_signaling;
                if !legal_signaling_step(prev, *next) {
                    self.violations.push(format!(
                        "{id:?}: illegal signaling transition {prev:?} -> {next:?}"
                    ));
                }
                peer.last_signaling = *next;
            }
            Event::Closed(_) => peer.closed_seen = true,
            _ => {}
        }
    }

    /// Runs until virtual time `deadline` (or until nothing is left to do).
    pub fn run_until(&mut self, deadline: Instant) {
        self.drain(PeerId::A);
        self.drain(PeerId::B);
        while self.next_deadline().is_some_and(|t| t <= deadline) {
            if !self.step() {
                break;
            }
        }
        self.drain(PeerId::A);
        self.drain(PeerId::B);
        self.now = self.now.max(deadline);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.now + d;
        self.run_until(deadline);
    }

    /// Are both peers stable, connected, with matching negotiated credentials and no restart
    /// pending?
    pub fn settled(&self) -> bool {
        let (a, b) = (self.a(), self.b());
        a.signaling_state() == SignalingState::Stable
            && b.signaling_state() == SignalingState::Stable
            && a.connection_state() == PeerConnectionState::Connected
            && b.connection_state() == PeerConnectionState::Connected
            && matches!(
                a.ice_connection_state(),
                IceConnectionState::Connected | IceConnectionState::Completed
            )
            && !a.restart_pending()
            && !b.restart_pending()
            && self.credentials_match()
            && self.promoted_negotiated(self.a())
            && self.promoted_negotiated(self.b())
            && self.net.path_up()
    }

    /// Does every transport carry its traffic on its newest negotiated generation?
    fn promoted_negotiated(&self, s: &Session) -> bool {
        use crate::session::GenerationStatus;
        s.transports().iter().all(|t| {
            let newest_live = t
                .generations
                .iter()
                .rev()
                .find(|g| g.status == GenerationStatus::Live)
                .map(|g| g.generation);
            newest_live.is_none() || newest_live == t.active
        })
    }

    /// Do A's negotiated local credentials equal B's remote ones and vice versa, on every
    /// transport?
    pub fn credentials_match(&self) -> bool {
        let a = self.a().transports();
        let b = self.b().transports();
        let creds = |s: &Session, t| s.negotiated_credentials(t);
        let live_a: Vec<_> = a.iter().filter_map(|t| creds(self.a(), t.id)).collect();
        let live_b: Vec<_> = b.iter().filter_map(|t| creds(self.b(), t.id)).collect();
        !live_a.is_empty()
            && live_a.len() == live_b.len()
            && live_a
                .iter()
                .all(|(l, r)| live_b.iter().any(|(bl, br)| bl == r && br == l))
    }

    /// Runs until [`settled`](Self::settled) holds and the sessions have nothing due within a
    /// short horizon, or `max` virtual time passed. Returns whether it settled.
    pub fn run_until_settled(&mut self, max: Duration) -> bool {
        let deadline = self.now + max;
        loop {
            if self.settled() {
                // Let in-flight messages land, then check again.
                self.run_for(Duration::from_millis(500));
                if self.settled() {
                    return true;
                }
            }
            if self.now >= deadline {
                return false;
            }
            let before = self.now;
            let next = self.next_deadline().unwrap_or(deadline).min(deadline);
            if next <= before {
                if !self.step() {
                    self.now = deadline;
                }
            } else {
                self.run_until(next);
            }
        }
    }
}

/// Is `prev -> next` a transition JSEP allows (for some description type and side)?
/// One line about a signal message for the trace: its kind, and for descriptions the SDP
/// type, `o=` version and ICE ufrags.
fn summarize(msg: &SignalMessage) -> String {
    match msg {
        SignalMessage::Description { description } => {
            let version = description
                .sdp
                .lines()
                .find_map(|l| l.strip_prefix("o="))
                .and_then(|o| o.split_whitespace().nth(2))
                .unwrap_or("-");
            let mut ufrags: Vec<&str> = description
                .sdp
                .lines()
                .filter_map(|l| l.strip_prefix("a=ice-ufrag:"))
                .collect();
            ufrags.dedup();
            format!("{:?} v{version} ufrag {ufrags:?}", description.kind)
        }
        SignalMessage::Candidate { candidate } => format!(
            "candidate ufrag {:?}",
            candidate.username_fragment.as_deref().unwrap_or("-")
        ),
        other => format!("{other:?}"),
    }
}

fn legal_signaling_step(prev: SignalingState, next: SignalingState) -> bool {
    if next == SignalingState::Closed {
        return true;
    }
    // A polite peer's implicit rollback and the remote offer can be reported together.
    for side in [Side::Local, Side::Remote] {
        for kind in [
            SdpType::Offer,
            SdpType::Answer,
            SdpType::Pranswer,
            SdpType::Rollback,
        ] {
            if crate::signaling::transition(prev, side, kind) == Ok(next) {
                return true;
            }
        }
    }
    false
}

fn seed_bytes(seed: u64, salt: u64) -> [u8; 32] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = [0u8; 32];
    rng.fill_bytes(&mut out);
    out
}
