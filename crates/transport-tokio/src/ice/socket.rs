//! The receive buffer of the agents' UDP sockets.
//!
//! `webrtc-ice` binds the sockets itself and reads each one on a task of its own. With the
//! Linux default (`net.core.rmem_default`, 208 KiB, charged per datagram at its in-kernel size,
//! so only a few hundred 1,200-byte datagrams), a reader that is not scheduled for a few
//! milliseconds on a busy machine loses datagrams in the kernel, and every loss costs SCTP a
//! retransmission (a stall of 200 ms or more). The socket behind a host or server-reflexive
//! candidate is a tokio `UdpSocket`, reachable through the candidate's connection, so its
//! buffer is raised as soon as the candidate is gathered.

use webrtc_util::Conn;

/// The receive buffer asked for by default (see [`crate::GatherOptions::udp_receive_buffer`]).
/// Linux caps the request at `net.core.rmem_max` and then doubles it (the doubled figure is
/// what it reports); memory is only taken while datagrams wait in it.
pub const DEFAULT_UDP_RECEIVE_BUFFER: usize = 2 * 1024 * 1024;

/// Asks for a receive buffer of `bytes` on the UDP socket behind `conn` and returns the size
/// the kernel reports afterwards; `None` when `conn` is not a plain UDP socket (a TURN
/// allocation's connection) or the platform has no such option.
pub(crate) fn set_receive_buffer(conn: &(dyn Conn + Send + Sync), bytes: usize) -> Option<usize> {
    imp::set(udp_socket(conn)?, bytes)
}

/// The UDP socket behind `conn`: `webrtc-ice`'s own, or one of ours.
fn udp_socket(conn: &(dyn Conn + Send + Sync)) -> Option<&tokio::net::UdpSocket> {
    let any = conn.as_any();
    any.downcast_ref::<tokio::net::UdpSocket>().or_else(|| {
        any.downcast_ref::<super::udp::BatchedUdp>()
            .map(super::udp::BatchedUdp::socket)
    })
}

/// The receive buffer the kernel reports for the UDP socket behind `conn`.
#[cfg(test)]
pub(crate) fn receive_buffer(conn: &(dyn Conn + Send + Sync)) -> Option<usize> {
    imp::get(udp_socket(conn)?)
}

#[cfg(unix)]
mod imp {
    use nix::sys::socket::{getsockopt, setsockopt, sockopt::RcvBuf};

    pub(super) fn set(socket: &tokio::net::UdpSocket, bytes: usize) -> Option<usize> {
        if let Err(e) = setsockopt(socket, RcvBuf, &bytes) {
            tracing::debug!(error = %e, bytes, "SO_RCVBUF refused");
        }
        get(socket)
    }

    pub(super) fn get(socket: &tokio::net::UdpSocket) -> Option<usize> {
        getsockopt(socket, RcvBuf).ok()
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) fn set(_socket: &tokio::net::UdpSocket, _bytes: usize) -> Option<usize> {
        None
    }

    #[cfg(test)]
    pub(super) fn get(_socket: &tokio::net::UdpSocket) -> Option<usize> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;

    /// A `net.core` receive-buffer sysctl (`rmem_default`, `rmem_max`).
    pub(crate) fn rmem(name: &str) -> usize {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[tokio::test]
    async fn raises_the_buffer_of_a_udp_socket_up_to_the_kernel_cap() {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let conn: Arc<dyn Conn + Send + Sync> = Arc::new(socket);
        let before = receive_buffer(&*conn).unwrap();
        assert_eq!(before, rmem("rmem_default"));
        let granted = set_receive_buffer(&*conn, DEFAULT_UDP_RECEIVE_BUFFER).unwrap();
        // Linux doubles the (capped) request for its bookkeeping.
        let expected = 2 * DEFAULT_UDP_RECEIVE_BUFFER.min(rmem("rmem_max"));
        assert_eq!(granted, expected);
        assert!(granted > before, "{granted} <= {before}");
    }

    #[tokio::test]
    async fn leaves_other_connections_alone() {
        let (a, _b) = webrtc_util::conn::conn_pipe::pipe();
        let conn: Arc<dyn Conn + Send + Sync> = Arc::new(a);
        assert_eq!(set_receive_buffer(&*conn, DEFAULT_UDP_RECEIVE_BUFFER), None);
    }
}
