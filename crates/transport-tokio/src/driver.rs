//! The driver task: owns the [`Session`] and all I/O of one peer connection. It executes the
//! session's transport commands, forwards signal messages, publishes events, and sleeps until
//! the session's next deadline or the next input.

mod channels;
mod media;
mod signal_io;
mod transport;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use session_core::channel::ChannelId;
use session_core::config::{Config, Negotiation};
use session_core::session::{Event, Session};
use session_core::signal::SignalMessage;
use session_core::transport::{TransportEvent, TransportId};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::channel::{self, ChannelParts, DataChannel, Link, Message};
use crate::command::Command;
use crate::dtls::DtlsIdentity;
use crate::error::TransportError;
use crate::event::PeerEvent;
use crate::ice::{self, GatherOptions, GenKey, IceReport, IceTimeouts};
use crate::signaling::Signaling;
use crate::signaling::SignalingError;
use crate::stats::{Stats, TransportStats};
use crate::switch::Inbound;

use transport::TransportIo;

/// Events waiting inside the driver when the application's channel is full; beyond that,
/// events are dropped and counted ([`PeerEvent::Lagged`]).
const MAX_PENDING_EVENTS: usize = 4096;
/// Reports queued from ICE agents and I/O tasks to the driver.
const REPORT_QUEUE: usize = 1024;
/// Rounds of draining the session's queues per wake (bounded work per wake).
const MAX_DRAIN_ROUNDS: usize = 64;
/// DTLS datagrams queued from the path readers to the driver. When full, the readers wait; the
/// agent's own buffer then fills and drops, and DTLS/SCTP retransmit.
const INBOUND_QUEUE: usize = 1024;
/// Datagrams (and commands) taken per wake-up before the outputs are drained: a burst of SCTP
/// packets is answered by one SACK.
const INPUT_BATCH: usize = 64;
/// How long closing may take before the driver gives up on a graceful close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound of handing the hang-up to the signaling channel when the session ends (a WebSocket
/// client waits up to 2 s for the server's close frame).
const SIGNALING_CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

static NEXT_PEER: AtomicU64 = AtomicU64::new(1);

/// What timers and I/O tasks report to the driver.
pub(crate) enum Io {
    /// A stream the peer wrote on waited too long for a negotiated channel to claim it.
    UnclaimedExpired { stream_id: u16 },
}

/// A data channel the application has a handle on (or will have, for remote ones).
struct Slot {
    link: watch::Sender<Link>,
    /// Becomes the channel's reader when it opens.
    incoming: Option<mpsc::Sender<Message>>,
    stream_id: Option<u16>,
}

/// A channel the peer opened, waiting for the session to accept it.
struct RemotePending {
    link: Link,
    incoming: mpsc::Receiver<Message>,
}

pub(crate) struct Driver<S: Signaling> {
    id: u64,
    session: Session,
    /// The signaling channel until the driver starts (then its task owns it).
    signaling: Option<S>,
    /// The signaling task: outgoing messages are queued to it, incoming ones come from it.
    signal_io: Option<signal_io::SignalIo>,
    signaling_open: bool,
    /// Manual negotiation: local candidates become events instead of signal messages.
    manual: bool,
    identity: DtlsIdentity,
    gather: GatherOptions,
    ice_timeouts: IceTimeouts,
    /// ICE role-conflict recovery.
    ice_roles: ice::RoleOptions,
    commands: mpsc::Receiver<Command>,
    commands_weak: mpsc::WeakSender<Command>,
    ice_tx: ice::ReportTx,
    ice_rx: mpsc::Receiver<(GenKey, IceReport)>,
    io_tx: mpsc::Sender<Io>,
    io_rx: mpsc::Receiver<Io>,
    events: mpsc::Sender<PeerEvent>,
    pending: VecDeque<PeerEvent>,
    dropped: u64,
    app_gone: bool,
    closed_tx: watch::Sender<bool>,
    transports: BTreeMap<TransportId, TransportIo>,
    /// DTLS datagrams the path readers of every transport read.
    inbound_tx: mpsc::Sender<Inbound>,
    inbound_rx: mpsc::Receiver<Inbound>,
    /// The transport whose plane carries SCTP (the data transport).
    sctp_transport: Option<TransportId>,
    /// Open streams' message queues to their handles, by stream id.
    readers: HashMap<u16, channels::Reader>,
    /// Streams with messages left after a delivery batch.
    redeliver: Vec<u16>,
    /// Scratch space for outgoing datagrams.
    scratch: Vec<bytes::Bytes>,
    /// `OpenDataChannel` commands waiting for SCTP.
    pending_opens: Vec<(
        ChannelId,
        u16,
        String,
        session_core::channel::DataChannelInit,
    )>,
    channels: HashMap<ChannelId, Slot>,
    remote_pending: HashMap<u16, RemotePending>,
    /// Streams the peer wrote on that no negotiated channel claimed yet, by stream id.
    unclaimed: HashMap<u16, channels::Unclaimed>,
    /// Negotiated channels waiting for the stream the peer's data created, by stream id.
    awaiting: HashMap<u16, channels::Awaiting>,
    /// RTP tracks and the SRTP paths.
    media: media::MediaIo,
}

/// Aborts a task when dropped (the driver stops without leaving it behind).
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<S: Signaling> Driver<S> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        config: Config,
        identity: DtlsIdentity,
        gather: GatherOptions,
        ice_timeouts: IceTimeouts,
        ice_roles: ice::RoleOptions,
        signaling: S,
        commands: mpsc::Receiver<Command>,
        commands_weak: mpsc::WeakSender<Command>,
        events: mpsc::Sender<PeerEvent>,
        closed_tx: watch::Sender<bool>,
    ) -> Self {
        let (ice_tx, ice_rx) = mpsc::channel(REPORT_QUEUE);
        let (io_tx, io_rx) = mpsc::channel(REPORT_QUEUE);
        let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_QUEUE);
        let manual = matches!(config.negotiation, Negotiation::Manual);
        Self {
            id: NEXT_PEER.fetch_add(1, Ordering::Relaxed),
            session: Session::new(config, Instant::now()),
            signaling: Some(signaling),
            signal_io: None,
            signaling_open: !manual,
            manual,
            identity,
            gather,
            ice_timeouts,
            ice_roles,
            commands,
            commands_weak,
            ice_tx,
            ice_rx,
            io_tx,
            io_rx,
            events,
            pending: VecDeque::new(),
            dropped: 0,
            app_gone: false,
            closed_tx,
            transports: BTreeMap::new(),
            inbound_tx,
            inbound_rx,
            sctp_transport: None,
            readers: HashMap::new(),
            redeliver: Vec::new(),
            scratch: Vec::new(),
            pending_opens: Vec::new(),
            channels: HashMap::new(),
            remote_pending: HashMap::new(),
            unclaimed: HashMap::new(),
            awaiting: HashMap::new(),
            media: media::MediaIo::default(),
        }
    }

    pub(crate) fn spawn(self) {
        let span = tracing::info_span!("peer", id = self.id);
        tokio::spawn(self.run().instrument(span));
    }

    async fn run(mut self) {
        tracing::debug!("driver started");
        if let Some(s) = self.signaling.take() {
            if self.signaling_open {
                self.signal_io = Some(signal_io::SignalIo::spawn(s));
            }
        }
        loop {
            // Work left when a drain cap was hit: look at the inputs without sleeping, then
            // drain again (never sleep with output queued).
            let busy = self.drain().await;
            if self.session.is_closed() {
                break;
            }
            let deadline = if busy {
                Some(tokio::time::Instant::now())
            } else {
                self.poll_timeout().map(tokio::time::Instant::from_std)
            };
            let wants_events = !self.pending.is_empty() && !self.app_gone;
            let events = self.events.clone();
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => {
                        self.on_command(cmd);
                        // A burst of sends: take what is queued before draining.
                        for _ in 1..INPUT_BATCH {
                            match self.commands.try_recv() {
                                Ok(cmd) => self.on_command(cmd),
                                Err(_) => break,
                            }
                        }
                    }
                    // Every handle is gone: nobody can use this connection any more.
                    None => self.session.close(Instant::now()),
                },
                Some(first) = self.inbound_rx.recv() => {
                    let now = Instant::now();
                    self.on_datagram(now, first);
                    for _ in 1..INPUT_BATCH {
                        match self.inbound_rx.try_recv() {
                            Ok(next) => self.on_datagram(now, next),
                            Err(_) => break,
                        }
                    }
                }
                Some((key, report)) = self.ice_rx.recv() => self.on_ice(key, report).await,
                Some(io) = self.io_rx.recv() => self.on_io(io),
                Some(msg) = recv_signal(&mut self.signal_io), if self.signaling_open => {
                    self.on_signal(msg)
                }
                _ = sleep_until(deadline), if deadline.is_some() => self.on_timeout(Instant::now()),
                permit = events.reserve(), if wants_events => match permit {
                    Ok(permit) => {
                        if let Some(ev) = self.pending.pop_front() {
                            permit.send(ev);
                        }
                    }
                    Err(_) => {
                        self.app_gone = true;
                        self.pending.clear();
                    }
                },
            }
        }
        // Closed: the bye went out in the last drain; make sure it left the signaling channel
        // (bounded), then flush the last events (bounded), then say we are done.
        let signal_io = self.signal_io.take();
        if let (Some(io), true) = (signal_io, self.signaling_open) {
            match tokio::time::timeout(SIGNALING_CLOSE_TIMEOUT, io.close()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, "closing signaling failed"),
                Err(_) => tracing::warn!(
                    "signaling did not confirm the hang-up within {SIGNALING_CLOSE_TIMEOUT:?}"
                ),
            }
        }
        while let Some(ev) = self.pending.pop_front() {
            if self.app_gone {
                break;
            }
            match tokio::time::timeout(CLOSE_TIMEOUT, self.events.send(ev)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        tracing::debug!("driver stopped");
        self.closed_tx.send_replace(true);
    }

    /// The earliest timer: the session's or a data plane's.
    fn poll_timeout(&self) -> Option<Instant> {
        self.transports
            .values()
            .filter_map(|t| t.plane.poll_timeout())
            .chain(self.session.poll_timeout())
            .min()
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        for t in self.transports.values_mut() {
            if t.plane.poll_timeout().is_some_and(|d| d <= now) {
                t.plane.handle_timeout(now);
            }
        }
    }

    /// A DTLS datagram from one of a transport's paths.
    fn on_datagram(&mut self, now: Instant, (transport, datagram): Inbound) {
        if let Some(t) = self.transports.get_mut(&transport) {
            t.plane.handle_datagram(now, &datagram);
        }
    }

    /// Drains the data planes and the session's queues until they stay empty (bounded
    /// rounds); `true` when the bound was hit with work left.
    async fn drain(&mut self) -> bool {
        for _ in 0..MAX_DRAIN_ROUNDS {
            let mut progressed = self.pump_planes();
            while let Some(cmd) = self.session.poll_transport() {
                progressed = true;
                self.execute(cmd).await;
            }
            while let Some(msg) = self.session.poll_signal() {
                progressed = true;
                self.send_signal(msg);
            }
            while let Some(ev) = self.session.poll_event() {
                progressed = true;
                self.on_session_event(ev);
            }
            if !progressed {
                return false;
            }
        }
        true
    }

    /// Queues a message for the signaling task (never waits on the channel).
    fn send_signal(&mut self, msg: SignalMessage) {
        if self.manual {
            if let Some(ev) = crate::event::local_signal_event(msg) {
                self.emit(ev);
            }
            return;
        }
        if !self.signaling_open {
            return;
        }
        let queued = self.signal_io.as_ref().is_some_and(|io| io.send(msg));
        if !queued {
            self.signaling_failed(SignalingError::Closed);
        }
    }

    fn signaling_failed(&mut self, e: SignalingError) {
        tracing::warn!(error = %e, "signaling failed");
        self.signaling_open = false;
        self.emit(PeerEvent::TransportError(TransportError::Signaling(e)));
    }

    fn on_signal(&mut self, msg: Result<Option<SignalMessage>, SignalingError>) {
        match msg {
            Ok(Some(msg)) => {
                if let Err(e) = self.session.handle_signal(msg, Instant::now()) {
                    tracing::debug!(error = %e, fault = ?e.fault(), "signal message refused");
                }
            }
            Ok(None) => self.signaling_failed(SignalingError::Closed),
            Err(e) => self.signaling_failed(e),
        }
    }

    /// Feeds a transport event to the session.
    fn feed(&mut self, ev: TransportEvent) {
        self.session.handle_transport_event(ev, Instant::now());
    }

    fn emit(&mut self, ev: PeerEvent) {
        if self.app_gone {
            return;
        }
        if self.pending.len() >= MAX_PENDING_EVENTS {
            self.dropped += 1;
            return;
        }
        if self.dropped > 0 {
            let dropped = std::mem::take(&mut self.dropped);
            self.pending.push_back(PeerEvent::Lagged { dropped });
        }
        self.pending.push_back(ev);
    }

    fn on_command(&mut self, cmd: Command) {
        let now = Instant::now();
        match cmd {
            Command::CreateDataChannel { label, init, reply } => {
                let result = self
                    .session
                    .create_data_channel(&label, init)
                    .map(|id| self.new_local_handle(id, label));
                let _ = reply.send(result);
            }
            Command::CloseChannel(id) => self.session.close_data_channel(id),
            Command::Send {
                channel,
                data,
                is_string,
            } => self.on_send(&channel, data, is_string),
            Command::ResumeRead(channel) => self.on_resume_read(&channel),
            Command::RestartIce => self.session.restart_ice(now),
            Command::RestartIceTransport { mid, reply } => {
                let _ = reply.send(self.restart_ice_transport(&mid, now));
            }
            Command::Stats(reply) => {
                let _ = reply.send(self.stats());
            }
            Command::Close => {
                // Local tracks stop before the peer can hear of the close (W3C `close()`: the
                // senders stop at once): a write after the peer saw us go must fail here too.
                self.close_media();
                self.session.close(now);
            }
            Command::AddTrack {
                kind,
                stream_id,
                track_id,
                reply,
            } => {
                let _ = reply.send(self.add_track(kind, &stream_id, &track_id));
            }
            Command::SetConfiguration { update, reply } => {
                let _ = reply.send(self.session.set_configuration(update, now));
            }
            Command::NetworkChanged => {
                tracing::info!("local network changed");
                self.feed(TransportEvent::NetworkChanged);
            }
            Command::Jsep(call) => call.run(&mut self.session, now),
        }
    }

    fn new_local_handle(&mut self, id: ChannelId, label: String) -> ChannelParts {
        let (link, link_rx) = watch::channel(Link::Connecting);
        let (tx, rx) = mpsc::channel(channel::INCOMING_QUEUE);
        self.channels.insert(
            id,
            Slot {
                link,
                incoming: Some(tx),
                stream_id: None,
            },
        );
        ChannelParts {
            id,
            label,
            link: link_rx,
            incoming: rx,
        }
    }

    fn on_session_event(&mut self, ev: Event) {
        match ev {
            Event::DataChannel { channel, label } => {
                let stream_id = self.session.data_channel(channel).and_then(|c| c.stream_id);
                let Some(pending) = stream_id.and_then(|s| self.remote_pending.remove(&s)) else {
                    tracing::warn!(?channel, "remote data channel without a stream");
                    return;
                };
                let (link, link_rx) = watch::channel(pending.link);
                self.channels.insert(
                    channel,
                    Slot {
                        link,
                        incoming: None,
                        stream_id,
                    },
                );
                let commands = self
                    .commands_weak
                    .upgrade()
                    .unwrap_or_else(|| mpsc::channel(1).0);
                let parts = ChannelParts {
                    id: channel,
                    label,
                    link: link_rx,
                    incoming: pending.incoming,
                };
                let handle = DataChannel::new(parts, commands);
                self.emit(PeerEvent::DataChannel(handle));
            }
            Event::DataChannelClose(id) => {
                if let Some(slot) = self.channels.remove(&id) {
                    slot.link.send_replace(Link::Closed);
                }
                self.emit(PeerEvent::Session(ev));
            }
            Event::Track {
                transceiver,
                ref mid,
                kind,
            } => {
                let mid = mid.clone();
                self.emit(PeerEvent::Session(ev));
                self.on_track(transceiver, mid, kind);
            }
            Event::SignalingStateChange(_) => {
                self.sync_media();
                self.emit(PeerEvent::Session(ev));
            }
            Event::Closed(_) => {
                self.close_media();
                self.emit(PeerEvent::Session(ev));
            }
            ev => self.emit(PeerEvent::Session(ev)),
        }
    }

    async fn on_ice(&mut self, key: GenKey, report: IceReport) {
        let (transport, generation) = key;
        match report {
            IceReport::Candidate(candidate) => {
                if let Some(gen) = self.gen_io(transport, generation) {
                    gen.gathered += 1;
                }
                self.feed(TransportEvent::LocalCandidate {
                    transport,
                    generation,
                    candidate,
                })
            }
            IceReport::GatheringComplete => {
                // Nothing to check from: say why, instead of checking until ICE times out.
                if let Some(gen) = self.gen_io(transport, generation) {
                    if gen.gathered == 0 {
                        let relay_only = gen.relay_only;
                        tracing::warn!(%transport, %generation, relay_only, "no local ICE candidate gathered");
                        self.emit(PeerEvent::TransportError(TransportError::NoCandidates {
                            generation: generation.0,
                            relay_only,
                        }));
                    }
                }
                self.feed(TransportEvent::GatheringComplete {
                    transport,
                    generation,
                })
            }
            IceReport::State(state) => {
                tracing::debug!(%transport, %generation, ?state, "ICE state");
                if let Some(t) = self.transports.get_mut(&transport) {
                    if t.ice_state(generation, state) {
                        tracing::info!(%transport, %generation, "the lost path answers again");
                        t.path_changed();
                    }
                }
                self.feed(TransportEvent::IceStateChanged {
                    transport,
                    generation,
                    state,
                });
            }
            IceReport::Connected(conn) => {
                if let Some(t) = self.transports.get_mut(&transport) {
                    t.path_connected(generation, conn);
                }
                self.try_start_dtls(transport);
            }
            IceReport::ConnectFailed(e) => {
                tracing::debug!(%transport, %generation, error = %e, "ICE connect ended");
            }
            IceReport::Stalled(epoch) => {
                if let Some(t) = self.transports.get_mut(&transport) {
                    t.gen_stalled(generation, epoch).await;
                }
            }
        }
    }

    fn on_io(&mut self, io: Io) {
        match io {
            Io::UnclaimedExpired { stream_id } => self.on_unclaimed_expired(stream_id),
        }
    }

    fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for (id, t) in &self.transports {
            t.add_stats(*id, &mut stats);
        }
        let before_srtp = stats.media.dropped_before_srtp;
        stats.media = self.media_stats();
        stats.media.dropped_before_srtp = before_srtp;
        stats.channels = self.channel_stats();
        stats.unclaimed_streams = self.unclaimed.keys().copied().collect();
        stats.unclaimed_streams.sort_unstable();
        stats.transports = self
            .session
            .transports()
            .iter()
            .map(|t| TransportStats {
                id: t.id,
                mids: self.session.mids_of_transport(t.id),
            })
            .collect();
        stats
    }
}

/// The next message (or end, or failure) from the signaling task; never, without one.
async fn recv_signal(
    io: &mut Option<signal_io::SignalIo>,
) -> Option<Result<Option<SignalMessage>, SignalingError>> {
    match io {
        Some(io) => io.inbound.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
