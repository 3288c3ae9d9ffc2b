//! `tether signal` and `tether peer`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use session_core::channel::DataChannelInit;
use session_core::session::Event;
use session_core::state::PeerConnectionState;
use signaling_ws::{
    client_tls_with_roots, ClientConfig, RoomTokenKey, Server, ServerConfig, ServerError,
    ServerTls, SignalingClient,
};
use transport_tokio::{
    DataChannel, GatherOptions, LocalTrack, Message, PeerConfig, PeerConnection, PeerEvent,
};

use crate::error::{check_ws_url, CliError};
use crate::glue::{polite_by_ids, WsSignaling};
use crate::page::PAGE;
use crate::peer_media::{
    describe_recording, echo_track, record, FileSource, PeerMediaOptions, Recording,
};
use crate::timeline::describe;

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
#[derive(Debug, Clone)]
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
    // Open the file first: a bad file is a usage error before anything connects.
    let source = match &media.send_file {
        Some(path) => Some(FileSource::open(path, media.loop_file)?),
        None => None,
    };
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
    let mut config = PeerConfig::new(polite);
    if opts.loopback {
        config.gather = GatherOptions::loopback_only();
    }
    let failed = |e: &dyn std::fmt::Display| CliError::Failed(e.to_string());
    let (pc, mut events) = PeerConnection::new(config, sig).map_err(|e| failed(&e))?;
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
