//! The session-level target: two `Session`s in session-core's simulator, driven by an arbitrary
//! sequence of application calls, network events, hostile signal messages and out-of-place
//! transport events (in the style of quinn's stream fuzzers).
//!
//! Invariants, after every operation: no panic; JSEP signaling transitions are legal and no
//! event follows `Closed` (the simulator's own checks); a closed session stays closed with every
//! state `Closed` and no timer. While every input is one a real peer and transport could produce
//! (no hostile message accepted, no out-of-place transport event), the simulated transport sees
//! no inconsistent command either, and once the signaling channel heals the pair converges
//! (with one application restart when the automatic ones ran out: `RestartPolicy::max_attempts`).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use session_core::candidate::Candidate;
use session_core::channel::DataChannelInit;
use session_core::sdp::{Direction, MediaKind};
use session_core::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use session_core::signaling::{SdpType, SignalingState};
use session_core::sim::{PeerId, Sim, SimConfig};
use session_core::state::{
    DtlsTransportState, IceConnectionState, IceTransportState, PeerConnectionState,
};
use session_core::transport::{Generation, TransportEvent, TransportId};

/// Real descriptions (Chromium), the base of hostile ones.
const FIXTURES: [&str; 6] = [
    include_str!("../../crates/session-core/tests/fixtures/chromium/offer-av-data.sdp"),
    include_str!("../../crates/session-core/tests/fixtures/chromium/answer-av-data.sdp"),
    include_str!("../../crates/session-core/tests/fixtures/chromium/offer-data-only.sdp"),
    include_str!("../../crates/session-core/tests/fixtures/chromium/answer-data-only.sdp"),
    include_str!("../../crates/session-core/tests/fixtures/chromium/offer-av-data-ice-restart.sdp"),
    include_str!(
        "../../crates/session-core/tests/fixtures/chromium/answer-av-data-ice-restart.sdp"
    ),
];

/// Operations per case (more make each execution slower without reaching new states).
const MAX_OPS: usize = 32;

fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Side {
    A,
    B,
}

impl Side {
    fn id(self) -> PeerId {
        match self {
            Side::A => PeerId::A,
            Side::B => PeerId::B,
        }
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Dir {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl From<Dir> for Direction {
    fn from(d: Dir) -> Self {
        match d {
            Dir::SendRecv => Direction::SendRecv,
            Dir::SendOnly => Direction::SendOnly,
            Dir::RecvOnly => Direction::RecvOnly,
            Dir::Inactive => Direction::Inactive,
        }
    }
}

/// A signal message no honest peer sent.
#[derive(Debug, Arbitrary)]
enum Hostile<'a> {
    /// Raw text through `handle_signal_json`.
    Json(&'a str),
    /// A description: a Chromium fixture with one line replaced (or none), any type.
    Description {
        kind: u8,
        fixture: u8,
        line: u8,
        replacement: Option<&'a str>,
    },
    /// A candidate, for a real ufrag of the receiver's remote side or an arbitrary one.
    Candidate {
        line: &'a str,
        mid: Option<&'a str>,
        index: Option<u16>,
        real_ufrag: bool,
        ufrag: Option<&'a str>,
    },
    EndOfCandidates {
        real_ufrag: bool,
        mid: Option<&'a str>,
    },
    Bye,
}

/// A transport event out of place: for an old or unknown generation, a state the simulated
/// network did not reach, a data channel nobody opened.
#[derive(Debug, Arbitrary)]
enum FakeTransport<'a> {
    Ice {
        t: u8,
        g: u8,
        state: u8,
    },
    Dtls {
        t: u8,
        state: u8,
    },
    Gathered {
        t: u8,
        g: u8,
    },
    LocalCandidate {
        t: u8,
        g: u8,
        line: &'a str,
    },
    FingerprintMismatch {
        t: u8,
    },
    ChannelOpen {
        stream_id: u16,
    },
    RemoteChannel {
        stream_id: u16,
        label: &'a str,
        ordered: bool,
    },
    ChannelClosed {
        stream_id: u16,
    },
}

#[derive(Debug, Arbitrary)]
enum Op<'a> {
    DataChannel {
        side: Side,
        label: u8,
        ordered: bool,
    },
    NegotiatedPair {
        id: u16,
    },
    AddTransceiver {
        side: Side,
        video: bool,
        dir: Dir,
    },
    SetDirection {
        side: Side,
        idx: u8,
        dir: Dir,
    },
    StopTransceiver {
        side: Side,
        idx: u8,
    },
    RestartIce {
        side: Side,
    },
    NetworkChanged {
        side: Side,
    },
    Link {
        up: bool,
    },
    Advance {
        ms: u16,
    },
    Close {
        side: Side,
    },
    Inject {
        to: Side,
        msg: Hostile<'a>,
    },
    Transport {
        to: Side,
        ev: FakeTransport<'a>,
    },
}

#[derive(Debug, Arbitrary)]
struct Case<'a> {
    seed: u64,
    /// 0: clean, 1: jittery (reordering, duplication), 2..: lossy.
    net: u8,
    warmup: bool,
    ops: Vec<Op<'a>>,
}

/// What the run did that may excuse the pair from converging.
#[derive(Debug, Default)]
struct Tainted {
    /// A hostile message was accepted, or a fake transport event given.
    any: bool,
    closed: [bool; 2],
    /// The side was seen closed: it must stay closed.
    seen_closed: [bool; 2],
}

/// Runs one case; see the module docs for the invariants.
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(case) = Case::arbitrary(&mut u) else {
        return;
    };
    let cfg = SimConfig {
        seed: case.seed,
        ..SimConfig::default()
    };
    let cfg = match case.net {
        0 => cfg,
        1 => SimConfig {
            signal_delay: (Duration::from_millis(1), Duration::from_millis(400)),
            signal_duplicate: 0.3,
            ..cfg
        },
        n => SimConfig {
            signal_delay: (Duration::from_millis(5), Duration::from_millis(300)),
            signal_loss: f64::from(n % 40) / 100.0,
            signal_duplicate: 0.2,
            ..cfg
        },
    };
    let mut sim = Sim::new(cfg, t0());
    let mut tainted = Tainted::default();
    let mut wants = case.warmup;
    if case.warmup {
        sim.a_mut()
            .create_data_channel("warmup", DataChannelInit::default())
            .expect("a new session takes a data channel");
        sim.run_until_settled(Duration::from_secs(60));
        check(&sim, &mut tainted, "warmup");
    }
    for (i, op) in case.ops.iter().take(MAX_OPS).enumerate() {
        wants |= apply(&mut sim, &mut tainted, op);
        check(&sim, &mut tainted, &format!("op {i} {op:?}"));
    }
    // The link comes back and the signaling channel heals: an untainted pair converges.
    sim.set_link(true);
    sim.set_signal_loss(0.0);
    let mut settled = sim.run_until_settled(Duration::from_secs(300));
    if !settled {
        // After `max_attempts` automatic restarts without a stable connection the default
        // policy stops restarting: then it is the application's turn, as on `failed`.
        let now = sim.now();
        for p in [PeerId::A, PeerId::B] {
            let s = &mut sim.peer_mut(p).session;
            if s.connection_state() != PeerConnectionState::Connected {
                s.restart_ice(now);
            }
        }
        settled = sim.run_until_settled(Duration::from_secs(300));
    }
    check(&sim, &mut tainted, "quiescence");
    let live_media = [PeerId::A, PeerId::B].iter().any(|&p| {
        sim.peer(p)
            .session
            .transceivers()
            .iter()
            .any(|t| !t.stopped)
    });
    if !tainted.any && !tainted.closed.iter().any(|&c| c) {
        if wants || live_media {
            assert!(
                settled,
                "the pair did not converge\n{case:#?}\n{}",
                sim.report()
            );
        } else {
            for p in [PeerId::A, PeerId::B] {
                let st = sim.peer(p).session.signaling_state();
                assert_eq!(
                    st,
                    SignalingState::Stable,
                    "{p:?} with nothing to negotiate"
                );
            }
        }
    }
}

/// Applies one operation; returns whether it asked for something to connect.
fn apply(sim: &mut Sim, tainted: &mut Tainted, op: &Op<'_>) -> bool {
    let now = sim.now();
    match *op {
        Op::DataChannel {
            side,
            label,
            ordered,
        } => {
            let init = DataChannelInit {
                ordered,
                ..Default::default()
            };
            let s = &mut sim.peer_mut(side.id()).session;
            return s.create_data_channel(&format!("dc{label}"), init).is_ok();
        }
        Op::NegotiatedPair { id } => {
            let init = DataChannelInit {
                negotiated: Some(id % 1024),
                ..Default::default()
            };
            let a = sim.a_mut().create_data_channel("neg", init.clone()).is_ok();
            let b = sim.b_mut().create_data_channel("neg", init).is_ok();
            if a != b {
                // One side already uses the id (for an in-band channel): not a clean pair.
                tainted.any = true;
            }
            return a && b;
        }
        Op::AddTransceiver { side, video, dir } => {
            let kind = if video {
                MediaKind::Video
            } else {
                MediaKind::Audio
            };
            let _ = sim
                .peer_mut(side.id())
                .session
                .add_transceiver(kind, dir.into());
        }
        Op::SetDirection { side, idx, dir } => {
            let s = &mut sim.peer_mut(side.id()).session;
            let ids: Vec<_> = s.transceivers().iter().map(|t| t.id).collect();
            if !ids.is_empty() {
                s.set_direction(ids[usize::from(idx) % ids.len()], dir.into());
            }
        }
        Op::StopTransceiver { side, idx } => {
            let s = &mut sim.peer_mut(side.id()).session;
            let ids: Vec<_> = s.transceivers().iter().map(|t| t.id).collect();
            if !ids.is_empty() {
                s.stop_transceiver(ids[usize::from(idx) % ids.len()]);
            }
        }
        Op::RestartIce { side } => sim.peer_mut(side.id()).session.restart_ice(now),
        Op::NetworkChanged { side } => sim.network_changed(side.id()),
        Op::Link { up } => sim.set_link(up),
        Op::Advance { ms } => sim.run_for(Duration::from_millis(u64::from(ms) * 4)),
        Op::Close { side } => {
            tainted.closed[side_index(side)] = true;
            sim.peer_mut(side.id()).session.close(now);
            sim.run_for(Duration::ZERO);
        }
        Op::Inject { to, ref msg } => {
            let accepted = inject(sim, to, msg, now);
            tainted.any |= accepted;
            sim.run_for(Duration::ZERO);
        }
        Op::Transport { to, ref ev } => {
            tainted.any = true;
            let ev = fake_transport(sim, to, ev);
            sim.peer_mut(to.id())
                .session
                .handle_transport_event(ev, now);
            sim.run_for(Duration::ZERO);
        }
    }
    false
}

fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// Delivers a hostile message; returns whether the session accepted it.
fn inject(sim: &mut Sim, to: Side, msg: &Hostile<'_>, now: Instant) -> bool {
    let session = &mut sim.peer_mut(to.id()).session;
    let remote_ufrag = || {
        session
            .transports()
            .iter()
            .flat_map(|t| t.generations.iter().rev())
            .find_map(|g| g.remote_ufrag.clone())
    };
    let msg = match *msg {
        Hostile::Json(text) => return session.handle_signal_json(text, now).is_ok(),
        Hostile::Description {
            kind,
            fixture,
            line,
            replacement,
        } => {
            let base = FIXTURES[usize::from(fixture) % FIXTURES.len()];
            let mut lines: Vec<&str> = base.lines().collect();
            if let Some(r) = replacement {
                let at = usize::from(line) % lines.len();
                lines[at] = r;
            }
            let kind = match kind % 4 {
                0 => SdpType::Offer,
                1 => SdpType::Answer,
                2 => SdpType::Pranswer,
                _ => SdpType::Rollback,
            };
            SignalMessage::Description {
                description: SessionDescription {
                    kind,
                    sdp: lines.join("\r\n") + "\r\n",
                },
            }
        }
        Hostile::Candidate {
            line,
            mid,
            index,
            real_ufrag,
            ufrag,
        } => SignalMessage::Candidate {
            candidate: IceCandidateInit {
                candidate: line.to_owned(),
                sdp_mid: mid.map(str::to_owned),
                sdp_m_line_index: index,
                username_fragment: if real_ufrag {
                    remote_ufrag()
                } else {
                    ufrag.map(str::to_owned)
                },
            },
        },
        Hostile::EndOfCandidates { real_ufrag, mid } => SignalMessage::EndOfCandidates {
            username_fragment: if real_ufrag { remote_ufrag() } else { None },
            sdp_mid: mid.map(str::to_owned),
        },
        Hostile::Bye => SignalMessage::Bye { reason: None },
    };
    session.handle_signal(msg, now).is_ok()
}

/// Builds an out-of-place transport event, for the session's real transports and generations
/// where it has any (so that the event is not simply ignored).
fn fake_transport(sim: &Sim, to: Side, ev: &FakeTransport<'_>) -> TransportEvent {
    let transports = sim.peer(to.id()).session.transports();
    let ids = |t: u8, g: u8| -> (TransportId, Generation) {
        match transports.get(usize::from(t) % transports.len().max(1)) {
            Some(info) if !info.generations.is_empty() => {
                let gen = &info.generations[usize::from(g) % info.generations.len()];
                (info.id, gen.generation)
            }
            Some(info) => (info.id, Generation(u32::from(g))),
            None => (TransportId(u32::from(t)), Generation(u32::from(g))),
        }
    };
    match *ev {
        FakeTransport::Ice { t, g, state } => {
            let (transport, generation) = ids(t, g);
            let state = [
                IceTransportState::New,
                IceTransportState::Checking,
                IceTransportState::Connected,
                IceTransportState::Completed,
                IceTransportState::Disconnected,
                IceTransportState::Failed,
                IceTransportState::Closed,
            ][usize::from(state) % 7];
            TransportEvent::IceStateChanged {
                transport,
                generation,
                state,
            }
        }
        FakeTransport::Dtls { t, state } => {
            let (transport, _) = ids(t, 0);
            let state = [
                DtlsTransportState::New,
                DtlsTransportState::Connecting,
                DtlsTransportState::Connected,
                DtlsTransportState::Closed,
                DtlsTransportState::Failed,
            ][usize::from(state) % 5];
            TransportEvent::DtlsStateChanged { transport, state }
        }
        FakeTransport::Gathered { t, g } => {
            let (transport, generation) = ids(t, g);
            TransportEvent::GatheringComplete {
                transport,
                generation,
            }
        }
        FakeTransport::LocalCandidate { t, g, line } => {
            let (transport, generation) = ids(t, g);
            match line.parse::<Candidate>() {
                Ok(candidate) => TransportEvent::LocalCandidate {
                    transport,
                    generation,
                    candidate,
                },
                Err(_) => TransportEvent::GatheringComplete {
                    transport,
                    generation,
                },
            }
        }
        FakeTransport::FingerprintMismatch { t } => TransportEvent::FingerprintMismatch {
            transport: ids(t, 0).0,
        },
        FakeTransport::ChannelOpen { stream_id } => TransportEvent::DataChannelOpen { stream_id },
        FakeTransport::RemoteChannel {
            stream_id,
            label,
            ordered,
        } => TransportEvent::RemoteDataChannel {
            stream_id,
            label: label.to_owned(),
            init: DataChannelInit {
                ordered,
                ..Default::default()
            },
        },
        FakeTransport::ChannelClosed { stream_id } => {
            TransportEvent::DataChannelClosed { stream_id }
        }
    }
}

/// The safety invariants (see the module docs).
fn check(sim: &Sim, tainted: &mut Tainted, ctx: &str) {
    for v in sim.violations() {
        let always = v.contains("illegal signaling transition") || v.contains("after Closed");
        assert!(
            !always && tainted.any,
            "{ctx}: simulator invariant violated: {v}\n{}",
            sim.report()
        );
    }
    for (i, p) in [PeerId::A, PeerId::B].into_iter().enumerate() {
        let s = &sim.peer(p).session;
        let _ = (s.ice_gathering_state(), s.transports(), s.transceivers());
        if tainted.seen_closed[i] || s.is_closed() {
            tainted.seen_closed[i] = true;
            assert!(s.is_closed(), "{ctx}: {p:?} was closed and is not any more");
            assert!(
                s.signaling_state() == SignalingState::Closed
                    && s.connection_state() == PeerConnectionState::Closed
                    && s.ice_connection_state() == IceConnectionState::Closed
                    && s.poll_timeout().is_none(),
                "{ctx}: {p:?} closed but signaling {:?}, connection {:?}, ice {:?}, timeout {:?}",
                s.signaling_state(),
                s.connection_state(),
                s.ice_connection_state(),
                s.poll_timeout()
            );
        }
    }
}

/// The operations a `session` input decodes to (`cargo run --manifest-path fuzz/Cargo.toml
/// --example session_case -- FILE`), for reading a saved crash.
pub fn describe_session_case(data: &[u8]) -> String {
    match Case::arbitrary(&mut Unstructured::new(data)) {
        Ok(case) => format!("{case:#?}"),
        Err(e) => format!("not a case: {e}"),
    }
}
