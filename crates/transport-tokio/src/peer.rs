//! [`PeerConnection`]: the handle applications hold, its configuration and its events.

use std::net::SocketAddr;
use std::time::Duration;

use session_core::candidate::CandidateType;
use session_core::channel::{ChannelId, DataChannelInit};
use session_core::config::{
    BundlePolicy, Config, ConfigUpdate, IceServer, IceTransportPolicy, Negotiation,
};
use session_core::error::SessionError;
use session_core::policy::RestartPolicy;
use session_core::session::Event;
use session_core::signal::IceCandidateInit;
use session_core::transport::{Generation, TransportId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::channel::DataChannel;
use crate::driver::Driver;
use crate::dtls::DtlsIdentity;
use crate::error::{PeerError, SetupError, TransportError};
use crate::ice::GatherOptions;
use crate::netwatch::{self, NetworkWatch};
use crate::signaling::Signaling;
use crate::track::{RtpReceiver, RtpSender};

/// Commands queued from the application to the driver; beyond that, calls wait.
const COMMAND_QUEUE: usize = 64;
/// Events queued for the application in the channel (more wait inside the driver, see
/// [`PeerEvents`]).
pub(crate) const EVENT_QUEUE: usize = 256;

/// Configuration of a [`PeerConnection`].
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Perfect negotiation role: exactly one of the two peers must be polite.
    pub polite: bool,
    /// Where host candidates are gathered.
    pub gather: GatherOptions,
    /// STUN/TURN servers (none by default).
    pub ice_servers: Vec<IceServer>,
    /// Automatic ICE restarts.
    pub restart_policy: RestartPolicy,
    /// Seed of the session's CSPRNG; `None`: from the OS. Pin it in tests.
    pub seed: Option<[u8; 32]>,
    /// DTLS certificate: one the application keeps ([`DtlsIdentity::from_pem`]); `None`: a
    /// fresh self-signed one ([`DtlsIdentity::generate`]).
    pub identity: Option<DtlsIdentity>,
    /// How long a superseded ICE generation keeps receiving after a restart switched paths.
    pub retire_grace: Duration,
    /// **Testing only**: advertise this `a=fingerprint` in our SDP instead of the real one of
    /// our certificate. A wrong value makes the peer reject our DTLS certificate (its
    /// connection fails with a fingerprint mismatch); use it to test how interop failures
    /// surface. `None` (the default): the certificate's own fingerprint.
    pub advertise_fingerprint_override: Option<session_core::sdp::Fingerprint>,
    /// Which local candidates ICE gathers (W3C `iceTransportPolicy`): all, or relayed (TURN)
    /// only. Changed later with [`PeerConnection::set_configuration`].
    pub ice_transport_policy: IceTransportPolicy,
    /// How local network changes are detected (polling the interface list every second by
    /// default); a change feeds the session's restart policy.
    pub network_watch: NetworkWatch,
    /// **Testing only**: check the first ICE generation with this role instead of the one the
    /// negotiation gives (controlling for the offerer). Setting it on one peer forces an ICE
    /// role conflict, to test the recovery (the generation that stalls is re-checked with the
    /// other role, see docs/transport-tokio.md). `None` (the default): the negotiated role.
    pub ice_role_override: Option<session_core::transport::IceRole>,
}

impl PeerConfig {
    /// Defaults: no ICE servers, host candidates on non-loopback interfaces, the core's default
    /// restart policy, a fresh certificate and seed.
    pub fn new(polite: bool) -> Self {
        Self {
            polite,
            gather: GatherOptions::default(),
            ice_servers: Vec::new(),
            restart_policy: RestartPolicy::default(),
            seed: None,
            identity: None,
            retire_grace: Duration::from_secs(2),
            advertise_fingerprint_override: None,
            ice_transport_policy: IceTransportPolicy::All,
            network_watch: NetworkWatch::default(),
            ice_role_override: None,
        }
    }
}

/// What a peer connection tells the application.
#[derive(Debug)]
#[non_exhaustive]
pub enum PeerEvent {
    /// An event of the session (states, ICE generations, data channel open/close, closed).
    Session(Event),
    /// The peer opened a data channel (W3C `datachannel`).
    DataChannel(DataChannel),
    /// The transport failed below the session (fingerprint mismatch, DTLS, SCTP, ...).
    TransportError(TransportError),
    /// The application read events too slowly: this many were dropped (see [`PeerEvents`]).
    Lagged {
        /// Events dropped.
        dropped: u64,
    },
    /// The remote started sending on a transceiver (W3C `track`): its receiver, delivered once
    /// the offer/answer exchange completed; its queue already holds what arrived meanwhile.
    Track(RtpReceiver),
    /// Manual negotiation ([`PeerConnection::new_manual`]): a local ICE candidate (W3C
    /// `icecandidate`) to send to the peer, which gives it to its
    /// [`add_ice_candidate`](PeerConnection::add_ice_candidate). Candidates of an ICE restart
    /// carry the new generation's `username_fragment`.
    LocalCandidate(IceCandidateInit),
    /// Manual negotiation: this ICE generation gathered all its candidates (W3C
    /// `icecandidate` with a null candidate). The peer learns it by an
    /// [`add_ice_candidate`](PeerConnection::add_ice_candidate) with an empty `candidate` and
    /// these fields.
    LocalEndOfCandidates {
        /// The generation's ufrag.
        username_fragment: Option<String>,
        /// The m-section, when not bundled.
        sdp_mid: Option<String>,
    },
}

/// The stream of a peer connection's events.
///
/// Overflow policy: up to 256 events wait in the channel and up to 4096 more inside the
/// driver, which never blocks on the application; beyond that, new events are dropped and
/// a [`PeerEvent::Lagged`] with their count is delivered once there is room again. Data channel
/// messages do not go through this stream (see [`DataChannel::recv`]).
#[derive(Debug)]
pub struct PeerEvents {
    rx: mpsc::Receiver<PeerEvent>,
}

impl PeerEvents {
    /// The next event; `None` once the peer connection has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        self.rx.recv().await
    }
}

/// The selected path of one live ICE generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationStats {
    /// Transport.
    pub transport: TransportId,
    /// Generation.
    pub generation: Generation,
    /// Does it carry the transport's traffic?
    pub promoted: bool,
    /// Local address of the selected pair, once connected.
    pub local: Option<SocketAddr>,
    /// Remote address of the selected pair, once connected.
    pub remote: Option<SocketAddr>,
    /// Type of the selected pair's local candidate (`Relay` when it goes through TURN).
    pub local_type: Option<CandidateType>,
    /// Type of the selected pair's remote candidate.
    pub remote_type: Option<CandidateType>,
    /// The ICE role this generation's agent checks with.
    pub ice_role: session_core::transport::IceRole,
    /// Whether the generation stalled and its agent was replaced by one of the other role
    /// (suspected ICE role conflict, see docs/transport-tokio.md).
    pub role_flipped: bool,
    /// Datagrams written to this generation's selected pair (DTLS, SRTP, SRTCP; ICE's own STUN
    /// checks are not counted). W3C `RTCIceCandidatePairStats.packetsSent`.
    pub packets_sent: u64,
    /// Bytes of those datagrams (UDP payload). W3C `bytesSent`.
    pub bytes_sent: u64,
    /// Datagrams read from this generation's selected pair (what arrived before the path
    /// connected, or after it was retired, is not counted). W3C `packetsReceived`.
    pub packets_received: u64,
    /// Bytes of those datagrams (UDP payload). W3C `bytesReceived`.
    ///
    /// Not reported: round-trip time. `webrtc-ice` 0.17.2 measures none (its
    /// `get_candidate_pairs_stats` fills ids, state and nomination and leaves every counter and
    /// RTT at zero), and neither `dtls` nor `webrtc-sctp` exposes one.
    pub bytes_received: u64,
}

/// One data channel (W3C `RTCDataChannelStats`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelStats {
    /// The channel's identity in its session.
    pub id: ChannelId,
    /// Its label.
    pub label: String,
    /// SCTP stream id, once assigned (W3C `dataChannelIdentifier`).
    pub stream_id: Option<u16>,
    /// Its state.
    pub state: session_core::channel::DataChannelState,
    /// Messages handed to SCTP by `send`/`send_text` (empty ones included).
    pub messages_sent: u64,
    /// Payload bytes of those messages.
    pub bytes_sent: u64,
    /// Messages read from SCTP for this channel (queued for the application or already read).
    pub messages_received: u64,
    /// Payload bytes of those messages.
    pub bytes_received: u64,
    /// Bytes queued in SCTP and not yet acknowledged (W3C `bufferedAmount`); 0 unless open.
    pub buffered_amount: u64,
}

/// A snapshot of the transport (W3C `getStats`, in part).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Every live ICE generation.
    pub generations: Vec<GenerationStats>,
    /// DTLS datagrams received, over every generation.
    pub dtls_datagrams_in: u64,
    /// Datagrams written while no path was promoted (or refused by the path).
    pub datagrams_dropped_out: u64,
    /// DTLS records sent again on a newly promoted path after an outage (the ones the dead
    /// path may have lost), so SCTP need not wait for its retransmission timer.
    pub dtls_datagrams_replayed: u64,
    /// The SRTP/RTP path.
    pub media: MediaStats,
    /// Every data channel the session knows that the application has a handle on (or will
    /// have: local ones from creation; the peer's once accepted), by channel id.
    pub channels: Vec<ChannelStats>,
}

/// Counters of the SRTP/RTP path of a peer connection (every transport and track).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MediaStats {
    /// RTP packets unprotected (before routing).
    pub rtp_packets_in: u64,
    /// Compound RTCP packets unprotected.
    pub rtcp_packets_in: u64,
    /// SRTP/SRTCP packets dropped: the authentication tag (or AEAD) check failed.
    pub auth_failed: u64,
    /// SRTP/SRTCP packets dropped by replay protection.
    pub replayed: u64,
    /// Packets dropped as malformed (bad RTP/RTCP header, padding, too short).
    pub malformed: u64,
    /// RTP packets (or RTCP packets of a compound) that matched no receiver or sender.
    pub unroutable: u64,
    /// Packets (RTP) or compound packets (RTCP) dropped because the track's queue was full
    /// or its handle gone (the newest is dropped).
    pub queue_dropped: u64,
    /// RTP packets protected and written.
    pub rtp_packets_out: u64,
    /// Compound RTCP packets protected and written.
    pub rtcp_packets_out: u64,
    /// RTP/RTCP datagrams dropped because they arrived before SRTP was ready and 128 were
    /// already waiting for the keys.
    pub dropped_before_srtp: u64,
}

/// What the application asks of the driver.
#[derive(Debug)]
pub(crate) enum Command {
    CreateDataChannel {
        label: String,
        init: DataChannelInit,
        reply: oneshot::Sender<Result<DataChannel, SessionError>>,
    },
    CloseChannel(ChannelId),
    /// A message for an open channel (its bytes already counted in the buffered amount).
    Send {
        channel: std::sync::Arc<crate::channel::ChannelShared>,
        data: bytes::Bytes,
        is_string: bool,
    },
    /// The application read from a channel whose queue was full: read its stream again.
    ResumeRead(std::sync::Arc<crate::channel::ChannelShared>),
    RestartIce,
    Stats(oneshot::Sender<Stats>),
    Close,
    AddTrack {
        kind: session_core::sdp::MediaKind,
        stream_id: String,
        track_id: String,
        reply: oneshot::Sender<Result<RtpSender, PeerError>>,
    },
    SetConfiguration {
        update: ConfigUpdate,
        reply: oneshot::Sender<Result<(), SessionError>>,
    },
    NetworkChanged,
    /// A manual-negotiation call (or a description/state getter).
    Jsep(crate::manual::Jsep),
}

/// A WebRTC peer connection on tokio: the application's handle.
///
/// A driver task (spawned by [`new`](Self::new)) owns the session and all I/O; this handle
/// only sends it commands over a bounded queue (calls wait when it is full). No lock is shared
/// with the application. Dropping the handle closes the peer connection once every
/// [`DataChannel`] handle is gone too.
#[derive(Debug)]
pub struct PeerConnection {
    pub(crate) commands: mpsc::Sender<Command>,
    closed: watch::Receiver<bool>,
    fingerprint: session_core::sdp::Fingerprint,
    bundle_policy: BundlePolicy,
    /// Negotiation by hand ([`new_manual`](Self::new_manual)).
    pub(crate) manual: bool,
}

impl PeerConnection {
    /// Creates a peer connection that negotiates through `signaling` (perfect negotiation: the
    /// application only creates channels; offers, answers and candidates flow by themselves).
    /// Must be called within a tokio runtime. For negotiation by hand see
    /// [`new_manual`](Self::new_manual).
    pub fn new(
        config: PeerConfig,
        signaling: impl Signaling,
    ) -> Result<(Self, PeerEvents), SetupError> {
        Self::build(config, false, signaling)
    }

    /// Creates the peer connection and spawns its driver (perfect negotiation, or `manual`).
    pub(crate) fn build(
        config: PeerConfig,
        manual: bool,
        signaling: impl Signaling,
    ) -> Result<(Self, PeerEvents), SetupError> {
        crate::ice::check_ice_servers(&config.ice_servers)?;
        let identity = match config.identity {
            Some(id) => id,
            None => DtlsIdentity::generate()?,
        };
        let seed = match config.seed {
            Some(s) => s,
            None => {
                let mut s = [0u8; 32];
                getrandom::fill(&mut s).map_err(|e| SetupError::Randomness(e.to_string()))?;
                s
            }
        };
        let fingerprint = config
            .advertise_fingerprint_override
            .unwrap_or_else(|| identity.fingerprint());
        let mut core = Config::new(seed, vec![fingerprint.clone()], config.polite);
        core.ice_servers = config.ice_servers;
        core.restart_policy = config.restart_policy;
        core.retire_grace = config.retire_grace;
        core.ice_transport_policy = config.ice_transport_policy;
        if manual {
            core.negotiation = Negotiation::Manual;
        }
        let bundle_policy = core.bundle_policy;

        let (commands, commands_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (closed_tx, closed) = watch::channel(false);
        netwatch::spawn(
            config.network_watch,
            config.gather.clone(),
            commands.downgrade(),
            closed.clone(),
        );
        let driver = Driver::new(
            core,
            identity,
            config.gather,
            crate::ice::RoleOptions::for_peer(config.polite, config.ice_role_override),
            signaling,
            commands_rx,
            commands.downgrade(),
            events_tx,
            closed_tx,
        );
        driver.spawn();
        Ok((
            Self {
                commands,
                closed,
                fingerprint,
                bundle_policy,
                manual,
            },
            PeerEvents { rx: events_rx },
        ))
    }

    /// The fingerprint our SDP carries: our DTLS certificate's, unless
    /// [`PeerConfig::advertise_fingerprint_override`] replaced it.
    pub fn fingerprint(&self) -> &session_core::sdp::Fingerprint {
        &self.fingerprint
    }

    async fn command(&self, cmd: Command) -> Result<(), PeerError> {
        self.commands.send(cmd).await.map_err(|_| PeerError::Closed)
    }

    /// Creates a data channel (W3C `createDataChannel`). The first one triggers negotiation;
    /// the handle's [`send`](DataChannel::send) waits until it is open.
    pub async fn create_data_channel(
        &self,
        label: &str,
        init: DataChannelInit,
    ) -> Result<DataChannel, PeerError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::CreateDataChannel {
            label: label.to_owned(),
            init,
            reply,
        })
        .await?;
        Ok(rx.await.map_err(|_| PeerError::Closed)??)
    }

    /// Requests an ICE restart (W3C `restartIce`): a new generation is negotiated and checked
    /// while the current path keeps carrying data, then traffic switches to it.
    pub async fn restart_ice(&self) -> Result<(), PeerError> {
        self.command(Command::RestartIce).await
    }

    /// A snapshot of the ICE generations and path counters.
    pub async fn stats(&self) -> Result<Stats, PeerError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Stats(reply)).await?;
        rx.await.map_err(|_| PeerError::Closed)
    }

    /// Closes the peer connection (W3C `close`): `bye` goes to the peer, channels, SCTP, DTLS
    /// (close_notify) and every ICE agent close. Idempotent.
    pub async fn close(&self) {
        let _ = self.command(Command::Close).await;
    }

    /// Waits until the driver has stopped and released its sockets and tasks.
    pub async fn wait_closed(&self) {
        let mut closed = self.closed.clone();
        let _ = closed.wait_for(|c| *c).await;
    }

    /// Adds a sending track (W3C `addTrack`) of `kind`, announced with `a=msid:<stream_id>
    /// <track_id>`; negotiation follows by itself (perfect negotiation). The sender's
    /// [`parameters`](RtpSender::parameters) wait until it is negotiated, its writes until the
    /// transport's SRTP is ready. A sender that reuses a transceiver the remote's offer created
    /// (recvonly so far) counts as negotiated only once an exchange lets it send.
    pub async fn add_track(
        &self,
        kind: session_core::sdp::MediaKind,
        stream_id: &str,
        track_id: &str,
    ) -> Result<RtpSender, PeerError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::AddTrack {
            kind,
            stream_id: stream_id.to_owned(),
            track_id: track_id.to_owned(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerError::Closed)?
    }

    /// Replaces the ICE servers and the ICE transport policy (W3C `setConfiguration`, its
    /// mutable part). As in browsers, they apply to the next ICE generation: the session
    /// requests an ICE restart when they changed, and the restart's new agent gathers with
    /// them (relay-only: relayed candidates only) while the current path keeps carrying data.
    /// ICE servers the agent cannot use (malformed, `turns:`/`stuns:`, `?transport=tcp`, TURN
    /// without credentials) are refused with [`PeerError::IceServer`]; nothing changes then.
    pub async fn set_configuration(
        &self,
        ice_servers: Vec<IceServer>,
        ice_transport_policy: IceTransportPolicy,
    ) -> Result<(), PeerError> {
        crate::ice::check_ice_servers(&ice_servers)?;
        let update = ConfigUpdate {
            ice_servers,
            ice_transport_policy,
            // Both are immutable and fixed at creation (see `new`).
            bundle_policy: self.bundle_policy,
            certificate_fingerprints: vec![self.fingerprint.clone()],
        };
        let (reply, rx) = oneshot::channel();
        self.command(Command::SetConfiguration { update, reply })
            .await?;
        Ok(rx.await.map_err(|_| PeerError::Closed)??)
    }

    /// Tells the session that the local network changed (an interface or address appeared or
    /// disappeared), as the [`NetworkWatch`] does by itself: the restart policy decides
    /// whether to restart ICE (by default it does).
    pub async fn network_changed(&self) -> Result<(), PeerError> {
        self.command(Command::NetworkChanged).await
    }
}
