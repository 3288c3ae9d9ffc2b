//! `tether signal` and `tether peer`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use session_core::channel::DataChannelInit;
use session_core::config::{IceServer, IceTransportPolicy};
use session_core::session::Event;
use session_core::state::PeerConnectionState;
use session_core::transport::{Generation, TransportId};
use signaling_ws::{
    client_tls_with_roots, ClientConfig, RoomTokenKey, Server, ServerConfig, ServerError,
    ServerTls, SignalingClient,
};
use transport_tokio::{
    DataChannel, GatherOptions, LocalTrack, Message, PeerConfig, PeerConnection, PeerEvent,
    TransportError,
};

use crate::error::{check_ws_url, CliError};
use crate::glue::{polite_by_ids, WsSignaling};
use crate::page::PAGE;
use crate::peer_media::{
    describe_recording, echo_track, record, FileSource, PeerMediaOptions, Recording,
};
use crate::timeline::{describe, describe_pair_on};
use crate::transfer::{self, TransferReport};

/// Options of `tether signal`.
#[derive(Debug, Clone)]
pub struct SignalOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Static files served for paths that are neither endpoints nor the page.
    pub static_dir: Option<PathBuf>,
    /// Serve the browser page ([`PAGE`](crate::PAGE)) at `/`.
    pub page: bool,
    /// When set, only room tokens signed with this secret are accepted.
    pub secret: Option<Vec<u8>>,
    /// When set, TLS (`https://`, `wss://`) with this PEM certificate chain and key file.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// When set, rooms live in this Redis (shared with other server processes).
    pub redis: Option<String>,
}

/// Runs the signaling server until `stop` completes, then shuts down gracefully (peers get a
/// close frame; at most 10 s).
pub async fn run_signal(
    opts: SignalOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let room_tokens = match opts.secret {
        Some(secret) => Some(
            RoomTokenKey::new(secret).map_err(|e| CliError::Config(format!("bad secret: {e}")))?,
        ),
        None => None,
    };
    let tls = match &opts.tls {
        Some((cert, key)) => Some(ServerTls::from_pem_files(cert, key).map_err(|e| {
            CliError::Config(format!(
                "cannot use the TLS certificate {} and key {}: {e}",
                cert.display(),
                key.display()
            ))
        })?),
        None => None,
    };
    let config = ServerConfig {
        static_dir: opts.static_dir,
        embedded: if opts.page { PAGE } else { &[] },
        room_tokens,
        tls,
        redis_url: opts.redis,
        ..ServerConfig::default()
    };
    let server = Server::bind(opts.listen, config)
        .await
        .map_err(|e| match e {
            ServerError::Backend(e) => CliError::Config(format!("cannot use Redis: {e}")),
            e => CliError::Config(format!("cannot listen on {}: {e}", opts.listen)),
        })?;
    println!("signaling on {}", server.ws_url());
    if opts.page {
        let scheme = if server.is_tls() { "https" } else { "http" };
        println!("browser page on {scheme}://{}/", server.local_addr());
    }
    stop.await;
    eprintln!("shutting down ({} connection(s))", server.connections());
    server
        .shutdown(Duration::from_secs(10))
        .await
        .map_err(|e| CliError::Failed(format!("shutdown: {e}")))
}

/// Which perfect-negotiation role a peer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum Role {
    /// Decided by [`polite_by_ids`] once the other peer is known (the browser page's rule).
    #[default]
    Auto,
    /// Polite: yields in glare; accepts the "chat" channel.
    Polite,
    /// Impolite: wins glare; opens the "chat" channel.
    Impolite,
}

/// Options of `tether peer`.
#[derive(Debug, Clone, Default)]
pub struct PeerOptions {
    /// The signaling server's WebSocket URL.
    pub server: String,
    /// The room to join.
    pub room: String,
    /// A signed room token, when the server requires one.
    pub token: Option<String>,
    /// Perfect negotiation role. The impolite peer opens the "chat" channel; the polite one
    /// accepts it.
    pub role: Role,
    /// Text to send on the "chat" channel once it is open (`--say`).
    pub say: Option<String>,
    /// Gather host candidates on loopback only (both peers on this machine).
    pub loopback: bool,
    /// Send every received message back.
    pub echo: bool,
    /// For `wss://`: trust only the CA certificates in this PEM file (e.g. a self-signed
    /// server's certificate) instead of the public roots.
    pub ca_file: Option<PathBuf>,
    /// STUN/TURN server URLs (`--ice-server`).
    pub ice_servers: Vec<String>,
    /// User name for the TURN servers.
    pub ice_username: Option<String>,
    /// Credential for the TURN servers.
    pub ice_credential: Option<String>,
    /// Relayed candidates only (`--relay-only`).
    pub relay_only: bool,
    /// Restart ICE this often while connected (`--restart-every`).
    pub restart_every: Option<Duration>,
    /// A line `restart` on standard input restarts ICE (the binary sets it).
    pub restart_on_stdin: bool,
    /// Restarts (timer, standard input) restart only this m-section's transport
    /// (`--restart-mid`; a partial restart, for unbundled sessions).
    pub restart_mid: Option<String>,
    /// A transport per m-section (`BundlePolicy::MaxCompat`, `--unbundled`).
    pub unbundled: bool,
    /// Send this file over a data channel, then hang up (`--send-data`).
    pub send_data: Option<PathBuf>,
    /// Write a file the other peer sends into this directory (`--receive-data`).
    pub receive_data: Option<PathBuf>,
}

impl PeerOptions {
    /// Options for joining `room` at `server`; everything else off or default.
    pub fn new(server: impl Into<String>, room: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            room: room.into(),
            ..Self::default()
        }
    }

    /// The peer connection configuration these options ask for.
    fn peer_config(&self, polite: bool) -> PeerConfig {
        let mut config = PeerConfig::new(polite);
        if self.loopback {
            config.gather = GatherOptions::loopback_only();
        }
        if !self.ice_servers.is_empty() {
            config.ice_servers = vec![IceServer {
                urls: self.ice_servers.clone(),
                username: self.ice_username.clone(),
                credential: self.ice_credential.clone(),
            }];
        }
        if self.relay_only {
            config.ice_transport_policy = IceTransportPolicy::Relay;
        }
        if self.unbundled {
            config.bundle_policy = session_core::config::BundlePolicy::MaxCompat;
        }
        config
    }
}

/// Connects to the server of `opts` and joins its room, with errors classified for the exit
/// code.
async fn join(opts: &PeerOptions) -> Result<WsSignaling, CliError> {
    check_ws_url(&opts.server)?;
    let mut config = ClientConfig::new(&opts.server, &opts.room);
    if let Some(token) = &opts.token {
        config = config.with_token(token.clone());
    }
    if let Some(ca) = &opts.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| CliError::Config(format!("cannot read {}: {e}", ca.display())))?;
        let tls = client_tls_with_roots(&pem)
            .map_err(|e| CliError::Config(format!("bad CA file {}: {e}", ca.display())))?;
        config = config.with_tls(tls);
    }
    let client = SignalingClient::connect(config)
        .await
        .map_err(|e| CliError::from_join(&opts.server, &opts.room, e))?;
    Ok(WsSignaling::new(client))
}

async fn next_message(dc: &mut Option<DataChannel>) -> Option<Message> {
    match dc {
        Some(dc) => dc.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits for a file transfer to end; never completes without one.
async fn transfer_done(
    task: &mut Option<tokio::task::JoinHandle<Result<TransferReport, CliError>>>,
) -> Result<TransferReport, CliError> {
    match task {
        Some(t) => t
            .await
            .unwrap_or_else(|e| Err(CliError::Failed(format!("file transfer: {e}")))),
        None => std::future::pending().await,
    }
}

/// ICE restarts that `tether peer` starts (`--restart-every`, a `restart` line on standard
/// input), and what it prints about each: the selected pair before and after, and how long
/// the switch took.
struct Restarts {
    every: Option<tokio::time::Interval>,
    stdin: Option<tokio::sync::mpsc::UnboundedReceiver<String>>,
    /// The generation carrying traffic.
    active: Generation,
    /// A restart asked for and not switched yet: when, and the pair it started from.
    pending: Option<(std::time::Instant, Option<String>)>,
    /// Restart only this m-section's transport (`--restart-mid`).
    mid: Option<String>,
}

impl Restarts {
    fn new(opts: &PeerOptions) -> Self {
        let every = opts.restart_every.map(|d| {
            let mut i = tokio::time::interval_at(tokio::time::Instant::now() + d, d);
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            i
        });
        // A plain thread: tokio's stdin reader would hold up the runtime's shutdown until the
        // user pressed Enter.
        let stdin = opts.restart_on_stdin.then(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            std::thread::spawn(move || {
                for line in std::io::stdin().lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
            rx
        });
        Self {
            every,
            stdin,
            active: Generation(0),
            pending: None,
            mid: opts.restart_mid.clone(),
        }
    }

    /// Completes when a restart is due (never without a trigger).
    async fn due(&mut self) {
        loop {
            tokio::select! {
                _ = async { self.every.as_mut().expect("guarded").tick().await },
                    if self.every.is_some() => return,
                line = async { self.stdin.as_mut().expect("guarded").recv().await },
                    if self.stdin.is_some() => match line {
                        Some(l) if l.trim() == "restart" => return,
                        Some(l) if l.trim().is_empty() => {}
                        Some(l) => eprintln!("unknown command {:?} (try: restart)", l.trim()),
                        None => self.stdin = None,
                    },
                else => std::future::pending::<()>().await,
            }
        }
    }

    async fn restart(&mut self, pc: &PeerConnection) {
        if self.pending.is_some() {
            eprintln!("an ICE restart is already in progress");
            return;
        }
        let old = self.pair(pc, self.active).await;
        let what = match &self.mid {
            Some(mid) => format!("the transport of mid {mid}"),
            None => "ICE".to_owned(),
        };
        eprintln!(
            "restarting {what} (from {})",
            old.as_deref().unwrap_or("no selected pair")
        );
        self.pending = Some((std::time::Instant::now(), old));
        let started = match &self.mid {
            Some(mid) => pc.restart_ice_transport(mid).await,
            None => pc.restart_ice().await,
        };
        if let Err(e) = started {
            eprintln!("cannot restart {what}: {e}");
            self.pending = None;
        }
    }

    /// A generation carries the traffic now; reports the restart it completes, if any.
    async fn promoted(
        &mut self,
        pc: &PeerConnection,
        transport: TransportId,
        generation: Generation,
    ) {
        // With --restart-mid, only that mid's transport is followed.
        if let Some(mid) = &self.mid {
            let ours = pc.stats().await.ok().is_some_and(|s| {
                s.transports
                    .iter()
                    .any(|t| t.id == transport && t.mids.contains(mid))
            });
            if !ours {
                return;
            }
        }
        self.active = generation;
        let Some((asked, old)) = self.pending.take() else {
            return;
        };
        let new = self.pair(pc, generation).await;
        eprintln!(
            "ICE restart: from {}; to {}; switched {:.1} ms after the request",
            old.as_deref().unwrap_or("no selected pair"),
            new.as_deref().unwrap_or("(pair not reported yet)"),
            asked.elapsed().as_secs_f64() * 1000.0
        );
    }

    async fn pair(&self, pc: &PeerConnection, generation: Generation) -> Option<String> {
        let stats = pc.stats().await.ok()?;
        // With --restart-mid, the pair of that mid's transport.
        let transport = self.mid.as_ref().and_then(|mid| {
            stats
                .transports
                .iter()
                .find(|t| t.mids.contains(mid))
                .map(|t| t.id)
        });
        describe_pair_on(&stats, transport, generation)
    }
}

/// Waits for the send track to end; never completes without one.
async fn track_done(
    track: &mut Option<tokio::task::JoinHandle<Result<media::SenderStats, String>>>,
) -> Result<media::SenderStats, String> {
    match track {
        Some(t) => t.await.map_err(|e| e.to_string())?,
        None => std::future::pending().await,
    }
}

/// Joins the room, connects, and prints what arrives on the "chat" channel (one line per
/// message on stdout; states on stderr) until the session closes or `stop` completes.
pub async fn run_peer(opts: PeerOptions, stop: impl Future<Output = ()>) -> Result<(), CliError> {
    run_peer_with_media(opts, PeerMediaOptions::default(), stop).await
}

/// [`run_peer`] with media: sends a file as a track (then hangs up once it was sent and the
/// last retransmissions were answered), and/or records every received track to a directory.
pub async fn run_peer_with_media(
    opts: PeerOptions,
    media: PeerMediaOptions,
    stop: impl Future<Output = ()>,
) -> Result<(), CliError> {
    // Check local input first: a bad file or ICE server is a usage error before anything
    // connects.
    let source = match &media.send_file {
        Some(path) => Some(FileSource::open(path, media.loop_file)?),
        None => None,
    };
    if let Some(path) = &opts.send_data {
        transfer::open_for_sending(path)?;
    }
    if let Some(dir) = &opts.receive_data {
        transfer::prepare_receive_dir(dir)?;
    }
    transport_tokio::check_ice_servers(&opts.peer_config(false).ice_servers)
        .map_err(|e| CliError::Config(e.to_string()))?;
    let mut sig = join(&opts).await?;
    eprintln!(
        "joined as peer {}; {} other peer(s) in the room",
        sig.peer_id(),
        sig.room_size()
    );
    tokio::pin!(stop);
    let polite = match opts.role {
        Role::Polite => true,
        Role::Impolite => false,
        _ => {
            let remote = tokio::select! {
                () = &mut stop => return Ok(()),
                remote = sig.wait_for_remote() => remote.map_err(|e| {
                    CliError::Failed(format!("signaling ended before another peer joined: {e}"))
                })?,
            };
            polite_by_ids(&sig.peer_id(), &remote)
        }
    };
    eprintln!(
        "calling peer {}; we are {}",
        sig.remote()
            .map_or("(not joined yet)".to_owned(), |r| r.to_string()),
        if polite { "polite" } else { "impolite" }
    );
    let failed = |e: &dyn std::fmt::Display| CliError::Failed(e.to_string());
    let (pc, mut events) =
        PeerConnection::new(opts.peer_config(polite), sig).map_err(|e| failed(&e))?;
    let mut dc = if polite {
        None
    } else {
        let dc = pc
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .map_err(|e| failed(&e))?;
        Some(dc)
    };
    let mut sending = None;
    if let Some(source) = source {
        let codec = media::MediaSource::codec(&source);
        let track: LocalTrack = pc
            .add_media_track(source, "tether", "file")
            .await
            .map_err(|e| failed(&e))?;
        eprintln!("sending {codec:?} track (SSRC {})", track.ssrc());
        sending = Some(tokio::spawn(async move {
            track.finished().await.map_err(|e| e.to_string())
        }));
    }
    let mut sending_data = None;
    if let Some(path) = opts.send_data.clone() {
        let dc = pc
            .create_data_channel(transfer::LABEL, DataChannelInit::default())
            .await
            .map_err(|e| failed(&e))?;
        sending_data = Some(tokio::spawn(transfer::send_file(dc, path)));
    }
    let mut receiving_data = None;
    let mut restarts = Restarts::new(&opts);
    let mut recordings: Vec<(PathBuf, Recording)> = Vec::new();
    let mut remote_closed = false;
    let mut to_send = opts.say;
    let mut had_channel = false;
    let mut result = Ok(());
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = &mut stop => {
                eprintln!("closing");
                break;
            }
            ev = events.recv() => match ev {
                None => {
                    remote_closed = true;
                    break;
                }
                Some(PeerEvent::Track(track)) => match &media.record {
                    Some(dir) => {
                        let (path, task) = record(track, dir)?;
                        eprintln!("recording a remote track to {}", path.display());
                        recordings.push((path, task));
                    }
                    None if opts.echo => {
                        let sender = pc
                            .add_track(track.kind(), "echo", &format!("echo-{}", track.mid()))
                            .await
                            .map_err(|e| failed(&e))?;
                        eprintln!("echoing a remote {:?} track", track.kind());
                        tokio::spawn(echo_track(track, sender));
                    }
                    None => eprintln!("ignoring a remote {:?} track", track.kind()),
                },
                Some(PeerEvent::DataChannel(d)) if d.label() == "chat" && dc.is_none() => {
                    dc = Some(d);
                }
                Some(PeerEvent::DataChannel(d))
                    if d.label() == transfer::LABEL && receiving_data.is_none() =>
                {
                    match &opts.receive_data {
                        Some(dir) => {
                            eprintln!("receiving a file into {}", dir.display());
                            receiving_data =
                                Some(tokio::spawn(transfer::receive_file(d, dir.clone())));
                        }
                        None => eprintln!("ignoring a file transfer (no --receive-data DIR)"),
                    }
                }
                Some(PeerEvent::Session(Event::IceGenerationPromoted { transport, generation })) => {
                    restarts.promoted(&pc, transport, generation).await;
                }
                Some(PeerEvent::DataChannel(d)) => eprintln!("ignoring data channel {:?}", d.label()),
                Some(PeerEvent::Session(Event::Closed(by))) => {
                    eprintln!("closed ({by:?})");
                    remote_closed = true;
                    break;
                }
                Some(PeerEvent::Session(ev)) => {
                    if let Some(text) = describe(&ev) {
                        eprintln!("{text}");
                    }
                    if ev == Event::ConnectionStateChange(PeerConnectionState::Failed) {
                        result = Err(CliError::ConnectionFailed(
                            "ICE or DTLS could not connect (peer connection state failed)".into(),
                        ));
                        break;
                    }
                }
                // Signaling is needed only to negotiate: a call that is up stays up without it.
                Some(PeerEvent::TransportError(TransportError::Signaling(e))) => {
                    eprintln!("signaling lost ({e}); the call goes on but cannot renegotiate");
                }
                Some(PeerEvent::TransportError(e)) => {
                    result = Err(CliError::ConnectionFailed(e.to_string()));
                    break;
                }
                Some(_) => {}
            },
            msg = next_message(&mut dc) => match msg {
                Some(msg) => {
                    match &msg {
                        Message::Text(t) => println!("{t}"),
                        Message::Binary(b) => println!("<{} bytes of binary>", b.len()),
                        other => println!("<{} bytes>", other.len()),
                    }
                    if let (true, Some(d)) = (opts.echo, &dc) {
                        let sent = match msg {
                            Message::Text(t) => d.send_text(t).await,
                            Message::Binary(b) => d.send(b).await,
                            _ => Ok(()),
                        };
                        sent.map_err(|e| failed(&e))?;
                    }
                }
                None => {
                    eprintln!("the chat channel closed");
                    // The channel ends with the session too: the session's own `Closed`
                    // (who closed it) follows at once then. Say it, whichever of the two the
                    // select saw first.
                    let closed = tokio::time::timeout(Duration::from_millis(200), async {
                        loop {
                            match events.recv().await {
                                Some(PeerEvent::Session(Event::Closed(by))) => return Some(by),
                                Some(_) => {}
                                None => return None,
                            }
                        }
                    })
                    .await;
                    if let Ok(Some(by)) = closed {
                        eprintln!("closed ({by:?})");
                        remote_closed = true;
                    }
                    break;
                }
            },
            done = track_done(&mut sending) => {
                // The loop ends here, so the finished handle is never polled again.
                match done {
                    Ok(stats) => eprintln!(
                        "sent {} frames ({} packets, {} retransmitted after {} NACKs, RTT {:?}); \
                         hanging up",
                        stats.frames_sent,
                        stats.packets_sent,
                        stats.retransmitted_packets,
                        stats.nacks_received,
                        stats.rtt
                    ),
                    Err(e) => result = Err(CliError::Failed(format!("sending the file: {e}"))),
                }
                break;
            }
            done = transfer_done(&mut sending_data) => {
                // The loop ends here, so the finished handle is never polled again.
                match done {
                    Ok(report) => eprintln!("sent {report}; hanging up"),
                    Err(e) => result = Err(e),
                }
                break;
            }
            done = transfer_done(&mut receiving_data) => {
                receiving_data = None;
                match done {
                    Ok(report) => eprintln!("received {report}"),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            () = restarts.due() => restarts.restart(&pc).await,
            _ = tick.tick() => {}
        }
        if let Some(d) = &dc {
            if d.is_open() {
                if !had_channel {
                    had_channel = true;
                    eprintln!("chat channel open");
                }
                if let Some(text) = to_send.take() {
                    d.send_text(text).await.map_err(|e| failed(&e))?;
                }
            }
        }
    }
    if !remote_closed {
        pc.close().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), pc.wait_closed()).await;
    // The recordings end with the peer connection: their files are finished now.
    for (path, task) in recordings {
        match tokio::time::timeout(Duration::from_secs(10), task).await {
            Ok(Ok(Ok(stats))) => eprintln!("{}", describe_recording(&path, &stats)),
            Ok(Ok(Err(e))) => {
                result = result.and(Err(CliError::Failed(format!(
                    "recording {}: {e}",
                    path.display()
                ))))
            }
            _ => {
                result = result.and(Err(CliError::Failed(format!(
                    "recording {} did not finish",
                    path.display()
                ))))
            }
        }
    }
    result
}
