//! The simulated transport of both peers: ICE generations that connect when their
//! credentials pair up, consent that fails when the link is down, DTLS over the promoted
//! generations, SCTP and data channels. It checks what the sessions command as it goes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{sim_fingerprint, PeerId, SimConfig};
use crate::candidate::{Candidate, CandidateProtocol, CandidateType};
use crate::channel::DataChannelInit;
use crate::ice::IceCredentials;
use crate::sdp::Fingerprint;
use crate::state::{DtlsTransportState, IceTransportState};
use crate::transport::{DtlsRole, Generation, TransportCommand, TransportEvent, TransportId};

/// Outages of the data path (after it first came up), in virtual time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PathStats {
    /// When the path first came up (offset from the start of the path tracking).
    pub first_up: Option<Instant>,
    /// Number of times the path went down after first coming up.
    pub outages: u32,
    /// Longest outage.
    pub longest_gap: Duration,
    /// Total time down after first coming up.
    pub total_down: Duration,
}

#[derive(Debug, Clone)]
struct NGen {
    peer: PeerId,
    t: TransportId,
    g: Generation,
    local: IceCredentials,
    remote: Option<IceCredentials>,
    remote_at: Option<Instant>,
    retired: bool,
    state: IceTransportState,
    remote_cands: u32,
    connect_at: Option<Instant>,
    down_since: Option<Instant>,
}

#[derive(Debug, Clone)]
struct NDtls {
    peer: PeerId,
    t: TransportId,
    role: DtlsRole,
    remote_fps: Vec<Fingerprint>,
    state: DtlsTransportState,
    connect_at: Option<Instant>,
}

#[derive(Debug, Clone)]
struct NChan {
    peer: PeerId,
    sid: u16,
    label: String,
    init: DataChannelInit,
    open: bool,
    closed: bool,
}

#[derive(Debug)]
pub(crate) struct SimNet {
    gather_delay: Duration,
    check_delay: Duration,
    dtls_delay: Duration,
    consent_timeout: Duration,
    failed_timeout: Duration,
    wrong_fingerprint_b: bool,
    link_up: bool,
    gens: Vec<NGen>,
    dtls: Vec<NDtls>,
    promoted: BTreeMap<(PeerId, TransportId), Generation>,
    sctp: Vec<(PeerId, TransportId)>,
    channels: Vec<NChan>,
    closed: [bool; 2],
    /// Transports whose carrying generation was retired with no newer one in progress.
    torn_down: Vec<(PeerId, TransportId)>,
    origin: BTreeMap<String, (PeerId, String)>,
    next_foundation: u32,
    outbox: Vec<(Instant, PeerId, TransportEvent)>,
    path_up: bool,
    stats: PathStats,
    down_since: Option<Instant>,
}

impl SimNet {
    pub(crate) fn new(cfg: &SimConfig) -> Self {
        Self {
            gather_delay: cfg.gather_delay,
            check_delay: cfg.check_delay,
            dtls_delay: cfg.dtls_delay,
            consent_timeout: cfg.consent_timeout,
            failed_timeout: cfg.failed_timeout,
            wrong_fingerprint_b: cfg.wrong_fingerprint_b,
            link_up: true,
            gens: Vec::new(),
            dtls: Vec::new(),
            promoted: BTreeMap::new(),
            sctp: Vec::new(),
            channels: Vec::new(),
            closed: [false; 2],
            torn_down: Vec::new(),
            origin: BTreeMap::new(),
            next_foundation: 1,
            outbox: Vec::new(),
            path_up: false,
            stats: PathStats::default(),
            down_since: None,
        }
    }

    fn cert(&self, peer: PeerId) -> Fingerprint {
        if peer == PeerId::B && self.wrong_fingerprint_b {
            Fingerprint {
                algorithm: "sha-256".into(),
                value: vec![0xEE; 32],
            }
        } else {
            sim_fingerprint(peer)
        }
    }

    pub(crate) fn set_link(&mut self, up: bool) {
        self.link_up = up;
    }

    pub(crate) fn path_up(&self) -> bool {
        self.path_up
    }

    pub(crate) fn path_stats(&self, now: Instant) -> PathStats {
        let mut s = self.stats;
        if let Some(since) = self.down_since {
            let d = now.saturating_duration_since(since);
            s.longest_gap = s.longest_gap.max(d);
            s.total_down += d;
        }
        s
    }

    fn gen_index(&self, peer: PeerId, t: TransportId, g: Generation) -> Option<usize> {
        self.gens
            .iter()
            .position(|x| x.peer == peer && x.t == t && x.g == g)
    }

    /// Executes one command of `peer`'s session; `Err` is an invariant violation.
    pub(crate) fn command(
        &mut self,
        peer: PeerId,
        cmd: TransportCommand,
        now: Instant,
    ) -> Result<(), String> {
        if self.closed[peer.index()] {
            return Err(format!("command after Close: {cmd:?}"));
        }
        match cmd {
            TransportCommand::StartGeneration {
                transport,
                generation,
                local,
                ..
            } => {
                if self.gen_index(peer, transport, generation).is_some() {
                    return Err(format!("{transport}/{generation} started twice"));
                }
                if self.torn_down.contains(&(peer, transport)) {
                    return Err(format!(
                        "{transport}/{generation} started on a transport that was torn down"
                    ));
                }
                if !local.is_valid() {
                    return Err(format!("invalid local credentials {local:?}"));
                }
                let foundation = self.next_foundation;
                self.next_foundation += 1;
                self.origin
                    .insert(foundation.to_string(), (peer, local.ufrag.clone()));
                let candidate = Candidate {
                    foundation: foundation.to_string(),
                    component: 1,
                    protocol: CandidateProtocol::Udp,
                    priority: 2_122_260_223,
                    address: format!("192.0.2.{}", peer.index() + 1),
                    port: 10_000 + (foundation % 50_000) as u16,
                    typ: CandidateType::Host,
                    related_address: None,
                    related_port: None,
                    tcp_type: None,
                    ufrag: None,
                    generation: None,
                    network_id: None,
                    network_cost: None,
                    extensions: Vec::new(),
                };
                let at = now + self.gather_delay;
                self.outbox.push((
                    at,
                    peer,
                    TransportEvent::LocalCandidate {
                        transport,
                        generation,
                        candidate,
                    },
                ));
                self.outbox.push((
                    at,
                    peer,
                    TransportEvent::GatheringComplete {
                        transport,
                        generation,
                    },
                ));
                self.gens.push(NGen {
                    peer,
                    t: transport,
                    g: generation,
                    local,
                    remote: None,
                    remote_at: None,
                    retired: false,
                    state: IceTransportState::New,
                    remote_cands: 0,
                    connect_at: None,
                    down_since: None,
                });
            }
            TransportCommand::SetRemoteCredentials {
                transport,
                generation,
                remote,
            } => {
                let i = self.gen_index(peer, transport, generation).ok_or_else(|| {
                    format!("remote credentials for unknown {transport}/{generation}")
                })?;
                let gen = &mut self.gens[i];
                if gen.retired {
                    return Err(format!(
                        "remote credentials for retired {transport}/{generation}"
                    ));
                }
                if gen.remote.as_ref().is_some_and(|r| r != &remote) {
                    return Err(format!(
                        "remote credentials of {transport}/{generation} changed"
                    ));
                }
                gen.remote = Some(remote);
                gen.remote_at = Some(now);
            }
            TransportCommand::AddRemoteCandidate {
                transport,
                generation,
                candidate,
            } => {
                let i = self
                    .gen_index(peer, transport, generation)
                    .ok_or_else(|| format!("candidate for unknown {transport}/{generation}"))?;
                let gen = &self.gens[i];
                if gen.retired {
                    return Err(format!(
                        "candidate applied to retired {transport}/{generation}"
                    ));
                }
                let Some(remote) = &gen.remote else {
                    return Err(format!(
                        "candidate before remote credentials on {transport}/{generation}"
                    ));
                };
                if candidate.ufrag.as_deref() != Some(remote.ufrag.as_str()) {
                    return Err(format!(
                        "candidate with ufrag {:?} applied to generation with remote ufrag {}",
                        candidate.ufrag, remote.ufrag
                    ));
                }
                match self.origin.get(&candidate.foundation) {
                    Some((from, ufrag)) if *from != peer && *ufrag == remote.ufrag => {}
                    other => {
                        return Err(format!(
                            "candidate from {other:?} applied to the wrong generation {transport}/{generation}"
                        ))
                    }
                }
                self.gens[i].remote_cands += 1;
            }
            TransportCommand::RemoteEndOfCandidates {
                transport,
                generation,
            } => {
                self.gen_index(peer, transport, generation).ok_or_else(|| {
                    format!("end-of-candidates for unknown {transport}/{generation}")
                })?;
            }
            TransportCommand::StartDtls {
                transport,
                role,
                remote_fingerprints,
            } => {
                if self.dtls.iter().any(|d| d.peer == peer && d.t == transport) {
                    return Err(format!("DTLS started twice on {transport}"));
                }
                self.dtls.push(NDtls {
                    peer,
                    t: transport,
                    role,
                    remote_fps: remote_fingerprints,
                    state: DtlsTransportState::New,
                    connect_at: None,
                });
            }
            TransportCommand::PromoteGeneration {
                transport,
                generation,
            } => {
                let i = self
                    .gen_index(peer, transport, generation)
                    .ok_or_else(|| format!("promoted unknown {transport}/{generation}"))?;
                let gen = &self.gens[i];
                if gen.retired || !gen.state.is_connected() {
                    return Err(format!(
                        "promoted {transport}/{generation} in state {:?} (retired: {})",
                        gen.state, gen.retired
                    ));
                }
                self.promoted.insert((peer, transport), generation);
            }
            TransportCommand::RetireGeneration {
                transport,
                generation,
            } => {
                let i = self
                    .gen_index(peer, transport, generation)
                    .ok_or_else(|| format!("retired unknown {transport}/{generation}"))?;
                let carrying = self.promoted.get(&(peer, transport)) == Some(&generation);
                // No newer generation in progress: the session is closing the transport (no
                // m-section uses it any more), not switching generations. Such a transport
                // must never be used again (checked in `StartGeneration`).
                let teardown = !self
                    .gens
                    .iter()
                    .any(|x| x.peer == peer && x.t == transport && x.g > generation && !x.retired);
                if carrying && teardown {
                    self.torn_down.push((peer, transport));
                }
                let gen = &mut self.gens[i];
                if carrying && !teardown && gen.state != IceTransportState::Failed {
                    return Err(format!(
                        "make-before-break: retired {transport}/{generation} while it carried traffic ({:?})",
                        gen.state
                    ));
                }
                gen.retired = true;
                gen.state = IceTransportState::Closed;
                if carrying {
                    self.promoted.remove(&(peer, transport));
                }
            }
            TransportCommand::StartSctp { transport, .. } => {
                if self.sctp.contains(&(peer, transport)) {
                    return Err(format!("SCTP started twice on {transport}"));
                }
                self.sctp.push((peer, transport));
            }
            TransportCommand::OpenDataChannel {
                stream_id,
                label,
                init,
                ..
            } => {
                if self
                    .channels
                    .iter()
                    .any(|c| c.peer == peer && c.sid == stream_id && !c.closed)
                {
                    return Err(format!("stream id {stream_id} opened twice"));
                }
                self.channels.push(NChan {
                    peer,
                    sid: stream_id,
                    label,
                    init,
                    open: false,
                    closed: false,
                });
            }
            TransportCommand::CloseDataChannel { stream_id, .. } => {
                for c in self
                    .channels
                    .iter_mut()
                    .filter(|c| c.sid == stream_id && !c.closed)
                {
                    c.closed = true;
                    if c.open || c.peer == peer {
                        self.outbox.push((
                            now,
                            c.peer,
                            TransportEvent::DataChannelClosed { stream_id },
                        ));
                    }
                }
                let other = peer.other();
                if self.sctp_up() {
                    self.outbox
                        .push((now, other, TransportEvent::DataChannelClosed { stream_id }));
                }
            }
            TransportCommand::Close => {
                self.closed[peer.index()] = true;
                for g in self.gens.iter_mut().filter(|g| g.peer == peer) {
                    g.retired = true;
                    g.state = IceTransportState::Closed;
                }
                let other = peer.other();
                if self.path_up {
                    // close_notify reaches the other side; its channels close.
                    for d in self.dtls.iter_mut().filter(|d| d.peer == other) {
                        if d.state == DtlsTransportState::Connected {
                            d.state = DtlsTransportState::Closed;
                            self.outbox.push((
                                now,
                                other,
                                TransportEvent::DtlsStateChanged {
                                    transport: d.t,
                                    state: DtlsTransportState::Closed,
                                },
                            ));
                        }
                    }
                    for c in self.channels.iter_mut().filter(|c| !c.closed) {
                        c.closed = true;
                        if c.peer == other && c.open {
                            self.outbox.push((
                                now,
                                other,
                                TransportEvent::DataChannelClosed { stream_id: c.sid },
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The live partner of generation `i` on the other peer (credentials pair up).
    fn partner(&self, i: usize) -> Option<usize> {
        let x = &self.gens[i];
        let remote = x.remote.as_ref()?;
        self.gens.iter().position(|y| {
            y.peer != x.peer
                && !y.retired
                && &y.local == remote
                && y.remote.as_ref() == Some(&x.local)
        })
    }

    /// Is there a path from `from` to the other peer: `from`'s promoted generation is
    /// connected and paired with a live connected generation on the other side (which reads
    /// from every live generation)?
    fn direction_up(&self, from: PeerId) -> bool {
        self.promoted.iter().any(|(&(p, t), &g)| {
            p == from
                && self.gen_index(p, t, g).is_some_and(|i| {
                    self.gens[i].state.is_connected()
                        && self
                            .partner(i)
                            .is_some_and(|j| self.gens[j].state.is_connected())
                })
        })
    }

    fn dtls_up(&self) -> bool {
        [PeerId::A, PeerId::B].iter().all(|p| {
            self.dtls
                .iter()
                .any(|d| d.peer == *p && d.state == DtlsTransportState::Connected)
        })
    }

    fn sctp_up(&self) -> bool {
        self.dtls_up()
            && self.sctp.iter().any(|(p, _)| *p == PeerId::A)
            && self.sctp.iter().any(|(p, _)| *p == PeerId::B)
    }

    /// Advances ICE, DTLS and channel state to `now`; returns events to deliver.
    pub(crate) fn reconcile(&mut self, now: Instant) -> Vec<(Instant, PeerId, TransportEvent)> {
        let mut out = std::mem::take(&mut self.outbox);
        // ICE.
        for i in 0..self.gens.len() {
            if self.gens[i].retired || self.gens[i].remote.is_none() {
                continue;
            }
            let partner = self.partner(i);
            let cands =
                partner.map(|j| self.gens[j].remote_cands).unwrap_or(0) + self.gens[i].remote_cands;
            let closed = self.closed[0] || self.closed[1];
            let can = partner.is_some() && self.link_up && cands > 0 && !closed;
            let g = &mut self.gens[i];
            let before = g.state;
            match g.state {
                IceTransportState::New => {
                    if can {
                        g.state = IceTransportState::Checking;
                        g.connect_at = Some(now + self.check_delay);
                    } else if g.remote_at.is_some_and(|t| now >= t + self.failed_timeout) {
                        g.state = IceTransportState::Failed;
                    }
                }
                IceTransportState::Checking => {
                    if can && g.connect_at.is_some_and(|t| now >= t) {
                        g.state = IceTransportState::Connected;
                        g.down_since = None;
                    } else if g.remote_at.is_some_and(|t| now >= t + self.failed_timeout) {
                        g.state = IceTransportState::Failed;
                    } else if !can {
                        g.connect_at = None;
                    } else if g.connect_at.is_none() {
                        g.connect_at = Some(now + self.check_delay);
                    }
                }
                IceTransportState::Connected | IceTransportState::Completed => {
                    if can {
                        g.down_since = None;
                    } else {
                        let since = *g.down_since.get_or_insert(now);
                        if now >= since + self.consent_timeout {
                            g.state = IceTransportState::Disconnected;
                        }
                    }
                }
                IceTransportState::Disconnected => {
                    if can {
                        g.state = IceTransportState::Connected;
                        g.down_since = None;
                    } else if g.down_since.is_some_and(|t| now >= t + self.failed_timeout) {
                        g.state = IceTransportState::Failed;
                    }
                }
                _ => {}
            }
            if g.state != before {
                out.push((
                    now,
                    g.peer,
                    TransportEvent::IceStateChanged {
                        transport: g.t,
                        generation: g.g,
                        state: g.state,
                    },
                ));
            }
        }
        // DTLS: handshake once both directions of the path are up.
        let path = self.direction_up(PeerId::A) && self.direction_up(PeerId::B) && self.link_up;
        let certs = [self.cert(PeerId::A), self.cert(PeerId::B)];
        let started = |p: PeerId, d: &[NDtls]| d.iter().any(|x| x.peer == p);
        if path && started(PeerId::A, &self.dtls) && started(PeerId::B, &self.dtls) {
            let roles: Vec<DtlsRole> = self.dtls.iter().map(|d| d.role).collect();
            let complementary =
                roles.contains(&DtlsRole::Client) && roles.contains(&DtlsRole::Server);
            for k in 0..self.dtls.len() {
                let d = &mut self.dtls[k];
                match d.state {
                    DtlsTransportState::New => {
                        d.state = DtlsTransportState::Connecting;
                        d.connect_at = Some(now + self.dtls_delay);
                        out.push((
                            now,
                            d.peer,
                            TransportEvent::DtlsStateChanged {
                                transport: d.t,
                                state: DtlsTransportState::Connecting,
                            },
                        ));
                    }
                    DtlsTransportState::Connecting if d.connect_at.is_some_and(|t| now >= t) => {
                        let peer_cert = &certs[d.peer.other().index()];
                        let fp_ok = d.remote_fps.contains(peer_cert);
                        if !fp_ok {
                            out.push((
                                now,
                                d.peer,
                                TransportEvent::FingerprintMismatch { transport: d.t },
                            ));
                        }
                        d.state = if fp_ok && complementary {
                            DtlsTransportState::Connected
                        } else {
                            DtlsTransportState::Failed
                        };
                        out.push((
                            now,
                            d.peer,
                            TransportEvent::DtlsStateChanged {
                                transport: d.t,
                                state: d.state,
                            },
                        ));
                    }
                    _ => {}
                }
            }
            // A failed handshake fails both ends.
            if self
                .dtls
                .iter()
                .any(|d| d.state == DtlsTransportState::Failed)
            {
                for d in self.dtls.iter_mut() {
                    if d.state == DtlsTransportState::Connected
                        || d.state == DtlsTransportState::Connecting
                            && d.connect_at.is_some_and(|t| now >= t)
                    {
                        d.state = DtlsTransportState::Failed;
                        out.push((
                            now,
                            d.peer,
                            TransportEvent::DtlsStateChanged {
                                transport: d.t,
                                state: DtlsTransportState::Failed,
                            },
                        ));
                    }
                }
            }
        }
        // Data channels.
        if self.sctp_up() && path {
            let n = self.channels.len();
            for k in 0..n {
                let c = &self.channels[k];
                if c.open || c.closed {
                    continue;
                }
                let (peer, sid) = (c.peer, c.sid);
                if c.init.negotiated.is_some() {
                    let other = self
                        .channels
                        .iter()
                        .position(|o| o.peer != peer && o.sid == sid && !o.closed);
                    if let Some(o) = other {
                        self.channels[k].open = true;
                        self.channels[o].open = true;
                        out.push((
                            now,
                            peer,
                            TransportEvent::DataChannelOpen { stream_id: sid },
                        ));
                        out.push((
                            now,
                            peer.other(),
                            TransportEvent::DataChannelOpen { stream_id: sid },
                        ));
                    }
                } else {
                    self.channels[k].open = true;
                    let (label, init) = (
                        self.channels[k].label.clone(),
                        self.channels[k].init.clone(),
                    );
                    out.push((
                        now,
                        peer,
                        TransportEvent::DataChannelOpen { stream_id: sid },
                    ));
                    out.push((
                        now + self.check_delay / 4,
                        peer.other(),
                        TransportEvent::RemoteDataChannel {
                            stream_id: sid,
                            label: label.clone(),
                            init: init.clone(),
                        },
                    ));
                    self.channels.push(NChan {
                        peer: peer.other(),
                        sid,
                        label,
                        init,
                        open: true,
                        closed: false,
                    });
                }
            }
        }
        // Path statistics.
        let up = path && self.dtls_up() && !self.closed[0] && !self.closed[1];
        if up != self.path_up {
            if up {
                if self.stats.first_up.is_none() {
                    self.stats.first_up = Some(now);
                }
                if let Some(since) = self.down_since.take() {
                    let d = now.saturating_duration_since(since);
                    self.stats.longest_gap = self.stats.longest_gap.max(d);
                    self.stats.total_down += d;
                }
            } else if self.stats.first_up.is_some() && !self.closed[0] && !self.closed[1] {
                self.stats.outages += 1;
                self.down_since = Some(now);
            }
            self.path_up = up;
        }
        out
    }

    /// The next instant at which [`reconcile`](Self::reconcile) may change something.
    pub(crate) fn next_timer(&self, now: Instant) -> Option<Instant> {
        let ice = self.gens.iter().filter(|g| !g.retired).flat_map(|g| {
            let checking = matches!(
                g.state,
                IceTransportState::New | IceTransportState::Checking
            );
            [
                g.connect_at.filter(|_| checking),
                g.remote_at
                    .map(|t| t + self.failed_timeout)
                    .filter(|_| checking),
                g.down_since.map(|t| t + self.consent_timeout),
                g.down_since.map(|t| t + self.failed_timeout),
            ]
        });
        let dtls = self
            .dtls
            .iter()
            .filter(|d| d.state == DtlsTransportState::Connecting)
            .map(|d| d.connect_at);
        ice.chain(dtls).flatten().filter(|&t| t > now).min()
    }
}
