//! [`Counted`]: a generation's path connection that counts the datagrams and bytes it carries
//! (everything above ICE: DTLS, SRTP, SRTCP; STUN checks are webrtc-ice's own and not counted).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use webrtc_ice::agent::Agent;
use webrtc_util::Conn;

use super::PathConn;
use crate::ice::udp::BatchedUdp;

/// Datagrams and bytes one ICE generation's path carried, in each direction.
#[derive(Debug, Default)]
pub(crate) struct PathCounters {
    pub(crate) packets_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) packets_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
    /// Of `packets_sent`, those written straight to our socket ([`BatchedUdp`]).
    pub(crate) direct_sent: AtomicU64,
    /// Of `packets_received`, those handed over by our socket's reader.
    pub(crate) direct_received: AtomicU64,
}

/// A path connection with its generation's counters (a generation whose agent is replaced by
/// the role-conflict recovery keeps counting in the same counters), and the agent whose
/// selected pair it writes to.
pub(crate) struct Counted {
    inner: PathConn,
    counters: Arc<PathCounters>,
    agent: Option<Arc<Agent>>,
}

impl Counted {
    #[cfg(test)]
    pub(crate) fn wrap(inner: PathConn, counters: Arc<PathCounters>) -> PathConn {
        Arc::new(Self {
            inner,
            counters,
            agent: None,
        })
    }

    /// [`wrap`](Self::wrap) for `agent`'s connection: writes may go straight to the socket of
    /// the agent's selected pair when it is one of ours ([`BatchedUdp`]).
    pub(crate) fn wrap_agent(
        inner: PathConn,
        counters: Arc<PathCounters>,
        agent: Arc<Agent>,
    ) -> PathConn {
        Arc::new(Self {
            inner,
            counters,
            agent: Some(agent),
        })
    }

    /// Sends `datagrams` in order; returns how many were sent. With the agent's selected pair
    /// on one of our sockets they go out in batches (GSO), bypassing the agent; otherwise one
    /// by one through it.
    pub(crate) async fn send_many(&self, datagrams: &[bytes::Bytes]) -> usize {
        let pair = self
            .agent
            .as_ref()
            .and_then(|a| a.get_selected_candidate_pair());
        let direct = pair
            .as_ref()
            .and_then(|p| p.local.get_conn().map(|c| (Arc::clone(c), p.remote.addr())));
        let udp = direct
            .as_ref()
            .and_then(|(conn, to)| Some((conn.as_any().downcast_ref::<BatchedUdp>()?, *to)));
        let sent = match udp {
            Some((udp, to)) => {
                let sent = udp.send_batch(to, datagrams).await;
                self.counters
                    .direct_sent
                    .fetch_add(sent as u64, Ordering::Relaxed);
                sent
            }
            _ => {
                let mut sent = 0;
                for d in datagrams {
                    if self.inner.send(d).await.is_ok() {
                        sent += 1;
                    }
                }
                sent
            }
        };
        if sent > 0 {
            let bytes: usize = datagrams[..sent].iter().map(|d| d.len()).sum();
            self.counters
                .packets_sent
                .fetch_add(sent as u64, Ordering::Relaxed);
            self.counters
                .bytes_sent
                .fetch_add(bytes as u64, Ordering::Relaxed);
        }
        sent
    }

    fn received(&self, n: usize) {
        self.counters
            .packets_received
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_received
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    fn sent(&self, n: usize) {
        self.counters.packets_sent.fetch_add(1, Ordering::Relaxed);
        self.counters
            .bytes_sent
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

#[async_trait]
impl Conn for Counted {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        self.inner.connect(addr).await
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let n = self.inner.recv(buf).await?;
        if n > 0 {
            // (Empty: a liveness note of our socket's reader, see `ice::udp`.)
            self.received(n);
        }
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let (n, from) = self.inner.recv_from(buf).await?;
        self.received(n);
        Ok((n, from))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        let n = self.inner.send(buf).await?;
        self.sent(buf.len());
        Ok(n)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        let n = self.inner.send_to(buf, target).await?;
        self.sent(buf.len());
        Ok(n)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.inner.remote_addr()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        self.inner.close().await
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_each_direction() {
        let (near, far) = webrtc_util::conn::conn_pipe::pipe();
        let counters = Arc::new(PathCounters::default());
        let near = Counted::wrap(Arc::new(near), Arc::clone(&counters));
        near.send(&[1, 2, 3]).await.unwrap();
        near.send(&[4]).await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(far.recv(&mut buf).await.unwrap(), 3);
        far.send(&[9; 10]).await.unwrap();
        assert_eq!(near.recv(&mut buf).await.unwrap(), 10);
        assert_eq!(counters.packets_sent.load(Ordering::Relaxed), 2);
        assert_eq!(counters.bytes_sent.load(Ordering::Relaxed), 4);
        assert_eq!(counters.packets_received.load(Ordering::Relaxed), 1);
        assert_eq!(counters.bytes_received.load(Ordering::Relaxed), 10);
    }
}
