//! The client: joins a room, sends and receives signals, and reconnects and resumes by itself.
//!
//! [`SignalingClient`] is a handle to a driver task that owns the WebSocket. When the connection
//! is lost (an error, a close that is not ours, or silence past the read timeout), the driver
//! reconnects with exponential backoff and jitter and sends `resume` with the highest `seq` it
//! processed; the server replays what was missed. If the server cannot resume it (grace expired,
//! buffer overflow), the driver joins the room again under a new peer id and says so with
//! [`ClientEvent::Rejoined`]. Messages are numbered by the server; the driver drops duplicates,
//! so each one reaches [`SignalingClient::recv`] once.
//!
//! Signals are numbered too (`cseq`), and kept until the server confirms them (`accepted`, or
//! `last_cseq` in `resumed`): after a resume the driver re-sends exactly those the server did not
//! take, and the server drops repeats. A signal [`SignalingClient::send`] accepted is therefore
//! relayed, or reported in [`ClientEvent::NotDelivered`] when the peer had to join again.
//!
//! The API is small on purpose: a later glue layer adapts it to the transport's `Signaling`
//! trait without this crate depending on any other Tether crate.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub use crate::client_config::{ClientConfig, TokenSource};
use crate::protocol::{
    ClientMessage, CloseCode, ErrorCode, PeerId, PeerInfo, ProtocolError, ServerMessage,
    PROTOCOL_VERSION,
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Signals kept unconfirmed at most; beyond, [`SignalingClient::send`] waits (the server
/// confirms every 32).
const MAX_UNCONFIRMED: usize = 1024;

/// What the client reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// Another peer entered the room.
    PeerJoined(PeerId),
    /// A peer left the room.
    PeerLeft(PeerId),
    /// A peer's connection dropped; it may resume.
    PeerSuspended(PeerId),
    /// A suspended peer came back.
    PeerResumed(PeerId),
    /// A signal from another peer.
    Signal {
        /// The sender (stamped by the server).
        from: PeerId,
        /// The sender's JSON, byte for byte.
        data: Box<RawValue>,
    },
    /// The connection was lost; reconnecting.
    Reconnecting,
    /// Reconnected as the same peer; missed messages follow.
    Resumed {
        /// The room as of now.
        peers: Vec<PeerInfo>,
        /// How many missed messages the server replays.
        replayed: u64,
    },
    /// Resume was impossible: joined again with a new peer id. Sessions with the old id are
    /// gone.
    Rejoined {
        /// The new id.
        peer_id: PeerId,
        /// The room as of now.
        peers: Vec<PeerInfo>,
    },
    /// Signals that were sent but that the server may not have relayed, because this peer
    /// joined again under a new id (the server restarted without a shared backend, or resume
    /// was impossible) or the client stopped. They are not re-sent: their recipients' sessions
    /// may be gone.
    NotDelivered {
        /// The recipients and `data` of those signals, in the order they were sent.
        messages: Vec<(PeerId, Box<RawValue>)>,
    },
    /// A non-fatal error from the server (e.g. `unknown-peer`, `rate-limited`).
    Error {
        /// The code.
        code: ErrorCode,
        /// The detail.
        message: String,
    },
    /// The client stopped for good (gave up reconnecting, or the server refused it).
    Closed {
        /// Why.
        reason: String,
    },
}

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The WebSocket connection could not be opened.
    #[error("cannot connect: {0}")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The TLS handshake failed, e.g. the server's certificate is not trusted
    /// ([`rustls::Error::InvalidCertificate`]) or names another host.
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] rustls::Error),
    /// No TLS configuration could be built for a `wss://` URL.
    #[error("TLS setup: {0}")]
    TlsSetup(#[source] crate::tls::TlsError),
    /// The server answered `join` with an error.
    #[error("join refused: {code}: {message}")]
    Refused {
        /// The server's code.
        code: ErrorCode,
        /// The server's detail.
        message: String,
    },
    /// The server sent something this client does not understand.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The handshake took longer than `connect_timeout`.
    #[error("timed out")]
    Timeout,
    /// The client has stopped.
    #[error("client closed")]
    Closed,
    /// `data` could not be serialized to JSON.
    #[error("cannot serialize data: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Debug, Clone)]
struct Identity {
    peer_id: PeerId,
    peers: Vec<PeerInfo>,
}

#[derive(Debug)]
enum Cmd {
    Send(PeerId, Box<RawValue>),
    Reconnect,
    Bye(oneshot::Sender<()>),
}

/// A joined signaling client. Dropping it says `bye`.
#[derive(Debug)]
pub struct SignalingClient {
    cmd: mpsc::Sender<Cmd>,
    events: mpsc::Receiver<ClientEvent>,
    identity: watch::Receiver<Identity>,
    task: JoinHandle<()>,
}

impl SignalingClient {
    /// Connects, joins `config.room`, and starts the driver task.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let (ws, joined) = timeout(config.connect_timeout, open_and_join(&config))
            .await
            .map_err(|_| ClientError::Timeout)??;
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let (ev_tx, ev_rx) = mpsc::channel(1024);
        let identity = Identity {
            peer_id: joined.peer_id,
            peers: joined.peers,
        };
        let (id_tx, id_rx) = watch::channel(identity);
        let driver = Driver {
            config,
            resume_token: joined.resume_token,
            last_seq: 0,
            acked: 0,
            next_cseq: 1,
            unconfirmed: VecDeque::new(),
            resend: false,
            resync: false,
            url_index: 0,
            cmd: cmd_rx,
            events: ev_tx,
            identity: id_tx,
        };
        let task = tokio::spawn(driver.run(ws));
        Ok(Self {
            cmd: cmd_tx,
            events: ev_rx,
            identity: id_rx,
            task,
        })
    }

    /// This peer's id (it changes only after [`ClientEvent::Rejoined`]).
    pub fn peer_id(&self) -> PeerId {
        self.identity.borrow().peer_id.clone()
    }

    /// The other peers in the room, as the client currently knows them.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.identity.borrow().peers.clone()
    }

    /// Sends `data` to `to`. Waits while reconnecting (the queue is bounded).
    pub async fn send(&self, to: &PeerId, data: Box<RawValue>) -> Result<(), ClientError> {
        self.cmd
            .send(Cmd::Send(to.clone(), data))
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Serializes `data` and sends it to `to`.
    pub async fn send_json<T: Serialize + ?Sized>(
        &self,
        to: &PeerId,
        data: &T,
    ) -> Result<(), ClientError> {
        let raw = serde_json::value::to_raw_value(data)?;
        self.send(to, raw).await
    }

    /// The next event; `None` once the client has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<ClientEvent> {
        self.events.recv().await
    }

    /// Drops the current connection without `bye` and reconnects, resuming the same peer (for
    /// a known network change; also how tests simulate a drop).
    pub async fn reconnect(&self) -> Result<(), ClientError> {
        self.cmd
            .send(Cmd::Reconnect)
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// A handle that makes this client [`reconnect`](Self::reconnect) from elsewhere, e.g.
    /// while the client itself is owned by a peer connection's signaling adapter. It does not
    /// keep the client alive: once the client is gone, its calls fail with
    /// [`ClientError::Closed`].
    pub fn reconnector(&self) -> Reconnector {
        Reconnector {
            cmd: self.cmd.downgrade(),
        }
    }

    /// Says `bye` (the peer leaves the room for good) after everything sent before it, and
    /// waits until the server has closed the connection in answer (2 s at most). The client
    /// stops; [`close`](Self::close) also waits for its task to end.
    pub async fn leave(&self) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.cmd.send(Cmd::Bye(done_tx)).await.is_ok() {
            let _ = done_rx.await;
        }
    }

    /// Says `bye` (the peer leaves the room for good) and waits for the driver to stop.
    pub async fn close(self) {
        self.leave().await;
        let _ = self.task.await;
    }
}

/// Makes a [`SignalingClient`] drop its connection and resume, without owning the client
/// (see [`SignalingClient::reconnector`]).
#[derive(Debug, Clone)]
pub struct Reconnector {
    cmd: mpsc::WeakSender<Cmd>,
}

impl Reconnector {
    /// What [`SignalingClient::reconnect`] does: drops the current connection without `bye`
    /// and reconnects, resuming the same peer. Fails with [`ClientError::Closed`] once the
    /// client is gone or stopped.
    pub async fn reconnect(&self) -> Result<(), ClientError> {
        let cmd = self.cmd.upgrade().ok_or(ClientError::Closed)?;
        cmd.send(Cmd::Reconnect)
            .await
            .map_err(|_| ClientError::Closed)
    }
}

struct Joined {
    peer_id: PeerId,
    resume_token: String,
    peers: Vec<PeerInfo>,
}

async fn open(config: &ClientConfig, url: &str) -> Result<Ws, ClientError> {
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let connector = if url
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("wss://"))
    {
        let tls = match &config.tls {
            Some(tls) => Arc::clone(tls),
            None => crate::tls::default_client_tls().map_err(ClientError::TlsSetup)?,
        };
        Connector::Rustls(tls)
    } else {
        Connector::Plain
    };
    let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(
        url,
        Some(ws_config),
        true,
        Some(connector),
    )
    .await
    .map_err(connect_error)?;
    Ok(ws)
}

/// A TLS failure (tokio-rustls wraps it in an I/O error) as [`ClientError::Tls`].
fn connect_error(e: WsError) -> ClientError {
    match e {
        WsError::Io(io)
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>()) =>
        {
            match io
                .into_inner()
                .map(|inner| inner.downcast::<rustls::Error>())
            {
                Some(Ok(tls)) => ClientError::Tls(*tls),
                _ => ClientError::Connect("TLS error".into()),
            }
        }
        other => ClientError::Connect(Box::new(other)),
    }
}

async fn open_and_join(config: &ClientConfig) -> Result<(Ws, Joined), ClientError> {
    let mut ws = open(config, &config.url).await?;
    let joined = join(&mut ws, config).await?;
    Ok((ws, joined))
}

async fn join(ws: &mut Ws, config: &ClientConfig) -> Result<Joined, ClientError> {
    let msg = ClientMessage::Join {
        v: PROTOCOL_VERSION,
        room: config.room.clone(),
        token: config
            .token_source
            .as_ref()
            .and_then(|source| (source.0)())
            .or_else(|| config.token.clone()),
    };
    send(ws, &msg).await?;
    match next_message(ws).await? {
        ServerMessage::Joined {
            peer_id,
            resume_token,
            peers,
            ..
        } => Ok(Joined {
            peer_id,
            resume_token,
            peers,
        }),
        ServerMessage::Error { code, message } => Err(ClientError::Refused { code, message }),
        _ => Err(ClientError::Protocol(ProtocolError::BadJson(
            "expected `joined`".into(),
        ))),
    }
}

async fn send(ws: &mut Ws, msg: &ClientMessage) -> Result<(), ClientError> {
    ws.send(Message::text(msg.to_json()))
        .await
        .map_err(|e| ClientError::Connect(Box::new(e)))
}

/// The next protocol message, skipping control frames.
async fn next_message(ws: &mut Ws) -> Result<ServerMessage, ClientError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(ServerMessage::from_json(t.as_str())?),
            Some(Ok(Message::Close(frame))) => {
                let why = frame.map_or_else(|| "closed".to_owned(), |f| f.reason.to_string());
                return Err(ClientError::Connect(why.into()));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(ClientError::Connect(Box::new(e))),
            None => return Err(ClientError::Connect("connection closed".into())),
        }
    }
}

/// Why a connected phase ended.
enum Lost {
    /// Reconnect and resume.
    Reconnect,
    /// Stop for good.
    Stop(Option<String>),
}

struct Driver {
    config: ClientConfig,
    resume_token: String,
    last_seq: u64,
    acked: u64,
    /// The `cseq` of the next signal.
    next_cseq: u64,
    /// Signals sent but not yet confirmed by the server, oldest first.
    unconfirmed: VecDeque<(u64, PeerId, Box<RawValue>)>,
    /// Re-send `unconfirmed` on the next connection (after a resume).
    resend: bool,
    /// Reconnect and resume now (the server dropped frames for the rate).
    resync: bool,
    /// Which of the URLs (`url`, then `fallback_urls`) to connect to.
    url_index: usize,
    cmd: mpsc::Receiver<Cmd>,
    events: mpsc::Sender<ClientEvent>,
    identity: watch::Sender<Identity>,
}

impl Driver {
    async fn run(mut self, mut ws: Ws) {
        loop {
            match self.connected(&mut ws).await {
                Lost::Stop(reason) => {
                    if let Some(reason) = reason {
                        self.not_delivered().await;
                        let _ = self.events.send(ClientEvent::Closed { reason }).await;
                    }
                    return;
                }
                Lost::Reconnect => {}
            }
            drop(ws);
            tracing::debug!("signaling connection lost; reconnecting");
            let _ = self.events.send(ClientEvent::Reconnecting).await;
            match self.reconnect().await {
                Ok(new) => ws = new,
                Err(reason) => {
                    self.not_delivered().await;
                    let _ = self.events.send(ClientEvent::Closed { reason }).await;
                    return;
                }
            }
        }
    }

    /// Reports every unconfirmed signal as [`ClientEvent::NotDelivered`] and forgets them.
    async fn not_delivered(&mut self) {
        if self.unconfirmed.is_empty() {
            return;
        }
        let messages = self
            .unconfirmed
            .drain(..)
            .map(|(_, to, data)| (to, data))
            .collect();
        let _ = self
            .events
            .send(ClientEvent::NotDelivered { messages })
            .await;
    }

    /// Numbers a signal, keeps it until the server confirms it, and sends it.
    async fn signal(
        &mut self,
        ws: &mut Ws,
        to: PeerId,
        data: Box<RawValue>,
    ) -> Result<(), ClientError> {
        let cseq = self.next_cseq;
        self.next_cseq += 1;
        let msg = ClientMessage::Signal {
            to: to.clone(),
            data: data.clone(),
            cseq,
        };
        self.unconfirmed.push_back((cseq, to, data));
        send(ws, &msg).await
    }

    fn confirmed(&mut self, upto: u64) {
        while self.unconfirmed.front().is_some_and(|(c, _, _)| *c <= upto) {
            self.unconfirmed.pop_front();
        }
    }

    /// Relays commands and server messages until the connection is lost or the client stops.
    async fn connected(&mut self, ws: &mut Ws) -> Lost {
        if std::mem::take(&mut self.resend) {
            for (cseq, to, data) in self.unconfirmed.clone() {
                let msg = ClientMessage::Signal { to, data, cseq };
                if send(ws, &msg).await.is_err() {
                    self.resend = true;
                    return Lost::Reconnect;
                }
            }
        }
        let mut last_rx = Instant::now();
        let mut next_ping = last_rx + self.config.ping_interval;
        loop {
            let deadline = (last_rx + self.config.read_timeout).min(next_ping);
            tokio::select! {
                cmd = self.cmd.recv(), if self.unconfirmed.len() < MAX_UNCONFIRMED => match cmd {
                    None => {
                        let _ = send(ws, &ClientMessage::Bye).await;
                        let _ = ws.close(None).await;
                        return Lost::Stop(None);
                    }
                    Some(Cmd::Send(to, data)) => {
                        if self.signal(ws, to, data).await.is_err() {
                            // Kept in `unconfirmed`: re-sent after the resume.
                            return Lost::Reconnect;
                        }
                    }
                    Some(Cmd::Reconnect) => return Lost::Reconnect,
                    Some(Cmd::Bye(done)) => {
                        let _ = send(ws, &ClientMessage::Bye).await;
                        // The server answers with a close frame; wait for it briefly.
                        let _ = timeout(Duration::from_secs(2), async {
                            while let Some(Ok(m)) = ws.next().await {
                                if m.is_close() { break; }
                            }
                        }).await;
                        let _ = done.send(());
                        return Lost::Stop(None);
                    }
                },
                () = sleep_until(deadline) => {
                    let now = Instant::now();
                    if now >= last_rx + self.config.read_timeout {
                        return Lost::Reconnect;
                    }
                    next_ping = now + self.config.ping_interval;
                    if ws.send(Message::Ping(Default::default())).await.is_err() {
                        return Lost::Reconnect;
                    }
                }
                frame = ws.next() => {
                    last_rx = Instant::now();
                    let text = match frame {
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(Message::Close(frame))) => {
                            return self.closed_by_server(frame.map(|f| (f.code, f.reason.to_string())));
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => return Lost::Reconnect,
                    };
                    let Ok(msg) = ServerMessage::from_json(text.as_str()) else {
                        tracing::debug!("ignoring an unreadable server frame");
                        continue;
                    };
                    if !self.deliver(ws, msg).await {
                        return Lost::Stop(None);
                    }
                    if std::mem::take(&mut self.resync) {
                        return Lost::Reconnect;
                    }
                }
            }
        }
    }

    fn closed_by_server(&self, frame: Option<(WsCloseCode, String)>) -> Lost {
        match frame {
            // Refusals that a reconnect would not change.
            Some((code, reason))
                if [
                    CloseCode::UnsupportedVersion,
                    CloseCode::Unauthorized,
                    CloseCode::RoomFull,
                ]
                .iter()
                .any(|c| c.code() == u16::from(code)) =>
            {
                Lost::Stop(Some(reason))
            }
            _ => Lost::Reconnect,
        }
    }

    /// Updates the roster, drops duplicates, acknowledges, and forwards one event. False when
    /// the application dropped the client.
    async fn deliver(&mut self, ws: &mut Ws, msg: ServerMessage) -> bool {
        if let Some(seq) = msg.seq() {
            if seq <= self.last_seq {
                return true;
            }
            self.last_seq = seq;
            if self.last_seq - self.acked >= self.config.ack_every {
                self.acked = self.last_seq;
                let _ = send(ws, &ClientMessage::Ack { seq: self.acked }).await;
            }
        }
        let event = match msg {
            ServerMessage::PeerJoined { peer_id, .. } => {
                self.roster(|p| {
                    p.retain(|i| i.id != peer_id);
                    p.push(PeerInfo {
                        id: peer_id.clone(),
                        suspended: false,
                    });
                });
                ClientEvent::PeerJoined(peer_id)
            }
            ServerMessage::PeerLeft { peer_id, .. } => {
                self.roster(|p| p.retain(|i| i.id != peer_id));
                ClientEvent::PeerLeft(peer_id)
            }
            ServerMessage::PeerSuspended { peer_id, .. } => {
                self.mark(&peer_id, true);
                ClientEvent::PeerSuspended(peer_id)
            }
            ServerMessage::PeerResumed { peer_id, .. } => {
                self.mark(&peer_id, false);
                ClientEvent::PeerResumed(peer_id)
            }
            ServerMessage::Signal { from, data, .. } => ClientEvent::Signal { from, data },
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                message,
            } if !self.unconfirmed.is_empty() => {
                // The server dropped frames for the rate, maybe signals: resume, and the
                // server's `last_cseq` says which to re-send.
                let _ = self
                    .events
                    .send(ClientEvent::Error {
                        code: ErrorCode::RateLimited,
                        message,
                    })
                    .await;
                self.resync = true;
                return true;
            }
            ServerMessage::Error { code, message } => ClientEvent::Error { code, message },
            ServerMessage::Accepted { cseq } => {
                self.confirmed(cseq);
                return true;
            }
            _ => return true,
        };
        self.events.send(event).await.is_ok()
    }

    fn roster(&self, f: impl FnOnce(&mut Vec<PeerInfo>)) {
        self.identity.send_modify(|id| f(&mut id.peers));
    }

    fn mark(&self, peer: &PeerId, suspended: bool) {
        self.roster(|p| {
            for i in p.iter_mut().filter(|i| &i.id == peer) {
                i.suspended = suspended;
            }
        });
    }

    /// Reconnects with backoff until `reconnect_for` runs out; resumes, or joins again.
    async fn reconnect(&mut self) -> Result<Ws, String> {
        let give_up = Instant::now() + self.config.reconnect_for;
        let mut delay = self.config.backoff_initial;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result = timeout(self.config.connect_timeout, self.resume_or_join()).await;
            match result {
                Ok(Ok(ws)) => return Ok(ws),
                Ok(Err(ClientError::Refused { code, message })) => {
                    return Err(format!("{code}: {message}"))
                }
                Ok(Err(_)) | Err(_) => {}
            }
            let jitter = delay.mul_f64(rand::random::<f64>() * 0.5);
            let wait = delay + jitter;
            if Instant::now() + wait >= give_up {
                return Err(format!("gave up reconnecting after {attempt} attempt(s)"));
            }
            tracing::debug!(attempt, "reconnect failed; backing off");
            sleep(wait).await;
            delay = (delay * 2).min(self.config.backoff_max);
        }
    }

    async fn resume_or_join(&mut self) -> Result<Ws, ClientError> {
        let urls = 1 + self.config.fallback_urls.len();
        let url = match self.url_index % urls {
            0 => self.config.url.clone(),
            i => self.config.fallback_urls[i - 1].clone(),
        };
        let mut ws = match open(&self.config, &url).await {
            Ok(ws) => ws,
            Err(e) => {
                // The next attempt tries the next URL.
                self.url_index = self.url_index.wrapping_add(1);
                return Err(e);
            }
        };
        let resume = ClientMessage::Resume {
            v: PROTOCOL_VERSION,
            resume_token: self.resume_token.clone(),
            last_seq: self.last_seq,
        };
        send(&mut ws, &resume).await?;
        match next_message(&mut ws).await? {
            ServerMessage::Resumed {
                resume_token,
                peers,
                replayed,
                last_cseq,
                ..
            } => {
                self.resume_token = resume_token;
                self.confirmed(last_cseq);
                self.resend = true;
                self.identity.send_modify(|id| id.peers = peers.clone());
                let _ = self
                    .events
                    .send(ClientEvent::Resumed { peers, replayed })
                    .await;
                Ok(ws)
            }
            ServerMessage::Error {
                code: ErrorCode::ResumeUnknown | ErrorCode::ResumeGap,
                ..
            } => {
                let joined = join(&mut ws, &self.config).await?;
                self.resume_token = joined.resume_token;
                self.last_seq = 0;
                self.acked = 0;
                self.next_cseq = 1;
                self.resend = false;
                self.not_delivered().await;
                self.identity.send_replace(Identity {
                    peer_id: joined.peer_id.clone(),
                    peers: joined.peers.clone(),
                });
                let _ = self
                    .events
                    .send(ClientEvent::Rejoined {
                        peer_id: joined.peer_id,
                        peers: joined.peers,
                    })
                    .await;
                Ok(ws)
            }
            ServerMessage::Error { code, message } => Err(ClientError::Refused { code, message }),
            _ => Err(ClientError::Protocol(ProtocolError::BadJson(
                "expected `resumed`".into(),
            ))),
        }
    }
}
