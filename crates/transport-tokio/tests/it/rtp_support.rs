//! Helpers of the RTP tests: packets with checkable payloads, and an on-path UDP relay (a
//! "man in the middle" on loopback) that can tamper with or inject datagrams.
//!
//! The relay works by rewriting the candidates each peer signals: the other peer only learns
//! a relay address `R_X` standing for each real candidate `X`. A datagram reaching `R_X` from
//! a peer's real address `S` is sent on from `R_S` to `X`, so each peer sees its remote
//! candidates as sources and the ICE agents accept everything the relay sends, injected
//! datagrams included. Loopback only.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use session_core::signal::SignalMessage;
use tokio::net::UdpSocket;
use transport_tokio::{MemorySignaling, Signaling, SignalingError};

/// The payload of packet `seq`: its number, then bytes derived from it.
pub(crate) fn payload(seq: u16, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&seq.to_be_bytes());
    let mut x = u64::from(seq).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    Bytes::from(v)
}

/// An RTP packet of our test streams.
pub(crate) fn packet(ssrc: u32, pt: u8, seq: u16, len: usize) -> rtp::packet::Packet {
    rtp::packet::Packet {
        header: rtp::header::Header {
            version: 2,
            payload_type: pt,
            sequence_number: seq,
            timestamp: u32::from(seq).wrapping_mul(960),
            ssrc,
            ..Default::default()
        },
        payload: payload(seq, len),
    }
}

/// Which peer a candidate belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    A,
    B,
}

/// What the relay sends in place of one datagram, given the side it came from.
pub(crate) type Tamper = Box<dyn FnMut(Side, &[u8]) -> Vec<Vec<u8>> + Send>;

#[derive(Default)]
struct Relays {
    /// Real candidate address → (relay socket standing for it, its side).
    by_real: HashMap<SocketAddr, (Arc<UdpSocket>, Side)>,
}

/// The on-path relay.
pub(crate) struct Proxy {
    relays: Mutex<Relays>,
    tamper: Mutex<Option<Tamper>>,
    /// Datagrams forwarded (after tampering).
    pub(crate) forwarded: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Proxy {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            relays: Mutex::new(Relays::default()),
            tamper: Mutex::new(None),
            forwarded: AtomicU64::new(0),
            tasks: Mutex::new(Vec::new()),
        })
    }

    /// Installs (or removes) the tamper function.
    pub(crate) fn set_tamper(&self, t: Option<Tamper>) {
        *self.tamper.lock().unwrap() = t;
    }

    /// The relay address standing for `real` (created on first use).
    async fn relay_for(self: &Arc<Self>, real: SocketAddr, side: Side) -> SocketAddr {
        if let Some((s, _)) = self.relays.lock().unwrap().by_real.get(&real) {
            return s.local_addr().unwrap();
        }
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = sock.local_addr().unwrap();
        self.relays
            .lock()
            .unwrap()
            .by_real
            .insert(real, (Arc::clone(&sock), side));
        let me = Arc::clone(self);
        let task = tokio::spawn(async move { me.forward(sock, real).await });
        self.tasks.lock().unwrap().push(task);
        addr
    }

    /// Forwards what reaches the relay standing for `real` to `real`.
    async fn forward(self: Arc<Self>, sock: Arc<UdpSocket>, real: SocketAddr) {
        let mut buf = vec![0u8; 2048];
        loop {
            let Ok((n, src)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let from = self.relays.lock().unwrap().by_real.get(&src).cloned();
            let Some((out, side)) = from else {
                continue; // not from a peer
            };
            let datagrams = match self.tamper.lock().unwrap().as_mut() {
                Some(t) => t(side, &buf[..n]),
                None => vec![buf[..n].to_vec()],
            };
            for d in datagrams {
                let _ = out.send_to(&d, real).await;
                self.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Rewrites the address of a `candidate:` value (UDP, IPv4 loopback only) to its relay.
    async fn rewrite(self: &Arc<Self>, candidate: &str, side: Side) -> String {
        let mut tokens: Vec<String> = candidate.split(' ').map(str::to_owned).collect();
        if tokens.len() < 6 || !tokens[2].eq_ignore_ascii_case("udp") {
            return candidate.to_owned();
        }
        let Ok(real) = format!("{}:{}", tokens[4], tokens[5]).parse::<SocketAddr>() else {
            return candidate.to_owned();
        };
        if !real.ip().is_loopback() {
            return candidate.to_owned();
        }
        let relay = self.relay_for(real, side).await;
        tokens[4] = relay.ip().to_string();
        tokens[5] = relay.port().to_string();
        tokens.join(" ")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Signaling that routes one peer's candidates through the relay.
pub(crate) struct ProxiedSignaling {
    inner: MemorySignaling,
    proxy: Arc<Proxy>,
    side: Side,
}

impl ProxiedSignaling {
    pub(crate) fn new(inner: MemorySignaling, proxy: Arc<Proxy>, side: Side) -> Self {
        Self { inner, proxy, side }
    }
}

#[async_trait]
impl Signaling for ProxiedSignaling {
    async fn send(&mut self, msg: SignalMessage) -> Result<(), SignalingError> {
        let msg = match msg {
            SignalMessage::Candidate { mut candidate } => {
                candidate.candidate = self.proxy.rewrite(&candidate.candidate, self.side).await;
                SignalMessage::Candidate { candidate }
            }
            SignalMessage::Description { mut description } => {
                let mut sdp = String::with_capacity(description.sdp.len());
                for line in description.sdp.split_inclusive('\n') {
                    match line.strip_prefix("a=") {
                        Some(c) if c.starts_with("candidate:") => {
                            let value = c.trim_end_matches(['\r', '\n']);
                            sdp.push_str("a=");
                            sdp.push_str(&self.proxy.rewrite(value, self.side).await);
                            sdp.push_str(&c[value.len()..]);
                        }
                        _ => sdp.push_str(line),
                    }
                }
                description.sdp = sdp;
                SignalMessage::Description { description }
            }
            other => other,
        };
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Option<SignalMessage>, SignalingError> {
        self.inner.recv().await
    }
}

/// A small deterministic generator for injected garbage.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
