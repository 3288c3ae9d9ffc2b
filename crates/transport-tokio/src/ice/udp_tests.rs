//! Tests of [`BatchedUdp`] over loopback sockets.

use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;

use super::*;

/// Collects what a socket delivers.
#[derive(Default)]
struct Collect {
    got: AsyncMutex<Vec<Bytes>>,
    batches: AtomicU64,
}

#[async_trait]
impl DataSink for Collect {
    async fn deliver(&self, datagrams: Vec<Bytes>) -> bool {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.got.lock().await.extend(datagrams);
        true
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A DTLS-looking datagram (first byte 23: application data) numbered `i`, `len` bytes.
fn datagram(i: u32, len: usize) -> Bytes {
    let mut d = vec![23u8; len];
    d[1..5].copy_from_slice(&i.to_be_bytes());
    Bytes::from(d)
}

/// A STUN binding request from `a` to `b`: `b` then takes `a`'s data as an ICE peer's.
async fn check(a: &BatchedUdp, b: &BatchedUdp) {
    a.send_to(&STUN, b.local).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), b.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&STUN[..], a.local));
}

const STUN: [u8; 20] = [
    0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
];

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_batch_arrives_whole_and_in_order_in_fewer_system_calls() {
    let a = BatchedUdp::bind(loopback()).unwrap();
    let b = BatchedUdp::bind(loopback()).unwrap();
    // As the agent's sockets get it (ice.rs); the default 208 KiB holds ~100 of these.
    super::super::socket::set_receive_buffer(&b, crate::ice::DEFAULT_UDP_RECEIVE_BUFFER);
    let sink = Arc::new(Collect::default());
    b.attach(Arc::clone(&sink) as Arc<dyn DataSink>);
    check(&a, &b).await;
    // 200 full-size datagrams and a shorter last one, as SCTP writes them.
    let mut out: Vec<Bytes> = (0..200).map(|i| datagram(i, 1200)).collect();
    out.push(datagram(200, 300));
    let sent = a.send_batch(b.local, &out).await;
    assert_eq!(sent, out.len());
    wait_for("every datagram", || {
        sink.got.try_lock().is_ok_and(|g| g.len() == out.len())
    })
    .await;
    assert_eq!(*sink.got.lock().await, out, "content and order");
    let sends = a.counters().send_calls.load(Ordering::Relaxed);
    let recvs = b.counters().recv_calls.load(Ordering::Relaxed);
    assert_eq!(b.counters().datagrams_in.load(Ordering::Relaxed), 202); // and the check
                                                                        // Linux has GSO and recvmmsg on loopback: far fewer calls than datagrams.
    assert!(sends <= 20, "{sends} send calls for 201 datagrams");
    assert!(recvs < 201, "{recvs} receive calls for 201 datagrams");
}

#[tokio::test]
async fn stun_goes_to_the_agent_and_data_to_the_sink() {
    let a = BatchedUdp::bind(loopback()).unwrap();
    let b = BatchedUdp::bind(loopback()).unwrap();
    let from = a.local;
    // No sink yet: data goes to the agent's side, as webrtc-ice's own socket would.
    a.send_to(&datagram(1, 100), b.local).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, src) = b.recv_from(&mut buf).await.unwrap();
    assert_eq!((n, src), (100, from));

    let sink = Arc::new(Collect::default());
    b.attach(Arc::clone(&sink) as Arc<dyn DataSink>);
    let stun = [
        0x00u8, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ];
    a.send_to(&stun, b.local).await.unwrap();
    a.send_to(&datagram(2, 100), b.local).await.unwrap();
    // The agent gets the STUN message, and a liveness note (empty) for the data's source.
    let mut agent_side = Vec::new();
    for _ in 0..2 {
        let (n, src) = tokio::time::timeout(Duration::from_secs(5), b.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(src, from);
        agent_side.push(buf[..n].to_vec());
    }
    assert!(agent_side.contains(&stun.to_vec()), "{agent_side:?}");
    assert!(
        agent_side.contains(&Vec::new()),
        "no liveness note: {agent_side:?}"
    );
    wait_for("the data", || {
        sink.got.try_lock().is_ok_and(|g| g.len() == 1)
    })
    .await;
    assert_eq!(sink.got.lock().await[0], datagram(2, 100));

    // A second datagram within the note period: no second note.
    a.send_to(&datagram(3, 100), b.local).await.unwrap();
    wait_for("the second datagram", || {
        sink.got.try_lock().is_ok_and(|g| g.len() == 2)
    })
    .await;
    assert!(
        tokio::time::timeout(Duration::from_millis(30), b.recv_from(&mut buf))
            .await
            .is_err(),
        "a note per datagram"
    );
}

#[tokio::test]
async fn a_closed_socket_stops_its_reader_and_fails_reads() {
    let b = BatchedUdp::bind(loopback()).unwrap();
    b.close().await.unwrap();
    let mut buf = [0u8; 64];
    assert!(b.recv_from(&mut buf).await.is_err());
    wait_for("the reader to end", || b.reader.is_finished()).await;
}

#[tokio::test]
async fn a_batch_of_mixed_sizes_keeps_its_order() {
    let a = BatchedUdp::bind(loopback()).unwrap();
    let b = BatchedUdp::bind(loopback()).unwrap();
    let sink = Arc::new(Collect::default());
    b.attach(Arc::clone(&sink) as Arc<dyn DataSink>);
    check(&a, &b).await;
    let sizes = [1200, 1200, 80, 1200, 600, 600, 600, 1, 1200, 1200, 1200, 50];
    let out: Vec<Bytes> = sizes
        .iter()
        .enumerate()
        .map(|(i, len)| datagram(i as u32, (*len).max(5)))
        .collect();
    assert_eq!(a.send_batch(b.local, &out).await, out.len());
    wait_for("every datagram", || {
        sink.got.try_lock().is_ok_and(|g| g.len() == out.len())
    })
    .await;
    assert_eq!(*sink.got.lock().await, out);
}

#[tokio::test]
async fn data_from_a_source_that_never_sent_stun_goes_to_the_agent() {
    let a = BatchedUdp::bind(loopback()).unwrap();
    let stranger = BatchedUdp::bind(loopback()).unwrap();
    let b = BatchedUdp::bind(loopback()).unwrap();
    let sink = Arc::new(Collect::default());
    b.attach(Arc::clone(&sink) as Arc<dyn DataSink>);
    check(&a, &b).await;
    // The stranger's datagram is the agent's to judge (webrtc-ice drops non-STUN traffic
    // from addresses that are not its remote candidates); the checked peer's goes direct.
    stranger.send_to(&datagram(7, 100), b.local).await.unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(5), b.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((n, from), (100, stranger.local));
    a.send_to(&datagram(8, 100), b.local).await.unwrap();
    wait_for("the peer's data", || {
        sink.got.try_lock().is_ok_and(|g| g.len() == 1)
    })
    .await;
    assert_eq!(sink.got.lock().await[0], datagram(8, 100));
}
