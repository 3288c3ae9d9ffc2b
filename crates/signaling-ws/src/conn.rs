//! One task per WebSocket connection: reads and checks client frames, writes queued frames,
//! enforces the rate, the join deadline and liveness.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep_until, timeout, Instant};
use tokio_tungstenite::tungstenite;

use crate::addrs::Refusal;
use crate::hub::{Closer, ConnHandle, Departure, Hub};
use crate::metrics::{DropReason, Metrics};
use crate::protocol::{
    json_depth, ClientMessage, CloseCode, ErrorCode, PeerId, ProtocolError, ServerMessage,
    PROTOCOL_VERSION,
};
use crate::token::TokenError;

/// The server confirms every this many numbered signals with `accepted`.
const ACCEPTED_EVERY: u64 = 32;
/// How long the server waits to deliver a close frame before it drops the socket.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection waits for the client's close frame when the server shuts down.
const SHUTDOWN_LINGER: Duration = Duration::from_millis(200);

/// A token bucket with a one-second window of drops: a connection that has more than `burst`
/// messages dropped within one window is closed.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
    window_start: Instant,
    dropped_in_window: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Rate {
    Pass,
    /// Drop the message; `warn` on the first drop of a window.
    Drop {
        warn: bool,
    },
    Close,
}

impl Bucket {
    fn new(rate: u32, burst: u32, now: Instant) -> Self {
        Self {
            tokens: f64::from(burst),
            rate: f64::from(rate),
            burst: f64::from(burst),
            last: now,
            window_start: now,
            dropped_in_window: 0,
        }
    }

    fn take(&mut self, now: Instant) -> Rate {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Rate::Pass;
        }
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.dropped_in_window = 0;
        }
        self.dropped_in_window += 1;
        if f64::from(self.dropped_in_window) > self.burst {
            Rate::Close
        } else {
            Rate::Drop {
                warn: self.dropped_in_window == 1,
            }
        }
    }
}

/// What ended the connection.
enum End {
    /// The peer said `bye`.
    Bye,
    /// The socket ended or we close it with this code (the peer, if any, is suspended).
    Close(Option<CloseCode>),
}

/// Drives one upgraded connection to its end.
pub(crate) async fn run(
    mut ws: WebSocket,
    hub: Arc<Hub>,
    client: IpAddr,
    mut shutdown: watch::Receiver<bool>,
    _drain: mpsc::Sender<()>,
) {
    let cfg = hub.config();
    let limits = cfg.limits.clone();
    let (tx, mut rx) = mpsc::channel(limits.outbound_queue + limits.resume_buffer + 2);
    let conn = ConnHandle {
        id: hub.conn_id(),
        tx,
        closer: Arc::new(Closer::default()),
        queued: Arc::default(),
    };
    let metrics = hub.metrics();
    let start = Instant::now();
    let join_deadline = start + limits.join_timeout;
    let mut bucket = Bucket::new(limits.messages_per_second, limits.message_burst, start);
    let mut peer: Option<PeerId> = None;
    // The highest `cseq` of a numbered signal read on this connection.
    let mut cseq_seen: Option<u64> = None;
    let mut next_ping = start + cfg.ping_interval;
    let mut awaiting_pong: Option<Instant> = None;

    let end = loop {
        let deadline = match (peer.is_some(), awaiting_pong) {
            (false, _) => join_deadline.min(next_ping),
            (true, Some(sent)) => (sent + cfg.pong_timeout).min(next_ping),
            (true, None) => next_ping,
        };
        tokio::select! {
            biased;
            code = conn.closer.closed() => break End::Close(Some(code)),
            () = async { let _ = shutdown.wait_for(|down| *down).await; } => break End::Close(Some(CloseCode::GoingAway)),
            out = rx.recv() => {
                let Some(out) = out else { break End::Close(None) };
                conn.taken(&out, metrics);
                // A write blocked on a full socket is exactly when the hub finds the queue full
                // and asks to close: act on that at once, not after `write_timeout`.
                tokio::select! {
                    biased;
                    code = conn.closer.closed() => break End::Close(Some(code)),
                    written = write(&mut ws, out.frame, metrics, limits.write_timeout) => {
                        if let Some(end) = written.end(metrics, &conn.closer) {
                            break end;
                        }
                    }
                }
            }
            () = sleep_until(deadline) => {
                let now = Instant::now();
                if peer.is_none() && now >= join_deadline {
                    metrics.dropped(DropReason::JoinTimeout);
                    break End::Close(Some(CloseCode::JoinTimeout));
                }
                if let Some(sent) = awaiting_pong {
                    if now >= sent + cfg.pong_timeout {
                        metrics.dropped(DropReason::Liveness);
                        break End::Close(Some(CloseCode::LivenessTimeout));
                    }
                }
                if now >= next_ping {
                    next_ping = now + cfg.ping_interval;
                    if awaiting_pong.is_none() {
                        awaiting_pong = Some(now);
                    }
                    let ping = Message::Ping(Default::default());
                    if let Some(end) = send(&mut ws, ping, limits.write_timeout).await.end(metrics, &conn.closer) {
                        break end;
                    }
                }
            }
            msg = ws.recv() => {
                awaiting_pong = None;
                let msg = match msg {
                    None => break End::Close(None),
                    Some(Ok(msg)) => msg,
                    Some(Err(e)) => {
                        let code = read_error(e);
                        match code {
                            Some(CloseCode::TooBig) => metrics.dropped(DropReason::TooBig),
                            Some(_) => metrics.dropped(DropReason::ProtocolViolation),
                            None => {}
                        }
                        break End::Close(code);
                    }
                };
                // Every frame counts in the rate, control frames too: tungstenite answers each
                // ping with a pong whether or not we look at it.
                let (text, len, control) = match msg {
                    Message::Text(t) => { let n = t.len(); (Some(t), n, false) }
                    Message::Binary(b) => (None, b.len(), false),
                    Message::Ping(_) | Message::Pong(_) => {
                        Metrics::inc(&metrics.control_frames_in);
                        (None, 0, true)
                    }
                    Message::Close(_) => break End::Close(None),
                };
                if !control {
                    Metrics::inc(&metrics.messages_in);
                    Metrics::add(&metrics.bytes_in, len);
                }
                match bucket.take(Instant::now()) {
                    Rate::Pass => {}
                    Rate::Drop { warn } => {
                        metrics.dropped(DropReason::RateLimited);
                        if warn && !control {
                            let text = error(ErrorCode::RateLimited, "message dropped: over the rate");
                            if let Some(end) = write(&mut ws, text, metrics, limits.write_timeout).await.end(metrics, &conn.closer) {
                                break end;
                            }
                        }
                        continue;
                    }
                    Rate::Close => {
                        metrics.dropped(DropReason::RateLimited);
                        break End::Close(Some(CloseCode::RateLimited));
                    }
                }
                if control {
                    continue;
                }
                let Some(text) = text else {
                    metrics.dropped(DropReason::Binary);
                    let text = error(ErrorCode::BinaryUnsupported, "the protocol uses text frames");
                    if let Some(end) = write(&mut ws, text, metrics, limits.write_timeout).await.end(metrics, &conn.closer) {
                        break end;
                    }
                    continue;
                };
                match handle(&hub, &conn, client, &mut peer, &mut cseq_seen, text.as_str()).await {
                    Step::Continue => {}
                    Step::Reply(text) => {
                        if let Some(end) = write(&mut ws, text, metrics, limits.write_timeout).await.end(metrics, &conn.closer) {
                            break end;
                        }
                    }
                    Step::Reply2(first, second) => {
                        if let Some(end) = write(&mut ws, first, metrics, limits.write_timeout).await.end(metrics, &conn.closer) {
                            break end;
                        }
                        if let Some(end) = write(&mut ws, second, metrics, limits.write_timeout).await.end(metrics, &conn.closer) {
                            break end;
                        }
                    }
                    Step::Fatal(code) => {
                        let text = error(code, code.as_str());
                        let _ = write(&mut ws, text, metrics, CLOSE_TIMEOUT).await;
                        break End::Close(code.close_code());
                    }
                    Step::Bye => break End::Bye,
                    Step::Close(code, text) => {
                        let _ = write(&mut ws, text, metrics, CLOSE_TIMEOUT).await;
                        break End::Close(Some(code));
                    }
                }
            }
        }
    };

    // Tell the room first: a dead peer's close handshake may take its full timeout.
    if let Some(peer) = &peer {
        let how = match end {
            End::Bye => Departure::Bye,
            End::Close(_) => Departure::Dropped,
        };
        hub.backend().disconnected(peer, conn.id, how).await;
    }
    // The hub no longer offers frames to this connection: release what is still queued.
    rx.close();
    while let Ok(out) = rx.try_recv() {
        conn.taken(&out, metrics);
    }
    let close = match end {
        End::Bye => Some(CloseCode::Normal),
        End::Close(code) => code,
    };
    if let Some(code) = close {
        tracing::debug!(code = code.code(), "closing");
        let frame = CloseFrame {
            code: code.code(),
            reason: Utf8Bytes::from_static(code.reason()),
        };
        // Send the close frame, then wait (briefly) for the client's, so the client reads ours
        // before the TCP connection goes away. At shutdown, linger less.
        let linger = if code == CloseCode::GoingAway {
            SHUTDOWN_LINGER
        } else {
            CLOSE_TIMEOUT
        };
        let _ = timeout(linger, async {
            if ws.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(msg)) = ws.recv().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
            }
        })
        .await;
    }
}

/// What to do after one client message.
enum Step {
    Continue,
    Reply(Utf8Bytes),
    /// Two replies, in order.
    Reply2(Utf8Bytes, Utf8Bytes),
    /// Send this error, then close with this code.
    Close(CloseCode, Utf8Bytes),
    /// Send this error, then close with its close code.
    Fatal(ErrorCode),
    Bye,
}

async fn handle(
    hub: &Hub,
    conn: &ConnHandle,
    client: IpAddr,
    peer: &mut Option<PeerId>,
    cseq_seen: &mut Option<u64>,
    text: &str,
) -> Step {
    let metrics = hub.metrics();
    let msg = match ClientMessage::from_json(text) {
        Ok(m) => m,
        Err(e) => {
            metrics.dropped(DropReason::BadMessage);
            let code = match e {
                ProtocolError::UnknownType(_) => ErrorCode::UnknownType,
                _ => ErrorCode::BadMessage,
            };
            return Step::Reply(error(code, &e.to_string()));
        }
    };
    match (msg, peer.as_ref()) {
        (ClientMessage::Ping { nonce }, _) => {
            Step::Reply(Utf8Bytes::from(ServerMessage::Pong { nonce }.to_json()))
        }
        (ClientMessage::Join { .. } | ClientMessage::Resume { .. }, Some(_)) => Step::Reply(error(
            ErrorCode::AlreadyJoined,
            "this connection already has a peer",
        )),
        (ClientMessage::Join { v, room, token }, None) => {
            if v != PROTOCOL_VERSION {
                return Step::Fatal(ErrorCode::UnsupportedVersion);
            }
            if let Err(refusal) = hub.addrs().join(client) {
                return refused(metrics, refusal);
            }
            let failed = |code: ErrorCode| {
                hub.addrs().failed(client);
                code
            };
            if let Err(why) = check_room(&room, hub.config().limits.max_room_name) {
                failed(ErrorCode::InvalidRoom);
                return Step::Reply(error(ErrorCode::InvalidRoom, why));
            }
            if let Some(key) = &hub.config().room_tokens {
                let verdict = token.as_deref().map_or(Err(TokenError::Malformed), |t| {
                    key.verify_within(&room, t, hub.config().max_token_lifetime)
                });
                match verdict {
                    Ok(()) => {}
                    Err(TokenError::Expired) => {
                        return Step::Fatal(failed(ErrorCode::TokenExpired));
                    }
                    Err(_) => return Step::Fatal(failed(ErrorCode::InvalidToken)),
                }
            }
            match hub.backend().join(&room, conn.clone(), client).await {
                Ok(id) => {
                    tracing::debug!(peer = %id, "joined");
                    *peer = Some(id);
                    Step::Continue
                }
                Err(code) if code.close_code().is_some() => Step::Fatal(failed(code)),
                Err(code) => Step::Reply(error(failed(code), code.as_str())),
            }
        }
        (
            ClientMessage::Resume {
                v,
                resume_token,
                last_seq,
            },
            None,
        ) => {
            if v != PROTOCOL_VERSION {
                return Step::Fatal(ErrorCode::UnsupportedVersion);
            }
            if let Err(refusal) = hub.addrs().join(client) {
                return refused(metrics, refusal);
            }
            match hub
                .backend()
                .resume(&resume_token, last_seq, conn.clone(), client)
                .await
            {
                Ok(id) => {
                    *peer = Some(id);
                    Step::Continue
                }
                Err(ErrorCode::Unavailable) => Step::Fatal(ErrorCode::Unavailable),
                Err(code) => {
                    if code == ErrorCode::ResumeUnknown {
                        hub.addrs().failed(client);
                    }
                    Step::Reply(error(code, resume_message(code)))
                }
            }
        }
        (_, None) => Step::Reply(error(ErrorCode::NotJoined, "join a room first")),
        (ClientMessage::Signal { cseq, .. }, Some(_))
            if cseq != 0 && cseq_seen.is_some_and(|seen| cseq > seen + 1) =>
        {
            // A numbered signal was dropped for the rate before this one: relaying this one
            // would confirm the dropped one too. Close; the client resumes and re-sends.
            metrics.dropped(DropReason::RateLimited);
            Step::Close(
                CloseCode::RateLimited,
                error(
                    ErrorCode::RateLimited,
                    "signals were dropped for the rate: resume and re-send",
                ),
            )
        }
        (ClientMessage::Signal { data, cseq, .. }, Some(_))
            if json_depth(data.get()) > hub.config().limits.max_data_depth =>
        {
            // Read, refused, and reported: not a gap for the signals after it.
            if cseq != 0 {
                *cseq_seen = Some(cseq_seen.map_or(cseq, |seen| seen.max(cseq)));
            }
            metrics.dropped(DropReason::BadMessage);
            Step::Reply(error(ErrorCode::BadMessage, "data is nested too deeply"))
        }
        (ClientMessage::Signal { to, data, cseq }, Some(me)) => {
            if cseq != 0 {
                *cseq_seen = Some(cseq_seen.map_or(cseq, |seen| seen.max(cseq)));
            }
            let relayed = hub.backend().signal(me, conn.id, &to, &data, cseq).await;
            match relayed {
                Err(ErrorCode::Unavailable) => Step::Fatal(ErrorCode::Unavailable),
                // Confirm numbered signals now and then, so the client can forget them.
                Ok(()) | Err(ErrorCode::UnknownPeer) if cseq != 0 && cseq % ACCEPTED_EVERY == 0 => {
                    let accepted = ServerMessage::Accepted { cseq };
                    match relayed {
                        Ok(()) => Step::Reply(Utf8Bytes::from(accepted.to_json())),
                        Err(code) => Step::Reply2(
                            error(code, "no such peer in this room"),
                            Utf8Bytes::from(accepted.to_json()),
                        ),
                    }
                }
                Ok(()) => Step::Continue,
                Err(ErrorCode::NotJoined) => Step::Fatal(ErrorCode::NotJoined),
                Err(code) => Step::Reply(error(code, "no such peer in this room")),
            }
        }
        (ClientMessage::Ack { seq }, Some(me)) => {
            hub.backend().ack(me, seq).await;
            Step::Continue
        }
        (ClientMessage::Bye, Some(_)) => Step::Bye,
    }
}

/// A `join`/`resume` refused by the per-address limits: `rate-limited`, connection kept.
fn refused(metrics: &Metrics, why: Refusal) -> Step {
    let (reason, message) = match why {
        Refusal::JoinRate => (DropReason::JoinRate, "too many joins from this address"),
        Refusal::FailedJoins => (
            DropReason::FailedJoins,
            "too many failed joins from this address",
        ),
    };
    metrics.dropped(reason);
    Step::Reply(error(ErrorCode::RateLimited, message))
}

fn resume_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ResumeGap => "missed messages are no longer kept: join again",
        _ => "unknown or expired resume token: join again",
    }
}

/// Room names: 1 to `max` bytes of `[A-Za-z0-9._~-]`.
pub(crate) fn check_room(room: &str, max: usize) -> Result<(), &'static str> {
    if room.is_empty() || room.len() > max {
        return Err("room name must be 1 to max_room_name bytes");
    }
    let ok = room
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'));
    if ok {
        Ok(())
    } else {
        Err("room name may only use A-Z a-z 0-9 . _ ~ -")
    }
}

fn error(code: ErrorCode, message: &str) -> Utf8Bytes {
    let msg = ServerMessage::Error {
        code,
        message: message.to_owned(),
    };
    Utf8Bytes::from(msg.to_json())
}

/// How a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Done,
    /// The socket is gone (the client disconnected or reset).
    Gone,
    /// The socket did not drain within the time limit, or its write buffer is full.
    Slow,
}

impl Written {
    /// How the connection ends after this write, if it does; counts a slow consumer once per
    /// connection (the hub may find the same connection's queue full meanwhile).
    fn end(self, metrics: &Metrics, closer: &Closer) -> Option<End> {
        match self {
            Written::Done => None,
            Written::Gone => Some(End::Close(None)),
            Written::Slow => {
                if closer.close(CloseCode::SlowConsumer) {
                    metrics.dropped(DropReason::SlowConsumer);
                }
                Some(End::Close(Some(CloseCode::SlowConsumer)))
            }
        }
    }
}

/// Writes one text frame within `limit`, counting it.
async fn write(ws: &mut WebSocket, text: Utf8Bytes, metrics: &Metrics, limit: Duration) -> Written {
    let len = text.len();
    let written = send(ws, Message::Text(text), limit).await;
    if written == Written::Done {
        Metrics::inc(&metrics.messages_out);
        Metrics::add(&metrics.bytes_out, len);
    }
    written
}

/// Sends one frame within `limit`.
async fn send(ws: &mut WebSocket, msg: Message, limit: Duration) -> Written {
    match timeout(limit, ws.send(msg)).await {
        Ok(Ok(())) => Written::Done,
        Ok(Err(e)) => {
            let inner = e.into_inner();
            match inner.downcast_ref::<tungstenite::Error>() {
                Some(tungstenite::Error::WriteBufferFull(_)) => Written::Slow,
                _ => Written::Gone,
            }
        }
        Err(_) => Written::Slow,
    }
}

/// The close code for a failed read: 1009 for a frame over the size limit, 1002 for a
/// protocol violation, 1007 for bad UTF-8; None when the socket just went away.
fn read_error(e: axum::Error) -> Option<CloseCode> {
    let inner = e.into_inner();
    match inner.downcast_ref::<tungstenite::Error>() {
        Some(tungstenite::Error::Capacity(_)) => Some(CloseCode::TooBig),
        Some(tungstenite::Error::Protocol(p)) => match p {
            // The client went away mid-handshake or mid-frame: nothing to tell it.
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake => None,
            _ => Some(CloseCode::ProtocolViolation),
        },
        Some(tungstenite::Error::Utf8(_)) => Some(CloseCode::InvalidUtf8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_rate_then_closes() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10, 5, t0);
        for _ in 0..5 {
            assert_eq!(b.take(t0), Rate::Pass);
        }
        assert_eq!(b.take(t0), Rate::Drop { warn: true });
        for _ in 0..4 {
            assert_eq!(b.take(t0), Rate::Drop { warn: false });
        }
        assert_eq!(b.take(t0), Rate::Close);
        let mut b = Bucket::new(10, 5, t0);
        for _ in 0..5 {
            b.take(t0);
        }
        assert_eq!(b.take(t0 + Duration::from_millis(100)), Rate::Pass);
    }

    #[test]
    fn room_names() {
        assert!(check_room("abc-DEF_0.9~", 128).is_ok());
        assert!(check_room("", 128).is_err());
        assert!(check_room(&"a".repeat(129), 128).is_err());
        assert!(check_room("a b", 128).is_err());
        assert!(check_room("é", 128).is_err());
    }
}
