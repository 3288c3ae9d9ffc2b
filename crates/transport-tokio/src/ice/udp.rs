//! [`BatchedUdp`]: the UDP sockets under the agents' host and server-reflexive candidates, bound
//! by us (vendor/webrtc-ice's binder patch) so that datagrams move in batches.
//!
//! `webrtc-ice` reads each socket one datagram per `recvfrom`, copies it into its connection's
//! buffer, and our reader copies it out again for the driver: two task hops and two copies per
//! datagram, and one `sendto` per datagram the other way (docs/benchmarks.md, profile of
//! 2026-12-07). Here:
//!
//! - one reader task per socket receives with `recvmmsg` and UDP GRO (quinn-udp: up to
//!   [`RECV_SLOTS`] super-datagrams per system call), splits the segments, and routes them:
//!   STUN (RFC 7983: first byte 0-3) always goes to the agent, which reads this socket through
//!   the [`Conn`] implementation below; everything else from a source that sent us STUN (an ICE
//!   peer: checks and consent come from every address data comes from) goes to the
//!   [`DataSink`] attached once the transport reads the generation (straight to the driver's
//!   queue); the rest goes to the agent as before, which accepts non-STUN traffic only from its
//!   remote candidates;
//! - [`BatchedUdp::send_batch`] writes a run of datagrams to one destination with UDP GSO (one
//!   `sendmsg` for up to 64 KiB of equal-sized datagrams), falling back to one datagram per call
//!   where the kernel refuses GSO.
//!
//! The agent decides a selected pair is alive from what it receives on it. Data that bypasses
//! it would leave only the consent checks to say so, so while a sink takes the data, an empty
//! datagram (a "liveness note") goes to the agent at most every [`LIVENESS_NOTE`] per source:
//! the agent marks that remote candidate as heard from, and its buffer hands the empty
//! datagram to our path reader, which skips it.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc_util::Conn;

/// Super-datagrams read per `recvmmsg` (each up to [`SLOT_BYTES`], GRO-coalesced segments).
pub(crate) const RECV_SLOTS: usize = 8;
/// Room per receive slot: the largest GRO super-datagram.
const SLOT_BYTES: usize = 64 * 1024;
/// The most bytes one GSO `sendmsg` carries.
const GSO_MAX_BYTES: usize = 64_000;
/// Datagrams waiting for the agent (STUN, and everything while no sink is attached).
const AGENT_QUEUE: usize = 512;
/// Sources that sent STUN remembered per socket (then forgotten all at once).
const MAX_CHECKED_SOURCES: usize = 64;
/// Receive errors in a row after which a socket's reader gives up.
const MAX_RECV_ERRORS: u32 = 100;
/// The wait after a receive error.
const RECV_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// At most one liveness note per source and this period while a sink takes the data.
pub(crate) const LIVENESS_NOTE: Duration = Duration::from_millis(100);

/// Where a socket's non-STUN datagrams go once the transport reads its generation.
#[async_trait]
pub(crate) trait DataSink: Send + Sync {
    /// Takes a batch of datagrams (DTLS, SRTP, SRTCP or anything else not STUN) received on
    /// the socket; false when the sink is closed (the socket then detaches it).
    async fn deliver(&self, datagrams: Vec<Bytes>) -> bool;
}

/// Counters of one socket (tests and the benchmark's notes).
#[derive(Debug, Default)]
pub(crate) struct UdpCounters {
    /// Receive system calls that returned data.
    pub(crate) recv_calls: AtomicU64,
    /// Datagrams received (segments of GRO super-datagrams counted one by one).
    pub(crate) datagrams_in: AtomicU64,
    /// Send system calls by [`BatchedUdp::send_batch`].
    pub(crate) send_calls: AtomicU64,
    /// Datagrams sent by [`BatchedUdp::send_batch`].
    pub(crate) datagrams_out: AtomicU64,
    /// Datagrams [`BatchedUdp::send_batch`] could not send.
    pub(crate) send_failed: AtomicU64,
}

struct Shared {
    socket: tokio::net::UdpSocket,
    state: UdpSocketState,
    sink: Mutex<Option<Arc<dyn DataSink>>>,
    counters: UdpCounters,
}

/// One UDP socket of a generation's agent (see the module documentation).
pub(crate) struct BatchedUdp {
    shared: Arc<Shared>,
    local: SocketAddr,
    agent_rx: tokio::sync::Mutex<mpsc::Receiver<(Bytes, SocketAddr)>>,
    reader: JoinHandle<()>,
}

impl std::fmt::Debug for BatchedUdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchedUdp")
            .field("local", &self.local)
            .field("counters", &self.shared.counters)
            .finish()
    }
}

impl BatchedUdp {
    /// Binds a socket at `addr` and starts its reader. Must be called within a tokio runtime.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let std_socket = std::net::UdpSocket::bind(addr)?;
        std_socket.set_nonblocking(true)?;
        let state = UdpSocketState::new(UdpSockRef::from(&std_socket))?;
        let socket = tokio::net::UdpSocket::from_std(std_socket)?;
        let local = socket.local_addr()?;
        let shared = Arc::new(Shared {
            socket,
            state,
            sink: Mutex::new(None),
            counters: UdpCounters::default(),
        });
        let (agent_tx, agent_rx) = mpsc::channel(AGENT_QUEUE);
        let reader = tokio::spawn(read_loop(Arc::clone(&shared), agent_tx));
        Ok(Self {
            shared,
            local,
            agent_rx: tokio::sync::Mutex::new(agent_rx),
            reader,
        })
    }

    /// The tokio socket (to set its buffers).
    pub(crate) fn socket(&self) -> &tokio::net::UdpSocket {
        &self.shared.socket
    }

    #[cfg(test)]
    pub(crate) fn counters(&self) -> &UdpCounters {
        &self.shared.counters
    }

    /// Non-STUN datagrams go to `sink` from now on (replacing any other).
    pub(crate) fn attach(&self, sink: Arc<dyn DataSink>) {
        *self.shared.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink);
    }

    /// Sends `datagrams` to `to`, in order, as few system calls as GSO allows; returns how
    /// many were sent (the rest were refused by the socket and are counted as failed).
    pub(crate) async fn send_batch(&self, to: SocketAddr, datagrams: &[Bytes]) -> usize {
        let shared = &self.shared;
        let max_segments = shared.state.max_gso_segments().max(1);
        let mut scratch = Vec::new();
        let mut sent = 0;
        let mut i = 0;
        while i < datagrams.len() {
            let size = datagrams[i].len();
            let mut j = i + 1;
            let mut bytes = size;
            // A run of equal-sized datagrams, plus at most one shorter one to end it.
            while j < datagrams.len()
                && j - i < max_segments
                && size > 0
                && bytes + datagrams[j].len() <= GSO_MAX_BYTES
                && datagrams[j].len() <= size
            {
                bytes += datagrams[j].len();
                j += 1;
                if datagrams[j - 1].len() < size {
                    break;
                }
            }
            let run = &datagrams[i..j];
            let ok = if run.len() == 1 {
                shared.send_one(to, &run[0], None).await
            } else {
                scratch.clear();
                for d in run {
                    scratch.extend_from_slice(d);
                }
                shared.send_one(to, &scratch, Some(size)).await || {
                    // GSO refused (e.g. a device without it): one by one.
                    let mut all = true;
                    for d in run {
                        all &= shared.send_one(to, d, None).await;
                    }
                    all
                }
            };
            if ok {
                sent += run.len();
                shared
                    .counters
                    .datagrams_out
                    .fetch_add(run.len() as u64, Ordering::Relaxed);
            } else {
                shared
                    .counters
                    .send_failed
                    .fetch_add(run.len() as u64, Ordering::Relaxed);
            }
            i = j;
        }
        sent
    }
}

impl Shared {
    /// One `sendmsg` (GSO when `segment` is set), waiting while the socket buffer is full.
    async fn send_one(&self, to: SocketAddr, contents: &[u8], segment: Option<usize>) -> bool {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size: segment,
            src_ip: None,
        };
        let result = self
            .socket
            .async_io(Interest::WRITABLE, || {
                self.state
                    .try_send(UdpSockRef::from(&self.socket), &transmit)
            })
            .await;
        self.counters.send_calls.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok(()) => true,
            Err(e) => {
                tracing::trace!(error = %e, %to, len = contents.len(), ?segment, "UDP send failed");
                false
            }
        }
    }
}

thread_local! {
    /// The receive slots of the reader tasks running on this thread (a reader copies what it
    /// received out before it awaits anything, so one set per thread is enough).
    static RECV_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; RECV_SLOTS * SLOT_BYTES]);
}

/// Reads every datagram the socket has in as few system calls as possible, as owned copies.
fn recv_batch(shared: &Shared) -> io::Result<Vec<(Bytes, SocketAddr)>> {
    RECV_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let mut slots: Vec<IoSliceMut<'_>> =
            buf.chunks_mut(SLOT_BYTES).map(IoSliceMut::new).collect();
        let mut meta = [RecvMeta::default(); RECV_SLOTS];
        let n = shared
            .state
            .recv(UdpSockRef::from(&shared.socket), &mut slots, &mut meta)?;
        let mut out = Vec::new();
        for (slot, m) in slots.iter().zip(&meta).take(n) {
            let data = &slot[..m.len];
            let stride = if m.stride == 0 {
                m.len.max(1)
            } else {
                m.stride
            };
            for segment in data.chunks(stride) {
                out.push((Bytes::copy_from_slice(segment), m.addr));
            }
            if m.len == 0 {
                out.push((Bytes::new(), m.addr));
            }
        }
        Ok(out)
    })
}

/// Is this datagram STUN (RFC 7983: first byte 0-3)? The agent's, always.
fn is_stun(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| *b <= 3)
}

async fn read_loop(shared: Arc<Shared>, agent_tx: mpsc::Sender<(Bytes, SocketAddr)>) {
    let mut noted: HashMap<SocketAddr, Instant> = HashMap::new();
    // Sources that sent us STUN (ICE checks, consent): only their data bypasses the agent.
    let mut checked: HashSet<SocketAddr> = HashSet::new();
    let mut errors = 0u32;
    loop {
        let batch = match shared
            .socket
            .async_io(Interest::READABLE, || recv_batch(&shared))
            .await
        {
            Ok(batch) => {
                errors = 0;
                batch
            }
            Err(e) => {
                // A transient error (an ICMP error of an earlier send, memory pressure) is
                // skipped; one that persists must not spin: back off, and give up after
                // [`MAX_RECV_ERRORS`] in a row (the agent then sees the socket as silent).
                errors += 1;
                if errors >= MAX_RECV_ERRORS {
                    tracing::warn!(error = %e, "UDP socket keeps failing: its reader stops");
                    return;
                }
                tracing::debug!(error = %e, errors, "UDP receive error");
                tokio::time::sleep(RECV_ERROR_BACKOFF).await;
                continue;
            }
        };
        shared.counters.recv_calls.fetch_add(1, Ordering::Relaxed);
        shared
            .counters
            .datagrams_in
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let sink = shared
            .sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut data = Vec::new();
        let now = Instant::now();
        for (datagram, from) in batch {
            if datagram.is_empty() {
                continue; // nothing for anyone (and empty means "note" to our reader)
            }
            let stun = is_stun(&datagram);
            if stun && !checked.contains(&from) {
                if checked.len() >= MAX_CHECKED_SOURCES {
                    checked.clear(); // live peers check again within seconds
                }
                checked.insert(from);
            }
            // STUN is the agent's; so is data from a source that never sent us any (the
            // agent accepts non-STUN traffic only from its remote candidates, and drops the
            // rest).
            if stun || sink.is_none() || !checked.contains(&from) {
                if agent_tx.send((datagram, from)).await.is_err() {
                    return; // the connection is gone
                }
                continue;
            }
            let due = noted
                .get(&from)
                .is_none_or(|at| now.duration_since(*at) >= LIVENESS_NOTE);
            if due {
                noted.insert(from, now);
                if noted.len() > MAX_CHECKED_SOURCES {
                    noted.retain(|_, at| now.duration_since(*at) < LIVENESS_NOTE);
                }
                // Full: the agent hears this source from the next batch on.
                let _ = agent_tx.try_send((Bytes::new(), from));
            }
            data.push(datagram);
        }
        if let (Some(sink), false) = (sink, data.is_empty()) {
            if !sink.deliver(data).await {
                *shared.sink.lock().unwrap_or_else(|p| p.into_inner()) = None;
            }
        }
    }
}

impl Drop for BatchedUdp {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn closed() -> webrtc_util::Error {
    webrtc_util::Error::Other("UDP socket closed".to_owned())
}

#[async_trait]
impl Conn for BatchedUdp {
    async fn connect(&self, _addr: SocketAddr) -> webrtc_util::Result<()> {
        Err(webrtc_util::Error::Other("not applicable".to_owned()))
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        Ok(self.recv_from(buf).await?.0)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let (datagram, from) = self.agent_rx.lock().await.recv().await.ok_or_else(closed)?;
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        Ok((n, from))
    }

    async fn send(&self, _buf: &[u8]) -> webrtc_util::Result<usize> {
        Err(webrtc_util::Error::Other("not connected".to_owned()))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        Ok(self.shared.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.local)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.reader.abort();
        *self.shared.sink.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.agent_rx.lock().await.close();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
