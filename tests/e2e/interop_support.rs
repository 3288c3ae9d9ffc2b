//! Shared pieces of the browser interop tests: a tokio runtime inside the browser's network
//! namespace, the driven page (`tests/www/interop.html`, which runs the served
//! `tether-peer.js`), and a Rust peer through the real signaling server.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use session_core::session::Event;
use session_core::signal::{SessionDescription, SignalMessage};
use session_core::signaling::SdpType;
use signaling_ws::{random_room_name, Server, ServerConfig, ServerHandle};
use tether::WsSignaling;
use tether_tests::browser::{Browser, Kind, Launch, NetNs};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, watch};
use transport_tokio::{
    DataChannel, GatherOptions, Message, PeerConfig, PeerConnection, PeerEvent, RtpReceiver,
    Signaling, SignalingError,
};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub(crate) type TestResult = Result<(), BoxError>;

/// Time allowed for each step.
pub(crate) const T: Duration = Duration::from_secs(15);

/// A multi-threaded tokio runtime whose worker threads live in `ns` (so do the sockets and
/// blocking threads its tasks create).
pub(crate) fn runtime_in(ns: &NetNs) -> Result<Runtime, BoxError> {
    if let Some(level) = std::env::var_os("TETHER_TEST_LOG") {
        let level = level
            .to_string_lossy()
            .parse()
            .unwrap_or(tracing::Level::DEBUG);
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_test_writer()
            .try_init();
    }
    let rt = ns.run(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    })??;
    Ok(rt)
}

/// Runs `fut` as a task on `rt` (never on the calling thread, which is outside the namespace)
/// and waits for it, at most `limit`.
pub(crate) fn run_in<F>(rt: &Runtime, limit: Duration, fut: F) -> TestResult
where
    F: Future<Output = TestResult> + Send + 'static,
{
    let task = rt.spawn(fut);
    let out = rt.block_on(async { tokio::time::timeout(limit, task).await });
    match out {
        Ok(Ok(r)) => r,
        Ok(Err(join)) => Err(format!("the test task failed: {join}").into()),
        Err(_) => Err(format!("the test took longer than {limit:?}").into()),
    }
}

/// The signaling server as `tether signal` runs it (with the page), on 127.0.0.1:0.
pub(crate) async fn signaling_server() -> Result<ServerHandle, BoxError> {
    signaling_server_on(std::net::Ipv4Addr::LOCALHOST).await
}

/// The same on `ip`:0.
pub(crate) async fn signaling_server_on(ip: std::net::Ipv4Addr) -> Result<ServerHandle, BoxError> {
    let config = ServerConfig {
        embedded: tether::PAGE,
        ..ServerConfig::default()
    };
    Ok(Server::bind(SocketAddr::from((ip, 0)), config).await?)
}

/// `interop.html` in a browser (Chromium or Firefox), driven command by command; keeps every
/// event it reported.
pub(crate) struct Page {
    b: Browser,
    events: Vec<Value>,
    replies: VecDeque<Value>,
}

impl Page {
    /// In Chromium.
    pub(crate) fn launch() -> Result<Self, BoxError> {
        Self::launch_in(Kind::Chromium)
    }

    /// In this browser.
    pub(crate) fn launch_in(kind: Kind) -> Result<Self, BoxError> {
        Self::launch_with(Launch::page("interop.html").kind(kind))
    }

    /// As `launch` says (its page must be `interop.html`).
    pub(crate) fn launch_with(launch: Launch) -> Result<Self, BoxError> {
        Ok(Self {
            b: Browser::launch_with(launch)?,
            events: Vec::new(),
            replies: VecDeque::new(),
        })
    }

    pub(crate) fn kind(&self) -> Kind {
        self.b.kind()
    }

    pub(crate) fn netns(&self) -> &NetNs {
        self.b.netns()
    }

    /// The lines of the browser's stderr that contain `needle`.
    pub(crate) fn stderr_lines(&self, needle: &str) -> Vec<String> {
        self.b
            .stderr()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }

    /// Joins `room` of `server` with the served `tether-peer.js`.
    pub(crate) async fn start(
        &mut self,
        server: &ServerHandle,
        room: &str,
        role: &str,
        chat: &str,
    ) -> TestResult {
        self.start_with(server, room, role, chat, json!({})).await
    }

    /// Like [`Page::start`], with more `start` arguments (`iceServers`, `relayOnly`).
    pub(crate) async fn start_with(
        &mut self,
        server: &ServerHandle,
        room: &str,
        role: &str,
        chat: &str,
        extra: Value,
    ) -> TestResult {
        let script = format!("http://{}/tether-peer.js", server.local_addr());
        let mut args = json!({ "script": script, "url": server.ws_url(), "room": room, "role": role, "chat": chat });
        if let (Some(args), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
            args.extend(extra.clone());
        }
        self.cmd("start", args).await?;
        self.wait_event("joined the room", T, |e| {
            e["kind"] == "signaling" && e["state"] == "joined"
        })
        .await?;
        Ok(())
    }

    fn pull(&mut self, timeout: Duration) -> Result<(), BoxError> {
        let msg = tokio::task::block_in_place(|| self.b.recv(timeout))?;
        match msg["type"].as_str() {
            Some("ev") => {
                if msg["kind"] == "error" {
                    eprintln!("page error event: {msg}");
                }
                self.events.push(msg);
            }
            Some("reply") => self.replies.push_back(msg),
            _ => return Err(format!("unexpected message from the page: {msg}").into()),
        }
        Ok(())
    }

    /// Sends a command and returns its `result` (fails if the page says `ok: false`).
    pub(crate) async fn cmd(&mut self, cmd: &str, args: Value) -> Result<Value, BoxError> {
        let mut msg = args;
        msg["cmd"] = json!(cmd);
        tokio::task::block_in_place(|| self.b.send(msg))?;
        let deadline = tokio::time::Instant::now() + T;
        loop {
            if let Some(i) = self.replies.iter().position(|r| r["cmd"] == cmd) {
                let reply = self.replies.remove(i).unwrap_or_default();
                if reply["ok"] != json!(true) {
                    return Err(format!("page: {cmd} failed: {}", reply["error"]).into());
                }
                return Ok(reply["result"].clone());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(format!("page: no reply to {cmd}").into());
            }
            self.pull(left)?;
        }
    }

    /// The first event (ever reported) that matches `pred`, waiting up to `timeout` for it.
    pub(crate) async fn wait_event(
        &mut self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, BoxError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(e) = self.events.iter().find(|e| pred(e)) {
                return Ok(e.clone());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "page: no event '{what}' within {timeout:?}; events:\n{}",
                    self.event_lines()
                )
                .into());
            }
            self.pull(left.min(Duration::from_millis(500)))
                .or_else(|e| {
                    if e.to_string().starts_with("timed out") {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })?;
        }
    }

    /// Reads what the page sent within `wait` (for failure reports), and its stats.
    pub(crate) async fn report(&mut self, wait: Duration) -> String {
        let deadline = tokio::time::Instant::now() + wait;
        while tokio::time::Instant::now() < deadline {
            if self.pull(Duration::from_millis(200)).is_err() {
                break;
            }
        }
        let stats = self.cmd("stats", json!({})).await;
        format!(
            "page events:\n{}\npage stats: {stats:?}",
            self.event_lines()
        )
    }

    /// Every event so far, one per line.
    pub(crate) fn event_lines(&self) -> String {
        self.events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(crate) fn events(&self) -> &[Value] {
        &self.events
    }

    /// Polls the page's `pair` command until the browser has a selected candidate pair.
    pub(crate) async fn selected_pair(&mut self, timeout: Duration) -> Result<Value, BoxError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let pair = self.cmd("pair", json!({})).await?;
            if pair["selectedPairId"].is_string() {
                return Ok(pair);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(format!(
                    "{}: no selected candidate pair within {timeout:?}: {pair}",
                    self.kind()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the chat channel is open on the page.
    pub(crate) async fn channel_open(&mut self, label: &str) -> TestResult {
        self.wait_event(&format!("channel {label} open"), T, |e| {
            e["kind"] == "channel" && e["label"] == label && e["state"] == "open"
        })
        .await?;
        Ok(())
    }

    /// Waits for the text message `text` on the page.
    pub(crate) async fn message(&mut self, text: &str) -> TestResult {
        self.wait_event(&format!("message {text:?}"), T, |e| {
            e["kind"] == "message" && e["data"] == text
        })
        .await?;
        Ok(())
    }

    /// Ends the page and checks its verdict.
    pub(crate) async fn done(mut self) -> TestResult {
        tokio::task::block_in_place(|| -> TestResult {
            self.b.send(json!({ "cmd": "done" }))?;
            // Replies and events still in flight come before the verdict.
            self.b.result(T)?;
            Ok(())
        })
    }
}

/// A fresh room name.
pub(crate) fn room() -> String {
    random_room_name()
}

/// A Rust peer (transport-tokio) through the signaling server, loopback host candidates.
pub(crate) struct RustPeer {
    pub(crate) pc: PeerConnection,
    channels: mpsc::UnboundedReceiver<DataChannel>,
    tracks: mpsc::UnboundedReceiver<RtpReceiver>,
    log: Arc<Mutex<Vec<String>>>,
    closed: watch::Receiver<bool>,
}

impl RustPeer {
    /// Joins `room`; `polite` `None` means the id rule of `tether peer --role auto`.
    pub(crate) async fn join(
        url: &str,
        room: &str,
        polite: Option<bool>,
    ) -> Result<Self, BoxError> {
        let mut sig = WsSignaling::connect(url, room, None).await?;
        let polite = match polite {
            Some(p) => p,
            None => {
                let remote = sig.wait_for_remote().await?;
                tether::polite_by_ids(&sig.peer_id(), &remote)
            }
        };
        Self::with_signaling(sig, polite)
    }

    /// Joins `room` with this configuration.
    pub(crate) async fn join_with(
        url: &str,
        room: &str,
        config: PeerConfig,
    ) -> Result<Self, BoxError> {
        let sig = WsSignaling::connect(url, room, None).await?;
        Self::with_config(sig, config)
    }

    /// A peer on any signaling channel.
    pub(crate) fn with_signaling(sig: impl Signaling, polite: bool) -> Result<Self, BoxError> {
        Self::with_config(sig, loopback_config(polite))
    }

    /// A peer on any signaling channel, with this configuration.
    pub(crate) fn with_config(sig: impl Signaling, config: PeerConfig) -> Result<Self, BoxError> {
        let (pc, mut events) = PeerConnection::new(config, sig)?;
        let (tx, channels) = mpsc::unbounded_channel();
        let (track_tx, tracks) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (closed_tx, closed) = watch::channel(false);
        let pump_log = Arc::clone(&log);
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                let line = match ev {
                    PeerEvent::DataChannel(dc) => {
                        let line = format!("remote data channel {:?}", dc.label());
                        let _ = tx.send(dc);
                        line
                    }
                    PeerEvent::Track(receiver) => {
                        let line = format!(
                            "remote track {:?} mid {} ssrc {}",
                            receiver.kind(),
                            receiver.mid(),
                            receiver.parameters().ssrc
                        );
                        let _ = track_tx.send(receiver);
                        line
                    }
                    PeerEvent::Session(Event::Closed(by)) => {
                        let _ = closed_tx.send(true);
                        format!("closed {by:?}")
                    }
                    PeerEvent::Session(ev) => format!("{ev:?}"),
                    PeerEvent::TransportError(e) => format!("TRANSPORT ERROR {e}"),
                    other => format!("{other:?}"),
                };
                let ms = start.elapsed().as_millis();
                if let Ok(mut log) = pump_log.lock() {
                    log.push(format!("{ms:>6} ms {line}"));
                }
            }
            let _ = closed_tx.send(true);
        });
        Ok(Self {
            pc,
            channels,
            tracks,
            log,
            closed,
        })
    }

    /// The next data channel the other peer opened.
    pub(crate) async fn next_channel(&mut self) -> Result<DataChannel, BoxError> {
        match tokio::time::timeout(T, self.channels.recv()).await {
            Ok(Some(dc)) => Ok(dc),
            _ => Err(format!("Rust: no data channel from the peer; log:\n{}", self.log()).into()),
        }
    }

    /// The next track the other peer started sending.
    pub(crate) async fn next_track(&mut self) -> Result<RtpReceiver, BoxError> {
        match tokio::time::timeout(T, self.tracks.recv()).await {
            Ok(Some(r)) => Ok(r),
            _ => Err(format!("Rust: no track from the peer; log:\n{}", self.log()).into()),
        }
    }

    /// The peer's event log.
    pub(crate) fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Whether the session logged an event whose debug text contains `needle`.
    pub(crate) fn logged(&self, needle: &str) -> bool {
        self.log
            .lock()
            .map(|l| l.iter().any(|line| line.contains(needle)))
            .unwrap_or(false)
    }

    /// Waits until the session has closed (by either side).
    pub(crate) async fn wait_closed(&mut self) -> TestResult {
        let log = Arc::clone(&self.log);
        let closed = tokio::time::timeout(T, async {
            let _ = self.closed.wait_for(|c| *c).await;
        })
        .await;
        closed.map_err(|_| {
            let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
            format!("Rust: the session did not close; log:\n{log}").into()
        })
    }
}

/// The configuration of the test's Rust peers: loopback host candidates, no ICE servers.
pub(crate) fn loopback_config(polite: bool) -> PeerConfig {
    let mut config = PeerConfig::new(polite);
    config.gather = GatherOptions::loopback_only();
    config
}

/// Reads the next text message of `dc`.
pub(crate) async fn recv_text(dc: &mut DataChannel) -> Result<String, BoxError> {
    match tokio::time::timeout(T, dc.recv()).await {
        Ok(Some(Message::Text(t))) => Ok(t),
        Ok(Some(other)) => Err(format!("expected text, got {other:?}").into()),
        Ok(None) => Err("the data channel closed".into()),
        Err(_) => Err(format!("no message on {:?} within {T:?}", dc.label()).into()),
    }
}

/// A [`Signaling`] wrapper that holds everything it receives until [`Gate::open`], and
/// notes when an offer went out: stages glare (both sides have sent an offer before either
/// sees the other's).
pub(crate) struct GatedSignaling<S> {
    inner: S,
    open: watch::Receiver<bool>,
    offer_sent: watch::Sender<bool>,
}

/// The test's side of a [`GatedSignaling`].
pub(crate) struct Gate {
    open: watch::Sender<bool>,
    offer_sent: watch::Receiver<bool>,
}

impl Gate {
    pub(crate) fn open(&self) {
        let _ = self.open.send(true);
    }

    /// Waits until the wrapped peer has sent an offer.
    pub(crate) async fn offer_sent(&mut self) -> TestResult {
        tokio::time::timeout(T, self.offer_sent.wait_for(|s| *s))
            .await
            .map_err(|_| "Rust: no offer sent")?
            .map_err(|_| "Rust: signaling gone")?;
        Ok(())
    }
}

pub(crate) fn gated<S: Signaling>(inner: S) -> (GatedSignaling<S>, Gate) {
    let (open_tx, open) = watch::channel(false);
    let (offer_tx, offer_rx) = watch::channel(false);
    (
        GatedSignaling {
            inner,
            open,
            offer_sent: offer_tx,
        },
        Gate {
            open: open_tx,
            offer_sent: offer_rx,
        },
    )
}

#[async_trait]
impl<S: Signaling> Signaling for GatedSignaling<S> {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        let offer = matches!(
            &msg,
            SignalMessage::Description { description } if description.kind == SdpType::Offer
        );
        self.inner.send(msg).await?;
        if offer {
            let _ = self.offer_sent.send(true);
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        if self.open.wait_for(|o| *o).await.is_err() {
            return Ok(None);
        }
        self.inner.recv().await
    }
}

/// A [`Signaling`] wrapper that keeps a copy of every description its peer sends (offers and
/// answers, in order), for tests that check the SDP that went out.
pub(crate) struct RecordingSignaling<S> {
    inner: S,
    sent: Arc<Mutex<Vec<SessionDescription>>>,
}

/// The descriptions a [`RecordingSignaling`] sent so far.
#[derive(Clone)]
pub(crate) struct SentDescriptions(Arc<Mutex<Vec<SessionDescription>>>);

impl SentDescriptions {
    /// The offers sent so far, in order.
    pub(crate) fn offers(&self) -> Vec<SessionDescription> {
        self.0
            .lock()
            .map(|d| {
                d.iter()
                    .filter(|d| d.kind == SdpType::Offer)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub(crate) fn recording<S: Signaling>(inner: S) -> (RecordingSignaling<S>, SentDescriptions) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    (
        RecordingSignaling {
            inner,
            sent: Arc::clone(&sent),
        },
        SentDescriptions(sent),
    )
}

#[async_trait]
impl<S: Signaling> Signaling for RecordingSignaling<S> {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        if let SignalMessage::Description { description } = &msg {
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(description.clone());
            }
        }
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        self.inner.recv().await
    }

    async fn close(&mut self) -> Result<(), SignalingError> {
        self.inner.close().await
    }
}
