//! The checked paced transfer of the data channel tests, over one TCP connection: the
//! baseline they compare with (Linux TCP on the same path, under the same faults). The same
//! numbered [`payload`]s, written one per tick; the receiver reads them back whole, checks
//! every byte and the order, and records when each one arrived. The sender uses the host's
//! TCP congestion control, or the one `TETHER_TCP_CC` names.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

use test_support::payload;

/// Connects from `from` to `to` and writes a `len`-byte message every `pace` until told to stop (or
/// `stop` is dropped); returns when each write returned. `TCP_NODELAY`, as a message-oriented
/// application would set it (Nagle would hold small writes back for an ACK).
pub(crate) async fn send(
    from: SocketAddr,
    to: SocketAddr,
    len: usize,
    pace: Duration,
    stop: std_mpsc::Receiver<()>,
) -> Vec<Instant> {
    let socket = TcpSocket::new_v4().unwrap();
    // The host's congestion control unless `TETHER_TCP_CC` names another (`cubic`, `reno`,
    // `bbr`): BBR, the default of some hosts, does not slow down for random loss at all.
    if let Some(cc) = std::env::var_os("TETHER_TCP_CC") {
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::TcpCongestion, &cc)
            .unwrap_or_else(|e| panic!("TCP_CONGESTION {cc:?}: {e}"));
    }
    socket.bind(from).unwrap();
    let mut stream = tokio::time::timeout(Duration::from_secs(10), socket.connect(to))
        .await
        .unwrap_or_else(|_| panic!("no TCP connection to {to} in 10 s"))
        .unwrap_or_else(|e| panic!("TCP connect to {to}: {e}"));
    stream.set_nodelay(true).unwrap();
    let mut ticks = tokio::time::interval(pace);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sent_at = Vec::new();
    while let Err(std_mpsc::TryRecvError::Empty) = stop.try_recv() {
        ticks.tick().await;
        let seq = sent_at.len() as u64;
        stream.write_all(&payload(seq, len)).await.unwrap();
        sent_at.push(Instant::now());
    }
    stream.shutdown().await.unwrap();
    sent_at
}

/// Accepts one connection on `listener` and reads `len`-byte messages until the sender shuts
/// down, checking each; reports the count every 50 messages on `progress` and returns the
/// arrival times.
pub(crate) async fn receive(
    listener: TcpListener,
    len: usize,
    progress: std_mpsc::Sender<u64>,
) -> Vec<Instant> {
    let (mut stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("no TCP connection in 10 s")
        .unwrap();
    let mut arrivals = Vec::new();
    let mut buf = vec![0u8; len];
    let mut next = 0u64;
    loop {
        let read = tokio::time::timeout(Duration::from_secs(30), stream.read_exact(&mut buf))
            .await
            .expect("no TCP message for 30 s");
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => panic!("TCP read: {e}"),
        }
        arrivals.push(Instant::now());
        let seq = u64::from_be_bytes(buf[..8].try_into().unwrap());
        assert_eq!(seq, next, "TCP: lost, duplicated or reordered message");
        assert_eq!(buf, payload(seq, len), "TCP: corrupted message {seq}");
        next += 1;
        if next % 50 == 0 {
            let _ = progress.send(next);
        }
    }
    arrivals
}
