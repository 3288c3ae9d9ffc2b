//! [`PeerConnection`]: the handle applications hold, its configuration and its events.

use std::time::Duration;

use session_core::channel::DataChannelInit;
use session_core::config::{
    BundlePolicy, Config, ConfigUpdate, IceServer, IceTransportPolicy, Negotiation,
};
use session_core::policy::RestartPolicy;
use tokio::sync::{mpsc, oneshot, watch};

use crate::channel::DataChannel;
use crate::command::Command;
use crate::driver::Driver;
use crate::dtls::DtlsIdentity;
use crate::error::{PeerConnectionError, SetupError};
use crate::event::{PeerEvents, EVENT_QUEUE};
use crate::ice::{GatherOptions, IceTimeouts};
use crate::netwatch::{self, NetworkWatch};
use crate::signaling::Signaling;
use crate::stats::Stats;
use crate::track::RtpSender;

/// Commands queued from the application to the driver; beyond that, calls wait.
const COMMAND_QUEUE: usize = 64;

/// Configuration of a [`PeerConnection`].
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Perfect negotiation role: exactly one of the two peers must be polite.
    pub polite: bool,
    /// Where host candidates are gathered.
    pub gather: GatherOptions,
    /// STUN/TURN servers (none by default).
    pub ice_servers: Vec<IceServer>,
    /// Automatic ICE restarts. Default: the core's automatic policy, except that it restarts
    /// 0.5 s (not 2 s) after ICE reports `disconnected` (with [`IceTimeouts`]' 2 s of silence
    /// that leaves a silently dead path after about 2.5 s, and a restart the path did not need
    /// is make-before-break: a few STUN checks), never stops retrying while there is no path
    /// (`max_attempts: None`, attempts at most 30 s apart, so an outage of minutes is recovered
    /// within 30 s of its end), and closes the connection after 5 minutes without a working
    /// path (`give_up_after`: `ClosedBy::Unreachable`, the peer is told, everything freed).
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
    /// surface. `None` (the default): the certificate's own fingerprint. Hidden from the
    /// API docs: a test hook, not a setting.
    #[doc(hidden)]
    pub advertise_fingerprint_override: Option<session_core::sdp::Fingerprint>,
    /// Which local candidates ICE gathers (W3C `iceTransportPolicy`): all, or relayed (TURN)
    /// only. Changed later with [`PeerConnection::set_configuration`].
    pub ice_transport_policy: IceTransportPolicy,
    /// How local network changes are detected (polling the interface list every second by
    /// default); a change feeds the session's restart policy.
    pub network_watch: NetworkWatch,
    /// How ICE notices that the selected path went silent (see [`IceTimeouts`]: about 2.5 s
    /// with the defaults and the default restart policy).
    pub ice_timeouts: IceTimeouts,
    /// **Testing only**: check the first ICE generation with this role instead of the one the
    /// negotiation gives (controlling for the offerer). Setting it on one peer forces an ICE
    /// role conflict, to test the recovery (the generation that stalls is re-checked with the
    /// other role, see docs/transport-tokio.md). `None` (the default): the negotiated role.
    /// Hidden from the API docs: a test hook, not a setting.
    #[doc(hidden)]
    pub ice_role_override: Option<session_core::transport::IceRole>,
    /// W3C `bundlePolicy`: `MaxBundle` (the default) and `Balanced` offer one BUNDLE group,
    /// so every stream shares one transport when the peer accepts it; `MaxCompat` offers none,
    /// so each m-section gets its own transport (ICE generations, DTLS, path), which
    /// [`PeerConnection::restart_ice_transport`] can restart alone. Fixed for the life of the
    /// connection.
    pub bundle_policy: BundlePolicy,
}

impl PeerConfig {
    /// Defaults: no ICE servers, host candidates on non-loopback interfaces, the core's
    /// automatic restart policy with the changes [`restart_policy`](Self::restart_policy)
    /// lists, [`IceTimeouts::default`], a fresh certificate and seed.
    pub fn new(polite: bool) -> Self {
        Self {
            polite,
            gather: GatherOptions::default(),
            ice_servers: Vec::new(),
            restart_policy: RestartPolicy {
                on_disconnected_after: Some(Duration::from_millis(500)),
                max_attempts: None,
                give_up_after: Some(Duration::from_secs(300)),
                ..RestartPolicy::default()
            },
            seed: None,
            identity: None,
            retire_grace: Duration::from_secs(2),
            advertise_fingerprint_override: None,
            ice_transport_policy: IceTransportPolicy::All,
            network_watch: NetworkWatch::default(),
            ice_timeouts: IceTimeouts::default(),
            ice_role_override: None,
            bundle_policy: BundlePolicy::default(),
        }
    }
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
                getrandom::fill(&mut s).map_err(SetupError::Randomness)?;
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
        core.bundle_policy = config.bundle_policy;
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
            config.ice_timeouts,
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

    async fn command(&self, cmd: Command) -> Result<(), PeerConnectionError> {
        self.commands
            .send(cmd)
            .await
            .map_err(|_| PeerConnectionError::Closed)
    }

    /// Creates a data channel (W3C `createDataChannel`). The first one triggers negotiation;
    /// the handle's [`send`](DataChannel::send) waits until it is open.
    pub async fn create_data_channel(
        &self,
        label: &str,
        init: DataChannelInit,
    ) -> Result<DataChannel, PeerConnectionError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::CreateDataChannel {
            label: label.to_owned(),
            init,
            reply,
        })
        .await?;
        let parts = rx.await.map_err(|_| PeerConnectionError::Closed)??;
        Ok(DataChannel::new(parts, self.commands.clone()))
    }

    /// Requests an ICE restart (W3C `restartIce`): a new generation is negotiated and checked
    /// while the current path keeps carrying data, then traffic switches to it.
    pub async fn restart_ice(&self) -> Result<(), PeerConnectionError> {
        self.command(Command::RestartIce).await
    }

    /// Requests a partial ICE restart (JSEP's restart of one transport): only the transport
    /// that carries `mid` gets a new ICE generation, negotiated like [`restart_ice`]'s (the
    /// next offer gives that m-section fresh credentials, the others keep theirs), checked
    /// while its current path keeps carrying its stream, then promoted. The other transports
    /// keep their generation, selected pair and DTLS association; their media and data flow
    /// on untouched.
    ///
    /// Meaningful when streams are not bundled: with [`PeerConfig::bundle_policy`]
    /// `BundlePolicy::MaxCompat` each m-section has its own transport. With the peer started
    /// by [`new_manual`](Self::new_manual) it raises `Event::NegotiationNeeded` like
    /// [`restart_ice`]; the application then creates the offer.
    ///
    /// # Errors
    /// Nothing changes when the call is refused:
    /// - [`PeerConnectionError::UnknownMid`]: no negotiated m-section has `mid` (unknown, or only in an
    ///   offer not answered yet);
    /// - [`PeerConnectionError::BundledMid`]: `mid` shares its transport with other m-sections (BUNDLE),
    ///   so the restart would touch every stream on it: the error names the transport and
    ///   the other mids; use [`restart_ice`] instead;
    /// - [`PeerConnectionError::Closed`]: the peer connection is closed.
    ///
    /// [`restart_ice`]: Self::restart_ice
    pub async fn restart_ice_transport(&self, mid: &str) -> Result<(), PeerConnectionError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::RestartIceTransport {
            mid: mid.to_owned(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerConnectionError::Closed)?
    }

    /// A snapshot of the ICE generations and path counters.
    pub async fn stats(&self) -> Result<Stats, PeerConnectionError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Stats(reply)).await?;
        rx.await.map_err(|_| PeerConnectionError::Closed)
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
    ) -> Result<RtpSender, PeerConnectionError> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::AddTrack {
            kind,
            stream_id: stream_id.to_owned(),
            track_id: track_id.to_owned(),
            reply,
        })
        .await?;
        rx.await.map_err(|_| PeerConnectionError::Closed)?
    }

    /// Replaces the ICE servers and the ICE transport policy (W3C `setConfiguration`, its
    /// mutable part). As in browsers, they apply to the next ICE generation: the session
    /// requests an ICE restart when they changed, and the restart's new agent gathers with
    /// them (relay-only: relayed candidates only) while the current path keeps carrying data.
    /// ICE servers the agent cannot use (malformed, `turns:`/`stuns:`, `?transport=tcp`, TURN
    /// without credentials) are refused with [`PeerConnectionError::IceServer`]; nothing changes then.
    pub async fn set_configuration(
        &self,
        ice_servers: Vec<IceServer>,
        ice_transport_policy: IceTransportPolicy,
    ) -> Result<(), PeerConnectionError> {
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
        Ok(rx.await.map_err(|_| PeerConnectionError::Closed)??)
    }

    /// Tells the session that the local network changed (an interface or address appeared or
    /// disappeared), as the [`NetworkWatch`] does by itself: the restart policy decides
    /// whether to restart ICE (by default it does).
    pub async fn network_changed(&self) -> Result<(), PeerConnectionError> {
        self.command(Command::NetworkChanged).await
    }
}
