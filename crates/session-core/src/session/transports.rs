//! ICE transports and their generations: starting, promoting (make-before-break) and retiring
//! generations, transport events, and the aggregate W3C states.

use std::time::Instant;

use super::restart::Restart;
use super::{Event, Session};
use crate::candidate::Candidate;
use crate::channel::DataChannelState;
use crate::error::PeerError;
use crate::ice::IceCredentials;
use crate::sdp::Fingerprint;
use crate::signal::SignalMessage;
use crate::state::{
    self, DtlsTransportState, IceGathererState, IceTransportState, PeerConnectionState,
};
use crate::transport::{
    DtlsRole, Generation, IceRole, TransportCommand, TransportEvent, TransportId,
};

/// Local candidates remembered per generation (for retransmission with a resent offer).
const MAX_LOCAL_CANDIDATES: usize = 64;

/// Where a generation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GenerationStatus {
    /// Started; its offer/answer exchange has not completed.
    Negotiating,
    /// Negotiated (both credentials known through a completed exchange).
    Live,
    /// Closed: never used again, its candidates are stale.
    Retired,
}

/// A snapshot of one ICE generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationInfo {
    /// The generation.
    pub generation: Generation,
    /// Local ufrag.
    pub local_ufrag: String,
    /// Remote ufrag, once known.
    pub remote_ufrag: Option<String>,
    /// ICE state last reported by the transport.
    pub state: IceTransportState,
    /// Life cycle status.
    pub status: GenerationStatus,
    /// Did it ever connect?
    pub ever_connected: bool,
}

/// A snapshot of one transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportInfo {
    /// Transport id.
    pub id: TransportId,
    /// The mid that tags it (first of its BUNDLE group, or its own m-section).
    pub tag: String,
    /// The generation carrying traffic, if any.
    pub active: Option<Generation>,
    /// Every generation, oldest first (retired ones included).
    pub generations: Vec<GenerationInfo>,
    /// DTLS state.
    pub dtls: DtlsTransportState,
}

#[derive(Debug, Clone)]
pub(super) struct Gen {
    pub(super) generation: Generation,
    pub(super) local: IceCredentials,
    pub(super) remote: Option<IceCredentials>,
    pub(super) state: IceTransportState,
    pub(super) gatherer: IceGathererState,
    pub(super) status: GenerationStatus,
    pub(super) ever_connected: bool,
    pub(super) local_candidates: Vec<Candidate>,
    /// Superseded by a promoted newer generation: retired at this instant.
    pub(super) retire_at: Option<Instant>,
}

#[derive(Debug, Clone)]
pub(super) struct Transport {
    pub(super) id: TransportId,
    pub(super) tag: String,
    pub(super) gens: Vec<Gen>,
    pub(super) active: Option<Generation>,
    /// Its ICE restart, from request to completion (`restart.rs`).
    pub(super) restart: Restart,
    pub(super) dtls_started: bool,
    pub(super) dtls: DtlsTransportState,
    pub(super) remote_fingerprints: Vec<Fingerprint>,
    pub(super) closed: bool,
    next_generation: u32,
}

impl Transport {
    fn new(id: TransportId, tag: String) -> Self {
        Self {
            id,
            tag,
            gens: Vec::new(),
            active: None,
            restart: Restart::default(),
            dtls_started: false,
            dtls: DtlsTransportState::New,
            remote_fingerprints: Vec::new(),
            closed: false,
            next_generation: 0,
        }
    }

    /// Has a generation been negotiated on this transport?
    pub(super) fn has_generation(&self) -> bool {
        self.negotiated_generation().is_some()
    }

    /// The generation whose credentials are the negotiated ones: the newest live one.
    pub(super) fn negotiated_generation(&self) -> Option<&Gen> {
        self.gens
            .iter()
            .rev()
            .find(|g| g.status == GenerationStatus::Live)
    }

    /// The generation started by the exchange in progress, if any.
    pub(super) fn negotiating_generation(&self) -> Option<&Gen> {
        self.gens
            .iter()
            .rev()
            .find(|g| g.status == GenerationStatus::Negotiating)
    }

    pub(super) fn gen(&self, g: Generation) -> Option<&Gen> {
        self.gens.iter().find(|x| x.generation == g)
    }

    pub(super) fn gen_mut(&mut self, g: Generation) -> Option<&mut Gen> {
        self.gens.iter_mut().find(|x| x.generation == g)
    }

    pub(super) fn gen_by_local(&self, local: &IceCredentials) -> Option<&Gen> {
        self.gens
            .iter()
            .find(|x| &x.local == local && x.status != GenerationStatus::Retired)
    }

    pub(super) fn gen_by_remote_ufrag(&self, ufrag: &str) -> Option<&Gen> {
        self.gens
            .iter()
            .rev()
            .find(|x| x.remote.as_ref().is_some_and(|r| r.ufrag == ufrag))
    }

    pub(super) fn close(&mut self) {
        self.closed = true;
        for g in &mut self.gens {
            g.status = GenerationStatus::Retired;
            g.state = IceTransportState::Closed;
        }
        self.dtls = DtlsTransportState::Closed;
    }

    pub(super) fn info(&self) -> TransportInfo {
        TransportInfo {
            id: self.id,
            tag: self.tag.clone(),
            active: self.active,
            generations: self
                .gens
                .iter()
                .map(|g| GenerationInfo {
                    generation: g.generation,
                    local_ufrag: g.local.ufrag.clone(),
                    remote_ufrag: g.remote.as_ref().map(|r| r.ufrag.clone()),
                    state: g.state,
                    status: g.status,
                    ever_connected: g.ever_connected,
                })
                .collect(),
            dtls: self.dtls,
        }
    }

    /// The policy's automatic restart is for this transport: it has no working path (its
    /// ICE state, as [`ice_state`](Self::ice_state) reads it, is not connected), or a restart
    /// of it failed (a negotiated generation newer than the active one failed) and must be
    /// tried again.
    pub(super) fn needs_restart(&self) -> bool {
        let working = self
            .ice_state()
            .is_some_and(IceTransportState::is_connected);
        let restart_failed = self.gens.iter().any(|g| {
            g.status == GenerationStatus::Live
                && self.active.is_some_and(|a| g.generation > a)
                && g.state == IceTransportState::Failed
        });
        !working || restart_failed
    }

    /// The transport's ICE state as W3C `RTCIceTransport.state`: the active generation's,
    /// except that a restart in progress after a failure reads as `checking`.
    fn ice_state(&self) -> Option<IceTransportState> {
        if self.closed {
            return Some(IceTransportState::Closed);
        }
        let newest_live = self
            .gens
            .iter()
            .rev()
            .find(|g| g.status != GenerationStatus::Retired)?;
        let Some(active) = self.active.and_then(|a| self.gen(a)) else {
            return Some(newest_live.state);
        };
        if active.state.is_connected() {
            return Some(active.state);
        }
        let restarting = newest_live.generation > active.generation
            && matches!(
                newest_live.state,
                IceTransportState::New | IceTransportState::Checking
            );
        Some(if restarting {
            IceTransportState::Checking
        } else {
            active.state
        })
    }

    fn gatherer_state(&self) -> Option<IceGathererState> {
        self.gens
            .iter()
            .rev()
            .find(|g| g.status != GenerationStatus::Retired)
            .map(|g| g.gatherer)
    }
}

impl Session {
    /// The transport a negotiated m-section travels on: `None` for a mid that no applied
    /// exchange negotiated (unknown, or only in an offer not yet answered), of a stopped
    /// transceiver, or whose transport closed. Several mids share one transport when they are
    /// bundled; see [`mids_of_transport`](Self::mids_of_transport).
    pub fn transport_of_mid(&self, mid: &str) -> Option<TransportId> {
        if self.mid_stopped(mid) {
            return None;
        }
        let &t = self.mid_transport.get(mid)?;
        let tr = self.transports.get(t.0 as usize)?;
        (tr.has_generation() && !tr.closed).then_some(t)
    }

    /// The mids of the m-sections that travel on `transport` (more than one when they are
    /// bundled; stopped transceivers' left out), sorted. A restart of the transport
    /// ([`restart_ice_transport`](Self::restart_ice_transport)) touches every one of them.
    pub fn mids_of_transport(&self, transport: TransportId) -> Vec<String> {
        self.mid_transport
            .iter()
            .filter(|(mid, t)| **t == transport && !self.mid_stopped(mid))
            .map(|(mid, _)| mid.clone())
            .collect()
    }

    /// Is `mid` a stopped transceiver's (its m-section rejected, or to be in the next offer)?
    fn mid_stopped(&self, mid: &str) -> bool {
        self.transceivers
            .iter()
            .any(|t| t.stopped && t.mid.as_deref() == Some(mid))
    }

    /// The transport tagged by `tag`, created if needed.
    pub(super) fn transport_for(&mut self, tag: &str) -> TransportId {
        if let Some(&t) = self.tag_transport.get(tag) {
            if !self.transports[t.0 as usize].closed {
                return t;
            }
        }
        let id = TransportId(self.transports.len() as u32);
        self.transports.push(Transport::new(id, tag.to_owned()));
        self.tag_transport.insert(tag.to_owned(), id);
        id
    }

    pub(super) fn transport(&self, t: TransportId) -> &Transport {
        &self.transports[t.0 as usize]
    }

    pub(super) fn transport_mut(&mut self, t: TransportId) -> &mut Transport {
        &mut self.transports[t.0 as usize]
    }

    /// Every generation the exchange in progress started, as `(transport, generation)`.
    pub(super) fn negotiating_generations(&self) -> Vec<(TransportId, Generation)> {
        self.transports
            .iter()
            .flat_map(|t| {
                t.gens
                    .iter()
                    .filter(|g| g.status == GenerationStatus::Negotiating)
                    .map(move |g| (t.id, g.generation))
            })
            .collect()
    }

    /// Starts a new generation with these local credentials (make-before-break: older
    /// generations keep running).
    pub(super) fn start_generation(
        &mut self,
        t: TransportId,
        local: IceCredentials,
        role: IceRole,
        now: Instant,
    ) -> Generation {
        let restart = self
            .transport(t)
            .gens
            .iter()
            .any(|g| g.status == GenerationStatus::Live);
        let reason = restart.then(|| self.transport(t).restart.reason());
        let tr = self.transport_mut(t);
        let generation = Generation(tr.next_generation);
        tr.next_generation += 1;
        tr.restart.generation_started();
        tr.gens.push(Gen {
            generation,
            local: local.clone(),
            remote: None,
            state: IceTransportState::New,
            gatherer: IceGathererState::Gathering,
            status: GenerationStatus::Negotiating,
            ever_connected: false,
            local_candidates: Vec::new(),
            retire_at: None,
        });
        tracing::debug!(transport = %t, %generation, ufrag = %local.ufrag, ?reason, "ICE generation started");
        if let Some(reason) = reason {
            self.scheduler.on_restart_started(reason, now);
        }
        self.transport_out
            .push_back(TransportCommand::StartGeneration {
                transport: t,
                generation,
                local,
                role,
                ice_servers: self.cfg.ice_servers.clone(),
                policy: self.cfg.ice_transport_policy,
            });
        self.events_out.push_back(Event::IceGenerationStarted {
            transport: t,
            generation,
            reason,
        });
        generation
    }

    /// Tells the transport the remote credentials of a generation and applies queued
    /// candidates that belong to it.
    pub(super) fn set_remote_credentials(
        &mut self,
        t: TransportId,
        g: Generation,
        remote: IceCredentials,
    ) {
        self.remote_ufrags_seen.insert(remote.ufrag.clone());
        if let Some(gen) = self.transport_mut(t).gen_mut(g) {
            gen.remote = Some(remote.clone());
        }
        self.transport_out
            .push_back(TransportCommand::SetRemoteCredentials {
                transport: t,
                generation: g,
                remote,
            });
    }

    /// Closes a generation's agent.
    pub(super) fn retire_generation(&mut self, t: TransportId, g: Generation) {
        let tr = self.transport_mut(t);
        let Some(gen) = tr.gen_mut(g) else { return };
        if gen.status == GenerationStatus::Retired {
            return;
        }
        gen.status = GenerationStatus::Retired;
        let remote_ufrag = gen.remote.as_ref().map(|r| r.ufrag.clone());
        if tr.active == Some(g) {
            tr.active = None;
        }
        // Keep the newest retired generations only.
        let retired = tr
            .gens
            .iter()
            .filter(|x| x.status == GenerationStatus::Retired)
            .count();
        if retired > super::MAX_RETIRED_GENERATIONS {
            if let Some(i) = tr
                .gens
                .iter()
                .position(|x| x.status == GenerationStatus::Retired)
            {
                tr.gens.remove(i);
            }
        }
        if let Some(u) = remote_ufrag {
            self.retired_remote_ufrags.insert(u);
        }
        tracing::debug!(transport = %t, generation = %g, "ICE generation retired");
        self.transport_out
            .push_back(TransportCommand::RetireGeneration {
                transport: t,
                generation: g,
            });
    }

    /// Generation `g` was just negotiated: older negotiated generations that carry no traffic
    /// (restarts that have not connected yet, or failed) are superseded, their credentials no
    /// longer the agreed ones (the peer retires its side at the same exchange), and are
    /// retired. Only the active generation and those in their grace period stay. Without this
    /// every restart that failed while the old path still worked kept its agent for good: a
    /// long outage of the new paths, or a peer restarting again and again, piled up agents
    /// (and made every step walk them all).
    pub(super) fn retire_superseded(&mut self, t: TransportId, g: Generation) {
        let tr = self.transport(t);
        let superseded: Vec<Generation> = tr
            .gens
            .iter()
            .filter(|x| {
                x.generation < g
                    && x.status == GenerationStatus::Live
                    && tr.active != Some(x.generation)
                    && x.retire_at.is_none()
            })
            .map(|x| x.generation)
            .collect();
        for old in superseded {
            self.retire_generation(t, old);
        }
    }

    /// Starts DTLS on a transport once its role and the peer's fingerprints are known.
    pub(super) fn maybe_start_dtls(&mut self, t: TransportId) {
        let Some(role) = self.dtls_role else { return };
        let tr = self.transport(t);
        if tr.dtls_started || tr.closed || tr.remote_fingerprints.is_empty() {
            return;
        }
        let remote_fingerprints = tr.remote_fingerprints.clone();
        self.transport_mut(t).dtls_started = true;
        self.transport_out.push_back(TransportCommand::StartDtls {
            transport: t,
            role,
            remote_fingerprints,
        });
    }

    /// Every transport in use has had DTLS up and the peer closed it on each (close_notify).
    fn peer_closed_every_dtls(&self) -> bool {
        let mut in_use = self
            .transports
            .iter()
            .filter(|t| !t.closed && t.dtls_started);
        let mut any = false;
        let all = in_use.all(|t| {
            any = true;
            t.dtls == DtlsTransportState::Closed
        });
        any && all
    }

    pub(super) fn on_transport_event(&mut self, event: TransportEvent, now: Instant) {
        match event {
            TransportEvent::LocalCandidate {
                transport,
                generation,
                candidate,
            } => self.on_local_candidate(transport, generation, candidate),
            TransportEvent::GatheringComplete {
                transport,
                generation,
            } => self.on_gathering_complete(transport, generation),
            TransportEvent::IceStateChanged {
                transport,
                generation,
                state,
            } => self.on_ice_state(transport, generation, state, now),
            TransportEvent::DtlsStateChanged { transport, state } => {
                if let Some(tr) = self.transports.get_mut(transport.0 as usize) {
                    if !tr.closed {
                        tr.dtls = state;
                    }
                }
                if state == DtlsTransportState::Closed && self.peer_closed_every_dtls() {
                    // Only a peer that closes its connection sends close_notify: with the
                    // signaling channel gone, its `bye` may never come.
                    tracing::info!("the peer closed DTLS on every transport: it hung up");
                    self.shutdown(super::ClosedBy::Remote);
                }
            }
            TransportEvent::FingerprintMismatch { transport } => {
                if let Some(tr) = self.transports.get_mut(transport.0 as usize) {
                    tr.dtls = DtlsTransportState::Failed;
                    let mid = tr.tag.clone();
                    tracing::warn!(transport = %transport, "peer certificate does not match its fingerprint");
                    self.events_out.push_back(Event::PeerMisbehaved(
                        PeerError::CertificateMismatch { mid },
                    ));
                }
            }
            TransportEvent::DataChannelOpen { stream_id } => {
                if let Some(id) = self.channels.by_stream_id(stream_id) {
                    if self.channels.set_state(id, DataChannelState::Open) {
                        self.events_out.push_back(Event::DataChannelOpen(id));
                    }
                }
            }
            TransportEvent::RemoteDataChannel {
                stream_id,
                label,
                init,
            } => {
                let Some(role) = self.dtls_role else {
                    tracing::warn!(
                        stream_id,
                        "remote data channel before the DTLS role is known"
                    );
                    return;
                };
                match self
                    .channels
                    .remote_opened(stream_id, label.clone(), init, role)
                {
                    Ok(id) => {
                        self.opened_channels.insert(id);
                        self.events_out
                            .push_back(Event::DataChannel { channel: id, label });
                    }
                    Err(e) => tracing::warn!(stream_id, error = %e, "remote data channel refused"),
                }
            }
            TransportEvent::DataChannelClosed { stream_id } => {
                if let Some(id) = self.channels.by_stream_id(stream_id) {
                    self.opened_channels.remove(&id);
                    if self.channels.set_state(id, DataChannelState::Closed) {
                        self.events_out.push_back(Event::DataChannelClose(id));
                    }
                }
            }
            TransportEvent::NetworkChanged => self.scheduler.on_network_change(now),
        }
    }

    fn live_gen(&self, t: TransportId, g: Generation) -> Option<&Gen> {
        let tr = self.transports.get(t.0 as usize)?;
        tr.gen(g).filter(|x| x.status != GenerationStatus::Retired)
    }

    fn on_local_candidate(&mut self, t: TransportId, g: Generation, mut candidate: Candidate) {
        let Some(gen) = self.live_gen(t, g) else {
            return;
        };
        let ufrag = gen.local.ufrag.clone();
        candidate.ufrag = Some(ufrag.clone());
        let msg = self.candidate_message(t, &candidate, &ufrag);
        if let Some(gen) = self.transport_mut(t).gen_mut(g) {
            if gen.local_candidates.len() < MAX_LOCAL_CANDIDATES {
                gen.local_candidates.push(candidate);
            }
        }
        self.signal_out.push_back(msg);
    }

    /// The signal message that carries a local candidate of transport `t`.
    pub(super) fn candidate_message(
        &self,
        t: TransportId,
        candidate: &Candidate,
        ufrag: &str,
    ) -> SignalMessage {
        let tag = self.transport(t).tag.clone();
        let index = self
            .pending_local
            .as_ref()
            .or(self.current_local.as_ref())
            .and_then(|d| d.parsed.media.iter().position(|m| m.mid == tag))
            .and_then(|i| u16::try_from(i).ok());
        SignalMessage::Candidate {
            candidate: crate::signal::IceCandidateInit {
                candidate: candidate.to_string(),
                sdp_mid: Some(tag),
                sdp_m_line_index: index,
                username_fragment: Some(ufrag.to_owned()),
            },
        }
    }

    fn on_gathering_complete(&mut self, t: TransportId, g: Generation) {
        let Some(gen) = self.live_gen(t, g) else {
            return;
        };
        let ufrag = gen.local.ufrag.clone();
        let tag = self.transport(t).tag.clone();
        if let Some(gen) = self.transport_mut(t).gen_mut(g) {
            gen.gatherer = IceGathererState::Complete;
        }
        self.signal_out.push_back(SignalMessage::EndOfCandidates {
            username_fragment: Some(ufrag),
            sdp_mid: Some(tag),
        });
    }

    fn on_ice_state(
        &mut self,
        t: TransportId,
        g: Generation,
        state: IceTransportState,
        now: Instant,
    ) {
        let Some(gen) = self.live_gen(t, g) else {
            return;
        };
        let has_remote = gen.remote.is_some();
        let newer_than_active = self.transport(t).active.is_none_or(|a| g > a);
        if let Some(gen) = self.transport_mut(t).gen_mut(g) {
            gen.state = state;
            gen.ever_connected |= state.is_connected();
        }
        if state.is_connected() && has_remote && newer_than_active {
            self.promote(t, g, now);
        } else if state == IceTransportState::Failed
            && newer_than_active
            && self.transport(t).active.is_some()
        {
            // A restart's new generation failed while the old one still carries traffic: the
            // old path stays. A generation still negotiating is dropped. A negotiated one is
            // kept (its credentials are what both peers agreed on, so the next exchange must
            // build on them) until a newer one connects, and since the restart did not really
            // complete, another is requested, spaced by the policy's backoff.
            let negotiated = self
                .transport(t)
                .gen(g)
                .is_some_and(|x| x.status == GenerationStatus::Live);
            if negotiated {
                self.scheduler.on_restart_failed(now);
            } else {
                self.retire_generation(t, g);
            }
        }
    }

    /// Switches the transport's traffic to `g`; older generations are retired (at once if they
    /// never carried traffic or failed, else after the grace period, during which they still
    /// receive what the peer sends before it switches too). Make-before-break: this happens
    /// only once `g` is connected.
    fn promote(&mut self, t: TransportId, g: Generation, now: Instant) {
        self.transport_mut(t).active = Some(g);
        tracing::debug!(transport = %t, generation = %g, "ICE generation promoted");
        self.transport_out
            .push_back(TransportCommand::PromoteGeneration {
                transport: t,
                generation: g,
            });
        self.events_out.push_back(Event::IceGenerationPromoted {
            transport: t,
            generation: g,
        });
        let grace = self.cfg.retire_grace;
        let older: Vec<(Generation, bool)> = self
            .transport(t)
            .gens
            .iter()
            .filter(|x| x.generation < g && x.status != GenerationStatus::Retired)
            .map(|x| (x.generation, x.state.is_connected()))
            .collect();
        for (old, carrying) in older {
            if carrying && !grace.is_zero() {
                if let Some(x) = self.transport_mut(t).gen_mut(old) {
                    x.retire_at.get_or_insert(now + grace);
                }
            } else {
                self.retire_generation(t, old);
            }
        }
    }

    /// The earliest pending retirement of a superseded generation.
    pub(super) fn next_retirement(&self) -> Option<Instant> {
        self.transports
            .iter()
            .flat_map(|t| t.gens.iter())
            .filter(|g| g.status != GenerationStatus::Retired)
            .filter_map(|g| g.retire_at)
            .min()
    }

    /// Retires superseded generations whose grace period is over.
    pub(super) fn retire_due(&mut self, now: Instant) {
        let due: Vec<(TransportId, Generation)> = self
            .transports
            .iter()
            .flat_map(|t| {
                t.gens
                    .iter()
                    .filter(|g| g.status != GenerationStatus::Retired)
                    .filter(|g| g.retire_at.is_some_and(|at| at <= now))
                    .map(move |g| (t.id, g.generation))
            })
            .collect();
        for (t, g) in due {
            self.retire_generation(t, g);
        }
    }

    /// Recomputes the aggregate W3C states and emits change events.
    pub(super) fn update_states(&mut self, now: Instant) {
        let in_use = || {
            self.transports.iter().filter(|t| {
                t.gens.iter().any(|g| g.status != GenerationStatus::Retired) || t.active.is_some()
            })
        };
        let ice: Vec<IceTransportState> = in_use().filter_map(Transport::ice_state).collect();
        let gathering: Vec<IceGathererState> =
            in_use().filter_map(Transport::gatherer_state).collect();
        let dtls: Vec<DtlsTransportState> = in_use().map(|t| t.dtls).collect();

        let gathering = state::ice_gathering_state(false, &gathering);
        if gathering != self.ice_gathering {
            self.ice_gathering = gathering;
            self.events_out
                .push_back(Event::IceGatheringStateChange(gathering));
        }
        let ice_connection = state::ice_connection_state(false, &ice);
        if ice_connection != self.ice_connection {
            self.ice_connection = ice_connection;
            self.scheduler.on_ice_state(ice_connection, now);
            self.events_out
                .push_back(Event::IceConnectionStateChange(ice_connection));
        }
        let connection: PeerConnectionState = state::peer_connection_state(false, &ice, &dtls);
        if connection != self.connection {
            self.connection = connection;
            self.events_out
                .push_back(Event::ConnectionStateChange(connection));
        }
    }

    /// The DTLS role our answer takes, given the offer's `a=setup`.
    pub(super) fn answer_dtls_role(&self, offered: Option<crate::sdp::Setup>) -> DtlsRole {
        if let Some(role) = self.dtls_role {
            return role;
        }
        match offered {
            Some(crate::sdp::Setup::Active) => DtlsRole::Server,
            _ => DtlsRole::Client,
        }
    }
}
