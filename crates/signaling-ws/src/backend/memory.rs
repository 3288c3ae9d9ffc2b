//! The in-memory backend (the default): rooms, peers, per-recipient sequence numbers and resume
//! buffers in this process, under one global memory budget.
//!
//! One mutex guards it; every operation is short and never awaits while holding it. Frames for a
//! peer are numbered, kept in its resume buffer, and offered to its connection's bounded queue
//! without waiting (`try_send`): a full queue marks a slow consumer, whose connection is closed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use serde_json::value::RawValue;

use crate::addrs::{Addresses, Slot};
use crate::backend::Backend;
use crate::config::ServerConfig;
use crate::hub::{lock, ConnHandle, Departure, Offer};
use crate::metrics::{DropReason, Gauges, Metrics};
use crate::protocol::{CloseCode, ErrorCode, PeerId, PeerInfo, ServerMessage, PROTOCOL_VERSION};
use crate::token::{digest, random_hex};

#[derive(Debug)]
enum Link {
    Attached(ConnHandle),
    /// Dropped; `epoch` tells the grace timer whether it is still the current suspension.
    Suspended {
        epoch: u64,
    },
}

#[derive(Debug)]
struct Peer {
    room: String,
    /// The client address of its latest connection.
    addr: IpAddr,
    /// While suspended, the peer counts against its address's connection limit.
    hold: Option<Slot>,
    token: [u8; 32],
    next_seq: u64,
    /// The highest numbered signal (`cseq`) of this peer accepted so far.
    last_cseq: u64,
    kept: VecDeque<(u64, Utf8Bytes)>,
    kept_bytes: usize,
    link: Link,
}

#[derive(Debug, Default)]
struct State {
    /// Room name to members, in join order.
    rooms: HashMap<String, Vec<PeerId>>,
    peers: HashMap<PeerId, Peer>,
    /// SHA-256 of a resume token to its peer.
    by_token: HashMap<[u8; 32], PeerId>,
    /// Suspended peers by suspension epoch (oldest first), for the memory budget.
    suspended: BTreeMap<u64, PeerId>,
    kept_bytes: usize,
}

/// The rooms and peers of one server.
/// The in-memory state and its policies (one mutex; every operation is short and never
/// awaits while holding it).
#[derive(Debug)]
struct Mem {
    state: Mutex<State>,
    addrs: Arc<Addresses>,
    config: Arc<ServerConfig>,
    metrics: Arc<Metrics>,
    next_epoch: AtomicU64,
}

impl Mem {
    fn conn_id(&self) -> u64 {
        self.next_epoch.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a peer for `conn` to `room`; enqueues `joined` on `conn` and tells the others.
    fn join(&self, room: &str, conn: ConnHandle, addr: IpAddr) -> Result<PeerId, ErrorCode> {
        let mut st = lock(&self.state);
        let members = st.rooms.get(room).map_or(0, Vec::len);
        if members >= self.config.limits.max_peers_per_room {
            return Err(ErrorCode::RoomFull);
        }
        let id = loop {
            let id = PeerId(random_hex::<8>());
            if !st.peers.contains_key(&id) {
                break id;
            }
        };
        let secret = random_hex::<32>();
        let peers = roster(&st, room, &id);
        let joined = ServerMessage::Joined {
            v: PROTOCOL_VERSION,
            peer_id: id.clone(),
            resume_token: secret.clone(),
            peers,
            grace_ms: u64::try_from(self.config.grace.as_millis()).unwrap_or(u64::MAX),
        };
        // A fresh queue always has room for its first frame.
        conn.push_uncounted(Utf8Bytes::from(joined.to_json()));
        let token = digest(&secret);
        st.by_token.insert(token, id.clone());
        st.peers.insert(
            id.clone(),
            Peer {
                room: room.to_owned(),
                addr,
                hold: None,
                token,
                next_seq: 1,
                last_cseq: 0,
                kept: VecDeque::new(),
                kept_bytes: 0,
                link: Link::Attached(conn),
            },
        );
        let others = others(&st, room, &id);
        st.rooms
            .entry(room.to_owned())
            .or_default()
            .push(id.clone());
        let mut evict = Vec::new();
        for other in others {
            let peer_id = id.clone();
            self.deliver(&mut st, &other, &mut evict, |seq| {
                ServerMessage::PeerJoined { seq, peer_id }.to_json()
            });
        }
        self.evict_all(&mut st, evict);
        Metrics::inc(&self.metrics.joins_total);
        Ok(id)
    }

    /// Relays `data` from `from` to `to` in the same room, once per `cseq` (when not 0).
    fn signal(
        &self,
        from: &PeerId,
        to: &PeerId,
        data: &RawValue,
        cseq: u64,
    ) -> Result<(), ErrorCode> {
        let mut st = lock(&self.state);
        let Some(sender) = st.peers.get_mut(from) else {
            return Err(ErrorCode::NotJoined);
        };
        if cseq != 0 {
            if cseq <= sender.last_cseq {
                // A re-send of a signal accepted before the connection dropped.
                return Ok(());
            }
            sender.last_cseq = cseq;
        }
        let room = sender.room.clone();
        let same_room = st.peers.get(to).is_some_and(|p| p.room == room);
        if !same_room || to == from {
            self.metrics.dropped(DropReason::UnknownPeer);
            return Err(ErrorCode::UnknownPeer);
        }
        let mut evict = Vec::new();
        self.deliver(&mut st, to, &mut evict, |seq| {
            // `from` is a server-made hex id and `data` is valid JSON text: no escaping needed.
            format!(
                "{{\"type\":\"signal\",\"seq\":{seq},\"from\":\"{from}\",\"data\":{}}}",
                data.get()
            )
        });
        self.evict_all(&mut st, evict);
        Metrics::inc(&self.metrics.signals_relayed);
        Ok(())
    }

    /// Frees the resume buffer of `peer` up to and including `seq`.
    fn ack(&self, peer: &PeerId, seq: u64) {
        let mut st = lock(&self.state);
        let freed = match st.peers.get_mut(peer) {
            Some(p) => {
                let mut freed = 0;
                while p.kept.front().is_some_and(|(s, _)| *s <= seq) {
                    if let Some((_, f)) = p.kept.pop_front() {
                        freed += f.as_str().len();
                    }
                }
                p.kept_bytes -= freed;
                freed
            }
            None => 0,
        };
        st.kept_bytes -= freed;
    }

    /// The connection `conn_id` of `peer` ended. Returns the suspension epoch when the peer was
    /// suspended, so the caller can arm the grace timer.
    fn disconnected(&self, peer: &PeerId, conn_id: u64, how: Departure) -> Option<u64> {
        let mut st = lock(&self.state);
        let attached = st
            .peers
            .get(peer)
            .is_some_and(|p| matches!(&p.link, Link::Attached(c) if c.id == conn_id));
        if !attached {
            // Replaced by a resume on another connection, or already gone.
            return None;
        }
        match how {
            Departure::Bye => {
                self.remove(&mut st, peer);
                None
            }
            Departure::Dropped => {
                let epoch = self.conn_id();
                let room = match st.peers.get_mut(peer) {
                    Some(p) => {
                        p.link = Link::Suspended { epoch };
                        p.hold = Some(self.addrs.hold(p.addr));
                        p.room.clone()
                    }
                    None => return None,
                };
                st.suspended.insert(epoch, peer.clone());
                Metrics::inc(&self.metrics.suspensions_total);
                tracing::debug!(peer = %peer, "peer suspended");
                let mut evict = Vec::new();
                for other in others(&st, &room, peer) {
                    let peer_id = peer.clone();
                    self.deliver(&mut st, &other, &mut evict, |seq| {
                        ServerMessage::PeerSuspended { seq, peer_id }.to_json()
                    });
                }
                self.evict_all(&mut st, evict);
                Some(epoch)
            }
        }
    }

    /// The grace window of suspension `epoch` of `peer` ended: the peer leaves if still suspended.
    fn expire(&self, peer: &PeerId, epoch: u64) {
        let mut st = lock(&self.state);
        let current = st
            .peers
            .get(peer)
            .is_some_and(|p| matches!(p.link, Link::Suspended { epoch: e } if e == epoch));
        if current {
            tracing::debug!(peer = %peer, "grace window expired");
            Metrics::inc(&self.metrics.grace_expired);
            self.remove(&mut st, peer);
        }
    }

    /// Attaches the peer owning `secret` to `conn`, closing any older connection; enqueues
    /// `resumed` and every kept message after `last_seq` on `conn`.
    fn resume(
        &self,
        secret: &str,
        last_seq: u64,
        conn: ConnHandle,
        addr: IpAddr,
    ) -> Result<PeerId, ErrorCode> {
        let mut st = lock(&self.state);
        let Some(id) = st.by_token.get(&digest(secret)).cloned() else {
            Metrics::inc(&self.metrics.resumes_failed);
            return Err(ErrorCode::ResumeUnknown);
        };
        let Some(peer) = st.peers.get(&id) else {
            Metrics::inc(&self.metrics.resumes_failed);
            return Err(ErrorCode::ResumeUnknown);
        };
        let first_missing = last_seq.saturating_add(1);
        let gap = last_seq >= peer.next_seq
            || (first_missing < peer.next_seq
                && peer.kept.front().is_none_or(|(s, _)| *s > first_missing));
        if gap {
            // The client cannot be made whole: it joins again, so this identity goes now.
            Metrics::inc(&self.metrics.resumes_failed);
            if let Link::Attached(old) = &peer.link {
                old.closer.close(CloseCode::Replaced);
            }
            self.remove(&mut st, &id);
            return Err(ErrorCode::ResumeGap);
        }
        let secret = random_hex::<32>();
        let token = digest(&secret);
        let room = peer.room.clone();
        let old_token = peer.token;
        let peers = roster(&st, &room, &id);
        st.by_token.remove(&old_token);
        st.by_token.insert(token, id.clone());
        let mut freed = 0;
        let Some(peer) = st.peers.get_mut(&id) else {
            return Err(ErrorCode::ResumeUnknown);
        };
        while peer.kept.front().is_some_and(|(s, _)| *s <= last_seq) {
            if let Some((_, f)) = peer.kept.pop_front() {
                freed += f.as_str().len();
            }
        }
        peer.kept_bytes -= freed;
        peer.token = token;
        peer.addr = addr;
        peer.hold = None;
        let resumed = ServerMessage::Resumed {
            v: PROTOCOL_VERSION,
            peer_id: id.clone(),
            resume_token: secret,
            peers,
            replayed: peer.kept.len() as u64,
            last_cseq: peer.last_cseq,
        };
        // The queue of a new connection is sized to hold `resumed` and a full resume buffer.
        conn.push_uncounted(Utf8Bytes::from(resumed.to_json()));
        for (_, frame) in &peer.kept {
            conn.push_uncounted(frame.clone());
        }
        let was_suspended = match std::mem::replace(&mut peer.link, Link::Attached(conn)) {
            Link::Attached(old) => {
                old.closer.close(CloseCode::Replaced);
                false
            }
            Link::Suspended { epoch } => {
                st.suspended.remove(&epoch);
                true
            }
        };
        st.kept_bytes -= freed;
        Metrics::inc(&self.metrics.resumes_ok);
        tracing::debug!(peer = %id, "peer resumed");
        if was_suspended {
            let mut evict = Vec::new();
            for other in others(&st, &room, &id) {
                let peer_id = id.clone();
                self.deliver(&mut st, &other, &mut evict, |seq| {
                    ServerMessage::PeerResumed { seq, peer_id }.to_json()
                });
            }
            self.evict_all(&mut st, evict);
        }
        Ok(id)
    }

    /// Room and peer gauges for `/metrics`.
    fn gauges(&self) -> Gauges {
        let st = lock(&self.state);
        Gauges {
            rooms: st.rooms.len(),
            peers: st.peers.len(),
            suspended: st
                .peers
                .values()
                .filter(|p| matches!(p.link, Link::Suspended { .. }))
                .count(),
            queued_bytes: st.kept_bytes,
        }
    }

    /// Closes every attached connection with `code` (server shutdown).
    fn close_all(&self, code: CloseCode) {
        let st = lock(&self.state);
        for peer in st.peers.values() {
            if let Link::Attached(c) = &peer.link {
                c.closer.close(code);
            }
        }
    }

    /// Numbers a frame for `to`, keeps it for resume and offers it to the connection.
    fn deliver(
        &self,
        st: &mut State,
        to: &PeerId,
        evict: &mut Vec<(PeerId, DropReason)>,
        frame: impl FnOnce(u64) -> String,
    ) {
        let limits = &self.config.limits;
        let Some(peer) = st.peers.get_mut(to) else {
            return;
        };
        let seq = peer.next_seq;
        peer.next_seq += 1;
        let frame = Utf8Bytes::from(frame(seq));
        let len = frame.as_str().len();
        peer.kept.push_back((seq, frame.clone()));
        peer.kept_bytes += len;
        let mut delta = len as isize;
        match &peer.link {
            Link::Attached(conn) => {
                let offer = conn.offer(frame, limits.outbound_queue_bytes, &self.metrics);
                // Counted once per connection: later frames to a closing one are not news.
                if offer == Offer::Full && conn.closer.close(CloseCode::SlowConsumer) {
                    self.metrics.dropped(DropReason::SlowConsumer);
                }
                // A connected peer's oldest frames go first: resuming from before them fails.
                while peer.kept.len() > limits.resume_buffer
                    || peer.kept_bytes > limits.resume_buffer_bytes
                {
                    let Some((_, old)) = peer.kept.pop_front() else {
                        break;
                    };
                    peer.kept_bytes -= old.as_str().len();
                    delta -= old.as_str().len() as isize;
                }
            }
            Link::Suspended { .. } => {
                if peer.kept.len() > limits.resume_buffer
                    || peer.kept_bytes > limits.resume_buffer_bytes
                {
                    evict.push((to.clone(), DropReason::Evicted));
                }
            }
        }
        st.kept_bytes = st.kept_bytes.saturating_add_signed(delta);
        self.enforce_budget(st, to, evict);
    }

    /// Removes suspended peers whose resume buffer overflowed or that the memory budget
    /// evicted (and any this causes in turn).
    fn evict_all(&self, st: &mut State, mut evict: Vec<(PeerId, DropReason)>) {
        // Each removal can overflow other suspended peers; every peer goes at most once.
        let mut rounds = 0;
        while let Some((id, why)) = evict.pop() {
            rounds += 1;
            if rounds > 10_000 {
                break;
            }
            if st.peers.contains_key(&id) {
                tracing::debug!(peer = %id, reason = ?why, "suspended peer evicted");
                self.metrics.dropped(why);
                evict.extend(self.remove_inner(st, &id));
            }
        }
    }

    /// Keeps the bytes held in resume buffers and queues within `max_held_bytes`: frees the
    /// buffers of the oldest suspended peers first (they are evicted), then trims the oldest
    /// entries of `to`'s buffer (a resume from before them fails with `resume-gap`).
    fn enforce_budget(&self, st: &mut State, to: &PeerId, evict: &mut Vec<(PeerId, DropReason)>) {
        let budget = self.config.limits.max_held_bytes;
        let held = |st: &State| st.kept_bytes.saturating_add(self.metrics.queued_bytes());
        self.metrics.observe_held(held(st));
        while held(st) > budget {
            let Some((_, id)) = st.suspended.pop_first() else {
                break;
            };
            if let Some(p) = st.peers.get_mut(&id) {
                // Its buffer goes now; the peer itself is removed by `evict_all`.
                st.kept_bytes -= p.kept_bytes;
                p.kept_bytes = 0;
                p.kept.clear();
                evict.push((id, DropReason::MemoryBudget));
            }
        }
        let over = held(st).saturating_sub(budget);
        if over == 0 {
            return;
        }
        if let Some(p) = st.peers.get_mut(to) {
            let mut freed = 0;
            // The newest frame stays: it is the one being delivered.
            while p.kept.len() > 1 && freed < over {
                if let Some((_, f)) = p.kept.pop_front() {
                    freed += f.len();
                }
            }
            p.kept_bytes -= freed;
            st.kept_bytes -= freed;
        }
    }

    fn remove(&self, st: &mut State, id: &PeerId) {
        let evict = self.remove_inner(st, id);
        self.evict_all(st, evict);
    }

    /// Removes `id` and tells its room; returns peers that overflowed meanwhile.
    fn remove_inner(&self, st: &mut State, id: &PeerId) -> Vec<(PeerId, DropReason)> {
        let mut evict = Vec::new();
        let Some(peer) = st.peers.remove(id) else {
            return evict;
        };
        st.kept_bytes -= peer.kept_bytes;
        st.by_token.remove(&peer.token);
        if let Link::Suspended { epoch } = peer.link {
            st.suspended.remove(&epoch);
        }
        if let Link::Attached(conn) = &peer.link {
            conn.closer.close(CloseCode::Evicted);
        }
        let others = others(st, &peer.room, id);
        if let Some(members) = st.rooms.get_mut(&peer.room) {
            members.retain(|m| m != id);
            if members.is_empty() {
                st.rooms.remove(&peer.room);
            }
        }
        for other in others {
            let peer_id = id.clone();
            self.deliver(st, &other, &mut evict, |seq| {
                ServerMessage::PeerLeft { seq, peer_id }.to_json()
            });
        }
        evict
    }
}

/// The other members of `room`.
fn others(st: &State, room: &str, me: &PeerId) -> Vec<PeerId> {
    st.rooms
        .get(room)
        .map(|m| m.iter().filter(|p| *p != me).cloned().collect())
        .unwrap_or_default()
}

/// The roster of `room` as `me` sees it.
fn roster(st: &State, room: &str, me: &PeerId) -> Vec<PeerInfo> {
    others(st, room, me)
        .into_iter()
        .map(|id| {
            let suspended = st
                .peers
                .get(&id)
                .is_some_and(|p| matches!(p.link, Link::Suspended { .. }));
            PeerInfo { id, suspended }
        })
        .collect()
}

/// The in-memory backend: everything in this process; a restart loses it.
#[derive(Debug)]
pub(crate) struct MemoryBackend {
    mem: Arc<Mem>,
}

impl MemoryBackend {
    pub(crate) fn new(
        config: Arc<ServerConfig>,
        metrics: Arc<Metrics>,
        addrs: Arc<Addresses>,
    ) -> Self {
        Self {
            mem: Arc::new(Mem {
                state: Mutex::default(),
                addrs,
                config,
                metrics,
                next_epoch: AtomicU64::new(1),
            }),
        }
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn join(&self, room: &str, conn: ConnHandle, addr: IpAddr) -> Result<PeerId, ErrorCode> {
        self.mem.join(room, conn, addr)
    }

    async fn resume(
        &self,
        secret: &str,
        last_seq: u64,
        conn: ConnHandle,
        addr: IpAddr,
    ) -> Result<PeerId, ErrorCode> {
        self.mem.resume(secret, last_seq, conn, addr)
    }

    async fn signal(
        &self,
        from: &PeerId,
        _conn_id: u64,
        to: &PeerId,
        data: &RawValue,
        cseq: u64,
    ) -> Result<(), ErrorCode> {
        self.mem.signal(from, to, data, cseq)
    }

    async fn ack(&self, peer: &PeerId, seq: u64) {
        self.mem.ack(peer, seq);
    }

    async fn disconnected(&self, peer: &PeerId, conn_id: u64, how: Departure) {
        if let Some(epoch) = self.mem.disconnected(peer, conn_id, how) {
            let mem = Arc::clone(&self.mem);
            let grace = mem.config.grace;
            let peer = peer.clone();
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                mem.expire(&peer, epoch);
            });
        }
    }

    fn gauges(&self) -> Gauges {
        self.mem.gauges()
    }

    fn close_all(&self, code: CloseCode) {
        self.mem.close_all(code);
    }
}
