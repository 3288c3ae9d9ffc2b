//! JSEP through the public API with two `Negotiation::Manual` sessions wired by hand: offer/answer,
//! pranswer, rollback, ICE restart (full and partial), trickle, configuration, bad input, data
//! channels and close. Every output queue is drained by the test itself.

use std::time::{Duration, Instant};

use crate::clock::t0;

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

fn count(cmds: &[TransportCommand], f: impl Fn(&TransportCommand) -> bool) -> usize {
    cmds.iter().filter(|c| f(c)).count()
}

mod channels_and_close;
mod config_and_bad_input;
mod offer_answer;
mod restart;
mod trickle;
