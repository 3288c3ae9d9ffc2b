//! `tether signal` and `tether peer`.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use session_core::channel::DataChannelInit;
use session_core::session::Event;
use session_core::state::PeerConnectionState;
use signaling_ws::{RoomTokenKey, Server, ServerConfig};
use transport_tokio::{DataChannel, GatherOptions, Message, PeerConfig, PeerConnection, PeerEvent};

use crate::glue::WsSignaling;
use crate::timeline::describe;

/// Options of `tether signal`.
#[derive(Debug, Clone)]
pub struct SignalOptions {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Static files (the browser page) served for paths other than `/ws`.
    pub static_dir: Option<PathBuf>,
    /// When set, only room tokens signed with this secret are accepted.
    pub secret: Option<Vec<u8>>,
}

/// Runs the signaling server until `stop` completes, then shuts down gracefully (peers get a
/// close frame; at most 10 s).
pub async fn run_signal(opts: SignalOptions, stop: impl Future<Output = ()>) -> Result<(), String> {
    let room_tokens = match opts.secret {
        Some(secret) => Some(RoomTokenKey::new(secret).map_err(|e| format!("bad secret: {e}"))?),
        None => None,
    };
    let config = ServerConfig {
        static_dir: opts.static_dir,
        room_tokens,
        ..ServerConfig::default()
    };
    let server = Server::bind(opts.listen, config)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
    println!("signaling on {}", server.ws_url());
    stop.await;
    eprintln!("shutting down ({} connection(s))", server.connections());
    server
        .shutdown(Duration::from_secs(10))
        .await
        .map_err(|e| format!("shutdown: {e}"))
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
    /// Perfect negotiation role: exactly one of the two peers must be polite. The impolite
    /// peer opens the "chat" channel; the polite one accepts it.
    pub polite: bool,
    /// Text to send once the channel is open.
    pub send: Option<String>,
    /// Gather host candidates on loopback only (both peers on this machine).
    pub loopback: bool,
    /// Send every received message back.
    pub echo: bool,
}

async fn next_message(dc: &mut Option<DataChannel>) -> Option<Message> {
    match dc {
        Some(dc) => dc.recv().await,
        None => std::future::pending().await,
    }
}

/// Joins the room, connects, and prints what arrives on the "chat" channel (one line per
/// message on stdout; states on stderr) until the session closes or `stop` completes.
pub async fn run_peer(opts: PeerOptions, stop: impl Future<Output = ()>) -> Result<(), String> {
    let sig = WsSignaling::connect(&opts.server, &opts.room, opts.token.as_deref())
        .await
        .map_err(|e| format!("cannot join room {:?} at {}: {e}", opts.room, opts.server))?;
    eprintln!(
        "joined as peer {}; {} other peer(s) in the room",
        sig.peer_id(),
        sig.room_size()
    );
    let mut config = PeerConfig::new(opts.polite);
    if opts.loopback {
        config.gather = GatherOptions::loopback_only();
    }
    let (pc, mut events) = PeerConnection::new(config, sig).map_err(|e| e.to_string())?;
    let mut dc = if opts.polite {
        None
    } else {
        let dc = pc
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .map_err(|e| e.to_string())?;
        Some(dc)
    };
    let mut to_send = opts.send;
    let mut had_channel = false;
    let mut result = Ok(());
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            () = &mut stop => {
                eprintln!("closing");
                break;
            }
            ev = events.recv() => match ev {
                None => return Ok(()),
                Some(PeerEvent::DataChannel(d)) if d.label() == "chat" && dc.is_none() => {
                    dc = Some(d);
                }
                Some(PeerEvent::DataChannel(d)) => eprintln!("ignoring data channel {:?}", d.label()),
                Some(PeerEvent::Session(Event::Closed(by))) => {
                    eprintln!("closed ({by:?})");
                    return Ok(());
                }
                Some(PeerEvent::Session(ev)) => {
                    if let Some(text) = describe(&ev) {
                        eprintln!("{text}");
                    }
                    if ev == Event::ConnectionStateChange(PeerConnectionState::Failed) {
                        result = Err("the connection failed".to_owned());
                        break;
                    }
                }
                Some(PeerEvent::TransportError(e)) => {
                    result = Err(format!("transport error: {e}"));
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
                        sent.map_err(|e| e.to_string())?;
                    }
                }
                None => {
                    eprintln!("the chat channel closed");
                    break;
                }
            },
            _ = tick.tick() => {}
        }
        if let Some(d) = &dc {
            if d.is_open() {
                if !had_channel {
                    had_channel = true;
                    eprintln!("chat channel open");
                }
                if let Some(text) = to_send.take() {
                    d.send_text(text).await.map_err(|e| e.to_string())?;
                }
            }
        }
    }
    pc.close().await;
    let _ = tokio::time::timeout(Duration::from_secs(5), pc.wait_closed()).await;
    result
}
