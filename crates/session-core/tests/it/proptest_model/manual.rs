//! Property 2: manual JSEP calls on two sessions against a reference model of the W3C table.

use super::*;

/// The reference model's signaling states (W3C `RTCSignalingState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
    HaveLocalPranswer,
    HaveRemotePranswer,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Offer,
    Pranswer,
    Answer,
    Rollback,
}

/// The W3C/JSEP transition table, written from the specification (W3C webrtc-pc §4.3.1,
/// RFC 9429 §3.2 and §4.1.8.2): the state after applying a `kind` description locally or
/// remotely, or `None` for an `InvalidStateError`.
fn model_next(state: St, local: bool, kind: Kind) -> Option<St> {
    use Kind as K;
    use St as S;
    match (state, local, kind) {
        (S::Closed, _, _) => None,
        (S::Stable, true, K::Offer) => Some(S::HaveLocalOffer),
        (S::HaveLocalOffer, true, K::Offer) => Some(S::HaveLocalOffer),
        (S::HaveRemoteOffer, true, K::Pranswer) => Some(S::HaveLocalPranswer),
        (S::HaveLocalPranswer, true, K::Pranswer) => Some(S::HaveLocalPranswer),
        (S::HaveRemoteOffer, true, K::Answer) => Some(S::Stable),
        (S::HaveLocalPranswer, true, K::Answer) => Some(S::Stable),
        (S::Stable, false, K::Offer) => Some(S::HaveRemoteOffer),
        (S::HaveRemoteOffer, false, K::Offer) => Some(S::HaveRemoteOffer),
        (S::HaveLocalOffer, false, K::Pranswer) => Some(S::HaveRemotePranswer),
        (S::HaveRemotePranswer, false, K::Pranswer) => Some(S::HaveRemotePranswer),
        (S::HaveLocalOffer, false, K::Answer) => Some(S::Stable),
        (S::HaveRemotePranswer, false, K::Answer) => Some(S::Stable),
        // Rollback is refused in stable and in the pranswer states.
        (S::HaveLocalOffer | S::HaveRemoteOffer, _, K::Rollback) => Some(S::Stable),
        _ => None,
    }
}

fn sdp_type(k: Kind) -> SdpType {
    match k {
        Kind::Offer => SdpType::Offer,
        Kind::Pranswer => SdpType::Pranswer,
        Kind::Answer => SdpType::Answer,
        Kind::Rollback => SdpType::Rollback,
    }
}

fn kind_of(t: SdpType) -> Kind {
    match t {
        SdpType::Offer => Kind::Offer,
        SdpType::Pranswer => Kind::Pranswer,
        SdpType::Answer => Kind::Answer,
        _ => Kind::Rollback,
    }
}

fn st_of(s: SignalingState) -> St {
    match s {
        SignalingState::Stable => St::Stable,
        SignalingState::HaveLocalOffer => St::HaveLocalOffer,
        SignalingState::HaveRemoteOffer => St::HaveRemoteOffer,
        SignalingState::HaveLocalPranswer => St::HaveLocalPranswer,
        SignalingState::HaveRemotePranswer => St::HaveRemotePranswer,
        _ => St::Closed,
    }
}

/// Where `set_local_description` takes its SDP from.
#[derive(Debug, Clone, Copy)]
enum LocalSrc {
    /// Empty SDP: "the one just created, or create it now".
    Implicit,
    /// The last offer (for `Offer`) or answer (otherwise) this side created.
    Latest,
    /// Some description this side created earlier.
    Stale(u8),
}

/// Where `set_remote_description` takes its description from.
#[derive(Debug, Clone, Copy)]
enum RemoteSrc {
    /// The peer's current local description, with its type.
    Correct,
    /// The peer's current local description with another type.
    Swapped(u8),
    /// A description the peer created earlier, with its type.
    Stale(u8),
    /// This side's own local description.
    Own,
    /// A rollback.
    Rollback,
}

#[derive(Debug, Clone, Copy)]
enum CandSrc {
    /// A candidate for the peer's current credentials.
    Current,
    /// A candidate with the ufrag of an earlier description of the peer.
    Stale(u8),
    /// A malformed candidate line.
    Garbage,
    /// End of candidates.
    End,
}

#[derive(Debug, Clone)]
enum ManualOp {
    CreateOffer {
        side: usize,
        ice_restart: bool,
    },
    CreateAnswer {
        side: usize,
    },
    SetLocal {
        side: usize,
        kind: Kind,
        src: LocalSrc,
    },
    SetRemote {
        side: usize,
        src: RemoteSrc,
    },
    AddCandidate {
        side: usize,
        src: CandSrc,
    },
    AddMedia {
        side: usize,
        what: u8,
    },
    RestartIce {
        side: usize,
    },
    /// `restart_ice_transport` for the first mid of the side's transport number `idx`
    /// (modulo their count).
    RestartIceTransport {
        side: usize,
        idx: usize,
    },
    Forward {
        side: usize,
    },
    Close {
        side: usize,
    },
}

fn manual_op() -> impl Strategy<Value = ManualOp> {
    let side = 0..2usize;
    let local_kind = prop_oneof![
        4 => Just(Kind::Offer),
        1 => Just(Kind::Pranswer),
        4 => Just(Kind::Answer),
        1 => Just(Kind::Rollback),
    ];
    let local_src = prop_oneof![
        2 => Just(LocalSrc::Implicit),
        4 => Just(LocalSrc::Latest),
        1 => any::<u8>().prop_map(LocalSrc::Stale),
    ];
    let remote_src = prop_oneof![
        8 => Just(RemoteSrc::Correct),
        1 => any::<u8>().prop_map(RemoteSrc::Swapped),
        1 => any::<u8>().prop_map(RemoteSrc::Stale),
        1 => Just(RemoteSrc::Own),
        1 => Just(RemoteSrc::Rollback),
    ];
    let cand_src = prop_oneof![
        3 => Just(CandSrc::Current),
        1 => any::<u8>().prop_map(CandSrc::Stale),
        1 => Just(CandSrc::Garbage),
        1 => Just(CandSrc::End),
    ];
    prop_oneof![
        5 => (side.clone(), prop::bool::weighted(0.2))
            .prop_map(|(side, ice_restart)| ManualOp::CreateOffer { side, ice_restart }),
        4 => side.clone().prop_map(|side| ManualOp::CreateAnswer { side }),
        8 => (side.clone(), local_kind, local_src)
            .prop_map(|(side, kind, src)| ManualOp::SetLocal { side, kind, src }),
        8 => (side.clone(), remote_src).prop_map(|(side, src)| ManualOp::SetRemote { side, src }),
        2 => (side.clone(), cand_src).prop_map(|(side, src)| ManualOp::AddCandidate { side, src }),
        2 => (side.clone(), 0..4u8).prop_map(|(side, what)| ManualOp::AddMedia { side, what }),
        1 => side.clone().prop_map(|side| ManualOp::RestartIce { side }),
        1 => (side.clone(), 0..4usize)
            .prop_map(|(side, idx)| ManualOp::RestartIceTransport { side, idx }),
        1 => side.clone().prop_map(|side| ManualOp::Forward { side }),
        // Rare: most sequences should exercise an open session.
        1 => prop::bool::weighted(0.3).prop_flat_map(move |rare| {
            if rare {
                (0..2usize).prop_map(|side| ManualOp::Close { side }).boxed()
            } else {
                (0..2usize).prop_map(|side| ManualOp::Forward { side }).boxed()
            }
        }),
    ]
}

type Desc = (Kind, String);

/// The model of one side.
#[derive(Debug, Clone)]
struct Side {
    state: St,
    pending_local: Option<Desc>,
    current_local: Option<Desc>,
    pending_remote: Option<Desc>,
    current_remote: Option<Desc>,
    /// W3C `[[LastCreatedOffer]]` / `[[LastCreatedAnswer]]`, when known.
    last_offer: Option<String>,
    last_answer: Option<String>,
    /// Every description this side created or applied locally.
    history: Vec<Desc>,
    /// The remote offer being answered was applied while both sides agreed on the
    /// negotiated descriptions, and was the peer's real pending offer.
    trusted_remote_offer: bool,
    /// Signal messages produced and not forwarded yet.
    outbox: Vec<SignalMessage>,
}

impl Side {
    fn new() -> Self {
        Self {
            state: St::Stable,
            pending_local: None,
            current_local: None,
            pending_remote: None,
            current_remote: None,
            last_offer: None,
            last_answer: None,
            history: Vec::new(),
            trusted_remote_offer: false,
            outbox: Vec::new(),
        }
    }

    fn local(&self) -> Option<&Desc> {
        self.pending_local.as_ref().or(self.current_local.as_ref())
    }

    fn remote(&self) -> Option<&Desc> {
        self.pending_remote
            .as_ref()
            .or(self.current_remote.as_ref())
    }

    /// A description was applied successfully: the W3C bookkeeping of descriptions.
    fn applied(&mut self, local: bool, desc: Desc, next: St) {
        match (local, desc.0) {
            (_, Kind::Rollback) => {
                self.pending_local = None;
                self.pending_remote = None;
                self.last_offer = None;
                self.last_answer = None;
            }
            (true, Kind::Answer) => {
                self.current_local = Some(desc);
                self.current_remote = self.pending_remote.take();
                self.pending_local = None;
                self.last_offer = None;
                self.last_answer = None;
            }
            (false, Kind::Answer) => {
                self.current_remote = Some(desc);
                self.current_local = self.pending_local.take();
                self.pending_remote = None;
                self.last_offer = None;
                self.last_answer = None;
            }
            (true, _) => self.pending_local = Some(desc),
            (false, kind) => {
                if kind == Kind::Offer {
                    self.last_answer = None;
                }
                self.pending_remote = Some(desc);
            }
        }
        self.state = next;
    }
}

/// What the model expects of a call.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// `Ok`, and the state after is this.
    Ok(St),
    /// `Err(InvalidState)` (W3C `InvalidStateError`), nothing changes.
    InvalidState,
    /// `Err(InvalidModification)`, nothing changes.
    InvalidModification,
    /// `Err(Closed)`.
    Closed,
    /// The description's content is not one the model vouches for (an earlier, swapped or
    /// own description): `Ok` with this state, or a peer/SDP error with nothing changed.
    OkOrContentError(St),
}

fn manual_session(seed: u8, polite: bool, unbundled: bool) -> Session {
    let mut cfg = Config::new(
        [seed; 32],
        vec![sim_fingerprint(if polite { PeerId::A } else { PeerId::B })],
        polite,
    );
    cfg.negotiation = Negotiation::Manual;
    if unbundled {
        cfg.bundle_policy = BundlePolicy::MaxCompat;
    }
    Session::new(cfg, t0())
}

fn ufrag_of(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
}

fn first_mid(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=mid:"))
        .map(str::to_owned)
}

struct Manual {
    sessions: [Session; 2],
    model: [Side; 2],
    log: Vec<String>,
}

impl Manual {
    fn in_sync(&self) -> bool {
        let (a, b) = (&self.model[0], &self.model[1]);
        a.current_local == b.current_remote && a.current_remote == b.current_local
    }

    /// Drains outputs; checks that every remote candidate handed to the transport goes to a
    /// generation with the candidate's ufrag.
    fn drain(&mut self, s: usize) -> Result<(), String> {
        while let Some(cmd) = self.sessions[s].poll_transport() {
            if let TransportCommand::AddRemoteCandidate {
                transport,
                generation,
                candidate,
            } = &cmd
            {
                let infos = self.sessions[s].transports();
                let gen = infos
                    .iter()
                    .find(|t| t.id == *transport)
                    .and_then(|t| t.generations.iter().find(|g| g.generation == *generation));
                let ok = gen
                    .is_some_and(|g| g.remote_ufrag.is_some() && g.remote_ufrag == candidate.ufrag);
                if !ok {
                    return Err(format!(
                        "side {s}: candidate {:?} applied to {transport}/{generation} ({gen:?})",
                        candidate.ufrag
                    ));
                }
            }
        }
        while let Some(msg) = self.sessions[s].poll_signal() {
            self.model[s].outbox.push(msg);
        }
        while let Some(ev) = self.sessions[s].poll_event() {
            if matches!(ev, Event::SignalingStateChange(_) | Event::Closed(_)) {
                self.log.push(format!("side {s}: {ev:?}"));
            }
        }
        Ok(())
    }

    /// The state and descriptions of side `s` equal the model's.
    fn check(&self, s: usize) -> Result<(), String> {
        let (sess, m) = (&self.sessions[s], &self.model[s]);
        let got = st_of(sess.signaling_state());
        if got != m.state {
            return Err(format!("side {s}: state {got:?}, model {:?}", m.state));
        }
        if m.state == St::Closed {
            if !sess.is_closed()
                || sess.connection_state() != PeerConnectionState::Closed
                || sess.ice_connection_state() != IceConnectionState::Closed
            {
                return Err(format!("side {s}: left closed"));
            }
            return Ok(());
        }
        let conv = |d: Option<SessionDescription>| d.map(|d| (kind_of(d.kind), d.sdp));
        let pairs = [
            (
                "localDescription",
                conv(sess.local_description()),
                m.local().cloned(),
            ),
            (
                "remoteDescription",
                conv(sess.remote_description()),
                m.remote().cloned(),
            ),
            (
                "currentLocalDescription",
                conv(sess.current_local_description()),
                m.current_local.clone(),
            ),
            (
                "currentRemoteDescription",
                conv(sess.current_remote_description()),
                m.current_remote.clone(),
            ),
        ];
        for (name, got, want) in pairs {
            if got != want {
                return Err(format!(
                    "side {s}: {name} is {:?}, model {:?}",
                    got.map(|d| d.0),
                    want.map(|d| d.0)
                ));
            }
        }
        Ok(())
    }

    fn step(&mut self, op: &ManualOp) -> Result<(), String> {
        let now = t0();
        match *op {
            ManualOp::CreateOffer { side, ice_restart } => {
                let closed = self.model[side].state == St::Closed;
                let r = self.sessions[side].create_offer(OfferOptions { ice_restart }, now);
                match r {
                    Ok(d) if !closed => {
                        self.model[side].last_offer = Some(d.sdp.clone());
                        self.model[side].history.push((Kind::Offer, d.sdp));
                    }
                    Err(SessionError::Closed) if closed => {}
                    other => return Err(format!("create_offer: {other:?} (closed {closed})")),
                }
            }
            ManualOp::CreateAnswer { side } => {
                let st = self.model[side].state;
                let r = self.sessions[side].create_answer(now);
                let legal = matches!(st, St::HaveRemoteOffer | St::HaveLocalPranswer);
                match r {
                    Ok(d) if legal => {
                        self.model[side].last_answer = Some(d.sdp.clone());
                        self.model[side].history.push((Kind::Answer, d.sdp));
                    }
                    Err(SessionError::Closed) if st == St::Closed => {}
                    Err(SessionError::InvalidState(_)) if !legal && st != St::Closed => {}
                    other => return Err(format!("create_answer in {st:?}: {other:?}")),
                }
            }
            ManualOp::SetLocal { side, kind, src } => {
                let m = &self.model[side];
                let text = match (kind, src) {
                    (Kind::Rollback, _) | (_, LocalSrc::Implicit) => String::new(),
                    (Kind::Offer, LocalSrc::Latest) => m
                        .history
                        .iter()
                        .rev()
                        .find(|d| d.0 == Kind::Offer)
                        .map(|d| d.1.clone())
                        .unwrap_or_default(),
                    (_, LocalSrc::Latest) => m
                        .history
                        .iter()
                        .rev()
                        .find(|d| d.0 != Kind::Offer)
                        .map(|d| d.1.clone())
                        .unwrap_or_default(),
                    (_, LocalSrc::Stale(i)) => {
                        if m.history.is_empty() {
                            String::new()
                        } else {
                            m.history[usize::from(i) % m.history.len()].1.clone()
                        }
                    }
                };
                let expect = if m.state == St::Closed {
                    Expect::Closed
                } else {
                    match model_next(m.state, true, kind) {
                        None => Expect::InvalidState,
                        Some(next) => {
                            let last = if kind == Kind::Offer {
                                &m.last_offer
                            } else {
                                &m.last_answer
                            };
                            if text.is_empty()
                                || kind == Kind::Rollback
                                || last.as_ref() == Some(&text)
                            {
                                Expect::Ok(next)
                            } else {
                                Expect::InvalidModification
                            }
                        }
                    }
                };
                let desc = SessionDescription {
                    kind: sdp_type(kind),
                    sdp: text,
                };
                let r = self.sessions[side].set_local_description(desc, now);
                self.log.push(format!(
                    "side {side}: set_local {kind:?} {src:?} -> {r:?} (expected {expect:?})"
                ));
                match (&expect, &r) {
                    (Expect::Ok(next), Ok(())) => {
                        let applied = if kind == Kind::Rollback {
                            (Kind::Rollback, String::new())
                        } else {
                            let d = self.sessions[side]
                                .local_description()
                                .ok_or("no local description after set_local_description")?;
                            (kind, d.sdp)
                        };
                        let m = &mut self.model[side];
                        if kind == Kind::Offer {
                            m.last_offer = Some(applied.1.clone());
                        } else if kind != Kind::Rollback {
                            m.last_answer = Some(applied.1.clone());
                        }
                        m.history.push(applied.clone());
                        m.applied(true, applied, *next);
                    }
                    (Expect::InvalidState, Err(SessionError::InvalidState(_)))
                    | (Expect::InvalidModification, Err(SessionError::InvalidModification(_)))
                    | (Expect::Closed, Err(SessionError::Closed)) => {}
                    _ => return Err(format!("set_local_description: {r:?}, model {expect:?}")),
                }
            }
            ManualOp::SetRemote { side, src } => {
                let o = 1 - side;
                let in_sync = self.in_sync();
                let (m, peer) = (&self.model[side], &self.model[o]);
                let (desc, trusted): (Desc, bool) = match src {
                    RemoteSrc::Rollback => ((Kind::Rollback, String::new()), true),
                    RemoteSrc::Correct => match peer.local() {
                        None => ((Kind::Offer, String::new()), false),
                        Some(d) => {
                            let trusted = match d.0 {
                                // The peer's pending offer, while both agree on what was
                                // negotiated.
                                Kind::Offer => in_sync && peer.pending_local.is_some(),
                                // The peer's answer to our pending offer, which it applied
                                // while we agreed.
                                _ => {
                                    // (In have-remote-offer the peer's local description is
                                    // an answer to an earlier offer.)
                                    peer.state != St::HaveRemoteOffer
                                        && peer.trusted_remote_offer
                                        && m.pending_local.as_ref().map(|x| &x.1)
                                            == peer.remote().map(|x| &x.1)
                                }
                            };
                            (d.clone(), trusted)
                        }
                    },
                    RemoteSrc::Swapped(k) => match peer.local() {
                        None => ((Kind::Answer, String::new()), false),
                        Some(d) => {
                            let others: Vec<Kind> = [Kind::Offer, Kind::Pranswer, Kind::Answer]
                                .into_iter()
                                .filter(|x| *x != d.0)
                                .collect();
                            ((others[usize::from(k) % 2], d.1.clone()), false)
                        }
                    },
                    RemoteSrc::Stale(i) => {
                        if peer.history.is_empty() {
                            ((Kind::Offer, String::new()), false)
                        } else {
                            let d = &peer.history[usize::from(i) % peer.history.len()];
                            (d.clone(), false)
                        }
                    }
                    RemoteSrc::Own => match m.local() {
                        None => ((Kind::Offer, String::new()), false),
                        Some(d) => (d.clone(), false),
                    },
                };
                let expect = if m.state == St::Closed {
                    Expect::Closed
                } else {
                    match model_next(m.state, false, desc.0) {
                        None => Expect::InvalidState,
                        Some(next) if trusted => Expect::Ok(next),
                        Some(next) => Expect::OkOrContentError(next),
                    }
                };
                let r = self.sessions[side].set_remote_description(
                    SessionDescription {
                        kind: sdp_type(desc.0),
                        sdp: desc.1.clone(),
                    },
                    now,
                );
                self.log.push(format!(
                    "side {side}: set_remote {:?} {src:?} -> {r:?} (expected {expect:?})",
                    desc.0
                ));
                match (&expect, &r) {
                    (Expect::Ok(next) | Expect::OkOrContentError(next), Ok(())) => {
                        let next = *next;
                        let m = &mut self.model[side];
                        if desc.0 == Kind::Offer {
                            m.trusted_remote_offer = trusted && in_sync;
                        }
                        m.applied(false, desc, next);
                    }
                    (
                        Expect::OkOrContentError(_),
                        Err(SessionError::Peer(_) | SessionError::Sdp(_)),
                    )
                    | (Expect::InvalidState, Err(SessionError::InvalidState(_)))
                    | (Expect::Closed, Err(SessionError::Closed)) => {}
                    _ => return Err(format!("set_remote_description: {r:?}, model {expect:?}")),
                }
            }
            ManualOp::AddCandidate { side, src } => {
                let o = 1 - side;
                let peer = &self.model[o];
                let ufrag = match src {
                    CandSrc::Current => peer.local().and_then(|d| ufrag_of(&d.1)),
                    CandSrc::Stale(i) if !peer.history.is_empty() => {
                        ufrag_of(&peer.history[usize::from(i) % peer.history.len()].1)
                    }
                    _ => None,
                };
                let mid = peer.local().and_then(|d| first_mid(&d.1));
                let line = match src {
                    CandSrc::Garbage => "candidate:x 1 udp nonsense".to_owned(),
                    CandSrc::End => String::new(),
                    _ => "candidate:9 1 udp 2122260223 192.0.2.77 40000 typ host".to_owned(),
                };
                let init = IceCandidateInit {
                    candidate: line,
                    sdp_mid: mid,
                    sdp_m_line_index: None,
                    username_fragment: ufrag.clone(),
                };
                let closed = self.model[side].state == St::Closed;
                let has_remote = self.model[side].remote().is_some();
                let r = self.sessions[side].add_ice_candidate(init, now);
                match (&r, src) {
                    (Err(SessionError::Closed), _) if closed => {}
                    (Err(SessionError::Candidate(_)), CandSrc::Garbage) if !closed => {}
                    (Ok(CandidateOutcome::Applied { .. }), _) if !closed && has_remote => {}
                    (Ok(CandidateOutcome::Queued | CandidateOutcome::Dropped(_)), _)
                        if !closed && !matches!(src, CandSrc::Garbage) => {}
                    _ => {
                        return Err(format!(
                        "add_ice_candidate {src:?} (closed {closed}, remote {has_remote}): {r:?}"
                    ))
                    }
                }
            }
            ManualOp::AddMedia { side, what } => {
                let s = &mut self.sessions[side];
                match what {
                    0 => {
                        let _ = s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
                    }
                    1 => {
                        let _ = s.add_transceiver(MediaKind::Video, Direction::RecvOnly);
                    }
                    2 => {
                        let _ = s.add_track(MediaKind::Audio);
                    }
                    _ => {
                        let closed = s.is_closed();
                        let r = s.create_data_channel("m", DataChannelInit::default());
                        if r.is_ok() == closed {
                            return Err(format!("create_data_channel (closed {closed}): {r:?}"));
                        }
                    }
                }
            }
            ManualOp::RestartIce { side } => self.sessions[side].restart_ice(now),
            ManualOp::RestartIceTransport { side, idx } => {
                let s = &mut self.sessions[side];
                let mids: Vec<String> = s
                    .transports()
                    .iter()
                    .filter_map(|t| s.mids_of_transport(t.id).into_iter().next())
                    .collect();
                if !mids.is_empty() {
                    let mid = mids[idx % mids.len()].clone();
                    s.restart_ice_transport(&mid, now);
                }
            }
            ManualOp::Forward { side } => {
                let o = 1 - side;
                let msgs = std::mem::take(&mut self.model[side].outbox);
                for msg in msgs {
                    if matches!(msg, SignalMessage::Description { .. }) {
                        return Err("manual negotiation sent a description by itself".into());
                    }
                    let bye = matches!(msg, SignalMessage::Bye { .. });
                    let json = msg.to_json();
                    let r = self.sessions[o].handle_signal_json(&json, now);
                    if let Err(e) = r {
                        return Err(format!("handle_signal({json}): {e}"));
                    }
                    if bye {
                        self.model[o].state = St::Closed;
                    }
                }
            }
            ManualOp::Close { side } => {
                self.sessions[side].close(now);
                self.model[side].state = St::Closed;
            }
        }
        for s in 0..2 {
            self.drain(s)?;
            self.check(s)?;
        }
        Ok(())
    }
}

fn run_manual_case(seed: u8, unbundled: bool, ops: &[ManualOp]) -> Result<(), String> {
    let mut m = Manual {
        sessions: [
            manual_session(seed, true, unbundled),
            manual_session(seed ^ 0x5a, false, unbundled),
        ],
        model: [Side::new(), Side::new()],
        log: Vec::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = m.step(op) {
            return Err(format!(
                "op {i} {op:?}: {e}\nlog:\n  {}",
                m.log.join("\n  ")
            ));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config_from_env("MANUAL_CASES", MANUAL_CASES))]

    #[test]
    fn manual_jsep_matches_model(
        seed in any::<u8>(),
        unbundled in prop::bool::weighted(0.3),
        ops in prop::collection::vec(manual_op(), 1..40),
    ) {
        let result = run_manual_case(seed, unbundled, &ops);
        prop_assert!(result.is_ok(), "session seed byte {seed} (unbundled: {unbundled}): {}", result.unwrap_err());
    }
}

#[test]
fn reference_model_is_the_w3c_table() {
    // A few rows of the table checked by hand, so a typo in the model cannot hide.
    assert_eq!(
        model_next(St::Stable, true, Kind::Offer),
        Some(St::HaveLocalOffer)
    );
    assert_eq!(model_next(St::Stable, true, Kind::Rollback), None);
    assert_eq!(
        model_next(St::HaveLocalPranswer, false, Kind::Rollback),
        None
    );
    assert_eq!(model_next(St::HaveLocalOffer, false, Kind::Offer), None);
    assert_eq!(
        model_next(St::HaveRemotePranswer, false, Kind::Answer),
        Some(St::Stable)
    );
}
