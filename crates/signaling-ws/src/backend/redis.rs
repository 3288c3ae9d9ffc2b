//! The Redis backend: rooms, membership, sequence numbers and resume buffers in Redis, fan-out
//! between server processes over Redis pub/sub.
//!
//! Every room operation is one Lua script (`redis.lua` holds the shared part), so it is atomic
//! across processes: room limits hold wherever the peers connect, and sequence numbers have no
//! gaps. A frame for a peer is numbered, appended to the peer's inbox stream (bounded by the
//! resume buffer limits) and published to the process that holds the peer's connection; that
//! process offers it to the connection's queue. A process that misses a published frame (its
//! subscription dropped) notices the gap at the next one, or when it subscribes again, and
//! reads the inbox. The key layout is in `docs/signaling-protocol.md`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script, Value};
use serde_json::value::RawValue;
use tokio::task::JoinHandle;

use crate::addrs::{Addresses, Slot};
use crate::backend::Backend;
use crate::config::ServerConfig;
use crate::hub::{lock, ConnHandle, Departure, Offer};
use crate::metrics::{DropReason, Gauges, Metrics};
use crate::protocol::{CloseCode, ErrorCode, PeerId, PeerInfo, ServerMessage, PROTOCOL_VERSION};
use crate::token::{digest, hex, random_hex};

/// Prefix of every key and channel.
const PREFIX: &str = "tether:sig:";
/// A process whose heartbeat is older than this is dead: its peers are suspended.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(5);
/// How often each process beats and reaps (expired grace windows, dead processes).
const REAP_EVERY: Duration = Duration::from_millis(500);
/// The pause before subscribing again after the subscription dropped.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(200);
/// Time allowed for one Redis request or connection attempt.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

const LIB: &str = include_str!("redis.lua");

/// Why the Redis backend could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The Redis URL could not be parsed.
    #[error("bad Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    /// Redis did not answer.
    #[error("Redis is unreachable: {0}")]
    Unreachable(#[source] redis::RedisError),
}

const JOIN: &str = r#"
local room, id, tok, own = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local rk = P .. 'R:' .. room
if redis.call('ZCARD', rk) >= tonumber(ARGV[8]) then return {'full'} end
local pk = P .. 'P:' .. id
if redis.call('EXISTS', pk) == 1 then return {'taken'} end
local r = roster(room, id)
redis.call('HSET', pk, 'room', room, 'tok', tok, 'seq', 0, 'cseq', 0, 'own', own, 'st', 'a', 'kb', 0)
redis.call('SET', P .. 'T:' .. tok, id)
redis.call('SADD', P .. 'O:' .. proc_of(own), id)
tell_room(room, id, 'peer-joined')
redis.call('ZADD', rk, redis.call('INCR', P .. 'order'), id)
return {'ok', r}
"#;

const SIGNAL: &str = r#"
local from, own, to, data, cseq = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local f = redis.call('HMGET', P .. 'P:' .. from, 'room', 'own', 'cseq')
if not f[1] or f[2] ~= own then return 'gone' end
if cseq > 0 then
  if cseq <= tonumber(f[3]) then return 'dup' end
  redis.call('HSET', P .. 'P:' .. from, 'cseq', cseq)
end
if to == from or redis.call('HGET', P .. 'P:' .. to, 'room') ~= f[1] then return 'unknown' end
deliver(to, '{"type":"signal","seq":', ',"from":"' .. from .. '","data":' .. data .. '}')
return 'ok'
"#;

const ACK: &str = r#"
if redis.call('EXISTS', P .. 'P:' .. ARGV[4]) == 1 then trim_upto(ARGV[4], tonumber(ARGV[5])) end
return 'ok'
"#;

const LEAVE: &str = r#"
if redis.call('HGET', P .. 'P:' .. ARGV[4], 'own') == ARGV[5] then remove(ARGV[4], nil) end
return 'ok'
"#;

const SUSPEND: &str = r#"
if redis.call('HGET', P .. 'P:' .. ARGV[4], 'own') == ARGV[5] then
  redis.call('SREM', P .. 'O:' .. proc_of(ARGV[5]), ARGV[4])
  suspend(ARGV[4], tonumber(ARGV[6]))
end
return 'ok'
"#;

const RESUME: &str = r#"
local id = redis.call('GET', P .. 'T:' .. ARGV[4])
if not id then return {'unknown'} end
local pk, ik = P .. 'P:' .. id, P .. 'I:' .. id
local f = redis.call('HMGET', pk, 'room', 'seq', 'own', 'st', 'cseq')
if not f[1] then return {'unknown'} end
local last, seq = tonumber(ARGV[5]), tonumber(f[2])
local gap = last > seq
if not gap and last < seq then
  local e = redis.call('XRANGE', ik, '-', '+', 'COUNT', 1)
  gap = #e == 0 or tonumber(string.match(e[1][1], '^(%d+)')) > last + 1
end
if gap then
  remove(id, '4009')
  return {'gap'}
end
trim_upto(id, last)
if f[3] ~= '' then
  tell(f[3], 0, '4009')
  redis.call('SREM', P .. 'O:' .. proc_of(f[3]), id)
end
redis.call('DEL', P .. 'T:' .. ARGV[4])
redis.call('SET', P .. 'T:' .. ARGV[6], id)
redis.call('HSET', pk, 'tok', ARGV[6], 'own', ARGV[7], 'st', 'a')
redis.call('PERSIST', pk)
redis.call('PERSIST', ik)
redis.call('ZREM', P .. 'grace', id)
redis.call('SADD', P .. 'O:' .. proc_of(ARGV[7]), id)
local frames = {}
for _, e in ipairs(redis.call('XRANGE', ik, '-', '+')) do frames[#frames + 1] = e[2][2] end
local r = roster(f[1], id)
if f[4] == 's' then tell_room(f[1], id, 'peer-resumed') end
return {'ok', id, f[5], f[2], r, frames, f[1]}
"#;

const REAP: &str = r#"
local now = now_ms()
redis.call('ZADD', P .. 'procs', now, ARGV[4])
local dead = redis.call('ZRANGEBYSCORE', P .. 'procs', '-inf', now - tonumber(ARGV[5]), 'LIMIT', 0, 10)
for _, p in ipairs(dead) do
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'O:' .. p)) do
    local own = redis.call('HGET', P .. 'P:' .. id, 'own')
    if own and string.sub(own, 1, #p + 1) == p .. ':' then suspend(id, tonumber(ARGV[6])) end
  end
  redis.call('DEL', P .. 'O:' .. p)
  redis.call('ZREM', P .. 'procs', p)
end
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'grace', '-inf', now, 'LIMIT', 0, 100)) do
  remove(id, nil)
  n = n + 1
end
return n
"#;

#[derive(Debug)]
struct Scripts {
    join: Script,
    signal: Script,
    ack: Script,
    leave: Script,
    suspend: Script,
    resume: Script,
    reap: Script,
}

impl Scripts {
    fn new() -> Self {
        let s = |body: &str| Script::new(&format!("{LIB}\n{body}"));
        Self {
            join: s(JOIN),
            signal: s(SIGNAL),
            ack: s(ACK),
            leave: s(LEAVE),
            suspend: s(SUSPEND),
            resume: s(RESUME),
            reap: s(REAP),
        }
    }
}

/// A connection of this process, as the fan-out sees it.
#[derive(Debug)]
struct Local {
    handle: ConnHandle,
    /// Set once joined or resumed.
    peer: Option<PeerId>,
    /// The peer's room, for the gauges.
    room: Option<String>,
    /// The client address, for the per-address count of suspended peers.
    addr: IpAddr,
    /// The next `seq` to offer; `None` until `joined`/`resumed` is queued (frames wait in
    /// `pending` meanwhile).
    expected: Option<u64>,
    /// Frames that arrived ahead of `expected`.
    pending: BTreeMap<u64, Utf8Bytes>,
}

#[derive(Debug)]
struct Inner {
    redis: ConnectionManager,
    client: Client,
    scripts: Scripts,
    /// This process's id: the owner of its connections is `proc:conn`.
    proc_id: String,
    config: Arc<ServerConfig>,
    metrics: Arc<Metrics>,
    local: Mutex<HashMap<u64, Local>>,
    addrs: Arc<Addresses>,
    /// Peers this process suspended, each counted against its address (with the suspension's
    /// epoch) until it resumes here or its grace window ends.
    held: Mutex<HashMap<PeerId, (u64, Slot)>>,
    next_epoch: std::sync::atomic::AtomicU64,
}

/// The Redis backend of one server; see the module documentation.
#[derive(Debug)]
pub(crate) struct RedisBackend {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RedisBackend {
    /// Connects lazily to `url` and starts the subscriber and the reaper (needs a tokio
    /// runtime).
    pub(crate) fn new(
        url: &str,
        config: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
        addrs: Arc<Addresses>,
    ) -> Result<Self, BackendError> {
        let client = Client::open(url).map_err(BackendError::Url)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let redis = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(BackendError::Url)?;
        let inner = Arc::new(Inner {
            redis,
            client,
            scripts: Scripts::new(),
            proc_id: random_hex::<8>(),
            config,
            metrics,
            local: Mutex::default(),
            addrs,
            held: Mutex::default(),
            next_epoch: std::sync::atomic::AtomicU64::new(1),
        });
        let tasks = vec![
            tokio::spawn(subscribe(Arc::clone(&inner))),
            tokio::spawn(reap(Arc::clone(&inner))),
        ];
        Ok(Self { inner, tasks })
    }
}

impl Inner {
    /// Registers a connection of this process that is about to join or resume.
    fn register(&self, conn: &ConnHandle, addr: IpAddr) {
        lock(&self.local).insert(
            conn.id,
            Local {
                handle: conn.clone(),
                peer: None,
                room: None,
                addr,
                expected: None,
                pending: BTreeMap::new(),
            },
        );
    }

    fn owner(&self, conn_id: u64) -> String {
        format!("{}:{conn_id}", self.proc_id)
    }

    /// Runs `script` with the common arguments then `args`.
    async fn run(&self, script: &Script, args: &[&str]) -> Result<Value, ErrorCode> {
        let limits = &self.config.limits;
        let mut inv = script.prepare_invoke();
        inv.arg(PREFIX)
            .arg(limits.resume_buffer)
            .arg(limits.resume_buffer_bytes);
        for a in args {
            inv.arg(*a);
        }
        let mut redis = self.redis.clone();
        inv.invoke_async(&mut redis).await.map_err(|e| {
            tracing::warn!(error = %e, "Redis request failed");
            ErrorCode::Unavailable
        })
    }

    fn grace_ms(&self) -> String {
        self.config.grace.as_millis().to_string()
    }

    /// A frame `seq` for connection `conn_id` arrived from the fan-out.
    fn arrived(&self, conn_id: u64, seq: u64, frame: Utf8Bytes) -> bool {
        let mut local = lock(&self.local);
        let Some(l) = local.get_mut(&conn_id) else {
            return false;
        };
        if l.expected.is_none_or(|e| seq >= e) {
            l.pending.insert(seq, frame);
        }
        true
    }

    /// Offers the pending frames of `conn_id` in order; fills a gap from the inbox (also when
    /// `fetch`, to catch up after a lost subscription).
    async fn flush(&self, conn_id: u64, mut fetch: bool) {
        // Bounded: offer what is in order, fetch a gap from the inbox, offer again (three rounds
        // at most; anything still waiting goes out with the next arrival).
        for _ in 0..3 {
            let (peer, from, to) = {
                let mut local = lock(&self.local);
                let Some(l) = local.get_mut(&conn_id) else {
                    return;
                };
                let Some(mut next) = l.expected else { return };
                while let Some(frame) = l.pending.remove(&next) {
                    self.offer(&l.handle, frame);
                    next += 1;
                }
                l.pending.retain(|s, _| *s > next);
                l.expected = Some(next);
                let Some(peer) = l.peer.clone() else { return };
                let to = match l.pending.keys().next() {
                    Some(first) => Some(first - 1),
                    None if fetch => None,
                    None => return,
                };
                (peer, next, to)
            };
            fetch = false;
            let end = to.map_or_else(|| "+".to_owned(), |t| format!("{t}-1"));
            let mut redis = self.redis.clone();
            let got: Result<Value, _> = redis::cmd("XRANGE")
                .arg(format!("{PREFIX}I:{peer}"))
                .arg(format!("{from}-1"))
                .arg(end)
                .query_async(&mut redis)
                .await;
            let entries = match got {
                Ok(v) => stream_entries(v),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis request failed");
                    Vec::new()
                }
            };
            let mut local = lock(&self.local);
            let Some(l) = local.get_mut(&conn_id) else {
                return;
            };
            let filled = entries.first().is_some_and(|(s, _)| *s == from);
            for (seq, frame) in entries {
                if l.expected.is_some_and(|e| seq >= e) {
                    l.pending.insert(seq, Utf8Bytes::from(frame));
                }
            }
            if !filled && to.is_some() {
                // The missing frames are gone from the inbox: the client cannot be made whole
                // on this connection; its resume will say so (`resume-gap`).
                tracing::warn!(peer = %peer, "frames lost between processes; closing");
                l.handle.closer.close(CloseCode::Unavailable);
                return;
            }
        }
    }

    fn offer(&self, conn: &ConnHandle, frame: Utf8Bytes) {
        let max = self.config.limits.outbound_queue_bytes;
        let offer = conn.offer(frame, max, &self.metrics);
        if offer == Offer::Full && conn.closer.close(CloseCode::SlowConsumer) {
            self.metrics.dropped(DropReason::SlowConsumer);
        }
    }

    fn close(&self, conn_id: u64, code: &str) {
        let code = match code {
            "4009" => CloseCode::Replaced,
            _ => CloseCode::Evicted,
        };
        if let Some(l) = lock(&self.local).get(&conn_id) {
            l.handle.closer.close(code);
        }
    }
}

/// Receives this process's fan-out channel; resubscribes (and catches up) after a drop.
async fn subscribe(inner: Arc<Inner>) {
    let channel = format!("{PREFIX}C:{}", inner.proc_id);
    let mut first = true;
    loop {
        let pubsub = match inner.client.get_async_pubsub().await {
            Ok(mut p) => match p.subscribe(&channel).await {
                Ok(()) => Some(p),
                Err(e) => {
                    tracing::warn!(error = %e, "Redis subscribe failed");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "Redis subscribe failed");
                None
            }
        };
        let Some(pubsub) = pubsub else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if !first {
            // Frames published while unsubscribed are in the inboxes.
            let conns: Vec<u64> = lock(&inner.local).keys().copied().collect();
            for conn in conns {
                inner.flush(conn, true).await;
            }
        }
        first = false;
        let mut messages = pubsub.into_on_message();
        while let Some(msg) = messages.next().await {
            let payload = msg.get_payload_bytes();
            let Ok(text) = std::str::from_utf8(payload) else {
                continue;
            };
            let mut parts = text.splitn(3, ' ');
            let (Some(conn), Some(seq), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let (Ok(conn), Ok(seq)) = (conn.parse::<u64>(), seq.parse::<u64>()) else {
                continue;
            };
            if seq == 0 {
                inner.close(conn, rest);
            } else if inner.arrived(conn, seq, Utf8Bytes::from(rest.to_owned())) {
                inner.flush(conn, false).await;
            }
        }
        tracing::warn!("Redis subscription lost; resubscribing");
        // A short pause, so a Redis that keeps dropping us is not hammered.
        tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
    }
}

/// Beats for this process and ends expired grace windows and dead processes' connections.
async fn reap(inner: Arc<Inner>) {
    let timeout = PROCESS_TIMEOUT.as_millis().to_string();
    let grace = inner.grace_ms();
    let mut tick = tokio::time::interval(REAP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(Value::Int(expired @ 1..)) = inner
            .run(&inner.scripts.reap, &[&inner.proc_id, &timeout, &grace])
            .await
        {
            Metrics::add(&inner.metrics.grace_expired, expired as usize);
        }
    }
}

#[async_trait]
impl Backend for RedisBackend {
    async fn ready(&self) -> Result<(), BackendError> {
        let mut redis = self.inner.redis.clone();
        redis::cmd("PING")
            .query_async::<()>(&mut redis)
            .await
            .map_err(BackendError::Unreachable)
    }

    async fn join(&self, room: &str, conn: ConnHandle, addr: IpAddr) -> Result<PeerId, ErrorCode> {
        let inner = &self.inner;
        let conn_id = conn.id;
        inner.register(&conn, addr);
        let owner = inner.owner(conn_id);
        let max = inner.config.limits.max_peers_per_room.to_string();
        let secret = random_hex::<32>();
        let token = hex(&digest(&secret));
        let joined = loop {
            let id = random_hex::<8>();
            let got = inner
                .run(&inner.scripts.join, &[room, &id, &token, &owner, &max])
                .await;
            let reply = match got {
                Ok(Value::Array(items)) => items,
                Ok(_) | Err(_) => {
                    lock(&inner.local).remove(&conn_id);
                    return Err(ErrorCode::Unavailable);
                }
            };
            match text(reply.first()).as_deref() {
                Some("ok") => break (PeerId(id), roster(reply.get(1))),
                Some("taken") => continue,
                Some("full") => {
                    lock(&inner.local).remove(&conn_id);
                    return Err(ErrorCode::RoomFull);
                }
                _ => {
                    lock(&inner.local).remove(&conn_id);
                    return Err(ErrorCode::Unavailable);
                }
            }
        };
        let (id, peers) = joined;
        let msg = ServerMessage::Joined {
            v: PROTOCOL_VERSION,
            peer_id: id.clone(),
            resume_token: secret,
            peers,
            grace_ms: u64::try_from(inner.config.grace.as_millis()).unwrap_or(u64::MAX),
        };
        conn.push_uncounted(Utf8Bytes::from(msg.to_json()));
        if let Some(l) = lock(&inner.local).get_mut(&conn_id) {
            l.peer = Some(id.clone());
            l.room = Some(room.to_owned());
            l.expected = Some(1);
        }
        inner.flush(conn_id, false).await;
        Metrics::inc(&inner.metrics.joins_total);
        Ok(id)
    }

    async fn resume(
        &self,
        secret: &str,
        last_seq: u64,
        conn: ConnHandle,
        addr: IpAddr,
    ) -> Result<PeerId, ErrorCode> {
        let inner = &self.inner;
        let conn_id = conn.id;
        inner.register(&conn, addr);
        let fresh = random_hex::<32>();
        let got = inner
            .run(
                &inner.scripts.resume,
                &[
                    &hex(&digest(secret)),
                    &last_seq.to_string(),
                    &hex(&digest(&fresh)),
                    &inner.owner(conn_id),
                ],
            )
            .await;
        let reply = match got {
            Ok(Value::Array(items)) => items,
            _ => {
                lock(&inner.local).remove(&conn_id);
                return Err(ErrorCode::Unavailable);
            }
        };
        let status = text(reply.first());
        if status.as_deref() != Some("ok") {
            lock(&inner.local).remove(&conn_id);
            Metrics::inc(&inner.metrics.resumes_failed);
            return Err(match status.as_deref() {
                Some("gap") => ErrorCode::ResumeGap,
                Some("unknown") => ErrorCode::ResumeUnknown,
                _ => ErrorCode::Unavailable,
            });
        }
        let id = PeerId(text(reply.get(1)).unwrap_or_default());
        let last_cseq = number(reply.get(2));
        let seq = number(reply.get(3));
        let peers = roster(reply.get(4));
        let frames = match reply.get(5) {
            Some(Value::Array(f)) => f.iter().filter_map(|v| text(Some(v))).collect(),
            _ => Vec::new(),
        };
        let msg = ServerMessage::Resumed {
            v: PROTOCOL_VERSION,
            peer_id: id.clone(),
            resume_token: fresh,
            peers,
            replayed: frames.len() as u64,
            last_cseq,
        };
        conn.push_uncounted(Utf8Bytes::from(msg.to_json()));
        for frame in frames {
            conn.push_uncounted(Utf8Bytes::from(frame));
        }
        // Back: no longer counted as suspended here (if it was suspended by this process).
        lock(&inner.held).remove(&id);
        if let Some(l) = lock(&inner.local).get_mut(&conn_id) {
            l.peer = Some(id.clone());
            l.room = text(reply.get(6));
            l.expected = Some(seq + 1);
        }
        inner.flush(conn_id, false).await;
        Metrics::inc(&inner.metrics.resumes_ok);
        tracing::debug!(peer = %id, "peer resumed");
        Ok(id)
    }

    async fn signal(
        &self,
        from: &PeerId,
        conn_id: u64,
        to: &PeerId,
        data: &RawValue,
        cseq: u64,
    ) -> Result<(), ErrorCode> {
        let inner = &self.inner;
        let got = inner
            .run(
                &inner.scripts.signal,
                &[
                    from.as_str(),
                    &inner.owner(conn_id),
                    to.as_str(),
                    data.get(),
                    &cseq.to_string(),
                ],
            )
            .await?;
        match text(Some(&got)).as_deref() {
            Some("ok") => {
                Metrics::inc(&inner.metrics.signals_relayed);
                Ok(())
            }
            Some("dup") => Ok(()),
            Some("unknown") => {
                inner.metrics.dropped(DropReason::UnknownPeer);
                Err(ErrorCode::UnknownPeer)
            }
            Some("gone") => Err(ErrorCode::NotJoined),
            _ => Err(ErrorCode::Unavailable),
        }
    }

    async fn ack(&self, peer: &PeerId, seq: u64) {
        let inner = &self.inner;
        let _ = inner
            .run(&inner.scripts.ack, &[peer.as_str(), &seq.to_string()])
            .await;
    }

    async fn disconnected(&self, peer: &PeerId, conn_id: u64, how: Departure) {
        let inner = &self.inner;
        let local = lock(&inner.local).remove(&conn_id);
        if let (Departure::Dropped, Some(l)) = (how, local) {
            // Suspended peers count against their address, as in memory: here, for the grace
            // window or until the peer resumes on this process.
            let epoch = inner
                .next_epoch
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let slot = inner.addrs.hold(l.addr);
            lock(&inner.held).insert(peer.clone(), (epoch, slot));
            let (held, peer, grace) = (Arc::clone(inner), peer.clone(), inner.config.grace);
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let mut map = lock(&held.held);
                if map.get(&peer).is_some_and(|(e, _)| *e == epoch) {
                    map.remove(&peer);
                }
            });
        }
        let owner = inner.owner(conn_id);
        let _ = match how {
            Departure::Bye => {
                inner
                    .run(&inner.scripts.leave, &[peer.as_str(), &owner])
                    .await
            }
            Departure::Dropped => {
                Metrics::inc(&inner.metrics.suspensions_total);
                inner
                    .run(
                        &inner.scripts.suspend,
                        &[peer.as_str(), &owner, &inner.grace_ms()],
                    )
                    .await
            }
        };
    }

    fn gauges(&self) -> Gauges {
        let local = lock(&self.inner.local);
        let rooms: std::collections::HashSet<&str> =
            local.values().filter_map(|l| l.room.as_deref()).collect();
        Gauges {
            rooms: rooms.len(),
            peers: local.values().filter(|l| l.peer.is_some()).count(),
            suspended: 0,
            queued_bytes: 0,
        }
    }

    fn close_all(&self, code: CloseCode) {
        for l in lock(&self.inner.local).values() {
            l.handle.closer.close(code);
        }
    }
}

/// A bulk or simple string reply as text.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: Option<&Value>) -> u64 {
    text(v).and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// A flat `[id, state, id, state, ...]` roster.
fn roster(v: Option<&Value>) -> Vec<PeerInfo> {
    let Some(Value::Array(items)) = v else {
        return Vec::new();
    };
    items
        .chunks(2)
        .filter_map(|pair| {
            let id = text(pair.first())?;
            let suspended = text(pair.get(1)).as_deref() == Some("s");
            Some(PeerInfo {
                id: PeerId(id),
                suspended,
            })
        })
        .collect()
}

/// `XRANGE` entries `[[id, [field, value]], ...]` as `(seq, frame)`.
fn stream_entries(v: Value) -> Vec<(u64, String)> {
    let Value::Array(entries) = v else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter_map(|e| {
            let Value::Array(mut parts) = e else {
                return None;
            };
            let fields = parts.pop()?;
            let id = text(parts.first())?;
            let seq = id.split('-').next()?.parse().ok()?;
            let Value::Array(fields) = fields else {
                return None;
            };
            Some((seq, text(fields.get(1))?))
        })
        .collect()
}
