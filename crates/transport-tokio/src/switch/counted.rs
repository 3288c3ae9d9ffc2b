//! [`Counted`]: a generation's path connection that counts the datagrams and bytes it carries
//! (everything above ICE: DTLS, SRTP, SRTCP; STUN checks are webrtc-ice's own and not counted).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use webrtc_util::Conn;

use super::PathConn;

/// Datagrams and bytes one ICE generation's path carried, in each direction.
#[derive(Debug, Default)]
pub(crate) struct PathCounters {
    pub(crate) packets_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) packets_received: AtomicU64,
    pub(crate) bytes_received: AtomicU64,
}

/// A path connection with its generation's counters (a generation whose agent is replaced by
/// the role-conflict recovery keeps counting in the same counters).
pub(crate) struct Counted {
    inner: PathConn,
    counters: Arc<PathCounters>,
}

impl Counted {
    pub(crate) fn wrap(inner: PathConn, counters: Arc<PathCounters>) -> PathConn {
        Arc::new(Self { inner, counters })
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
        self.received(n);
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
