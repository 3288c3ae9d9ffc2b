//! [`Session`]: one peer connection's brain.

mod apply;
mod bounded;
mod candidates;
mod describe;
mod event;
mod exchange;
mod order;
mod perfect;
mod restart;
mod rollback;
mod transports;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

pub use event::{CandidateDropReason, CandidateOutcome, ClosedBy, Event};

use crate::channel::{ChannelId, Channels, DataChannelInfo, DataChannelInit};
use crate::config::{Config, ConfigUpdate, Negotiation};
use crate::error::{ConfigError, SessionError};
use crate::policy::{RestartReason, RestartScheduler};
use crate::rng::SessionRng;
use crate::sdp::{Direction, MediaKind, SessionDesc};
use crate::signal::{IceCandidateInit, SessionDescription, SignalMessage};
use crate::signaling::{SdpType, SignalingState};
use crate::state::{IceConnectionState, IceGatheringState, PeerConnectionState};
use crate::transceiver::{Transceiver, TransceiverId};
use crate::transport::{DtlsRole, IceRole, TransportCommand, TransportEvent, TransportId};

use transports::Transport;

/// Options of [`Session::create_offer`] (W3C `RTCOfferOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfferOptions {
    /// Offer fresh ICE credentials on every transport (a full ICE restart).
    pub ice_restart: bool,
}

/// A description applied to the session, with its parsed form.
#[derive(Debug, Clone)]
pub(crate) struct Desc {
    pub(crate) kind: SdpType,
    pub(crate) sdp: String,
    pub(crate) parsed: SessionDesc,
}

impl Desc {
    fn to_init(&self) -> SessionDescription {
        SessionDescription {
            kind: self.kind,
            sdp: self.sdp.clone(),
        }
    }
}

/// Bound on remote candidates kept while their description has not arrived.
const MAX_QUEUED_CANDIDATES: usize = 128;
/// Remote ufrags remembered (seen, retired, ignored) for classifying candidates.
const MAX_REMEMBERED_UFRAGS: usize = 256;
/// Retired generations kept per transport for diagnostics ([`Session::transports`]).
const MAX_RETIRED_GENERATIONS: usize = 8;
/// Longest interval between retransmissions of an unanswered offer.
const MAX_RETRANSMIT: Duration = Duration::from_secs(30);

/// One peer connection's lifecycle, sans IO.
///
/// Inputs: application calls (`create_offer`, `set_remote_description`, `restart_ice`, ...),
/// [`handle_transport_event`](Self::handle_transport_event), [`handle_signal`](Self::handle_signal)
/// and [`handle_timeout`](Self::handle_timeout). Outputs, each its own queue:
/// [`poll_transport`](Self::poll_transport) (commands for the I/O layer),
/// [`poll_signal`](Self::poll_signal) (messages for the other peer),
/// [`poll_event`](Self::poll_event) (for the application) and
/// [`poll_timeout`](Self::poll_timeout).
///
/// **Call order:** after every input, drain all three queues, then ask `poll_timeout` and call
/// `handle_timeout` when that instant is reached. The session never reads a clock: every input
/// that needs time takes `now`, and an earlier `now` than one seen before is treated as the
/// latest one (time never goes backwards inside the session).
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    rng: SessionRng,
    /// The latest time any input carried (never goes backwards); calls without a `now` of
    /// their own (adding a transceiver, creating a channel) act at this time.
    now: Instant,
    signaling: SignalingState,
    closed: bool,

    current_local: Option<Desc>,
    pending_local: Option<Desc>,
    current_remote: Option<Desc>,
    pending_remote: Option<Desc>,
    last_offer: Option<SessionDesc>,
    last_answer: Option<SessionDesc>,
    sdp_session_id: u64,
    sdp_version: u64,

    // Perfect negotiation.
    order: order::RemoteOrder,
    /// Our last answer, with the `o=` version of the offer it answered.
    last_sent_answer: Option<(u64, SessionDescription)>,
    offer_due: bool,
    negotiation_needed_fired: bool,
    retransmit: Option<(Instant, Duration)>,
    ignored_ufrags: bounded::BoundedSet,

    // Media and data.
    transceivers: Vec<Transceiver>,
    next_mid: u32,
    data_mid: Option<String>,
    channels: Channels,
    opened_channels: BTreeSet<ChannelId>,
    sctp_started: bool,

    // Transports and ICE generations.
    transports: Vec<Transport>,
    tag_transport: BTreeMap<String, TransportId>,
    mid_transport: BTreeMap<String, TransportId>,
    dtls_role: Option<DtlsRole>,
    scheduler: RestartScheduler,
    queued_candidates: VecDeque<IceCandidateInit>,
    remote_ufrags_seen: bounded::BoundedSet,
    retired_remote_ufrags: bounded::BoundedSet,

    ice_connection: IceConnectionState,
    ice_gathering: IceGatheringState,
    connection: PeerConnectionState,

    transport_out: VecDeque<TransportCommand>,
    signal_out: VecDeque<SignalMessage>,
    events_out: VecDeque<Event>,
}

impl Session {
    /// A new session in signaling state `stable`.
    pub fn new(cfg: Config, now: Instant) -> Self {
        let mut rng = SessionRng::new(cfg.seed);
        // RFC 4566: the session id should fit in 63 bits.
        let sdp_session_id = rng.next_u64() >> 1;
        let scheduler = RestartScheduler::new(cfg.restart_policy.clone());
        Self {
            cfg,
            rng,
            now,
            signaling: SignalingState::Stable,
            closed: false,
            current_local: None,
            pending_local: None,
            current_remote: None,
            pending_remote: None,
            last_offer: None,
            last_answer: None,
            sdp_session_id,
            sdp_version: 1,
            order: order::RemoteOrder::default(),
            last_sent_answer: None,
            offer_due: false,
            negotiation_needed_fired: false,
            retransmit: None,
            ignored_ufrags: bounded::BoundedSet::new(MAX_REMEMBERED_UFRAGS),
            transceivers: Vec::new(),
            next_mid: 0,
            data_mid: None,
            channels: Channels::default(),
            opened_channels: BTreeSet::new(),
            sctp_started: false,
            transports: Vec::new(),
            tag_transport: BTreeMap::new(),
            mid_transport: BTreeMap::new(),
            dtls_role: None,
            scheduler,
            queued_candidates: VecDeque::new(),
            remote_ufrags_seen: bounded::BoundedSet::new(MAX_REMEMBERED_UFRAGS),
            retired_remote_ufrags: bounded::BoundedSet::new(MAX_REMEMBERED_UFRAGS),
            ice_connection: IceConnectionState::New,
            ice_gathering: IceGatheringState::New,
            connection: PeerConnectionState::New,
            transport_out: VecDeque::new(),
            signal_out: VecDeque::new(),
            events_out: VecDeque::new(),
        }
    }

    /// Records `now`, clamped so time never goes backwards, and returns the clamped value.
    fn tick(&mut self, now: Instant) -> Instant {
        self.now = self.now.max(now);
        self.now
    }

    fn ensure_open(&self) -> Result<(), SessionError> {
        if self.closed {
            Err(SessionError::Closed)
        } else {
            Ok(())
        }
    }

    // ----- application inputs -----

    /// Creates an offer (W3C `createOffer`). With `ice_restart`, or after
    /// [`restart_ice`](Self::restart_ice) or a configuration change, it carries fresh ICE
    /// credentials for the transports being restarted.
    pub fn create_offer(
        &mut self,
        options: OfferOptions,
        now: Instant,
    ) -> Result<SessionDescription, SessionError> {
        self.tick(now);
        self.ensure_open()?;
        if options.ice_restart {
            self.request_restart_all(RestartReason::Application);
        }
        let desc = self.build_offer();
        let sdp = crate::sdp::write(&desc);
        self.last_offer = Some(desc);
        Ok(SessionDescription {
            kind: SdpType::Offer,
            sdp,
        })
    }

    /// Creates an answer to the applied remote offer (W3C `createAnswer`).
    pub fn create_answer(&mut self, now: Instant) -> Result<SessionDescription, SessionError> {
        self.tick(now);
        self.ensure_open()?;
        if !matches!(
            self.signaling,
            SignalingState::HaveRemoteOffer | SignalingState::HaveLocalPranswer
        ) {
            return Err(crate::signaling::InvalidTransition {
                state: self.signaling,
                side: crate::signaling::Side::Local,
                kind: SdpType::Answer,
            }
            .into());
        }
        let desc = self.build_answer()?;
        let sdp = crate::sdp::write(&desc);
        self.last_answer = Some(desc);
        Ok(SessionDescription {
            kind: SdpType::Answer,
            sdp,
        })
    }

    /// Applies a local description (W3C `setLocalDescription`). The SDP must be one this
    /// session created (no munging); an empty `sdp` means "the one just created" (or create it
    /// now), like the parameterless W3C call.
    pub fn set_local_description(
        &mut self,
        desc: SessionDescription,
        now: Instant,
    ) -> Result<(), SessionError> {
        let now = self.tick(now);
        self.ensure_open()?;
        self.apply_local(desc, now)?;
        self.after_input(now);
        Ok(())
    }

    /// Applies a remote description (W3C `setRemoteDescription`): offers, answers,
    /// provisional answers and rollback.
    pub fn set_remote_description(
        &mut self,
        desc: SessionDescription,
        now: Instant,
    ) -> Result<(), SessionError> {
        let now = self.tick(now);
        self.ensure_open()?;
        let result = self.apply_remote(desc, now);
        if let Err(SessionError::Peer(e)) = &result {
            self.events_out.push_back(Event::PeerMisbehaved(e.clone()));
        }
        self.after_input(now);
        result
    }

    /// Adds a remote candidate (W3C `addIceCandidate`). An empty candidate string means
    /// end-of-candidates. Candidates that arrive before their description are queued.
    pub fn add_ice_candidate(
        &mut self,
        candidate: IceCandidateInit,
        now: Instant,
    ) -> Result<CandidateOutcome, SessionError> {
        let now = self.tick(now);
        self.ensure_open()?;
        let out = self.route_remote_candidate(candidate);
        self.after_input(now);
        out
    }

    /// Requests a full ICE restart (W3C `restartIce`): raises negotiation-needed; the next
    /// offer carries fresh credentials. The intent survives rollback and glare until a restart
    /// has completed.
    pub fn restart_ice(&mut self, now: Instant) {
        let now = self.tick(now);
        if self.closed {
            return;
        }
        self.request_restart_all(RestartReason::Application);
        self.after_input(now);
    }

    /// Requests a restart of one transport only (a partial restart; meaningful when
    /// m-sections are not bundled). Unknown mids are ignored.
    pub fn restart_ice_transport(&mut self, mid: &str, now: Instant) {
        let now = self.tick(now);
        if self.closed {
            return;
        }
        if let Some(&t) = self.mid_transport.get(mid) {
            self.transport_mut(t)
                .restart
                .request(RestartReason::Application);
        }
        self.after_input(now);
    }

    /// Changes the ICE servers and transport policy (W3C `setConfiguration`). Changing an
    /// immutable field is an error. A change takes effect through an ICE restart, which this
    /// requests.
    pub fn set_configuration(
        &mut self,
        update: ConfigUpdate,
        now: Instant,
    ) -> Result<(), SessionError> {
        let now = self.tick(now);
        self.ensure_open()?;
        if update.bundle_policy != self.cfg.bundle_policy {
            return Err(ConfigError::BundlePolicyChanged.into());
        }
        if update.certificate_fingerprints != self.cfg.certificate_fingerprints {
            return Err(ConfigError::CertificateChanged.into());
        }
        for server in &update.ice_servers {
            for url in &server.urls {
                let ok = ["stun:", "stuns:", "turn:", "turns:"]
                    .iter()
                    .any(|p| url.len() > p.len() && url[..p.len()].eq_ignore_ascii_case(p));
                if !ok {
                    return Err(ConfigError::InvalidIceServer(url.clone()).into());
                }
            }
        }
        let changed = update.ice_servers != self.cfg.ice_servers
            || update.ice_transport_policy != self.cfg.ice_transport_policy;
        self.cfg.ice_servers = update.ice_servers;
        self.cfg.ice_transport_policy = update.ice_transport_policy;
        if changed {
            self.request_restart_all(RestartReason::Configuration);
        }
        self.after_input(now);
        Ok(())
    }

    /// Replaces the automatic restart policy.
    pub fn set_restart_policy(&mut self, policy: crate::policy::RestartPolicy) {
        self.cfg.restart_policy = policy.clone();
        self.scheduler.set_policy(policy);
    }

    /// Adds a transceiver (W3C `addTransceiver`); raises negotiation-needed.
    pub fn add_transceiver(&mut self, kind: MediaKind, direction: Direction) -> TransceiverId {
        let id = self.push_transceiver(kind, None, direction, false);
        self.after_input(self.now);
        id
    }

    /// Creates a transceiver with fresh SSRCs and msid from the session's CSPRNG.
    fn push_transceiver(
        &mut self,
        kind: MediaKind,
        mid: Option<String>,
        direction: Direction,
        from_remote: bool,
    ) -> TransceiverId {
        let id = TransceiverId(self.transceivers.len() as u32);
        let ssrc = self.rng.next_u32();
        let rtx_ssrc = (kind == MediaKind::Video).then(|| self.rng.next_u32());
        let stream_id = format!("tether-{:08x}", self.rng.next_u32());
        let track_id = format!("{kind:?}-{:08x}", self.rng.next_u32()).to_lowercase();
        self.transceivers.push(Transceiver {
            id,
            kind,
            mid,
            direction,
            current_direction: None,
            stopped: self.closed,
            ssrc,
            rtx_ssrc,
            stream_id,
            track_id,
            codecs: Vec::new(),
            remote_ssrcs: Vec::new(),
            from_remote,
            track_fired: false,
        });
        id
    }

    /// Adds a sending track (W3C `addTrack`): reuses a transceiver of the same kind that a
    /// remote offer created and that does not send yet, else adds a new one.
    pub fn add_track(&mut self, kind: MediaKind) -> TransceiverId {
        let reusable = self.transceivers.iter_mut().find(|t| {
            t.kind == kind && t.from_remote && !t.stopped && !crate::transceiver::sends(t.direction)
        });
        if let Some(t) = reusable {
            t.direction = crate::transceiver::from_flags(true, true);
            t.from_remote = false;
            let id = t.id;
            self.after_input(self.now);
            return id;
        }
        self.add_transceiver(kind, Direction::SendRecv)
    }

    /// Changes a transceiver's preferred direction; raises negotiation-needed if it differs.
    pub fn set_direction(&mut self, id: TransceiverId, direction: Direction) {
        if let Some(t) = self.transceivers.get_mut(id.0 as usize) {
            t.direction = direction;
        }
        self.after_input(self.now);
    }

    /// Stops a transceiver: its m-section is rejected in the next negotiation.
    pub fn stop_transceiver(&mut self, id: TransceiverId) {
        if let Some(t) = self.transceivers.get_mut(id.0 as usize) {
            t.stopped = true;
        }
        self.after_input(self.now);
    }

    /// Creates a data channel (W3C `createDataChannel`). The first one raises
    /// negotiation-needed (an `m=application` section is needed); later ones open at once
    /// over the running SCTP association.
    pub fn create_data_channel(
        &mut self,
        label: &str,
        init: DataChannelInit,
    ) -> Result<ChannelId, SessionError> {
        self.ensure_open()?;
        let id = self.channels.create(label, init)?;
        self.open_pending_channels();
        self.after_input(self.now);
        Ok(id)
    }

    /// Closes one data channel.
    pub fn close_data_channel(&mut self, id: ChannelId) {
        let Some(info) = self.channels.get(id).cloned() else {
            return;
        };
        if matches!(
            info.state,
            crate::channel::DataChannelState::Closed | crate::channel::DataChannelState::Closing
        ) {
            return;
        }
        match info.stream_id {
            Some(stream_id) if self.opened_channels.contains(&id) => {
                self.channels
                    .set_state(id, crate::channel::DataChannelState::Closing);
                self.transport_out
                    .push_back(TransportCommand::CloseDataChannel {
                        channel: id,
                        stream_id,
                    });
            }
            _ => {
                self.channels
                    .set_state(id, crate::channel::DataChannelState::Closed);
                self.events_out.push_back(Event::DataChannelClose(id));
            }
        }
    }

    /// Closes the session (W3C `close`): every channel and transport closes, the transport is
    /// told to close everything, and the peer is sent `bye`. Idempotent.
    pub fn close(&mut self, now: Instant) {
        self.tick(now);
        if self.closed {
            return;
        }
        self.signal_out
            .push_back(SignalMessage::Bye { reason: None });
        self.shutdown(ClosedBy::Local);
    }

    // ----- other inputs -----

    /// Feeds an event from the I/O layer.
    pub fn handle_transport_event(&mut self, event: TransportEvent, now: Instant) {
        let now = self.tick(now);
        if self.closed {
            return;
        }
        self.on_transport_event(event, now);
        self.after_input(now);
    }

    /// Feeds a message from the other peer. With perfect negotiation the session applies
    /// descriptions, answers offers and resolves glare itself; with manual negotiation
    /// candidates, end-of-candidates and `bye` are handled and descriptions are applied as
    /// remote descriptions.
    pub fn handle_signal(&mut self, msg: SignalMessage, now: Instant) -> Result<(), SessionError> {
        let now = self.tick(now);
        if self.closed {
            return Ok(());
        }
        let result = self.on_signal(msg, now);
        if let Err(SessionError::Peer(e)) = &result {
            self.events_out.push_back(Event::PeerMisbehaved(e.clone()));
        }
        self.after_input(now);
        result
    }

    /// Parses a JSON signal message from the other peer and feeds it.
    pub fn handle_signal_json(&mut self, json: &str, now: Instant) -> Result<(), SessionError> {
        let msg = SignalMessage::from_json(json)?;
        self.handle_signal(msg, now)
    }

    /// Advances timers: restarts decided by the policy, offer retransmission, the coalesced
    /// offer of perfect negotiation.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.tick(now);
        if self.closed {
            return;
        }
        if self.scheduler.give_up_at().is_some_and(|at| now >= at) {
            tracing::warn!("no working path for too long: closing (RestartPolicy::give_up_after)");
            self.signal_out
                .push_back(SignalMessage::Bye { reason: None });
            self.shutdown(ClosedBy::Unreachable);
            return;
        }
        if let Some(reason) = self.scheduler.handle_timeout(now) {
            tracing::debug!(?reason, "automatic ICE restart");
            self.events_out.push_back(Event::AutomaticRestart(reason));
            self.request_automatic_restart(reason);
        }
        self.retire_due(now);
        self.on_negotiation_timeout(now);
        self.after_input(now);
    }

    // ----- outputs -----

    /// The next command for the I/O layer.
    #[must_use]
    pub fn poll_transport(&mut self) -> Option<TransportCommand> {
        self.transport_out.pop_front()
    }

    /// The next message to send to the other peer.
    #[must_use]
    pub fn poll_signal(&mut self) -> Option<SignalMessage> {
        self.signal_out.pop_front()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events_out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next; `None` if no timer
    /// is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let offer =
            (self.offer_due && self.signaling == SignalingState::Stable).then_some(self.now);
        [
            offer,
            self.retransmit.map(|(at, _)| at),
            self.scheduler.poll_timeout(),
            self.scheduler.give_up_at(),
            self.next_retirement(),
            self.hold_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- state -----

    /// W3C `signalingState`.
    pub fn signaling_state(&self) -> SignalingState {
        self.signaling
    }

    /// W3C `iceConnectionState`.
    pub fn ice_connection_state(&self) -> IceConnectionState {
        self.ice_connection
    }

    /// W3C `iceGatheringState`.
    pub fn ice_gathering_state(&self) -> IceGatheringState {
        self.ice_gathering
    }

    /// W3C `connectionState`.
    pub fn connection_state(&self) -> PeerConnectionState {
        self.connection
    }

    /// Is the session closed?
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// W3C `localDescription` (pending if any, else current).
    pub fn local_description(&self) -> Option<SessionDescription> {
        self.pending_local
            .as_ref()
            .or(self.current_local.as_ref())
            .map(Desc::to_init)
    }

    /// W3C `remoteDescription` (pending if any, else current).
    pub fn remote_description(&self) -> Option<SessionDescription> {
        self.pending_remote
            .as_ref()
            .or(self.current_remote.as_ref())
            .map(Desc::to_init)
    }

    /// W3C `currentLocalDescription`.
    pub fn current_local_description(&self) -> Option<SessionDescription> {
        self.current_local.as_ref().map(Desc::to_init)
    }

    /// W3C `currentRemoteDescription`.
    pub fn current_remote_description(&self) -> Option<SessionDescription> {
        self.current_remote.as_ref().map(Desc::to_init)
    }

    /// The transceivers, in creation order.
    pub fn transceivers(&self) -> &[Transceiver] {
        &self.transceivers
    }

    /// A data channel's state.
    pub fn data_channel(&self, id: ChannelId) -> Option<&DataChannelInfo> {
        self.channels.get(id)
    }

    /// All data channels.
    pub fn data_channels(&self) -> impl Iterator<Item = &DataChannelInfo> {
        self.channels.iter()
    }

    /// The negotiated DTLS role, once known.
    pub fn dtls_role(&self) -> Option<DtlsRole> {
        self.dtls_role
    }

    /// Is an ICE restart requested and not yet completed?
    pub fn restart_pending(&self) -> bool {
        self.transports.iter().any(|t| t.restart.is_requested())
    }

    /// A snapshot of every transport and its ICE generations.
    pub fn transports(&self) -> Vec<TransportInfo> {
        self.transports.iter().map(Transport::info).collect()
    }

    /// The ICE credentials negotiated locally and remotely on a transport's promoted
    /// generation (for tests and diagnostics; the password is redacted in `Debug`).
    pub fn negotiated_credentials(
        &self,
        transport: TransportId,
    ) -> Option<(crate::ice::IceCredentials, crate::ice::IceCredentials)> {
        let t = self.transports.get(transport.0 as usize)?;
        let g = t.negotiated_generation()?;
        Some((g.local.clone(), g.remote.clone()?))
    }

    /// Sets the `a=msid` stream and track ids a transceiver announces (W3C `addTrack`'s stream
    /// and track). Takes effect in the next description this session writes: call it right
    /// after [`add_track`](Self::add_track), before the offer goes out. The caller checks that
    /// the ids are SDP tokens (no whitespace).
    pub fn set_msid(&mut self, id: TransceiverId, stream_id: &str, track_id: &str) {
        if let Some(t) = self.transceivers.get_mut(id.0 as usize) {
            t.stream_id = stream_id.to_owned();
            t.track_id = track_id.to_owned();
        }
    }

    // ----- shared helpers -----

    fn polite(&self) -> bool {
        matches!(self.cfg.negotiation, Negotiation::Perfect { polite: true })
    }

    fn perfect(&self) -> bool {
        matches!(self.cfg.negotiation, Negotiation::Perfect { .. })
    }

    fn set_signaling(&mut self, state: SignalingState) {
        if self.signaling != state {
            self.signaling = state;
            self.events_out
                .push_back(Event::SignalingStateChange(state));
        }
    }

    /// The policy's restart: a local network change restarts every transport; a dead or
    /// silent path (failed, disconnected, a failed restart tried again) restarts only the
    /// transports that need it ([`Transport::needs_restart`]), and the others keep their
    /// generation untouched (a partial restart when streams are not bundled). If none can be
    /// told apart, every transport restarts.
    fn request_automatic_restart(&mut self, reason: RestartReason) {
        if reason != RestartReason::NetworkChanged {
            let unhealthy: Vec<TransportId> = self
                .transports
                .iter()
                .filter(|t| t.has_generation() && !t.closed && t.needs_restart())
                .map(|t| t.id)
                .collect();
            if !unhealthy.is_empty() {
                for t in unhealthy {
                    self.transport_mut(t).restart.request(reason);
                }
                return;
            }
        }
        self.request_restart_all(reason);
    }

    fn request_restart_all(&mut self, reason: RestartReason) {
        for t in &mut self.transports {
            if t.has_generation() && !t.closed {
                t.restart.request(reason);
            }
        }
    }

    /// Work common to the end of every input: states, negotiation-needed.
    fn after_input(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        self.update_states(now);
        self.check_negotiation_needed();
    }

    /// Everything goes to closed: channels, transports, states.
    fn shutdown(&mut self, by: ClosedBy) {
        self.closed = true;
        self.offer_due = false;
        self.retransmit = None;
        self.order.clear();
        for id in self.channels.close_all() {
            self.events_out.push_back(Event::DataChannelClose(id));
        }
        for t in &mut self.transceivers {
            t.stopped = true;
            t.current_direction = None;
        }
        for t in &mut self.transports {
            t.close();
        }
        for c in std::mem::take(&mut self.queued_candidates) {
            self.events_out.push_back(Event::CandidateDropped {
                candidate: c.candidate,
                reason: CandidateDropReason::Closed,
            });
        }
        self.transport_out.push_back(TransportCommand::Close);
        self.set_signaling(SignalingState::Closed);
        self.ice_connection = IceConnectionState::Closed;
        self.events_out
            .push_back(Event::IceConnectionStateChange(IceConnectionState::Closed));
        self.connection = PeerConnectionState::Closed;
        self.events_out
            .push_back(Event::ConnectionStateChange(PeerConnectionState::Closed));
        self.events_out.push_back(Event::Closed(by));
    }

    fn ice_role_for_new_generation(&self, we_offered: bool, remote_lite: bool) -> IceRole {
        if remote_lite || we_offered {
            IceRole::Controlling
        } else {
            IceRole::Controlled
        }
    }
}

pub use transports::{GenerationInfo, GenerationStatus, TransportInfo};
