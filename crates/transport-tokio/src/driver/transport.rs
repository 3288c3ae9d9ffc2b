//! The driver's execution of the session's transport commands: ICE agents per generation, the
//! switchable connection, DTLS, SCTP and data channels, and closing.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use session_core::config::IceTransportPolicy;
use session_core::state::DtlsTransportState;
use session_core::transport::{
    DtlsRole, Generation, TransportCommand, TransportEvent, TransportId,
};
use tokio::task::JoinHandle;
use webrtc_sctp::association::{Association, Config as SctpConfig};

use super::{Driver, Io, CLOSE_TIMEOUT};
use crate::channel::Link;
use crate::dtls;
use crate::error::TransportError;
use crate::ice;
use crate::peer::{GenerationStats, PeerEvent, Stats};
use crate::signaling::Signaling;
use crate::switch::counted::{Counted, PathCounters};
use crate::switch::{PathConn, SwitchConn};

/// One ICE generation's agent and path.
pub(super) struct GenIo {
    ice: ice::GenAgent,
    conn: Option<PathConn>,
    reader: Option<JoinHandle<()>>,
    /// What the generation's path carried (kept across a role flip's new agent).
    counters: Arc<PathCounters>,
    /// Local candidates gathered so far, and whether only relayed ones were asked for.
    pub(super) gathered: u32,
    pub(super) relay_only: bool,
}

/// Where a transport's DTLS stands.
enum DtlsPhase {
    Idle,
    /// `StartDtls` received; waiting for a promoted path.
    Pending {
        role: DtlsRole,
        fingerprints: Vec<session_core::sdp::Fingerprint>,
    },
    Handshaking(DtlsRole),
    Connected(Arc<::dtls::conn::DTLSConn>),
    Failed,
}

/// `StartSctp`'s parameters, waiting for DTLS.
#[derive(Clone, Copy)]
struct SctpParams {
    local_port: u16,
    remote_port: u16,
    max_message_size: u64,
}

/// One transport (a BUNDLE group): its generations, switchable connection, DTLS.
pub(super) struct TransportIo {
    switch: Arc<SwitchConn>,
    gens: BTreeMap<Generation, GenIo>,
    promoted: Option<Generation>,
    dtls: DtlsPhase,
    sctp: Option<SctpParams>,
}

impl TransportIo {
    fn new() -> Self {
        Self {
            switch: SwitchConn::new(),
            gens: BTreeMap::new(),
            promoted: None,
            dtls: DtlsPhase::Idle,
            sctp: None,
        }
    }

    /// A generation's agent connected: read its path, and write to it if it is promoted.
    pub(super) fn path_connected(&mut self, g: Generation, conn: PathConn) {
        let Some(gen) = self.gens.get_mut(&g) else {
            return; // retired meanwhile
        };
        gen.ice.on_connected();
        let conn = Counted::wrap(conn, Arc::clone(&gen.counters));
        gen.reader = Some(tokio::spawn(
            Arc::clone(&self.switch).read_path(Arc::clone(&conn)),
        ));
        gen.conn = Some(Arc::clone(&conn));
        if self.promoted == Some(g) {
            self.switch.set_writer(Some(conn));
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
            });
        }
    }

    fn retire(&mut self, g: Generation) {
        if let Some(gen) = self.gens.remove(&g) {
            if let Some(r) = gen.reader {
                r.abort();
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
        self.transports.entry(t).or_insert_with(TransportIo::new)
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
                            counters: Arc::default(),
                            gathered: 0,
                            relay_only: policy == IceTransportPolicy::Relay,
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
                self.transport(transport).dtls = DtlsPhase::Pending {
                    role,
                    fingerprints: remote_fingerprints,
                };
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
                self.transport(transport).sctp = Some(SctpParams {
                    local_port,
                    remote_port,
                    max_message_size,
                });
                self.try_start_sctp(transport);
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
                if self.sctp.is_some() {
                    self.open_channel(channel, stream_id, &label, &init);
                } else {
                    self.pending_opens.push((channel, stream_id, label, init));
                }
            }
            TransportCommand::CloseDataChannel { channel, stream_id } => {
                self.close_channel(channel, stream_id);
            }
            TransportCommand::Close => self.close_all().await,
            other => tracing::warn!(?other, "transport command not supported"),
        }
    }

    /// Starts DTLS once it was asked for and a path is promoted.
    pub(super) fn try_start_dtls(&mut self, transport: TransportId) {
        let identity = self.identity.clone();
        let io_tx = self.io_tx.clone();
        let Some(t) = self.transports.get_mut(&transport) else {
            return;
        };
        if !t.switch.has_writer() {
            return;
        }
        let DtlsPhase::Pending { role, fingerprints } =
            std::mem::replace(&mut t.dtls, DtlsPhase::Idle)
        else {
            return;
        };
        t.dtls = DtlsPhase::Handshaking(role);
        let switch = Arc::clone(&t.switch);
        tokio::spawn(async move {
            let is_client = role == DtlsRole::Client;
            let result = dtls::handshake(switch, &identity, is_client, fingerprints).await;
            let _ = io_tx.send(Io::Dtls { transport, result }).await;
        });
        self.feed(TransportEvent::DtlsStateChanged {
            transport,
            state: DtlsTransportState::Connecting,
        });
    }

    pub(super) fn on_dtls(
        &mut self,
        transport: TransportId,
        result: Result<Arc<::dtls::conn::DTLSConn>, TransportError>,
    ) {
        let Some(t) = self.transports.get_mut(&transport) else {
            return;
        };
        let DtlsPhase::Handshaking(role) = t.dtls else {
            return;
        };
        match result {
            Ok(conn) => {
                tracing::info!(%transport, "DTLS connected, peer fingerprint verified");
                t.dtls = DtlsPhase::Connected(Arc::clone(&conn));
                self.start_srtp(transport, role, conn);
                self.feed(TransportEvent::DtlsStateChanged {
                    transport,
                    state: DtlsTransportState::Connected,
                });
                self.try_start_sctp(transport);
            }
            Err(e) => {
                tracing::warn!(%transport, error = %e, "DTLS failed");
                t.dtls = DtlsPhase::Failed;
                if e == TransportError::FingerprintMismatch {
                    self.feed(TransportEvent::FingerprintMismatch { transport });
                }
                self.feed(TransportEvent::DtlsStateChanged {
                    transport,
                    state: DtlsTransportState::Failed,
                });
                self.emit(PeerEvent::TransportError(e));
            }
        }
    }

    fn try_start_sctp(&mut self, transport: TransportId) {
        let io_tx = self.io_tx.clone();
        let Some(t) = self.transports.get_mut(&transport) else {
            return;
        };
        let (DtlsPhase::Connected(conn), Some(params)) = (&t.dtls, t.sctp) else {
            return;
        };
        t.sctp = None; // started once
        let config = SctpConfig {
            net_conn: Arc::clone(conn) as Arc<dyn webrtc_util::Conn + Send + Sync>,
            max_receive_buffer_size: 0,
            max_message_size: u32::try_from(params.max_message_size).unwrap_or(u32::MAX),
            mtu: 0,
            name: format!("sctp-{transport}"),
            local_port: params.local_port,
            remote_port: params.remote_port,
        };
        // Both sides send INIT (SCTP simultaneous open, RFC 4960 sec. 5.2.1; webrtc-rs's own
        // RTCSctpTransport does the same), whatever the DTLS role. `Association::server` is not
        // an option: webrtc-sctp 0.17.2 takes the peer's receive window (`rwnd`) only from an
        // INIT ACK (`handle_init_ack`) or a SACK, never from an INIT (`handle_init`), so a
        // passive side starts with rwnd 0 and may have only one DATA chunk in flight (the
        // zero-window probe, `pop_pending_data_chunks_to_send`) until the peer's first SACK,
        // which the peer delays by 200 ms: the DCEP OPEN went out, the first message waited.
        // With INIT from both sides each one gets an INIT ACK and the peer's a_rwnd.
        tokio::spawn(async move {
            let result = Association::client(config)
                .await
                .map(Arc::new)
                .map_err(|e| TransportError::Sctp(e.to_string()));
            let _ = io_tx.send(Io::Sctp { transport, result }).await;
        });
    }

    pub(super) fn on_sctp(
        &mut self,
        transport: TransportId,
        result: Result<Arc<Association>, TransportError>,
    ) {
        match result {
            Ok(assoc) => {
                tracing::info!(%transport, "SCTP association established");
                let limit = usize::try_from(assoc.max_message_size()).unwrap_or(usize::MAX);
                self.sctp = Some((Arc::clone(&assoc), limit));
                self.sctp_accept = Some(super::channels::spawn_accept(assoc, self.io_tx.clone()));
                for (channel, stream_id, label, init) in std::mem::take(&mut self.pending_opens) {
                    self.open_channel(channel, stream_id, &label, &init);
                }
            }
            Err(e) => {
                tracing::warn!(%transport, error = %e, "SCTP failed");
                for (_, stream_id, _, _) in std::mem::take(&mut self.pending_opens) {
                    self.feed(TransportEvent::DataChannelClosed { stream_id });
                }
                self.emit(PeerEvent::TransportError(e));
            }
        }
    }

    /// Closes everything, in order: channels, SCTP, DTLS (close_notify goes out while the path
    /// is still up), then every ICE agent.
    async fn close_all(&mut self) {
        tracing::debug!("closing the transport");
        for (_, slot) in self.channels.drain() {
            slot.link.send_replace(Link::Closed);
        }
        self.remote_pending.clear();
        self.pending_opens.clear();
        self.awaiting.clear();
        self.unclaimed.clear();
        // The accept loop holds the association and would wait on it forever.
        self.sctp_accept = None;
        let assoc = self.sctp.take().map(|(a, _)| a);
        let mut dtls_conns = Vec::new();
        let mut agents = Vec::new();
        let mut switches = Vec::new();
        for (_, mut t) in std::mem::take(&mut self.transports) {
            if let DtlsPhase::Connected(c) = std::mem::replace(&mut t.dtls, DtlsPhase::Idle) {
                dtls_conns.push(c);
            }
            for (_, gen) in std::mem::take(&mut t.gens) {
                if let Some(r) = gen.reader {
                    r.abort();
                }
                agents.push(gen.ice.into_agent());
            }
            switches.push(t.switch);
        }
        let graceful = async {
            if let Some(a) = assoc {
                let _ = a.close().await;
            }
            for c in &dtls_conns {
                let _ = c.close().await;
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
