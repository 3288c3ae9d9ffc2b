//! JSEP through the public API with two `Negotiation::Manual` sessions wired by hand: offer/answer,
//! pranswer, rollback, ICE restart (full and partial), trickle, configuration, bad input, data
//! channels and close. Every output queue is drained by the test itself.

use std::time::{Duration, Instant};

#[path = "support/clock.rs"]
mod clock;
use clock::t0;

use proptest::prelude::*;
use session_core::candidate::Candidate;
use session_core::channel::{DataChannelInit, DataChannelState};
use session_core::config::{
    BundlePolicy, Config, ConfigUpdate, IceServer, IceTransportPolicy, Negotiation,
};
use session_core::error::{ConfigError, PeerError, SessionError};
use session_core::ice::{is_ice_char, IceCredentials};
use session_core::policy::{RestartPolicy, RestartReason};
use session_core::sdp::{self, Direction, Fingerprint, MediaKind, SdpError, SessionDesc};
use session_core::session::{
    CandidateDropReason, CandidateOutcome, ClosedBy, Event, GenerationStatus, OfferOptions, Session,
};
use session_core::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use session_core::signaling::{SdpType, SignalingState};
use session_core::state::IceTransportState;
use session_core::transport::{
    DtlsRole, Generation, IceRole, TransportCommand, TransportEvent, TransportId,
};

// ----- harness -----

/// One manual session and everything it emitted since the last `drain`.
struct Peer {
    s: Session,
    cmds: Vec<TransportCommand>,
    signals: Vec<SignalMessage>,
    events: Vec<Event>,
}

impl Peer {
    fn new(cfg: Config, now: Instant) -> Self {
        Self {
            s: Session::new(cfg, now),
            cmds: Vec::new(),
            signals: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Moves every queued output into the peer's vectors (appending).
    fn pump(&mut self) {
        while let Some(c) = self.s.poll_transport() {
            self.cmds.push(c);
        }
        while let Some(m) = self.s.poll_signal() {
            self.signals.push(m);
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
    }

    /// Pumps, then takes everything emitted so far.
    fn drain(&mut self) -> (Vec<TransportCommand>, Vec<SignalMessage>, Vec<Event>) {
        self.pump();
        (
            std::mem::take(&mut self.cmds),
            std::mem::take(&mut self.signals),
            std::mem::take(&mut self.events),
        )
    }

    fn cmds(&mut self) -> Vec<TransportCommand> {
        self.drain().0
    }

    fn events(&mut self) -> Vec<Event> {
        self.drain().2
    }
}

fn fingerprint(byte: u8) -> Fingerprint {
    Fingerprint {
        algorithm: "sha-256".into(),
        value: vec![byte; 32],
    }
}

fn manual_cfg(seed: u8) -> Config {
    let mut c = Config::new([seed; 32], vec![fingerprint(seed)], false);
    c.negotiation = Negotiation::Manual;
    c.restart_policy = RestartPolicy::manual();
    c
}

fn compat_cfg(seed: u8) -> Config {
    let mut c = manual_cfg(seed);
    c.bundle_policy = BundlePolicy::MaxCompat;
    c
}

/// Two manual sessions and a virtual clock.
struct Pair {
    a: Peer,
    b: Peer,
    now: Instant,
}

impl Pair {
    fn new() -> Self {
        Self::with(manual_cfg(0xA), manual_cfg(0xB))
    }

    fn with(a: Config, b: Config) -> Self {
        let now = t0();
        Self {
            a: Peer::new(a, now),
            b: Peer::new(b, now),
            now,
        }
    }

    fn tick(&mut self, d: Duration) -> Instant {
        self.now += d;
        self.now
    }

    /// A full exchange: `a` offers (with `opts`), `b` answers. Returns (offer, answer).
    fn exchange_with(
        &mut self,
        opts: OfferOptions,
        a_offers: bool,
    ) -> (SessionDescription, SessionDescription) {
        let now = self.tick(Duration::from_millis(1));
        let (off, ans) = if a_offers {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        };
        let offer = off.s.create_offer(opts, now).expect("create_offer");
        off.s
            .set_local_description(offer.clone(), now)
            .expect("set_local offer");
        ans.s
            .set_remote_description(offer.clone(), now)
            .expect("set_remote offer");
        let answer = ans.s.create_answer(now).expect("create_answer");
        ans.s
            .set_local_description(answer.clone(), now)
            .expect("set_local answer");
        off.s
            .set_remote_description(answer.clone(), now)
            .expect("set_remote answer");
        off.pump();
        ans.pump();
        (offer, answer)
    }

    fn exchange(&mut self) -> (SessionDescription, SessionDescription) {
        self.exchange_with(OfferOptions::default(), true)
    }

    /// Reports every live, not yet connected generation with remote credentials as connected,
    /// on both sides.
    fn connect_all(&mut self) {
        let now = self.tick(Duration::from_millis(1));
        for p in [&mut self.a, &mut self.b] {
            for t in p.s.transports() {
                for g in &t.generations {
                    if g.status == GenerationStatus::Live
                        && g.remote_ufrag.is_some()
                        && !g.ever_connected
                    {
                        p.s.handle_transport_event(
                            TransportEvent::IceStateChanged {
                                transport: t.id,
                                generation: g.generation,
                                state: IceTransportState::Connected,
                            },
                            now,
                        );
                    }
                }
            }
            p.pump();
        }
    }
}

fn desc(kind: SdpType, sdp: &str) -> SessionDescription {
    SessionDescription {
        kind,
        sdp: sdp.to_owned(),
    }
}

fn rollback() -> SessionDescription {
    desc(SdpType::Rollback, "")
}

fn parse(d: &SessionDescription) -> SessionDesc {
    sdp::parse(&d.sdp).unwrap_or_else(|e| panic!("our own SDP must parse: {e}\n{}", d.sdp))
}

fn ice_of(d: &SessionDescription) -> Vec<(String, IceCredentials)> {
    parse(d)
        .media
        .iter()
        .filter(|m| m.port != 0)
        .map(|m| (m.mid.clone(), m.ice.clone().expect("ice")))
        .collect()
}

/// The credentials of the first accepted m-section.
fn first_ice(d: &SessionDescription) -> IceCredentials {
    ice_of(d).remove(0).1
}

fn host_candidate(port: u16) -> String {
    format!("candidate:1 1 udp 2122260223 192.0.2.1 {port} typ host")
}

fn cand(line: &str, mid: Option<&str>, ufrag: Option<&str>) -> IceCandidateInit {
    IceCandidateInit {
        candidate: line.to_owned(),
        sdp_mid: mid.map(str::to_owned),
        sdp_m_line_index: None,
        username_fragment: ufrag.map(str::to_owned),
    }
}

/// Replaces the value of every `a=<attr>:` line.
fn replace_attr(sdp: &str, attr: &str, value: &str) -> String {
    let prefix = format!("a={attr}:");
    sdp.split("\r\n")
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn drop_lines(sdp: &str, prefix: &str) -> String {
    sdp.split("\r\n")
        .filter(|l| !l.starts_with(prefix))
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn is_invalid_state(r: &Result<(), SessionError>) -> bool {
    matches!(r, Err(SessionError::InvalidState(_)))
}

fn signaling_changes(events: &[Event]) -> Vec<SignalingState> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::SignalingStateChange(s) => Some(*s),
            _ => None,
        })
        .collect()
}

fn start_generations(cmds: &[TransportCommand]) -> Vec<(TransportId, Generation, IceCredentials)> {
    cmds.iter()
        .filter_map(|c| match c {
            TransportCommand::StartGeneration {
                transport,
                generation,
                local,
                ..
            } => Some((*transport, *generation, local.clone())),
            _ => None,
        })
        .collect()
}

fn valid_fresh_creds(c: &IceCredentials) {
    assert!(
        c.ufrag.len() >= 4 && c.ufrag.chars().all(is_ice_char),
        "ufrag {:?}",
        c.ufrag
    );
    assert!(
        c.pwd.len() >= 22 && c.pwd.chars().all(is_ice_char),
        "pwd of {} chars",
        c.pwd.len()
    );
}

/// A pair with audio + video + data, negotiated once (A offered), not connected.
fn av_data_pair() -> Pair {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.exchange();
    p.a.drain();
    p.b.drain();
    p
}

/// A data-only pair negotiated once (A offered) and connected.
fn connected_data_pair() -> Pair {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.exchange();
    p.connect_all();
    p.a.drain();
    p.b.drain();
    p
}

// ----- full offer/answer -----

#[test]
fn full_offer_answer_audio_video_data() {
    let mut p = Pair::new();
    let now = p.now;
    let audio = p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let video = p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    let chat =
        p.a.s
            .create_data_channel("chat", DataChannelInit::default())
            .unwrap();
    // B sends audio only; its video transceiver is created by the remote offer.
    let b_audio = p.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let (_, _, ev) = p.a.drain();
    assert!(ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    p.b.drain();

    // A: create and apply the offer.
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(offer.kind, SdpType::Offer);
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    assert!(p.a.cmds().is_empty(), "create_offer changes nothing");
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::HaveLocalOffer]);
    assert!(
        matches!(
            cmds.as_slice(),
            [TransportCommand::StartGeneration {
                transport: TransportId(0),
                generation: Generation(0),
                role: IceRole::Controlling,
                ..
            }]
        ),
        "{cmds:?}"
    );
    assert_eq!(
        p.a.s.local_description().map(|d| d.kind),
        Some(SdpType::Offer)
    );
    assert!(p.a.s.current_local_description().is_none());

    let parsed = parse(&offer);
    let mids: Vec<_> = parsed.media.iter().map(|m| m.mid.as_str()).collect();
    assert_eq!(mids, ["0", "1", "2"]);
    let kinds: Vec<_> = parsed.media.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [MediaKind::Audio, MediaKind::Video, MediaKind::Application]
    );
    assert_eq!(parsed.bundle_groups, vec![vec!["0", "1", "2"]]);
    for m in &parsed.media {
        assert_eq!(m.setup, Some(sdp::Setup::ActPass));
        assert_eq!(m.fingerprints, vec![fingerprint(0xA)]);
        assert!(m.trickle);
    }
    let tr = p.a.s.transceivers();
    assert_eq!(tr[audio.index() as usize].mid.as_deref(), Some("0"));
    assert_eq!(tr[video.index() as usize].mid.as_deref(), Some("1"));
    assert!(tr.iter().all(|t| t.current_direction.is_none()));

    // B: apply the offer and answer it.
    p.b.s.set_remote_description(offer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveRemoteOffer);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(
        signaling_changes(&ev),
        vec![SignalingState::HaveRemoteOffer]
    );
    assert!(cmds.is_empty(), "a remote offer starts nothing: {cmds:?}");
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Track { kind: MediaKind::Audio, mid, .. } if mid == "0")));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Track { kind: MediaKind::Video, mid, .. } if mid == "1")));
    let answer = p.b.s.create_answer(now).unwrap();
    assert_eq!(answer.kind, SdpType::Answer);
    let pa = parse(&answer);
    assert_eq!(
        pa.media.iter().map(|m| m.mid.as_str()).collect::<Vec<_>>(),
        ["0", "1", "2"]
    );
    assert!(pa.media.iter().all(|m| m.setup == Some(sdp::Setup::Active)));
    assert_eq!(pa.bundle_groups, vec![vec!["0", "1", "2"]]);
    assert_eq!(pa.media[0].direction, Direction::SendRecv);
    assert_eq!(pa.media[1].direction, Direction::RecvOnly);
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    let seq: Vec<&str> = cmds.iter().map(cmd_name).collect();
    assert_eq!(
        seq,
        [
            "StartGeneration",
            "SetRemoteCredentials",
            "StartDtls",
            "StartSctp"
        ],
        "{cmds:?}"
    );
    assert!(matches!(
        &cmds[0],
        TransportCommand::StartGeneration {
            role: IceRole::Controlled,
            ..
        }
    ));
    assert!(matches!(
        &cmds[1],
        TransportCommand::SetRemoteCredentials { remote, .. } if *remote == first_ice(&offer)
    ));
    assert!(matches!(
        &cmds[2],
        TransportCommand::StartDtls { role: DtlsRole::Client, remote_fingerprints, .. }
            if *remote_fingerprints == vec![fingerprint(0xA)]
    ));
    assert!(matches!(
        &cmds[3],
        TransportCommand::StartSctp {
            local_port: 5000,
            remote_port: 5000,
            max_message_size: 262_144,
            ..
        }
    ));
    assert_eq!(p.b.s.dtls_role(), Some(DtlsRole::Client));

    // A: apply the answer.
    p.a.s.set_remote_description(answer.clone(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    let seq: Vec<&str> = cmds.iter().map(cmd_name).collect();
    assert_eq!(
        seq,
        [
            "SetRemoteCredentials",
            "StartDtls",
            "StartSctp",
            "OpenDataChannel"
        ],
        "{cmds:?}"
    );
    assert!(matches!(
        &cmds[0],
        TransportCommand::SetRemoteCredentials { generation: Generation(0), remote, .. }
            if *remote == first_ice(&answer)
    ));
    assert!(matches!(
        &cmds[1],
        TransportCommand::StartDtls { role: DtlsRole::Server, remote_fingerprints, .. }
            if *remote_fingerprints == vec![fingerprint(0xB)]
    ));
    // The offerer is the DTLS server: odd stream ids.
    assert!(matches!(
        &cmds[3],
        TransportCommand::OpenDataChannel { channel, stream_id: 1, label, .. }
            if *channel == chat && label == "chat"
    ));
    assert_eq!(p.a.s.dtls_role(), Some(DtlsRole::Server));
    assert_eq!(p.a.s.data_channel(chat).unwrap().stream_id, Some(1));

    // Descriptions and transceivers.
    assert!(p.a.s.current_local_description().is_some());
    assert!(p.a.s.current_remote_description().is_some());
    assert_eq!(p.a.s.remote_description().unwrap().sdp, answer.sdp);
    assert_eq!(p.b.s.remote_description().unwrap().sdp, offer.sdp);
    let a_tr = p.a.s.transceivers();
    assert_eq!(a_tr[0].current_direction, Some(Direction::SendRecv));
    assert_eq!(a_tr[1].current_direction, Some(Direction::SendOnly));
    let b_tr = p.b.s.transceivers();
    assert_eq!(b_tr.len(), 2);
    assert_eq!(b_tr[b_audio.index() as usize].mid.as_deref(), Some("0"));
    assert_eq!(b_tr[0].current_direction, Some(Direction::SendRecv));
    assert_eq!(b_tr[1].kind, MediaKind::Video);
    assert_eq!(b_tr[1].mid.as_deref(), Some("1"));
    assert_eq!(b_tr[1].current_direction, Some(Direction::RecvOnly));

    // Negotiated credentials are crossed.
    let (al, ar) = p.a.s.negotiated_credentials(TransportId(0)).unwrap();
    let (bl, br) = p.b.s.negotiated_credentials(TransportId(0)).unwrap();
    assert_eq!((al, ar), (br, bl));

    // Nothing more to negotiate.
    assert!(!p.a.events().contains(&Event::NegotiationNeeded));
    assert!(!p.a.s.restart_pending());
}

fn cmd_name(c: &TransportCommand) -> &'static str {
    match c {
        TransportCommand::StartGeneration { .. } => "StartGeneration",
        TransportCommand::SetRemoteCredentials { .. } => "SetRemoteCredentials",
        TransportCommand::AddRemoteCandidate { .. } => "AddRemoteCandidate",
        TransportCommand::RemoteEndOfCandidates { .. } => "RemoteEndOfCandidates",
        TransportCommand::StartDtls { .. } => "StartDtls",
        TransportCommand::PromoteGeneration { .. } => "PromoteGeneration",
        TransportCommand::RetireGeneration { .. } => "RetireGeneration",
        TransportCommand::StartSctp { .. } => "StartSctp",
        TransportCommand::OpenDataChannel { .. } => "OpenDataChannel",
        TransportCommand::CloseDataChannel { .. } => "CloseDataChannel",
        TransportCommand::Close => "Close",
        _ => "other",
    }
}

// ----- pranswer, rollback, illegal transitions -----

#[test]
fn pranswer_then_answer_on_both_sides() {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.a.drain();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    p.a.drain();
    p.b.drain();

    // B: provisional answer.
    let answer = p.b.s.create_answer(now).unwrap();
    let pranswer = desc(SdpType::Pranswer, &answer.sdp);
    p.b.s.set_local_description(pranswer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveLocalPranswer);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(
        signaling_changes(&ev),
        vec![SignalingState::HaveLocalPranswer]
    );
    assert_eq!(start_generations(&cmds).len(), 1, "{cmds:?}");
    assert!(p.b.s.current_local_description().is_none());
    assert_eq!(
        p.b.s.local_description().map(|d| d.kind),
        Some(SdpType::Pranswer)
    );

    // A: provisional answer as remote.
    p.a.s.set_remote_description(pranswer.clone(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveRemotePranswer);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(
        signaling_changes(&ev),
        vec![SignalingState::HaveRemotePranswer]
    );
    assert!(
        cmds.iter()
            .any(|c| matches!(c, TransportCommand::SetRemoteCredentials { .. })),
        "{cmds:?}"
    );
    assert!(p.a.s.current_remote_description().is_none());
    // A second pranswer is allowed in have-remote-pranswer.
    p.a.s.set_remote_description(pranswer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveRemotePranswer);
    // Rollback is not allowed in a pranswer state (W3C InvalidStateError).
    assert!(is_invalid_state(
        &p.a.s.set_remote_description(rollback(), now)
    ));
    assert!(is_invalid_state(
        &p.b.s.set_local_description(rollback(), now)
    ));

    // B: final answer (same credentials as the pranswer: no second generation).
    let answer = p.b.s.create_answer(now).unwrap();
    assert_eq!(first_ice(&answer), {
        let d = p.b.s.local_description().unwrap();
        first_ice(&d)
    });
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(start_generations(&cmds).is_empty(), "{cmds:?}");
    assert!(p.b.s.current_local_description().is_some());

    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(cmds
        .iter()
        .any(|c| matches!(c, TransportCommand::StartSctp { .. })));
    assert_eq!(
        cmds.iter()
            .filter(|c| matches!(c, TransportCommand::StartDtls { .. }))
            .count(),
        0,
        "DTLS already started with the pranswer: {cmds:?}"
    );
    assert!(p.a.s.current_local_description().is_some());
    assert!(p.a.s.current_remote_description().is_some());
    let (al, ar) = p.a.s.negotiated_credentials(TransportId(0)).unwrap();
    let (bl, br) = p.b.s.negotiated_credentials(TransportId(0)).unwrap();
    assert_eq!((al, ar), (br, bl));
}

#[test]
fn rollback_of_a_local_offer() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let before = p.a.s.local_description().unwrap();
    p.a.s.restart_ice(now);
    assert!(p.a.s.restart_pending());
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let restart_creds = first_ice(&offer);
    assert_ne!(restart_creds, first_ice(&before));
    p.a.s.set_local_description(offer, now).unwrap();
    let (cmds, _, _) = p.a.drain();
    let started = start_generations(&cmds);
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].1, Generation(1));

    p.a.s.set_local_description(rollback(), now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(
        cmds.contains(&TransportCommand::RetireGeneration {
            transport: TransportId(0),
            generation: Generation(1)
        }),
        "the rolled-back offer's generation is retired: {cmds:?}"
    );
    assert_eq!(p.a.s.local_description().unwrap().sdp, before.sdp);
    // The restart intent survives the rollback.
    assert!(p.a.s.restart_pending());
    // The next offer carries fresh credentials, neither the old nor the rolled-back ones.
    let next = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let creds = first_ice(&next);
    valid_fresh_creds(&creds);
    assert_ne!(creds, first_ice(&before));
    assert_ne!(creds, restart_creds);
    // And it completes.
    p.a.s.set_local_description(next.clone(), now).unwrap();
    p.b.s.set_remote_description(next, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert!(!p.a.s.restart_pending());
    assert_eq!(
        p.a.s.negotiated_credentials(TransportId(0)).unwrap().0,
        creds
    );
}

#[test]
fn rollback_of_a_remote_offer() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_local = p.b.s.local_description().unwrap();
    let a_remote = p.b.s.remote_description().unwrap();
    // A restarts; B applies the offer and then rolls it back.
    let offer =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer.clone(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveRemoteOffer);
    p.b.drain();
    p.b.s.set_remote_description(rollback(), now).unwrap();
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    let (cmds, _, ev) = p.b.drain();
    assert_eq!(signaling_changes(&ev), vec![SignalingState::Stable]);
    assert!(start_generations(&cmds).is_empty());
    assert_eq!(p.b.s.remote_description().unwrap().sdp, a_remote.sdp);
    assert_eq!(p.b.s.local_description().unwrap().sdp, b_local.sdp);
    // Nothing left to negotiate on B's side after the rollback.
    assert!(!ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    assert!(!p.b.s.restart_pending());
    // Candidates of the rolled-back offer's generation are stale.
    let ufrag = first_ice(&offer).ufrag;
    let out =
        p.b.s
            .add_ice_candidate(cand(&host_candidate(1000), Some("0"), Some(&ufrag)), now)
            .unwrap();
    assert_eq!(
        out,
        CandidateOutcome::Dropped(CandidateDropReason::RetiredGeneration)
    );
    // The same offer can be applied again and answered.
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    assert_ne!(first_ice(&answer), first_ice(&b_local), "remote restart");
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn rollback_of_a_first_remote_offer_leaves_no_transceivers_behind() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    assert_eq!(p.b.s.transceivers().len(), 2);
    p.b.drain();
    p.b.s.set_remote_description(rollback(), now).unwrap();
    let ev = p.b.events();
    // W3C: transceivers created by applying the rolled-back remote offer are removed (and
    // must not make the application negotiate).
    assert!(
        p.b.s.transceivers().is_empty(),
        "{:?}",
        p.b.s.transceivers()
    );
    assert!(!ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    assert!(p.b.s.remote_description().is_none());
}

#[test]
fn create_answer_in_the_wrong_state() {
    let mut p = Pair::new();
    let now = p.now;
    for state in ["stable", "have-local-offer"] {
        let r = p.a.s.create_answer(now);
        assert!(
            matches!(
                r,
                Err(SessionError::InvalidState(ref t))
                    if t.kind == SdpType::Answer
            ),
            "{state}: {r:?}"
        );
        if state == "stable" {
            let o = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
            p.a.s.set_local_description(o, now).unwrap();
        }
    }
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
}

#[test]
fn munged_local_description_is_invalid_modification() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    let now = p.now;
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let munged = desc(
        SdpType::Offer,
        &offer.sdp.replace("a=sendrecv", "a=sendonly"),
    );
    assert_ne!(munged.sdp, offer.sdp);
    assert!(matches!(
        p.a.s.set_local_description(munged, now),
        Err(SessionError::InvalidModification(_))
    ));
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    assert!(p.a.cmds().is_empty());
    // The unmodified offer (line endings do not matter) still applies.
    let lf = desc(SdpType::Offer, &offer.sdp.replace("\r\n", "\n"));
    p.a.s.set_local_description(lf, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);

    // Same for a munged answer.
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    let munged = desc(
        SdpType::Answer,
        &replace_attr(&answer.sdp, "ice-pwd", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    );
    assert!(matches!(
        p.b.s.set_local_description(munged, now),
        Err(SessionError::InvalidModification(_))
    ));
    assert_eq!(p.b.s.signaling_state(), SignalingState::HaveRemoteOffer);
    p.b.s.set_local_description(answer, now).unwrap();
    // An empty SDP means "the one just created" (parameterless setLocalDescription).
    let mut q = Pair::new();
    q.a.s
        .create_data_channel("x", DataChannelInit::default())
        .unwrap();
    q.a.s
        .set_local_description(desc(SdpType::Offer, ""), now)
        .unwrap();
    assert_eq!(q.a.s.signaling_state(), SignalingState::HaveLocalOffer);
}

/// Brings a fresh pair's `a` into `state` (with `b` as the other side).
fn pair_in(state: SignalingState) -> Pair {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    p.b.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.now;
    match state {
        SignalingState::Stable => {}
        SignalingState::HaveLocalOffer | SignalingState::HaveRemotePranswer => {
            let o = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
            p.a.s.set_local_description(o.clone(), now).unwrap();
            if state == SignalingState::HaveRemotePranswer {
                p.b.s.set_remote_description(o, now).unwrap();
                let ans = p.b.s.create_answer(now).unwrap();
                p.a.s
                    .set_remote_description(desc(SdpType::Pranswer, &ans.sdp), now)
                    .unwrap();
            }
        }
        SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer => {
            let o = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
            p.a.s.set_remote_description(o, now).unwrap();
            if state == SignalingState::HaveLocalPranswer {
                let ans = p.a.s.create_answer(now).unwrap();
                p.a.s
                    .set_local_description(desc(SdpType::Pranswer, &ans.sdp), now)
                    .unwrap();
            }
        }
        SignalingState::Closed => p.a.s.close(now),
        _ => unreachable!(),
    }
    assert_eq!(p.a.s.signaling_state(), state);
    p.a.drain();
    p
}

#[test]
fn every_illegal_transition_is_invalid_state_and_changes_nothing() {
    use SdpType::{Answer, Offer, Pranswer, Rollback};
    use SignalingState::*;
    let states = [
        Stable,
        HaveLocalOffer,
        HaveRemoteOffer,
        HaveLocalPranswer,
        HaveRemotePranswer,
    ];
    let mut illegal = 0;
    for state in states {
        for local in [true, false] {
            for kind in [Offer, Pranswer, Answer, Rollback] {
                let legal = session_core::signaling::transition(
                    state,
                    if local {
                        session_core::signaling::Side::Local
                    } else {
                        session_core::signaling::Side::Remote
                    },
                    kind,
                )
                .is_ok();
                if legal {
                    continue;
                }
                illegal += 1;
                let mut p = pair_in(state);
                let now = p.now;
                // A description that would be valid in the right state.
                let sdp = match (local, kind) {
                    (_, Rollback) => String::new(),
                    (true, _) => String::new(),
                    (false, Offer) => {
                        let mut q = Pair::new();
                        q.b.s
                            .create_data_channel("c", DataChannelInit::default())
                            .unwrap();
                        q.b.s
                            .create_offer(OfferOptions::default(), now)
                            .unwrap()
                            .sdp
                    }
                    (false, _) => {
                        // An answer to one of A's offers (whatever its state).
                        let mut q = pair_in(Stable);
                        let o = q.a.s.create_offer(OfferOptions::default(), now).unwrap();
                        q.b.s.set_remote_description(o, now).unwrap();
                        q.b.s.create_answer(now).unwrap().sdp
                    }
                };
                let before = p.a.s.local_description();
                let before_remote = p.a.s.remote_description();
                let d = desc(kind, &sdp);
                let r = if local {
                    p.a.s.set_local_description(d, now)
                } else {
                    p.a.s.set_remote_description(d, now)
                };
                assert!(
                    is_invalid_state(&r),
                    "{state:?} local={local} {kind:?}: {r:?}"
                );
                assert_eq!(p.a.s.signaling_state(), state);
                assert_eq!(p.a.s.local_description(), before);
                assert_eq!(p.a.s.remote_description(), before_remote);
                let (cmds, _, ev) = p.a.drain();
                assert!(cmds.is_empty(), "{state:?} {kind:?}: {cmds:?}");
                assert!(signaling_changes(&ev).is_empty());
            }
        }
    }
    assert_eq!(illegal, 40 - 16);
}

#[test]
fn operations_after_close_are_closed_errors() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.close(now);
    p.a.drain();
    let closed = |r: Result<(), SessionError>| assert_eq!(r, Err(SessionError::Closed));
    closed(p.a.s.create_offer(OfferOptions::default(), now).map(|_| ()));
    closed(p.a.s.create_answer(now).map(|_| ()));
    closed(p.a.s.set_local_description(desc(SdpType::Offer, ""), now));
    closed(p.a.s.set_local_description(rollback(), now));
    closed(p.a.s.set_remote_description(offer.clone(), now));
    closed(p.a.s.set_remote_description(rollback(), now));
    closed(
        p.a.s
            .add_ice_candidate(cand(&host_candidate(9), Some("0"), None), now)
            .map(|_| ()),
    );
    closed(
        p.a.s
            .create_data_channel("late", DataChannelInit::default())
            .map(|_| ()),
    );
    closed(p.a.s.set_configuration(
        ConfigUpdate {
            ice_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            bundle_policy: BundlePolicy::MaxBundle,
            certificate_fingerprints: vec![fingerprint(0xA)],
        },
        now,
    ));
    assert_eq!(
        SessionError::Closed.fault(),
        session_core::error::Fault::Closed
    );
    // Inputs that cannot fail are ignored.
    p.a.s.restart_ice(now);
    p.a.s.restart_ice_transport("0", now);
    p.a.s.handle_timeout(now + Duration::from_secs(100));
    p.a.s
        .handle_transport_event(TransportEvent::NetworkChanged, now);
    assert_eq!(
        p.a.s
            .handle_signal(SignalMessage::Description { description: offer }, now),
        Ok(())
    );
    assert_eq!(p.a.s.signaling_state(), SignalingState::Closed);
    assert!(!p.a.s.restart_pending());
    let (cmds, sig, ev) = p.a.drain();
    assert!(
        cmds.is_empty() && sig.is_empty() && ev.is_empty(),
        "{cmds:?} {sig:?} {ev:?}"
    );
    assert_eq!(p.a.s.poll_timeout(), None);
}

// ----- ICE restart -----

#[test]
fn ice_restart_offer_has_fresh_valid_credentials() {
    let mut p = av_data_pair();
    let before_a = first_ice(&p.a.s.local_description().unwrap());
    let before_b = first_ice(&p.b.s.local_description().unwrap());
    let (offer, answer) = p.exchange_with(OfferOptions { ice_restart: true }, true);
    let creds = ice_of(&offer);
    assert_eq!(creds.len(), 3);
    for (_, c) in &creds {
        valid_fresh_creds(c);
        assert_eq!(*c, creds[0].1, "bundled: one set of credentials");
        assert_ne!(c.ufrag, before_a.ufrag);
        assert_ne!(c.pwd, before_a.pwd);
    }
    // The answerer detects the restart and answers with fresh credentials too.
    let ans = first_ice(&answer);
    valid_fresh_creds(&ans);
    assert_ne!(ans, before_b);
    assert!(!p.a.s.restart_pending() && !p.b.s.restart_pending());
    let (cmds, _, ev) = p.b.drain();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::IceGenerationStarted {
                generation: Generation(1),
                reason: Some(RestartReason::Remote),
                ..
            }
        )),
        "{ev:?}"
    );
    assert_eq!(start_generations(&cmds).len(), 1);
    let (_, _, ev) = p.a.drain();
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::IceGenerationStarted {
                generation: Generation(1),
                reason: Some(RestartReason::Application),
                ..
            }
        )),
        "{ev:?}"
    );
    // A non-restart renegotiation keeps the credentials.
    let (offer2, answer2) = p.exchange();
    assert_eq!(first_ice(&offer2), creds[0].1);
    assert_eq!(first_ice(&answer2), ans);
}

#[test]
fn restart_ice_raises_negotiation_needed() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let before = first_ice(&p.a.s.local_description().unwrap());
    assert!(!p.a.s.restart_pending());
    p.a.s.restart_ice(now);
    assert!(p.a.s.restart_pending());
    assert!(p.a.events().contains(&Event::NegotiationNeeded));
    // Coalesced: a second request does not fire again.
    p.a.s.restart_ice(now);
    assert!(!p.a.events().contains(&Event::NegotiationNeeded));
    let (offer, _) = p.exchange();
    let fresh = first_ice(&offer);
    valid_fresh_creds(&fresh);
    assert_ne!(fresh, before);
    assert!(!p.a.s.restart_pending());
}

#[test]
fn remote_offer_changing_only_the_pwd_is_a_restart() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_before = first_ice(&p.b.s.local_description().unwrap());
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    // A renegotiation offer from A, with only the pwd changed (as another stack would send).
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(first_ice(&offer), a_before);
    let new_pwd = "Zz".repeat(12);
    let offer = desc(
        SdpType::Offer,
        &replace_attr(&offer.sdp, "ice-pwd", &new_pwd),
    );
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    let ans = first_ice(&answer);
    valid_fresh_creds(&ans);
    assert_ne!(ans.ufrag, b_before.ufrag);
    assert_ne!(ans.pwd, b_before.pwd);
    p.b.s.set_local_description(answer, now).unwrap();
    let (cmds, _, _) = p.b.drain();
    let started = start_generations(&cmds);
    assert_eq!(started.len(), 1, "{cmds:?}");
    assert_eq!(started[0].1, Generation(1));
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            TransportCommand::SetRemoteCredentials { generation: Generation(1), remote, .. }
                if remote.pwd == new_pwd && remote.ufrag == a_before.ufrag
        )),
        "{cmds:?}"
    );
}

#[test]
fn answer_with_new_credentials_without_restart_is_a_peer_error() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.a.drain();
    for (attr, value) in [
        ("ice-ufrag", "NewUfrag"),
        ("ice-pwd", "NewPasswordNewPassword1"),
    ] {
        let bad = desc(SdpType::Answer, &replace_attr(&answer.sdp, attr, value));
        let r = p.a.s.set_remote_description(bad, now);
        assert!(
            matches!(
                r,
                Err(SessionError::Peer(PeerError::UnexpectedIceRestartInAnswer { ref mid })) if mid == "0"
            ),
            "{attr}: {r:?}"
        );
        assert_eq!(r.unwrap_err().fault(), session_core::error::Fault::Peer);
        let (cmds, _, ev) = p.a.drain();
        assert!(
            ev.iter().any(|e| matches!(
                e,
                Event::PeerMisbehaved(PeerError::UnexpectedIceRestartInAnswer { .. })
            )),
            "{ev:?}"
        );
        assert!(cmds.is_empty(), "{cmds:?}");
        assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    }
    // The genuine answer still applies.
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

fn count(cmds: &[TransportCommand], f: impl Fn(&TransportCommand) -> bool) -> usize {
    cmds.iter().filter(|c| f(c)).count()
}

#[test]
fn completed_restart_promotes_then_retires_after_grace() {
    let mut p = connected_data_pair();
    let grace = Duration::from_secs(2); // Config::new default.
    let t = TransportId(0);
    let old_remote = p.a.s.negotiated_credentials(t).unwrap().1;
    let (offer, answer) = p.exchange_with(OfferOptions { ice_restart: true }, true);
    let (cmds, _, _) = p.a.drain();
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            TransportCommand::RetireGeneration { .. }
        )),
        0,
        "nothing retired before the new generation connected: {cmds:?}"
    );
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(0)));
    // Time passes, the new generation has not connected: still nothing retired.
    let later = p.tick(Duration::from_secs(30));
    p.a.s.handle_timeout(later);
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Checking,
        },
        later,
    );
    let cmds = p.a.cmds();
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            TransportCommand::RetireGeneration { .. } | TransportCommand::PromoteGeneration { .. }
        )),
        0,
        "{cmds:?}"
    );
    // The new generation connects: promoted at once; the old one keeps receiving for the
    // grace period.
    let now = p.tick(Duration::from_millis(10));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Connected,
        },
        now,
    );
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(
        cmds,
        vec![TransportCommand::PromoteGeneration {
            transport: t,
            generation: Generation(1)
        }]
    );
    assert!(ev.contains(&Event::IceGenerationPromoted {
        transport: t,
        generation: Generation(1)
    }));
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(1)));
    assert_eq!(p.a.s.poll_timeout(), Some(now + grace));
    p.a.s.handle_timeout(now + grace - Duration::from_millis(1));
    assert!(p.a.cmds().is_empty());
    p.a.s.handle_timeout(now + grace);
    assert_eq!(
        p.a.cmds(),
        vec![TransportCommand::RetireGeneration {
            transport: t,
            generation: Generation(0)
        }]
    );
    assert_eq!(p.a.s.poll_timeout(), None);
    let gens = &p.a.s.transports()[0].generations;
    assert_eq!(gens[0].status, GenerationStatus::Retired);
    assert_eq!(gens[1].status, GenerationStatus::Live);
    assert_eq!(
        p.a.s.negotiated_credentials(t).unwrap(),
        (first_ice(&offer), first_ice(&answer))
    );
    // A late candidate of the retired generation is dropped, typed.
    let now = p.tick(Duration::from_millis(1));
    let out =
        p.a.s
            .add_ice_candidate(
                cand(&host_candidate(4000), Some("0"), Some(&old_remote.ufrag)),
                now,
            )
            .unwrap();
    assert_eq!(
        out,
        CandidateOutcome::Dropped(CandidateDropReason::RetiredGeneration)
    );
    let (cmds, _, ev) = p.a.drain();
    assert!(cmds.is_empty());
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::CandidateDropped {
            reason: CandidateDropReason::RetiredGeneration,
            ..
        }
    )));
    // The ufrag extension inside the candidate line works the same.
    let line = format!("{} ufrag {}", host_candidate(4001), old_remote.ufrag);
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand(&line, Some("0"), None), now)
            .unwrap(),
        CandidateOutcome::Dropped(CandidateDropReason::RetiredGeneration)
    );
    // A candidate of the new generation is applied to generation 1.
    let new_ufrag = first_ice(&answer).ufrag;
    assert_eq!(
        p.a.s
            .add_ice_candidate(
                cand(&host_candidate(4002), Some("0"), Some(&new_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Applied {
            transport: t,
            generation: Generation(1)
        }
    );
}

#[test]
fn partial_restart_with_max_compat_changes_one_transport_only() {
    let mut p = Pair::with(compat_cfg(0xA), compat_cfg(0xB));
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let (offer, answer) = p.exchange();
    assert!(parse(&offer).bundle_groups.is_empty());
    assert!(parse(&answer).bundle_groups.is_empty());
    let off1 = ice_of(&offer);
    let ans1 = ice_of(&answer);
    assert_eq!(off1.len(), 3);
    // One transport per m-section, with distinct credentials.
    for i in 0..3 {
        for j in (i + 1)..3 {
            assert_ne!(off1[i].1, off1[j].1);
            assert_ne!(ans1[i].1, ans1[j].1);
        }
    }
    assert_eq!(p.a.s.transports().len(), 3);
    assert_eq!(p.b.s.transports().len(), 3);
    let (cmds, _, _) = p.a.drain();
    assert_eq!(
        count(&cmds, |c| matches!(c, TransportCommand::StartDtls { .. })),
        3
    );
    p.b.drain();
    p.connect_all();

    let now = p.tick(Duration::from_millis(1));
    p.a.s.restart_ice_transport("1", now);
    assert!(p.a.s.restart_pending());
    assert!(p.a.events().contains(&Event::NegotiationNeeded));
    let (offer, answer) = p.exchange();
    let off2 = ice_of(&offer);
    let ans2 = ice_of(&answer);
    assert_eq!(off2[0], off1[0]);
    assert_ne!(off2[1].1, off1[1].1);
    valid_fresh_creds(&off2[1].1);
    assert_eq!(off2[2], off1[2]);
    assert_eq!(ans2[0], ans1[0]);
    assert_ne!(
        ans2[1].1, ans1[1].1,
        "the answerer restarts that transport too"
    );
    assert_eq!(ans2[2], ans1[2]);
    assert!(!p.a.s.restart_pending());
    for peer in [&mut p.a, &mut p.b] {
        let (cmds, _, _) = peer.drain();
        let started = start_generations(&cmds);
        assert_eq!(started.len(), 1, "{cmds:?}");
        assert_eq!(started[0].1, Generation(1));
        let tr = peer.s.transports();
        let restarted: Vec<_> = tr.iter().filter(|t| t.generations.len() == 2).collect();
        assert_eq!(restarted.len(), 1);
        assert_eq!(restarted[0].tag, "1");
    }
    // Unknown mids are ignored.
    let now = p.tick(Duration::from_millis(1));
    p.a.s.restart_ice_transport("nope", now);
    assert!(!p.a.s.restart_pending());
}

#[test]
fn restart_intent_survives_answering_and_remote_rollback() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    p.a.s.restart_ice(now);
    // B offers (no restart); A rolls it back: intent kept.
    let offer = p.b.s.create_offer(OfferOptions::default(), now).unwrap();
    p.b.s.set_local_description(offer.clone(), now).unwrap();
    p.a.s.set_remote_description(offer.clone(), now).unwrap();
    p.a.s.set_remote_description(rollback(), now).unwrap();
    assert!(p.a.s.restart_pending());
    // A answers B's offer: the answer keeps the negotiated credentials, the intent stays.
    p.a.s.set_remote_description(offer, now).unwrap();
    let answer = p.a.s.create_answer(now).unwrap();
    assert_eq!(first_ice(&answer), a_before);
    p.a.s.set_local_description(answer.clone(), now).unwrap();
    p.b.s.set_remote_description(answer, now).unwrap();
    assert!(p.a.s.restart_pending());
    // A's next offer restarts.
    let (offer, _) = p.exchange();
    assert_ne!(first_ice(&offer), a_before);
    assert!(!p.a.s.restart_pending());
}

// ----- trickle -----

#[test]
fn candidates_before_the_remote_description_are_queued_then_applied() {
    let mut p = Pair::new();
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.tick(Duration::from_millis(1));
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    let a_ufrag = first_ice(&offer).ufrag;
    // B receives A's candidates before the offer.
    for (i, ufrag) in [Some(a_ufrag.as_str()), None].into_iter().enumerate() {
        let out =
            p.b.s
                .add_ice_candidate(
                    cand(&host_candidate(5000 + i as u16), Some("0"), ufrag),
                    now,
                )
                .unwrap();
        assert_eq!(out, CandidateOutcome::Queued);
    }
    assert!(p.b.cmds().is_empty());
    // The offer arrives: B has no generation yet (it starts with B's answer), still queued.
    p.b.s.set_remote_description(offer, now).unwrap();
    assert!(p.b.cmds().is_empty());
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    let cmds = p.b.cmds();
    let applied: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            TransportCommand::AddRemoteCandidate {
                transport,
                generation,
                candidate,
            } => Some((*transport, *generation, candidate.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(applied.len(), 2, "{cmds:?}");
    for (i, (t, g, c)) in applied.iter().enumerate() {
        assert_eq!((*t, *g), (TransportId(0), Generation(0)));
        assert_eq!(c.port, 5000 + i as u16);
        assert_eq!(c.ufrag.as_deref(), Some(a_ufrag.as_str()));
    }
    // The credentials come before the candidates.
    let creds_at = cmds
        .iter()
        .position(|c| matches!(c, TransportCommand::SetRemoteCredentials { .. }))
        .unwrap();
    let first_cand = cmds
        .iter()
        .position(|c| matches!(c, TransportCommand::AddRemoteCandidate { .. }))
        .unwrap();
    assert!(creds_at < first_cand);

    // Same on the offerer's side: B's candidates before B's answer.
    let b_ufrag = first_ice(&answer).ufrag;
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand(&host_candidate(6000), Some("0"), Some(&b_ufrag)), now)
            .unwrap(),
        CandidateOutcome::Queued
    );
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand("", Some("0"), Some(&b_ufrag)), now)
            .unwrap(),
        CandidateOutcome::Queued
    );
    p.a.drain();
    p.a.s.set_remote_description(answer, now).unwrap();
    let cmds = p.a.cmds();
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            TransportCommand::AddRemoteCandidate { generation: Generation(0), candidate, .. }
                if candidate.port == 6000
        )),
        "{cmds:?}"
    );
    assert!(cmds.contains(&TransportCommand::RemoteEndOfCandidates {
        transport: TransportId(0),
        generation: Generation(0)
    }));
}

#[test]
fn malformed_and_misaddressed_candidates() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_ufrag =
        p.a.s
            .negotiated_credentials(TransportId(0))
            .unwrap()
            .1
            .ufrag;
    for bad in [
        "garbage",
        "candidate:",
        "candidate:1 1 udp notanumber 192.0.2.1 1 typ host",
        "candidate:1 1 udp 1 192.0.2.1 99999 typ host",
        "candidate:1 1 udp 1 192.0.2.1 1 typ",
    ] {
        let r = p.a.s.add_ice_candidate(cand(bad, Some("0"), None), now);
        assert!(matches!(r, Err(SessionError::Candidate(_))), "{bad}: {r:?}");
        let (cmds, _, ev) = p.a.drain();
        assert!(cmds.is_empty());
        assert!(ev.iter().any(|e| matches!(
            e,
            Event::CandidateDropped {
                reason: CandidateDropReason::Malformed(_),
                ..
            }
        )));
    }
    // Unknown sdpMid: a typed drop (the ufrag is one we know).
    for ufrag in [Some(b_ufrag.as_str()), None] {
        let out =
            p.a.s
                .add_ice_candidate(cand(&host_candidate(7000), Some("nope"), ufrag), now)
                .unwrap();
        assert_eq!(
            out,
            CandidateOutcome::Dropped(CandidateDropReason::UnknownMid),
            "{ufrag:?}"
        );
    }
    // An out-of-range sdpMLineIndex, too.
    let mut c = cand(&host_candidate(7001), None, Some(&b_ufrag));
    c.sdp_m_line_index = Some(7);
    assert_eq!(
        p.a.s.add_ice_candidate(c, now).unwrap(),
        CandidateOutcome::Dropped(CandidateDropReason::UnknownMid)
    );
    // A valid one by index.
    let mut c = cand(&host_candidate(7002), None, None);
    c.sdp_m_line_index = Some(0);
    assert_eq!(
        p.a.s.add_ice_candidate(c, now).unwrap(),
        CandidateOutcome::Applied {
            transport: TransportId(0),
            generation: Generation(0)
        }
    );
    // Still fully usable.
    let (o, _) = p.exchange();
    assert_eq!(o.kind, SdpType::Offer);
}

#[test]
fn end_of_candidates_both_ways() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let b_ufrag =
        p.a.s
            .negotiated_credentials(TransportId(0))
            .unwrap()
            .1
            .ufrag;
    let eoc = TransportCommand::RemoteEndOfCandidates {
        transport: TransportId(0),
        generation: Generation(0),
    };
    assert_eq!(
        p.a.s
            .add_ice_candidate(cand("", Some("0"), Some(&b_ufrag)), now)
            .unwrap(),
        CandidateOutcome::Applied {
            transport: TransportId(0),
            generation: Generation(0)
        }
    );
    assert_eq!(p.a.cmds(), vec![eoc.clone()]);
    for msg in [
        SignalMessage::EndOfCandidates {
            username_fragment: Some(b_ufrag.clone()),
            sdp_mid: Some("0".into()),
        },
        SignalMessage::EndOfCandidates {
            username_fragment: None,
            sdp_mid: None,
        },
    ] {
        p.a.s.handle_signal(msg, now).unwrap();
        assert_eq!(p.a.cmds(), vec![eoc.clone()]);
    }
    // Also through JSON.
    let json = format!(r#"{{"type":"end-of-candidates","usernameFragment":"{b_ufrag}"}}"#);
    p.a.s.handle_signal_json(&json, now).unwrap();
    assert_eq!(p.a.cmds(), vec![eoc]);
}

#[test]
fn local_candidates_are_signalled_with_their_generation_ufrag() {
    let mut p = connected_data_pair();
    let t = TransportId(0);
    let g0 = p.a.s.negotiated_credentials(t).unwrap().0.ufrag;
    let now = p.tick(Duration::from_millis(1));
    let c: Candidate = host_candidate(8000).parse().unwrap();
    p.a.s.handle_transport_event(
        TransportEvent::LocalCandidate {
            transport: t,
            generation: Generation(0),
            candidate: c.clone(),
        },
        now,
    );
    let (_, sig, _) = p.a.drain();
    assert_eq!(sig.len(), 1, "{sig:?}");
    let SignalMessage::Candidate { candidate } = &sig[0] else {
        panic!("{sig:?}")
    };
    assert_eq!(candidate.username_fragment.as_deref(), Some(g0.as_str()));
    assert_eq!(candidate.sdp_mid.as_deref(), Some("0"));
    assert_eq!(candidate.sdp_m_line_index, Some(0));
    let parsed: Candidate = candidate.candidate.parse().unwrap();
    assert_eq!(parsed.port, 8000);
    // The message round-trips through JSON and B applies it to its generation 0.
    let json = sig[0].to_json();
    assert!(json.contains(r#""usernameFragment""#), "{json}");
    p.b.s.handle_signal_json(&json, now).unwrap();
    assert!(p.b.cmds().iter().any(|c| matches!(
        c,
        TransportCommand::AddRemoteCandidate { generation: Generation(0), candidate, .. }
            if candidate.port == 8000
    )));

    // After a restart, candidates of generation 1 carry the new ufrag.
    let (offer, _) = p.exchange_with(OfferOptions { ice_restart: true }, true);
    p.a.drain();
    let g1 = first_ice(&offer).ufrag;
    let now = p.tick(Duration::from_millis(1));
    p.a.s.handle_transport_event(
        TransportEvent::LocalCandidate {
            transport: t,
            generation: Generation(1),
            candidate: c.clone(),
        },
        now,
    );
    p.a.s.handle_transport_event(
        TransportEvent::GatheringComplete {
            transport: t,
            generation: Generation(1),
        },
        now,
    );
    let (_, sig, _) = p.a.drain();
    assert!(
        matches!(
            &sig[..],
            [
                SignalMessage::Candidate { candidate },
                SignalMessage::EndOfCandidates { username_fragment: Some(u), .. },
            ] if candidate.username_fragment.as_deref() == Some(g1.as_str()) && *u == g1
        ),
        "{sig:?}"
    );
    // Unknown generation: nothing is signalled.
    p.a.s.handle_transport_event(
        TransportEvent::LocalCandidate {
            transport: t,
            generation: Generation(9),
            candidate: c,
        },
        now,
    );
    assert!(p.a.drain().1.is_empty());
}

// ----- set_configuration -----

fn update(servers: &[&str]) -> ConfigUpdate {
    ConfigUpdate {
        ice_servers: if servers.is_empty() {
            Vec::new()
        } else {
            vec![IceServer {
                urls: servers.iter().map(|s| (*s).to_owned()).collect(),
                username: Some("user".into()),
                credential: Some("secret".into()),
            }]
        },
        ice_transport_policy: IceTransportPolicy::All,
        bundle_policy: BundlePolicy::MaxBundle,
        certificate_fingerprints: vec![fingerprint(0xA)],
    }
}

#[test]
fn set_configuration_rules() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let before = first_ice(&p.a.s.local_description().unwrap());
    // Same configuration: no restart.
    p.a.s.set_configuration(update(&[]), now).unwrap();
    assert!(!p.a.s.restart_pending());
    assert!(!p.a.events().contains(&Event::NegotiationNeeded));
    // Immutable fields.
    let mut u = update(&["stun:stun.example.org:3478"]);
    u.bundle_policy = BundlePolicy::MaxCompat;
    assert_eq!(
        p.a.s.set_configuration(u, now),
        Err(SessionError::Config(ConfigError::BundlePolicyChanged))
    );
    let mut u = update(&["stun:stun.example.org:3478"]);
    u.certificate_fingerprints = vec![fingerprint(0xC)];
    assert_eq!(
        p.a.s.set_configuration(u, now),
        Err(SessionError::Config(ConfigError::CertificateChanged))
    );
    for bad in ["http://example.org", "stun:", "", "example.org:3478"] {
        assert_eq!(
            p.a.s
                .set_configuration(update(&["stun:ok.example.org", bad]), now),
            Err(SessionError::Config(ConfigError::InvalidIceServer(
                bad.to_owned()
            ))),
            "{bad:?}"
        );
    }
    assert!(!p.a.s.restart_pending(), "rejected updates change nothing");
    assert_eq!(
        SessionError::Config(ConfigError::BundlePolicyChanged).fault(),
        session_core::error::Fault::Application
    );
    // New ICE servers: restart requested, and the next offer carries fresh credentials and
    // gathers with the new servers.
    let servers = [
        "stun:stun.example.org:3478",
        "TURN:turn.example.org?transport=udp",
        "turns:turn.example.org:443",
    ];
    p.a.s.set_configuration(update(&servers), now).unwrap();
    assert!(p.a.s.restart_pending());
    assert!(p.a.events().contains(&Event::NegotiationNeeded));
    let (offer, _) = p.exchange();
    assert_ne!(first_ice(&offer), before);
    assert!(!p.a.s.restart_pending());
    let (cmds, _, ev) = p.a.drain();
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            TransportCommand::StartGeneration { generation: Generation(1), ice_servers, .. }
                if ice_servers.len() == 1 && ice_servers[0].urls.len() == 3
        )),
        "{cmds:?}"
    );
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::IceGenerationStarted {
                reason: Some(RestartReason::Configuration),
                ..
            }
        )),
        "{ev:?}"
    );
    // A change of transport policy restarts too.
    let now = p.tick(Duration::from_millis(1));
    let mut u = update(&servers);
    u.ice_transport_policy = IceTransportPolicy::Relay;
    p.a.s.set_configuration(u, now).unwrap();
    assert!(p.a.s.restart_pending());
}

// ----- bad input -----

/// Checks that an SDP error is the expected one.
type SdpCheck = fn(&SdpError) -> bool;

/// A remote offer from a fresh B-like peer (audio + data), for malformation.
fn fresh_remote_offer() -> SessionDescription {
    let mut q = Pair::new();
    q.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    q.b.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = q.now;
    q.b.s.create_offer(OfferOptions::default(), now).unwrap()
}

#[test]
fn bad_remote_descriptions_are_typed_errors_and_harmless() {
    let offer = fresh_remote_offer();
    let mut p = Pair::new();
    let now = p.now;
    let dup = {
        // Both m-sections claim mid 0.
        offer.sdp.replace("a=mid:1", "a=mid:0")
    };
    let cases: Vec<(&str, String, SdpCheck)> = vec![
        ("garbage", "hello world".into(), |e| {
            matches!(e, SdpError::Syntax(_))
        }),
        ("empty", String::new(), |e| matches!(e, SdpError::Syntax(_))),
        (
            "truncated",
            offer.sdp[..offer.sdp.len() / 3].to_owned(),
            |_| true,
        ),
        (
            "no fingerprint",
            drop_lines(&offer.sdp, "a=fingerprint"),
            |e| matches!(e, SdpError::MissingFingerprint { .. }),
        ),
        ("no ufrag", drop_lines(&offer.sdp, "a=ice-ufrag"), |e| {
            matches!(e, SdpError::MissingIceCredentials { .. })
        }),
        ("no pwd", drop_lines(&offer.sdp, "a=ice-pwd"), |e| {
            matches!(e, SdpError::MissingIceCredentials { .. })
        }),
        (
            "short ufrag",
            replace_attr(&offer.sdp, "ice-ufrag", "ab"),
            |e| matches!(e, SdpError::InvalidIceCredentials { .. }),
        ),
        ("duplicate mid", dup, |e| {
            matches!(e, SdpError::DuplicateMid(_))
        }),
        ("no mid", drop_lines(&offer.sdp, "a=mid"), |e| {
            matches!(
                e,
                SdpError::MissingMid { .. } | SdpError::BundleUnknownMid(_)
            )
        }),
        (
            "bad fingerprint",
            replace_attr(&offer.sdp, "fingerprint", "sha-256 zz"),
            |e| matches!(e, SdpError::InvalidFingerprint(_)),
        ),
        (
            "huge",
            format!("{}{}", offer.sdp, "a=x\r\n".repeat(60_000)),
            |e| matches!(e, SdpError::TooLarge(_)),
        ),
    ];
    for (name, text, ok) in cases {
        let r =
            p.a.s
                .set_remote_description(desc(SdpType::Offer, &text), now);
        match &r {
            Err(SessionError::Sdp(e)) => assert!(ok(e), "{name}: {e:?}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(r.unwrap_err().fault(), session_core::error::Fault::Peer);
        assert_eq!(p.a.s.signaling_state(), SignalingState::Stable, "{name}");
        assert!(p.a.s.remote_description().is_none());
        assert!(p.a.cmds().is_empty());
    }
    // A correct description afterwards succeeds.
    p.a.s.set_remote_description(offer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveRemoteOffer);
    let answer = p.a.s.create_answer(now).unwrap();
    p.a.s.set_local_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn bad_remote_answers_are_peer_errors_and_harmless() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.now;
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.a.drain();
    let swapped = answer
        .sdp
        .replace("a=mid:0", "a=mid:X")
        .replace("a=mid:1", "a=mid:0")
        .replace("a=mid:X", "a=mid:1")
        .replace("BUNDLE 0 1", "BUNDLE 1 0");
    let cases: Vec<(&str, String, SessionError)> = vec![
        (
            "actpass in an answer",
            replace_attr(&answer.sdp, "setup", "actpass"),
            SessionError::Peer(PeerError::InvalidSetupInAnswer { mid: "0".into() }),
        ),
        (
            "m-lines swapped",
            swapped,
            SessionError::Peer(PeerError::AnswerMismatch),
        ),
        (
            "bundle rejected",
            drop_lines(&answer.sdp, "a=group:BUNDLE"),
            SessionError::Peer(PeerError::BundleRejected),
        ),
    ];
    for (name, text, want) in cases {
        let r =
            p.a.s
                .set_remote_description(desc(SdpType::Answer, &text), now);
        assert_eq!(r, Err(want.clone()), "{name}");
        let (cmds, _, ev) = p.a.drain();
        assert!(cmds.is_empty(), "{name}: {cmds:?}");
        let SessionError::Peer(pe) = want else {
            unreachable!()
        };
        assert!(ev.contains(&Event::PeerMisbehaved(pe)), "{name}: {ev:?}");
        assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    }
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn renegotiation_that_reorders_m_lines_is_rejected() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.exchange();
    p.a.drain();
    p.b.drain();
    let now = p.tick(Duration::from_millis(1));
    // A second offer from A in which the two m-sections are swapped.
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let text = offer.sdp.clone();
    let first = text.find("\r\nm=").unwrap() + 2;
    let second = first + text[first..].find("\r\nm=").unwrap() + 2;
    let swapped = format!(
        "{}{}{}",
        &text[..first],
        &text[second..],
        &text[first..second]
    );
    let r =
        p.b.s
            .set_remote_description(desc(SdpType::Offer, &swapped), now);
    assert_eq!(r, Err(SessionError::Peer(PeerError::MLinesChanged)));
    assert!(p
        .b
        .events()
        .contains(&Event::PeerMisbehaved(PeerError::MLinesChanged)));
    // Removing an m-line is rejected the same way.
    let removed = text[..second].replace("BUNDLE 0 1", "BUNDLE 0");
    assert_eq!(
        p.b.s
            .set_remote_description(desc(SdpType::Offer, &removed), now),
        Err(SessionError::Peer(PeerError::MLinesChanged))
    );
    // A changed media kind for a mid, too.
    let kind_changed = text.replacen("m=audio", "m=video", 1);
    assert!(matches!(
        p.b.s
            .set_remote_description(desc(SdpType::Offer, &kind_changed), now),
        Err(SessionError::Peer(PeerError::MidKindChanged { .. }) | SessionError::Sdp(_))
    ));
    // A changed fingerprint.
    let fp = replace_attr(
        &text,
        "fingerprint",
        &format!("sha-256 {}", ["CC"; 32].join(":")),
    );
    assert!(matches!(
        p.b.s.set_remote_description(desc(SdpType::Offer, &fp), now),
        Err(SessionError::Peer(PeerError::FingerprintChanged { .. }))
    ));
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    assert!(p.b.cmds().is_empty());
    // The genuine offer works.
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn garbage_signal_json_is_a_signal_error() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    for bad in [
        "",
        "null",
        "[]",
        "{}",
        "{\"type\":\"nope\"}",
        "{\"type\":\"candidate\"}",
        "{\"type\":\"description\",\"description\":{\"type\":\"offerx\",\"sdp\":\"\"}}",
        "{\"type\":\"bye\"",
        "\u{0}\u{1}",
    ] {
        let r = p.a.s.handle_signal_json(bad, now);
        assert!(matches!(r, Err(SessionError::Signal(_))), "{bad:?}: {r:?}");
    }
    let huge = format!(
        "{{\"type\":\"bye\",\"reason\":\"{}\"}}",
        "x".repeat(session_core::signal::MAX_SIGNAL_LEN)
    );
    assert!(matches!(
        p.a.s.handle_signal_json(&huge, now),
        Err(SessionError::Signal(
            session_core::signal::SignalParseError::TooLarge(_)
        ))
    ));
    // A description with a malformed SDP inside valid JSON is an SDP error.
    let r = p.a.s.handle_signal_json(
        r#"{"type":"description","description":{"type":"offer","sdp":"v=0"}}"#,
        now,
    );
    assert!(matches!(r, Err(SessionError::Sdp(_))), "{r:?}");
    assert!(!p.a.s.is_closed());
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (o, _) = p.exchange();
    assert_eq!(o.kind, SdpType::Offer);
}

/// Mutates `base` with up to `n` edits driven by `ops` (byte flips, line drops, duplications).
fn mutate(base: &str, ops: &[(u8, u16, u8)]) -> String {
    let mut lines: Vec<String> = base.split("\r\n").map(str::to_owned).collect();
    for &(op, at, byte) in ops {
        if lines.is_empty() {
            break;
        }
        let i = usize::from(at) % lines.len();
        match op % 5 {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let mut b = lines[i].clone().into_bytes();
                if !b.is_empty() {
                    let j = usize::from(byte) % b.len();
                    b[j] = byte;
                }
                lines[i] = String::from_utf8_lossy(&b).into_owned();
            }
            3 => {
                let j = (usize::from(at) / 7) % lines.len();
                lines.swap(i, j);
            }
            _ => {
                let cut = usize::from(byte) % (lines[i].len() + 1);
                let mut end = cut;
                while !lines[i].is_char_boundary(end) {
                    end -= 1;
                }
                lines[i].truncate(end);
            }
        }
    }
    lines.join("\r\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_signal_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), s in ".{0,80}") {
        let mut session = Session::new(manual_cfg(1), t0());
        let now = t0();
        let text = String::from_utf8_lossy(&bytes);
        let _ = session.handle_signal_json(&text, now);
        let _ = session.handle_signal_json(&s, now);
        // Random strings inside each message shape.
        for shape in [
            format!(r#"{{"type":"description","description":{{"type":"offer","sdp":{}}}}}"#, serde_json_string(&s)),
            format!(r#"{{"type":"description","description":{{"type":"answer","sdp":{}}}}}"#, serde_json_string(&s)),
            format!(r#"{{"type":"candidate","candidate":{{"candidate":{},"sdpMid":"0"}}}}"#, serde_json_string(&s)),
            format!(r#"{{"type":"end-of-candidates","usernameFragment":{}}}"#, serde_json_string(&s)),
        ] {
            let r = session.handle_signal_json(&shape, now);
            prop_assert!(!matches!(r, Err(SessionError::Signal(_))), "{shape}: {r:?}");
        }
        prop_assert!(!session.is_closed());
    }

    #[test]
    fn fuzz_mutated_remote_offers_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6)) {
        let offer = fuzz_offer();
        let text = mutate(&offer.sdp, &ops);
        let mut q = Pair::new();
        let now = q.now;
        let r = q.a.s.set_remote_description(desc(SdpType::Offer, &text), now);
        match r {
            Ok(()) => {
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::HaveRemoteOffer);
                // Whatever was accepted can be answered or rolled back.
                if let Ok(answer) = q.a.s.create_answer(now) {
                    let _ = sdp::parse(&answer.sdp).map_err(|e| TestCaseError::fail(format!("our answer: {e}\n{}", answer.sdp)))?;
                    q.a.s.set_local_description(answer, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                } else {
                    q.a.s.set_remote_description(rollback(), now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
            }
            Err(e) => {
                prop_assert!(matches!(e, SessionError::Sdp(_) | SessionError::Peer(_)), "{e:?}");
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
                // Still usable: the genuine offer applies.
                q.a.s.set_remote_description(offer.clone(), now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
    }

    #[test]
    fn fuzz_random_remote_answers_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6), junk in ".{0,64}") {
        let (mut q, answer) = fuzz_pair_waiting_for_answer();
        let now = q.now;
        for text in [mutate(&answer.sdp, &ops), junk] {
            let r = q.a.s.set_remote_description(desc(SdpType::Answer, &text), now);
            if r.is_ok() {
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
                return Ok(());
            }
            prop_assert_eq!(q.a.s.signaling_state(), SignalingState::HaveLocalOffer);
        }
        q.a.s.set_remote_description(answer, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
    }
}

fn serde_json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn fuzz_offer() -> SessionDescription {
    use std::sync::OnceLock;
    static OFFER: OnceLock<SessionDescription> = OnceLock::new();
    OFFER
        .get_or_init(|| {
            let mut q = Pair::new();
            q.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
            q.b.s.add_transceiver(MediaKind::Video, Direction::SendOnly);
            q.b.s
                .create_data_channel("chat", DataChannelInit::default())
                .unwrap();
            let now = q.now;
            q.b.s.create_offer(OfferOptions::default(), now).unwrap()
        })
        .clone()
}

fn fuzz_pair_waiting_for_answer() -> (Pair, SessionDescription) {
    let mut q = Pair::new();
    q.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    q.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = q.now;
    let offer = q.a.s.create_offer(OfferOptions::default(), now).unwrap();
    q.a.s.set_local_description(offer.clone(), now).unwrap();
    q.b.s.set_remote_description(offer, now).unwrap();
    let answer = q.b.s.create_answer(now).unwrap();
    (q, answer)
}

// ----- data channels -----

fn opened(cmds: &[TransportCommand]) -> Vec<(String, u16)> {
    cmds.iter()
        .filter_map(|c| match c {
            TransportCommand::OpenDataChannel {
                stream_id, label, ..
            } => Some((label.clone(), *stream_id)),
            _ => None,
        })
        .collect()
}

#[test]
fn data_channel_ids_follow_the_dtls_role() {
    // B offers this time; A answers (active: DTLS client, even ids), B is the server (odd).
    let mut p = Pair::new();
    let now = p.now;
    for l in ["b0", "b1"] {
        p.b.s
            .create_data_channel(l, DataChannelInit::default())
            .unwrap();
    }
    for l in ["a0", "a1"] {
        p.a.s
            .create_data_channel(l, DataChannelInit::default())
            .unwrap();
    }
    let neg =
        p.a.s
            .create_data_channel(
                "negotiated",
                DataChannelInit {
                    negotiated: Some(7),
                    ..DataChannelInit::default()
                },
            )
            .unwrap();
    assert_eq!(p.a.s.data_channel(neg).unwrap().stream_id, Some(7));
    let ch = p.a.s.data_channel(neg).unwrap().clone();
    assert_eq!(ch.state, DataChannelState::Connecting);
    assert!(p.a.s.data_channels().all(|c| !c.remote));
    // Taken: same id again.
    assert!(matches!(
        p.a.s.create_data_channel(
            "dup",
            DataChannelInit {
                negotiated: Some(7),
                ..DataChannelInit::default()
            }
        ),
        Err(SessionError::DataChannel(_))
    ));
    p.a.drain();
    p.b.drain();
    p.exchange_with(OfferOptions::default(), false);
    assert_eq!(p.a.s.dtls_role(), Some(DtlsRole::Client));
    assert_eq!(p.b.s.dtls_role(), Some(DtlsRole::Server));
    let a_open = opened(&p.a.cmds());
    let b_open = opened(&p.b.cmds());
    assert_eq!(
        a_open,
        vec![
            ("a0".to_owned(), 0),
            ("a1".to_owned(), 2),
            ("negotiated".to_owned(), 7)
        ]
    );
    assert_eq!(b_open, vec![("b0".to_owned(), 1), ("b1".to_owned(), 3)]);
    let _ = now;
}

#[test]
fn channels_after_sctp_open_without_renegotiation_and_close() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    // A is the DTLS server (it offered, B answered active): odd ids; "chat" has 1.
    let second =
        p.a.s
            .create_data_channel("second", DataChannelInit::default())
            .unwrap();
    let (cmds, sig, ev) = p.a.drain();
    assert!(
        matches!(
            &cmds[..],
            [TransportCommand::OpenDataChannel { channel, stream_id: 3, label, .. }]
                if *channel == second && label == "second"
        ),
        "{cmds:?}"
    );
    assert!(sig.is_empty());
    assert!(!ev.contains(&Event::NegotiationNeeded), "{ev:?}");
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    // The transport reports it open.
    p.a.s
        .handle_transport_event(TransportEvent::DataChannelOpen { stream_id: 3 }, now);
    assert!(p.a.events().contains(&Event::DataChannelOpen(second)));
    assert_eq!(
        p.a.s.data_channel(second).unwrap().state,
        DataChannelState::Open
    );
    // Close it: the stream is reset, then the transport reports it closed.
    p.a.s.close_data_channel(second);
    assert_eq!(
        p.a.cmds(),
        vec![TransportCommand::CloseDataChannel {
            channel: second,
            stream_id: 3
        }]
    );
    assert_eq!(
        p.a.s.data_channel(second).unwrap().state,
        DataChannelState::Closing
    );
    p.a.s.close_data_channel(second);
    assert!(p.a.cmds().is_empty(), "closing twice does nothing");
    p.a.s
        .handle_transport_event(TransportEvent::DataChannelClosed { stream_id: 3 }, now);
    assert!(p.a.events().contains(&Event::DataChannelClose(second)));
    assert_eq!(
        p.a.s.data_channel(second).unwrap().state,
        DataChannelState::Closed
    );
    // Its id is free again.
    let third =
        p.a.s
            .create_data_channel("third", DataChannelInit::default())
            .unwrap();
    assert_eq!(p.a.s.data_channel(third).unwrap().stream_id, Some(3));
    // A channel closed before it ever opened closes at once.
    let mut q = Pair::new();
    let early =
        q.a.s
            .create_data_channel("early", DataChannelInit::default())
            .unwrap();
    q.a.drain();
    q.a.s.close_data_channel(early);
    let (cmds, _, ev) = q.a.drain();
    assert!(cmds.is_empty());
    assert!(ev.contains(&Event::DataChannelClose(early)));
}

#[test]
fn remote_data_channels_must_have_the_peers_parity() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    // A is the DTLS server: B (client) opens even ids.
    p.a.s.handle_transport_event(
        TransportEvent::RemoteDataChannel {
            stream_id: 3,
            label: "wrong".into(),
            init: DataChannelInit::default(),
        },
        now,
    );
    let ev = p.a.events();
    assert!(
        !ev.iter().any(|e| matches!(e, Event::DataChannel { .. })),
        "{ev:?}"
    );
    assert!(p.a.s.data_channels().all(|c| c.label != "wrong"));
    p.a.s.handle_transport_event(
        TransportEvent::RemoteDataChannel {
            stream_id: 4,
            label: "right".into(),
            init: DataChannelInit::default(),
        },
        now,
    );
    let ev = p.a.events();
    let id = ev
        .iter()
        .find_map(|e| match e {
            Event::DataChannel { channel, label } if label == "right" => Some(*channel),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{ev:?}"));
    let info = p.a.s.data_channel(id).unwrap();
    assert!(info.remote);
    assert_eq!(info.stream_id, Some(4));
    assert_eq!(info.state, DataChannelState::Open);
    // The same id again is refused.
    p.a.s.handle_transport_event(
        TransportEvent::RemoteDataChannel {
            stream_id: 4,
            label: "again".into(),
            init: DataChannelInit::default(),
        },
        now,
    );
    assert!(!p
        .a
        .events()
        .iter()
        .any(|e| matches!(e, Event::DataChannel { .. })));
}

// ----- close -----

#[test]
fn close_emits_everything_once() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let chat = p.a.s.data_channels().next().unwrap().id;
    p.a.s.close(now);
    assert!(p.a.s.is_closed());
    assert_eq!(p.a.s.signaling_state(), SignalingState::Closed);
    let (cmds, sig, ev) = p.a.drain();
    assert_eq!(cmds, vec![TransportCommand::Close]);
    assert_eq!(sig, vec![SignalMessage::Bye { reason: None }]);
    assert_eq!(ev.last(), Some(&Event::Closed(ClosedBy::Local)));
    assert!(ev.contains(&Event::SignalingStateChange(SignalingState::Closed)));
    assert!(ev.contains(&Event::DataChannelClose(chat)));
    assert_eq!(
        p.a.s.connection_state(),
        session_core::state::PeerConnectionState::Closed
    );
    assert_eq!(p.a.s.poll_timeout(), None);
    assert!(p.a.s.transceivers().iter().all(|t| t.stopped));
    // Idempotent.
    p.a.s.close(now);
    let (cmds, sig, ev) = p.a.drain();
    assert!(cmds.is_empty() && sig.is_empty() && ev.is_empty());

    // The bye reaches B (through JSON): closed by the remote.
    let json = SignalMessage::Bye { reason: None }.to_json();
    assert_eq!(json, r#"{"type":"bye"}"#);
    p.b.s.handle_signal_json(&json, now).unwrap();
    assert!(p.b.s.is_closed());
    let (cmds, sig, ev) = p.b.drain();
    assert_eq!(cmds, vec![TransportCommand::Close]);
    assert!(sig.is_empty(), "no bye back: {sig:?}");
    assert_eq!(ev.last(), Some(&Event::Closed(ClosedBy::Remote)));
    assert_eq!(p.b.s.poll_timeout(), None);
    p.b.s.close(now);
    p.b.s
        .handle_signal(
            SignalMessage::Bye {
                reason: Some("again".into()),
            },
            now,
        )
        .unwrap();
    let (cmds, sig, ev) = p.b.drain();
    assert!(cmds.is_empty() && sig.is_empty() && ev.is_empty());
}

#[test]
fn close_mid_negotiation_drops_queued_candidates_and_timers() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    // A pending retirement timer exists after a restart...
    p.exchange_with(OfferOptions { ice_restart: true }, true);
    p.connect_all();
    p.a.drain();
    assert!(p.a.s.poll_timeout().is_some());
    // ... and an offer is in flight with a queued candidate.
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer, now).unwrap();
    let out =
        p.a.s
            .add_ice_candidate(
                cand(&host_candidate(1), Some("0"), Some("unknownufrag")),
                now,
            )
            .unwrap();
    assert_eq!(out, CandidateOutcome::Queued);
    p.a.drain();
    p.a.s.close(now);
    assert_eq!(p.a.s.poll_timeout(), None);
    let (cmds, _, ev) = p.a.drain();
    assert_eq!(cmds, vec![TransportCommand::Close]);
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::CandidateDropped {
                reason: CandidateDropReason::Closed,
                ..
            }
        )),
        "{ev:?}"
    );
    assert!(p
        .a
        .s
        .transports()
        .iter()
        .flat_map(|t| t.generations.iter())
        .all(|g| g.status == GenerationStatus::Retired));
}

// ----- more restart and state details -----

#[test]
fn re_offer_in_have_local_offer_keeps_or_replaces_the_generation() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let o1 =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(o1.clone(), now).unwrap();
    assert_eq!(start_generations(&p.a.cmds()).len(), 1);
    // Creating the offer again in have-local-offer keeps the pending generation.
    let o2 = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(first_ice(&o2), first_ice(&o1));
    p.a.s.set_local_description(o2, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    let cmds = p.a.cmds();
    assert!(start_generations(&cmds).is_empty(), "{cmds:?}");
    assert_eq!(
        count(&cmds, |c| matches!(
            c,
            TransportCommand::RetireGeneration { .. }
        )),
        0
    );
    let answer = {
        let offer = p.a.s.local_description().unwrap();
        p.b.s.set_remote_description(offer, now).unwrap();
        p.b.s.create_answer(now).unwrap()
    };
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(
        p.a.s.negotiated_credentials(TransportId(0)).unwrap().0,
        first_ice(&o1)
    );
}

#[test]
fn candidates_of_a_remote_restart_wait_for_our_answer() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let offer =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    let new_ufrag = first_ice(&offer).ufrag;
    let old_ufrag =
        p.b.s
            .negotiated_credentials(TransportId(0))
            .unwrap()
            .1
            .ufrag;
    // The restart candidate overtakes the offer.
    assert_eq!(
        p.b.s
            .add_ice_candidate(
                cand(&host_candidate(9100), Some("0"), Some(&new_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Queued
    );
    p.b.s.set_remote_description(offer, now).unwrap();
    // One more in have-remote-offer: still queued (B's generation 1 starts with its answer).
    assert_eq!(
        p.b.s
            .add_ice_candidate(
                cand(&host_candidate(9101), Some("0"), Some(&new_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Queued
    );
    // Old-generation candidates still go to generation 0 meanwhile.
    assert_eq!(
        p.b.s
            .add_ice_candidate(
                cand(&host_candidate(9102), Some("0"), Some(&old_ufrag)),
                now
            )
            .unwrap(),
        CandidateOutcome::Applied {
            transport: TransportId(0),
            generation: Generation(0)
        }
    );
    p.b.drain();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer, now).unwrap();
    let cmds = p.b.cmds();
    let to_g1: Vec<u16> = cmds
        .iter()
        .filter_map(|c| match c {
            TransportCommand::AddRemoteCandidate {
                generation: Generation(1),
                candidate,
                ..
            } => Some(candidate.port),
            TransportCommand::AddRemoteCandidate { .. } => panic!("wrong generation: {c:?}"),
            _ => None,
        })
        .collect();
    assert_eq!(to_g1, vec![9100, 9101], "{cmds:?}");
}

#[test]
fn connection_state_holds_through_a_restart_and_old_path_retires_at_once_if_down() {
    use session_core::state::{DtlsTransportState, PeerConnectionState};
    let mut p = connected_data_pair();
    let t = TransportId(0);
    let now = p.tick(Duration::from_millis(1));
    for peer in [&mut p.a, &mut p.b] {
        peer.s.handle_transport_event(
            TransportEvent::DtlsStateChanged {
                transport: t,
                state: DtlsTransportState::Connected,
            },
            now,
        );
        assert_eq!(peer.s.connection_state(), PeerConnectionState::Connected);
        peer.drain();
    }
    p.exchange_with(OfferOptions { ice_restart: true }, true);
    assert_eq!(p.a.s.connection_state(), PeerConnectionState::Connected);
    let ev = p.a.events();
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::ConnectionStateChange(_))),
        "{ev:?}"
    );
    // The old path goes down before the new one connects.
    let now = p.tick(Duration::from_millis(5));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(0),
            state: IceTransportState::Disconnected,
        },
        now,
    );
    assert_eq!(p.a.cmds(), vec![]);
    let now = p.tick(Duration::from_millis(5));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Connected,
        },
        now,
    );
    // Promoted, and the old generation (no longer carrying anything) retired at once.
    assert_eq!(
        p.a.cmds(),
        vec![
            TransportCommand::PromoteGeneration {
                transport: t,
                generation: Generation(1)
            },
            TransportCommand::RetireGeneration {
                transport: t,
                generation: Generation(0)
            }
        ]
    );
    assert_eq!(p.a.s.poll_timeout(), None);
    assert_eq!(p.a.s.connection_state(), PeerConnectionState::Connected);
}

#[test]
fn a_failed_new_generation_is_dropped_and_the_old_path_kept() {
    let mut p = connected_data_pair();
    let t = TransportId(0);
    p.exchange_with(OfferOptions { ice_restart: true }, true);
    p.a.drain();
    let now = p.tick(Duration::from_secs(10));
    p.a.s.handle_transport_event(
        TransportEvent::IceStateChanged {
            transport: t,
            generation: Generation(1),
            state: IceTransportState::Failed,
        },
        now,
    );
    assert_eq!(
        p.a.cmds(),
        vec![TransportCommand::RetireGeneration {
            transport: t,
            generation: Generation(1)
        }]
    );
    assert_eq!(p.a.s.transports()[0].active, Some(Generation(0)));
}

#[test]
fn an_offer_created_but_not_applied_does_not_reserve_mids() {
    // A creates an offer (mids 0 = video, 1 = data) but, before applying it, receives B's
    // offer (0 = audio, 1 = video, 2 = data). W3C assigns mids when a description is applied,
    // so B's offer must be accepted and A's transceivers and data channel follow B's mids.
    let mut p = Pair::new();
    let now = p.now;
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    let chat =
        p.a.s
            .create_data_channel("chat", DataChannelInit::default())
            .unwrap();
    let stale = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    assert_eq!(parse(&stale).media[0].kind, MediaKind::Video);
    p.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.b.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.b.s
        .create_data_channel("b", DataChannelInit::default())
        .unwrap();
    p.a.drain();
    p.b.drain();
    p.exchange_with(OfferOptions::default(), false);
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let tr = p.a.s.transceivers();
    let video = tr.iter().find(|t| t.kind == MediaKind::Video).unwrap();
    assert_eq!(video.mid.as_deref(), Some("1"));
    assert_eq!(video.current_direction, Some(Direction::SendRecv));
    let cmds = p.a.cmds();
    assert!(
        cmds.iter()
            .any(|c| matches!(c, TransportCommand::StartSctp { .. })),
        "{cmds:?}"
    );
    // A is the DTLS client (it answered): its channel gets an even id.
    assert_eq!(opened(&cmds), vec![("chat".to_owned(), 0)]);
    assert_eq!(p.a.s.data_channel(chat).unwrap().stream_id, Some(0));
    // The stale offer cannot be applied any more.
    let r = p.a.s.set_local_description(stale, now);
    assert!(
        matches!(r, Err(SessionError::InvalidModification(_))),
        "{r:?}"
    );
}

#[test]
fn answering_after_an_unapplied_restart_offer_does_not_restart() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let a_before = first_ice(&p.a.s.local_description().unwrap());
    let restart =
        p.a.s
            .create_offer(OfferOptions { ice_restart: true }, now)
            .unwrap();
    assert_ne!(first_ice(&restart), a_before);
    // B's (non-restart) offer arrives before A applied its own: A answers with the
    // negotiated credentials, and B accepts the answer.
    let (_, answer) = p.exchange_with(OfferOptions::default(), false);
    assert_eq!(first_ice(&answer), a_before);
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    // The restart is still wanted and happens with A's next offer.
    assert!(p.a.s.restart_pending());
    let (offer, _) = p.exchange();
    assert_ne!(first_ice(&offer), a_before);
    assert!(!p.a.s.restart_pending());
}
