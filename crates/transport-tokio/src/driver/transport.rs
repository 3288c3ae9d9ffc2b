//! The driver's execution of the session's transport commands: ICE agents per generation, the
//! switchable connection, the data plane (DTLS, SCTP, data channels) of each transport, and
//! closing.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use session_core::config::IceTransportPolicy;
use session_core::state::{DtlsTransportState, IceTransportState};
use session_core::transport::{
    DtlsRole, Generation, TransportCommand, TransportEvent, TransportId,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Driver, CLOSE_TIMEOUT};
use crate::channel::Link;
use crate::error::{PeerConnectionError, TransportError};
use crate::event::PeerEvent;
use crate::ice;
use crate::ice::udp::{BatchedUdp, DataSink};
use crate::plane::dtls::DtlsEvent;
use crate::plane::{Plane, PlaneEvent, SctpParams};
use crate::signaling::Signaling;
use crate::stats::{GenerationStats, Stats};
use crate::switch::counted::{Counted, PathCounters};
use crate::switch::{Inbound, PathConn, PathSink, SwitchConn};

/// Datagrams queued for a transport's writer task; beyond that they are dropped and counted
/// (DTLS and SCTP retransmit), as a full socket buffer would.
const WRITE_QUEUE: usize = 4096;
/// Datagrams the writer takes from its queue per wake-up.
const WRITE_BATCH: usize = 64;

/// One ICE generation's agent and path.
pub(super) struct GenIo {
    ice: ice::GenAgent,
    conn: Option<PathConn>,
    reader: Option<JoinHandle<()>>,
    /// Where the agent's sockets hand their data (stopped when the generation goes).
    sink: Option<Arc<PathSink>>,
    /// What the generation's path carried (kept across a role flip's new agent).
    counters: Arc<PathCounters>,
    /// Local candidates gathered so far, and whether only relayed ones were asked for.
    pub(super) gathered: u32,
    pub(super) relay_only: bool,
    /// The agent reported `Disconnected` (or `Failed`) since it last reported a working path.
    pub(super) lost: bool,
}

/// `StartDtls`'s parameters, waiting for a promoted path.
struct DtlsPending {
    role: DtlsRole,
    fingerprints: Vec<session_core::sdp::Fingerprint>,
}

/// One transport (a BUNDLE group): its generations, switchable connection, data plane.
pub(super) struct TransportIo {
    switch: Arc<SwitchConn>,
    gens: BTreeMap<Generation, GenIo>,
    promoted: Option<Generation>,
    dtls_pending: Option<DtlsPending>,
    /// DTLS and SCTP (sans-IO, driven by the driver).
    pub(super) plane: Plane,
    /// The writer task's queue: datagrams to the promoted path.
    writer: mpsc::Sender<Write>,
    writer_task: Option<JoinHandle<()>>,
}

/// What a transport's writer task takes from its queue.
enum Write {
    Datagram(Bytes),
    /// Everything queued before is written: SRTP may follow ([`SwitchConn::open_media`]).
    OpenMedia,
}

/// Writes queued datagrams to the switchable connection (which picks the path and keeps the
/// DTLS records for a replay), so the driver never waits on a socket.
async fn write_loop(switch: Arc<SwitchConn>, mut rx: mpsc::Receiver<Write>) {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let mut datagrams = Vec::with_capacity(WRITE_BATCH);
    while rx.recv_many(&mut batch, WRITE_BATCH).await > 0 {
        for write in batch.drain(..) {
            match write {
                Write::Datagram(datagram) => datagrams.push(datagram),
                Write::OpenMedia => {
                    // In order: what was queued before goes first.
                    switch.send_batch(&datagrams).await;
                    datagrams.clear();
                    switch.open_media();
                }
            }
        }
        switch.send_batch(&datagrams).await;
        datagrams.clear();
    }
    switch.open_media();
}

impl TransportIo {
    fn new(transport: TransportId, inbound: mpsc::Sender<Inbound>) -> Self {
        let switch = SwitchConn::with_inbound(transport, inbound);
        let (writer, rx) = mpsc::channel(WRITE_QUEUE);
        let writer_task = tokio::spawn(write_loop(Arc::clone(&switch), rx));
        Self {
            switch,
            gens: BTreeMap::new(),
            promoted: None,
            dtls_pending: None,
            plane: Plane::default(),
            writer,
            writer_task: Some(writer_task),
        }
    }

    /// Queues the plane's datagrams for the writer.
    pub(super) fn flush(&mut self, now: Instant, scratch: &mut Vec<Bytes>) {
        self.plane.poll_transmit(now, scratch);
        for datagram in scratch.drain(..) {
            if self.writer.try_send(Write::Datagram(datagram)).is_err() {
                self.switch
                    .counters
                    .send_dropped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// DTLS connected: queues what the plane has to send (as DTLS server, our last flight,
    /// which completes the peer's handshake) and holds SRTP writes until the writer task has
    /// written it, so no SRTP overtakes it (see [`SwitchConn::hold_media`]).
    pub(super) fn flush_before_media(&mut self, now: Instant, scratch: &mut Vec<Bytes>) {
        self.switch.hold_media();
        self.flush(now, scratch);
        if self.writer.try_send(Write::OpenMedia).is_err() {
            self.switch.open_media();
        }
    }

    /// A generation's agent connected: read its path, and write to it if it is promoted.
    pub(super) fn path_connected(&mut self, g: Generation, conn: PathConn) {
        let Some(gen) = self.gens.get_mut(&g) else {
            return; // retired meanwhile
        };
        gen.ice.on_connected();
        let agent = Arc::clone(gen.ice.agent());
        let conn = Counted::wrap_agent(conn, Arc::clone(&gen.counters), Arc::clone(&agent));
        gen.reader = Some(tokio::spawn(
            Arc::clone(&self.switch).read_path(Arc::clone(&conn)),
        ));
        // Our sockets under the agent's candidates hand their data straight to the switch.
        let sink = PathSink::new(
            Arc::clone(&self.switch),
            Arc::clone(&conn),
            Arc::clone(&gen.counters),
        );
        if let Some(old) = gen.sink.replace(Arc::clone(&sink)) {
            old.stop(); // the agent that connected before a role flip
        }
        tokio::spawn(async move {
            for candidate in agent.get_local_candidates().await.unwrap_or_default() {
                if let Some(udp) = candidate
                    .get_conn()
                    .and_then(|c| c.as_any().downcast_ref::<BatchedUdp>())
                {
                    udp.attach(Arc::clone(&sink) as Arc<dyn DataSink>);
                }
            }
        });
        gen.conn = Some(Arc::clone(&conn));
        if self.promoted == Some(g) {
            self.switch.set_writer(Some(conn));
            self.path_changed();
        }
    }

    /// Traffic now takes another path, or the promoted one works again after an outage:
    /// SCTP retransmits what is outstanding at once instead of waiting out its backed-off
    /// retransmission timer.
    pub(super) fn path_changed(&mut self) {
        if let Some(sctp) = self.plane.sctp() {
            tracing::debug!("path changed: SCTP retransmits outstanding data now");
            sctp.retransmit_now(Instant::now());
        }
    }

    /// The generation's agent reported `state`; true when it is the promoted generation's path
    /// working again after it was lost.
    pub(super) fn ice_state(&mut self, g: Generation, state: IceTransportState) -> bool {
        let promoted = self.promoted == Some(g);
        let Some(gen) = self.gens.get_mut(&g) else {
            return false;
        };
        match state {
            IceTransportState::Disconnected | IceTransportState::Failed => {
                gen.lost = true;
                false
            }
            IceTransportState::Connected | IceTransportState::Completed => {
                std::mem::take(&mut gen.lost) && promoted
            }
            _ => false,
        }
    }

    pub(super) fn add_stats(&self, transport: TransportId, stats: &mut Stats) {
        stats.dtls_datagrams_in += self.switch.counters.dtls_in.load(Ordering::Relaxed);
        stats.datagrams_dropped_out += self.switch.counters.send_dropped.load(Ordering::Relaxed);
        stats.dtls_datagrams_replayed += self.switch.counters.dtls_replayed.load(Ordering::Relaxed);
        stats.media.dropped_before_srtp += self.switch.counters.rtp_dropped.load(Ordering::Relaxed);
        for (g, gen) in &self.gens {
            let pair = gen.ice.agent().get_selected_candidate_pair();
            stats.generations.push(GenerationStats {
                transport,
                generation: *g,
                promoted: self.promoted == Some(*g),
                local: pair.as_ref().map(|p| p.local.addr()),
                remote: pair.as_ref().map(|p| p.remote.addr()),
                local_type: pair
                    .as_ref()
                    .map(|p| ice::candidate_type(p.local.candidate_type())),
                remote_type: pair
                    .as_ref()
                    .map(|p| ice::candidate_type(p.remote.candidate_type())),
                ice_role: gen.ice.role(),
                role_flipped: gen.ice.flipped(),
                packets_sent: gen.counters.packets_sent.load(Ordering::Relaxed),
                bytes_sent: gen.counters.bytes_sent.load(Ordering::Relaxed),
                packets_received: gen.counters.packets_received.load(Ordering::Relaxed),
                bytes_received: gen.counters.bytes_received.load(Ordering::Relaxed),
                direct_packets_sent: gen.counters.direct_sent.load(Ordering::Relaxed),
                direct_packets_received: gen.counters.direct_received.load(Ordering::Relaxed),
            });
        }
    }

    fn retire(&mut self, g: Generation) {
        if let Some(gen) = self.gens.remove(&g) {
            if let Some(r) = gen.reader {
                r.abort();
            }
            if let Some(sink) = gen.sink {
                sink.stop();
            }
            ice::close_agent(gen.ice.into_agent());
        }
        if self.promoted == Some(g) {
            self.promoted = None;
            self.switch.set_writer(None);
        }
    }

    /// A generation checked too long without connecting: its agent takes the other role
    /// (role-conflict recovery, see [`ice::GenAgent`]).
    pub(super) async fn gen_stalled(&mut self, g: Generation, epoch: u32) {
        let Some(gen) = self.gens.get_mut(&g) else {
            return;
        };
        let from = gen.ice.role();
        match gen.ice.on_stalled(epoch).await {
            Ok(true) => tracing::info!(
                %g, ?from, to = ?gen.ice.role(),
                "ICE generation stalled: suspected role conflict, agent replaced with the other role"
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!(%g, error = %e, "replacement ICE agent not started"),
        }
    }

    /// The switchable connection (for the SRTP path).
    pub(super) fn switch_conn(&self) -> &Arc<SwitchConn> {
        &self.switch
    }
}

impl<S: Signaling> Driver<S> {
    fn transport(&mut self, t: TransportId) -> &mut TransportIo {
        let inbound = &self.inbound_tx;
        self.transports
            .entry(t)
            .or_insert_with(|| TransportIo::new(t, inbound.clone()))
    }

    /// A live generation's I/O, if it has an agent.
    pub(super) fn gen_io(&mut self, t: TransportId, g: Generation) -> Option<&mut GenIo> {
        self.transports.get_mut(&t)?.gens.get_mut(&g)
    }

    pub(super) async fn execute(&mut self, cmd: TransportCommand) {
        match cmd {
            TransportCommand::StartGeneration {
                transport,
                generation,
                local,
                role,
                ice_servers,
                policy,
            } => {
                // Testing only: a forced role for the first generation.
                let role = self.ice_roles.first_role_override.take().unwrap_or(role);
                tracing::debug!(%transport, %generation, ?role, ufrag = %local.ufrag, "ICE generation starts");
                let started = ice::GenAgent::start(
                    (transport, generation),
                    local,
                    role,
                    ice_servers,
                    policy,
                    &self.gather,
                    self.ice_timeouts,
                    self.ice_roles.flip_after,
                    self.ice_tx.clone(),
                )
                .await;
                match started {
                    Ok(ice) => {
                        let gen = GenIo {
                            ice,
                            conn: None,
                            reader: None,
                            sink: None,
                            counters: Arc::default(),
                            gathered: 0,
                            relay_only: policy == IceTransportPolicy::Relay,
                            lost: false,
                        };
                        self.transport(transport).gens.insert(generation, gen);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "ICE agent not started");
                        self.emit(PeerEvent::TransportError(e));
                        self.feed(TransportEvent::IceStateChanged {
                            transport,
                            generation,
                            state: session_core::state::IceTransportState::Failed,
                        });
                    }
                }
            }
            TransportCommand::SetRemoteCredentials {
                transport,
                generation,
                remote,
            } => {
                if let Some(gen) = self.transport(transport).gens.get_mut(&generation) {
                    gen.ice.set_remote_credentials(remote);
                }
            }
            TransportCommand::AddRemoteCandidate {
                transport,
                generation,
                candidate,
            } => {
                if let Some(gen) = self.transport(transport).gens.get_mut(&generation) {
                    gen.ice.add_remote_candidate(&candidate);
                }
            }
            TransportCommand::RemoteEndOfCandidates { .. } => {
                // webrtc-ice has no end-of-candidates input; its timers decide failure.
            }
            TransportCommand::StartDtls {
                transport,
                role,
                remote_fingerprints,
            } => {
                self.transport(transport).dtls_pending = Some(DtlsPending {
                    role,
                    fingerprints: remote_fingerprints,
                });
                self.try_start_dtls(transport);
            }
            TransportCommand::PromoteGeneration {
                transport,
                generation,
            } => {
                tracing::info!(%transport, %generation, "traffic switches to this ICE generation");
                let t = self.transport(transport);
                t.promoted = Some(generation);
                let conn = t.gens.get(&generation).and_then(|g| g.conn.clone());
                if conn.is_some() {
                    t.switch.set_writer(conn);
                    t.path_changed();
                }
                self.try_start_dtls(transport);
            }
            TransportCommand::RetireGeneration {
                transport,
                generation,
            } => {
                tracing::debug!(%transport, %generation, "ICE generation retired");
                self.transport(transport).retire(generation);
            }
            TransportCommand::StartSctp {
                transport,
                local_port,
                remote_port,
                max_message_size,
            } => {
                self.sctp_transport = Some(transport);
                self.transport(transport).plane.start_sctp(
                    SctpParams {
                        local_port,
                        remote_port,
                        max_message_size,
                    },
                    Instant::now(),
                );
            }
            TransportCommand::OpenDataChannel {
                channel,
                stream_id,
                label,
                init,
            } => {
                if let Some(slot) = self.channels.get_mut(&channel) {
                    slot.stream_id = Some(stream_id);
                }
                if self.sctp_connected() {
                    self.open_channel(channel, stream_id, &label, &init);
                } else {
                    self.pending_opens.push((channel, stream_id, label, init));
                }
            }
            TransportCommand::CloseDataChannel { channel, stream_id } => {
                self.close_channel(channel, stream_id);
            }
            TransportCommand::Close => self.close_all().await,
        }
    }

    /// `restart_ice_transport`: a partial restart of `mid`'s transport, refused (with a typed
    /// error, nothing changed) when the mid is not negotiated or shares its transport.
    pub(super) fn restart_ice_transport(
        &mut self,
        mid: &str,
        now: Instant,
    ) -> Result<(), PeerConnectionError> {
        if self.session.is_closed() {
            return Err(PeerConnectionError::Closed);
        }
        let Some(transport) = self.session.transport_of_mid(mid) else {
            let mut negotiated: Vec<String> = self
                .session
                .transports()
                .iter()
                .flat_map(|t| self.session.mids_of_transport(t.id))
                .filter(|m| self.session.transport_of_mid(m).is_some())
                .collect();
            negotiated.sort();
            return Err(PeerConnectionError::UnknownMid {
                mid: mid.to_owned(),
                negotiated,
            });
        };
        let shared_with: Vec<String> = self
            .session
            .mids_of_transport(transport)
            .into_iter()
            .filter(|m| m != mid)
            .collect();
        if !shared_with.is_empty() {
            return Err(PeerConnectionError::BundledMid {
                mid: mid.to_owned(),
                transport,
                shared_with,
            });
        }
        tracing::info!(%transport, mid, "partial ICE restart requested");
        self.session.restart_ice_transport(mid, now);
        Ok(())
    }

    /// Starts DTLS once it was asked for and a path is promoted.
    pub(super) fn try_start_dtls(&mut self, transport: TransportId) {
        let identity = self.identity.clone();
        let Some(t) = self.transports.get_mut(&transport) else {
            return;
        };
        if !t.switch.has_writer() || t.plane.dtls_started() {
            return;
        }
        let Some(DtlsPending { role, fingerprints }) = t.dtls_pending.take() else {
            return;
        };
        let started = t
            .plane
            .start_dtls(&identity, role, fingerprints, Instant::now());
        self.feed(TransportEvent::DtlsStateChanged {
            transport,
            state: DtlsTransportState::Connecting,
        });
        if let Err(e) = started {
            self.dtls_failed(transport, e);
        }
    }

    fn dtls_failed(&mut self, transport: TransportId, e: TransportError) {
        tracing::warn!(%transport, error = %e, "DTLS failed");
        if e == TransportError::FingerprintMismatch {
            self.feed(TransportEvent::FingerprintMismatch { transport });
        }
        self.feed(TransportEvent::DtlsStateChanged {
            transport,
            state: DtlsTransportState::Failed,
        });
        self.emit(PeerEvent::TransportError(e));
    }

    /// Runs every transport's data plane after inputs: its events, then its datagrams, until
    /// both are quiet (handling an event may send). `true` when anything happened.
    pub(super) fn pump_planes(&mut self) -> bool {
        let mut any = false;
        let now = Instant::now();
        let ids: Vec<TransportId> = self.transports.keys().copied().collect();
        for _ in 0..super::MAX_DRAIN_ROUNDS {
            let mut progressed = false;
            for &id in &ids {
                loop {
                    let Some(ev) = self
                        .transports
                        .get_mut(&id)
                        .and_then(|t| t.plane.poll_event())
                    else {
                        break;
                    };
                    progressed = true;
                    self.on_plane_event(id, ev);
                }
            }
            for stream_id in std::mem::take(&mut self.redeliver) {
                progressed = true;
                self.deliver(stream_id);
            }
            if !progressed {
                break;
            }
            any = true;
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        for t in self.transports.values_mut() {
            t.flush(now, &mut scratch);
        }
        self.scratch = scratch;
        any || !self.redeliver.is_empty()
    }

    fn on_plane_event(&mut self, transport: TransportId, ev: PlaneEvent) {
        match ev {
            PlaneEvent::Dtls(DtlsEvent::Connected) => {
                tracing::info!(%transport, "DTLS connected, peer fingerprint verified");
                // Our last flight goes out before the SRTP the keys below let the tracks write.
                let mut scratch = std::mem::take(&mut self.scratch);
                if let Some(t) = self.transports.get_mut(&transport) {
                    t.flush_before_media(Instant::now(), &mut scratch);
                }
                self.scratch = scratch;
                let keys = self
                    .transports
                    .get(&transport)
                    .and_then(|t| t.plane.dtls())
                    .map(|d| d.srtp_material());
                if let Some(keys) = keys {
                    let keys = keys.and_then(|m| match m {
                        Some(m) => crate::srtp::derive(&m).map(|k| k.map(Box::new)),
                        None => Ok(None),
                    });
                    self.on_srtp(transport, keys);
                }
                self.feed(TransportEvent::DtlsStateChanged {
                    transport,
                    state: DtlsTransportState::Connected,
                });
            }
            PlaneEvent::Dtls(DtlsEvent::Failed(e)) => self.dtls_failed(transport, e),
            PlaneEvent::Dtls(DtlsEvent::Closed) => {
                tracing::debug!(%transport, "the peer closed DTLS (close_notify)");
                // On every transport in use, the session takes it for the peer's hang-up.
                self.feed(TransportEvent::DtlsStateChanged {
                    transport,
                    state: DtlsTransportState::Closed,
                });
            }
            PlaneEvent::Sctp(ev) => self.on_sctp_event(transport, ev),
        }
    }

    /// Closes everything, in order: channels, SCTP (ABORT) and DTLS (close_notify) go out
    /// while the path is still up, then every ICE agent.
    async fn close_all(&mut self) {
        tracing::debug!("closing the transport");
        for (_, slot) in self.channels.drain() {
            if let Link::Open(shared) = &*slot.link.borrow() {
                shared.closed();
            }
            slot.link.send_replace(Link::Closed);
        }
        for (_, r) in self.readers.drain() {
            r.shared.closed();
        }
        self.remote_pending.clear();
        self.pending_opens.clear();
        self.awaiting.clear();
        self.unclaimed.clear();
        self.sctp_transport = None;
        let now = Instant::now();
        let mut agents = Vec::new();
        let mut switches = Vec::new();
        let mut writers = Vec::new();
        for (_, mut t) in std::mem::take(&mut self.transports) {
            let mut out = Vec::new();
            t.plane.close(now, &mut out);
            for datagram in out {
                let _ = t.writer.try_send(Write::Datagram(datagram));
            }
            for (_, gen) in std::mem::take(&mut t.gens) {
                if let Some(r) = gen.reader {
                    r.abort();
                }
                if let Some(sink) = gen.sink {
                    sink.stop();
                }
                agents.push(gen.ice.into_agent());
            }
            // Dropping the queue's sender ends the writer once it wrote what is queued.
            drop(t.writer);
            if let Some(w) = t.writer_task.take() {
                writers.push(w);
            }
            switches.push(t.switch);
        }
        let graceful = async {
            for w in writers {
                let _ = w.await;
            }
            for s in &switches {
                s.shut();
            }
            for a in &agents {
                let _ = a.close().await;
            }
        };
        if tokio::time::timeout(CLOSE_TIMEOUT, graceful).await.is_err() {
            tracing::warn!("graceful close timed out");
            for s in &switches {
                s.shut();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp_path::{self, MediaShared};
    use crate::srtp::SrtpKeys;
    use webrtc_srtp::context::Context;
    use webrtc_srtp::protection_profile::ProtectionProfile;
    use webrtc_util::conn::conn_pipe::pipe;
    use webrtc_util::Conn;

    fn keys() -> SrtpKeys {
        let p = ProtectionProfile::AeadAes128Gcm;
        let ctx = || Context::new(&[7; 16], &[9; 12], p, None, None).expect("context");
        SrtpKeys {
            profile: p,
            local: ctx(),
            remote: ctx(),
        }
    }

    /// When DTLS completes, the driver queues our last flight for the writer task, then the
    /// keys let the tracks write, from their own tasks, at once: the flight must still reach
    /// the wire first, or the peer (whose handshake it completes) drops the SRTP. Chromium
    /// did, on every transport of an unbundled session (the e2e `interop_unbundled` test).
    /// On a current-thread runtime the track's write runs before the writer task unless it
    /// waits for it.
    #[tokio::test]
    async fn srtp_at_dtls_completion_follows_the_queued_flight() {
        let (inbound, _inbound_rx) = mpsc::channel(8);
        let mut t = TransportIo::new(TransportId(0), inbound);
        let (near, far) = pipe();
        t.switch.set_writer(Some(Arc::new(near)));
        // The plane's last flight (a DTLS record), queued as `flush` queues it.
        let flight = Bytes::from_static(&[22, 254, 253, 0, 1]);
        assert!(t.writer.try_send(Write::Datagram(flight)).is_ok());
        t.flush_before_media(Instant::now(), &mut Vec::new());

        // SRTP ready: a track writes right away.
        let (_, out) = rtp_path::split(
            keys(),
            Arc::clone(&t.switch),
            Arc::new(MediaShared::default()),
        );
        let packet = rtp::packet::Packet {
            header: rtp::header::Header {
                version: 2,
                payload_type: 96,
                ssrc: 1,
                ..Default::default()
            },
            payload: Bytes::from_static(&[1, 2, 3]),
        };
        out.write_rtp(&packet).await.expect("write_rtp");

        let mut buf = [0u8; 1500];
        let mut first_bytes = Vec::new();
        for _ in 0..2 {
            let n = far.recv(&mut buf).await.expect("recv");
            assert!(n > 0);
            first_bytes.push(buf[0]);
        }
        assert_eq!(first_bytes[0], 22, "the DTLS flight first: {first_bytes:?}");
        assert!(
            (128..192).contains(&first_bytes[1]),
            "then SRTP: {first_bytes:?}"
        );
    }
}
