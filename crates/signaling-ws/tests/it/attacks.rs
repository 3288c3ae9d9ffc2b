//! Hostile clients: each test runs one attack on loopback, asserts that the memory the server
//! holds stays under a stated bound, and that a normal pair in another room keeps relaying
//! while the attack runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use signaling_ws::{ServerConfig, ServerHandle};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{signal, start, Raw, WAIT};

const MIB: u64 = 1024 * 1024;

/// A configuration whose per-address limits do not get in the way of an attack that, for
/// real, would come from many addresses (here everything comes from 127.0.0.1).
fn many_addresses() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.limits.max_connections_per_address = 100_000;
    config.limits.joins_per_second_per_address = 100_000;
    config.limits.join_burst_per_address = 100_000;
    config
}

/// A WebSocket connection to `server` from the loopback address `source` (e.g. 127.0.0.2),
/// or None when the server closed it before the upgrade finished.
async fn connect_from(source: &str, server: &ServerHandle) -> Option<Raw> {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().unwrap())
        .expect("bind the source address");
    let tcp = timeout(WAIT, socket.connect(server.local_addr()))
        .await
        .expect("connect in time")
        .ok()?;
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (ws, _) = timeout(
        WAIT,
        tokio_tungstenite::client_async(server.ws_url(), stream),
    )
    .await
    .expect("upgrade in time")
    .ok()?;
    Some(Raw { ws })
}

/// The resident set of this process (server and clients), in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A normal pair in its own room that relays a signal back and forth every 20 ms until
/// stopped; every round trip must finish within 2 s.
struct Bystanders {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    task: JoinHandle<Duration>,
}

impl Bystanders {
    async fn start(url: &str) -> Bystanders {
        let room = format!("calm-{}", rand_suffix());
        let (mut a, a_id, _) = Raw::join(url, &room).await;
        let (mut b, b_id, _) = Raw::join(url, &room).await;
        a.recv_type("peer-joined").await;
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        let (s, r) = (Arc::clone(&stop), Arc::clone(&rounds));
        let task = tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            for i in 0..100_000u64 {
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let sent = Instant::now();
                let trip = async {
                    a.send(signal(&b_id, json!(i))).await;
                    assert_eq!(b.recv_type("signal").await["data"], i);
                    b.send(signal(&a_id, json!(i))).await;
                    assert_eq!(a.recv_type("signal").await["data"], i);
                };
                timeout(Duration::from_secs(2), trip)
                    .await
                    .expect("the bystanders' round trip took over 2 s");
                worst = worst.max(sent.elapsed());
                r.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            a.send(json!({"type": "bye"})).await;
            b.send(json!({"type": "bye"})).await;
            worst
        });
        Bystanders { stop, rounds, task }
    }

    /// Rounds completed so far.
    fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Stops the pair; asserts it relayed all along. Returns (rounds, worst round trip).
    async fn finish(self) -> (u64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let worst = timeout(WAIT, self.task)
            .await
            .expect("bystanders stop in time")
            .expect("bystanders relayed every round in time");
        let rounds = self.rounds.load(Ordering::Relaxed);
        assert!(rounds >= 5, "the bystanders relayed only {rounds} rounds");
        (rounds, worst)
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(0u8)
}

/// Peaks seen while an attack ran: process RSS growth, and the server's held-bytes gauge.
#[derive(Debug, Clone, Copy)]
struct Peaks {
    rss_growth: u64,
    held: u64,
}

/// Samples the process RSS and the server's `tether_signaling_held_bytes` every 10 ms while
/// `attack` runs; returns the attack's output and the peaks.
async fn watch<T>(
    server: &ServerHandle,
    attack: impl std::future::Future<Output = T>,
) -> (T, Peaks) {
    let before = rss();
    let peak_rss = Arc::new(AtomicU64::new(before));
    let peak_held = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let addr = server.local_addr();
    let sampler = {
        let (peak_rss, peak_held, done) = (
            Arc::clone(&peak_rss),
            Arc::clone(&peak_held),
            Arc::clone(&done),
        );
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak_rss.fetch_max(rss(), Ordering::Relaxed);
                if let Some(held) = held_bytes(addr).await {
                    peak_held.fetch_max(held, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    let out = attack.await;
    peak_rss.fetch_max(rss(), Ordering::Relaxed);
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let peaks = Peaks {
        rss_growth: peak_rss.load(Ordering::Relaxed).saturating_sub(before),
        held: peak_held.load(Ordering::Relaxed),
    };
    (out, peaks)
}

/// The server's held-bytes gauge, or None when `/metrics` does not answer within 1 s.
async fn held_bytes(addr: std::net::SocketAddr) -> Option<u64> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        tcp.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        tcp.read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix("tether_signaling_held_bytes ")?.parse().ok())
    };
    timeout(Duration::from_secs(1), fetch).await.ok().flatten()
}

fn mib(n: u64) -> String {
    if n < MIB {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    }
}

async fn stop(server: ServerHandle) {
    server.shutdown(WAIT).await.expect("clean shutdown");
}

/// Attack 1: WebSocket pings whose pongs are never read, before joining. The server used to
/// queue every pong in an unbounded write buffer (2.3 GB in 12 s) and accept any rate of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_flood_without_reading_is_closed_and_bounded() {
    let server = start(ServerConfig::default()).await;
    let url = server.ws_url();
    let calm = Bystanders::start(&url).await;
    let mut attacker = Raw::connect(&url).await;
    let payload = vec![7u8; 125];
    let ((sent, closed), peaks) = watch(&server, async {
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut sent = 0u64;
        let mut closed = false;
        while Instant::now() < deadline && sent < 2_000_000 {
            // Write without waiting for a flush, so the client never blocks on the server.
            let ping = Message::Ping(payload.clone().into());
            match timeout(Duration::from_millis(500), attacker.ws.feed(ping)).await {
                Ok(Ok(())) => sent += 1,
                Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                // The server stopped reading: its socket (and ours) are full.
                Err(_) => break,
            }
            if sent % 256 == 0 {
                match timeout(Duration::from_millis(500), attacker.ws.flush()).await {
                    Ok(Ok(())) | Err(_) => {}
                    Ok(Err(_)) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        (sent, closed)
    })
    .await;
    let rounds = calm.rounds();
    let limited = crate::support::metric(
        &server,
        "tether_signaling_drops_total{reason=\"rate_limited\"}",
    )
    .await;
    let growth = peaks.rss_growth;
    println!(
        "ping flood: {sent} pings sent, a send failed: {closed}, rate_limited drops \
         {limited}, RSS growth {} (bound 64 MiB), bystander rounds {rounds}",
        mib(growth)
    );
    let (rounds, worst) = calm.finish().await;
    println!("ping flood: bystanders {rounds} rounds, worst round trip {worst:?}");
    assert!(
        growth < 64 * MIB,
        "RSS grew {growth} bytes under a ping flood"
    );
    assert!(limited > 0, "pings count in the rate limit");
    // Behind the close frame there may be many thousand pongs the attacker never read.
    let code = timeout(WAIT, async {
        loop {
            match futures_util::StreamExt::next(&mut attacker.ws).await {
                Some(Ok(Message::Close(c))) => break c.map(|c| u16::from(c.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break None,
            }
        }
    })
    .await
    .expect("the close frame in time");
    assert_eq!(code, Some(4008), "closed for the rate");
    drop(attacker);
    stop(server).await;
}

/// Attack 2: clients that stop reading while others send them maximum-size signals. The
/// server used to queue up to 514 frames (~33 MiB) per such client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_that_stop_reading_cost_their_bound_and_no_more() {
    const VICTIMS: usize = 4;
    const SENDERS: usize = 7;
    const SIGNALS: usize = 70;
    let server = start(many_addresses()).await;
    let url = server.ws_url();
    let calm = Bystanders::start(&url).await;
    let mut victims = Vec::new();
    let mut senders = Vec::new();
    for v in 0..VICTIMS {
        let room = format!("stuck-{v}");
        let (victim, victim_id, _) = Raw::join(&url, &room).await;
        for _ in 0..SENDERS {
            let (sender, _, _) = Raw::join(&url, &room).await;
            senders.push((sender, victim_id.clone()));
        }
        victims.push(victim);
    }
    // Just under the 64 KiB message limit once wrapped in a signal.
    let chunk = "x".repeat(60 * 1024);
    let (sent, peaks) = watch(&server, async {
        let mut tasks = Vec::new();
        for (mut sender, to) in senders {
            let text = signal(&to, json!(chunk)).to_string();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0;
                for _ in 0..SIGNALS {
                    let send = sender.ws.send(Message::text(text.clone()));
                    match timeout(WAIT, send).await {
                        Ok(Ok(())) => sent += 1,
                        _ => break,
                    }
                }
                // Let the server read all of it before the sender goes.
                tokio::time::sleep(Duration::from_millis(300)).await;
                (sent, sender)
            }));
        }
        let mut sent = 0;
        let mut keep = Vec::new();
        for t in tasks {
            let (n, sender) = t.await.expect("sender task");
            sent += n;
            keep.push(sender);
        }
        (sent, keep)
    })
    .await;
    let (sent, _senders) = sent;
    let peak = crate::support::metric(&server, "tether_signaling_held_bytes_peak").await;
    let peaks = Peaks {
        held: peaks.held.max(peak),
        ..peaks
    };
    let slow = crate::support::metric(
        &server,
        "tether_signaling_drops_total{reason=\"slow_consumer\"}",
    )
    .await;
    println!(
        "stopped readers: {VICTIMS} victims, {sent} signals of 60 KiB sent to them ({}), \
         peak held bytes {} (bound {}), RSS growth {} (bound 48 MiB), slow_consumer drops {slow}",
        mib(sent as u64 * 60 * 1024),
        mib(peaks.held),
        mib(VICTIMS as u64 * 3 * MIB / 2),
        mib(peaks.rss_growth)
    );
    let (rounds, worst) = calm.finish().await;
    println!("stopped readers: bystanders {rounds} rounds, worst round trip {worst:?}");
    // Per stopped reader: its resume buffer (1 MiB, shared with the queue) plus at most the
    // queue's 256 KiB and one frame.
    assert!(
        peaks.held <= VICTIMS as u64 * 3 * MIB / 2,
        "held {} bytes",
        peaks.held
    );
    assert!(
        peaks.rss_growth < 48 * MIB,
        "RSS grew {} bytes",
        peaks.rss_growth
    );
    assert_eq!(
        slow, VICTIMS as u64,
        "one slow_consumer drop per stopped reader"
    );
    crate::support::wait_metric(&server, "tether_signaling_queued_bytes", |v| v == 0).await;
    drop(victims);
    stop(server).await;
}

/// Attack 5: connections that send half an upgrade request and go silent, and idle keep-alive
/// connections. Without a header timeout they held their descriptors forever (1,100 of them
/// exhaust a 1,024-descriptor server and lock every new client out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_and_idle_connections_time_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const HALF: usize = 300;
    let mut config = many_addresses();
    config.limits.header_timeout = Duration::from_millis(500);
    let server = start(config).await;
    let url = server.ws_url();
    let calm = Bystanders::start(&url).await;
    let (all_closed, peaks) = watch(&server, async {
        let mut half = Vec::new();
        for _ in 0..HALF {
            let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
                .await
                .expect("connect");
            tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n")
                .await
                .expect("half a request");
            half.push(tcp);
        }
        // An idle keep-alive connection after one complete request.
        let mut idle = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .expect("connect");
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("request");
        half.push(idle);
        // Every one of them must be closed by the server (EOF or reset), within 3 s.
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut closed = 0;
        for tcp in &mut half {
            let mut buf = [0u8; 1024];
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match timeout(left, tcp.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        closed += 1;
                        break;
                    }
                    // The idle one first gets its response.
                    Ok(Ok(_)) => continue,
                    Err(_) => break,
                }
            }
        }
        closed
    })
    .await;
    let timeouts = crate::support::metric(&server, "tether_signaling_header_timeouts_total").await;
    println!(
        "half-sent requests: {all_closed} of {} connections closed by the server within 3 s, \
         header timeouts counted {timeouts}, RSS growth {} (bound 32 MiB)",
        HALF + 1,
        mib(peaks.rss_growth)
    );
    assert_eq!(all_closed, HALF + 1, "every silent connection was closed");
    assert!(timeouts > HALF as u64, "{timeouts} header timeouts counted");
    assert!(peaks.rss_growth < 32 * MIB);
    // A new client still gets in at once.
    let (mut fresh, _, _) = timeout(Duration::from_secs(2), Raw::join(&url, "late"))
        .await
        .expect("a new client joins at once");
    fresh.fence().await;
    let (rounds, worst) = calm.finish().await;
    println!("half-sent requests: bystanders {rounds} rounds, worst round trip {worst:?}");
    stop(server).await;
}

/// Attack 4: one address takes every connection slot, and probes room names by joining as
/// fast as it can. It used to get all 10,000 slots in 2.5 s (everyone else: HTTP 503) and to
/// probe ~2,700 rooms/s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_gets_its_share_and_no_more() {
    const TRIES: usize = 200;
    let server = start(ServerConfig::default()).await;
    let url = server.ws_url();
    let calm = Bystanders::start(&url).await;
    let ((held, probes, joined, refused, probing), peaks) = watch(&server, async {
        // Slot grabbing from 127.0.0.2: every upgrade that succeeds is kept open.
        let mut held = Vec::new();
        for _ in 0..TRIES {
            if let Some(raw) = connect_from("127.0.0.2", &server).await {
                held.push(raw);
            }
        }
        // Room probing from 127.0.0.3 for 2 s: connect, join a new room, leave.
        let start = Instant::now();
        let (mut probes, mut joined, mut refused) = (0u64, 0u64, 0u64);
        while start.elapsed() < Duration::from_secs(2) && probes < 5_000 {
            probes += 1;
            let Some(mut raw) = connect_from("127.0.0.3", &server).await else {
                continue;
            };
            raw.send(json!({"type": "join", "v": 1, "room": format!("probe-{probes}")}))
                .await;
            let answer = raw.recv().await;
            match answer["type"].as_str() {
                Some("joined") => {
                    joined += 1;
                    // Leave for good (a dropped peer stays suspended, holding a slot).
                    raw.send(json!({"type": "bye"})).await;
                    let _ = raw.close_code().await;
                }
                _ => {
                    assert_eq!(answer["code"], "rate-limited", "{answer}");
                    refused += 1;
                }
            }
        }
        (held, probes, joined, refused, start.elapsed())
    })
    .await;
    let limit = crate::support::metric(
        &server,
        "tether_signaling_drops_total{reason=\"address_limit\"}",
    )
    .await;
    println!(
        "one address: {} of {TRIES} connections from 127.0.0.2 upgraded (limit 64), \
         address_limit drops {limit}; probing from 127.0.0.3: {probes} joins tried in {probing:?}, \
         {joined} joined (allowance 40 + 10/s), {refused} refused; RSS growth {} (bound 32 MiB)",
        held.len(),
        mib(peaks.rss_growth)
    );
    assert_eq!(
        held.len(),
        64,
        "one address gets max_connections_per_address"
    );
    assert!(limit >= (TRIES - 64) as u64);
    assert!(joined <= 40 + 10 * 3, "{joined} probes joined");
    assert!(refused > 0);
    assert!(peaks.rss_growth < 32 * MIB);
    // Another address still gets in at once.
    let (mut fresh, _, _) = timeout(Duration::from_secs(2), Raw::join(&url, "late"))
        .await
        .expect("a new client joins at once");
    fresh.fence().await;
    let (rounds, worst) = calm.finish().await;
    println!("one address: bystanders {rounds} rounds, worst round trip {worst:?}");
    drop(held);
    stop(server).await;
}

/// One signal from `alice` to `bob`, which must arrive within 2 s.
async fn tls_relay(
    alice: &signaling_ws::SignalingClient,
    bob: &mut signaling_ws::SignalingClient,
    i: u64,
) {
    alice
        .send_json(&bob.peer_id(), &json!(i))
        .await
        .expect("send");
    for _ in 0..100 {
        match timeout(Duration::from_secs(2), bob.recv()).await {
            Ok(Some(signaling_ws::ClientEvent::Signal { data, .. })) => {
                assert_eq!(data.get(), i.to_string());
                return;
            }
            Ok(Some(_)) => {}
            other => panic!("the bystanders stopped relaying: {other:?}"),
        }
    }
    panic!("no signal within 100 events");
}

/// Attack 5 over TLS: 1,100 TCP connections that never start a handshake. They used to take
/// all 1,024 handshake slots, so every new `wss` client waited ~8 s for one to time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tcp_connections_do_not_delay_tls_clients() {
    use signaling_ws::{client_tls_with_roots, ClientConfig, ServerTls, SignalingClient};
    const SILENT: usize = 1_100;
    let pki = crate::tls::make_pki("attack CA");
    let tls = ServerTls::from_pem(pki.cert_pem.as_bytes(), pki.key_pem.as_bytes()).unwrap();
    let trust = client_tls_with_roots(pki.ca_pem.as_bytes()).unwrap();
    let server = start(ServerConfig {
        tls: Some(tls),
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let connect = |room: &str| {
        let config = ClientConfig::new(&url, room).with_tls(Arc::clone(&trust));
        SignalingClient::connect(config)
    };
    // The bystanders (on 127.0.0.1) relay before, during and after the attack.
    let alice = connect("calm-tls").await.expect("alice");
    let mut bob = connect("calm-tls").await.expect("bob");
    tls_relay(&alice, &mut bob, 0).await;
    let (mut silent, peaks) = watch(&server, async {
        let mut silent = Vec::new();
        for _ in 0..SILENT {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
            if let Ok(Ok(tcp)) = timeout(WAIT, socket.connect(server.local_addr())).await {
                silent.push(tcp);
            }
        }
        silent
    })
    .await;
    tls_relay(&alice, &mut bob, 1).await;
    // A new wss client gets in at once.
    let started = Instant::now();
    let fresh = timeout(Duration::from_secs(2), connect("late-tls"))
        .await
        .expect("a new wss client connects within 2 s")
        .expect("connects");
    let waited = started.elapsed();
    tls_relay(&alice, &mut bob, 2).await;
    // Connections closed at accept read EOF (or a reset) at once; the rest stay open.
    let mut refused = 0u64;
    for tcp in &mut silent {
        use tokio::io::AsyncReadExt;
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) = timeout(Duration::from_millis(5), tcp.read(&mut byte)).await {
            refused += 1;
        }
    }
    println!(
        "silent TCP: {} silent connections from 127.0.0.2, {refused} closed at accept \
         (limit 64 per address), a new wss client connected in {waited:?}, RSS growth {} \
         (bound 32 MiB)",
        silent.len(),
        mib(peaks.rss_growth)
    );
    assert!(
        waited < Duration::from_secs(1),
        "the new client waited {waited:?}"
    );
    assert!(refused >= (SILENT - 64) as u64);
    assert!(peaks.rss_growth < 32 * MIB);
    drop(silent);
    fresh.close().await;
    alice.close().await;
    bob.close().await;
    stop(server).await;
}

/// Attack 3: many pairs whose receiving peer drops, each filling its suspended peer's resume
/// buffer. Nothing bounded their sum: 1,000 such pairs pinned 916 MiB for the grace window
/// with no connection open. Here the global budget is 8 MiB, for 40 pairs that would pin
/// 35 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspended_peers_share_one_budget_oldest_evicted_first() {
    const PAIRS: usize = 40;
    const SIGNALS: usize = 15;
    const BUDGET: u64 = 8 * MIB;
    let mut config = many_addresses();
    config.limits.max_held_bytes = BUDGET as usize;
    let server = start(config).await;
    let url = server.ws_url();
    let calm = Bystanders::start(&url).await;
    let chunk = "y".repeat(60 * 1024);
    let ((senders, tokens), peaks) = watch(&server, async {
        let mut senders = Vec::new();
        let mut tokens = Vec::new();
        for p in 0..PAIRS {
            let room = format!("left-{p}");
            let (mut a, _, _) = Raw::join(&url, &room).await;
            let (b, b_id, b_token) = Raw::join(&url, &room).await;
            a.recv_type("peer-joined").await;
            // B's network goes away: suspended, not gone.
            drop(b);
            a.recv_type("peer-suspended").await;
            for _ in 0..SIGNALS {
                a.send(signal(&b_id, json!(chunk))).await;
            }
            a.fence().await;
            senders.push(a);
            tokens.push(b_token);
        }
        (senders, tokens)
    })
    .await;
    let peak = crate::support::metric(&server, "tether_signaling_held_bytes_peak").await;
    let held = crate::support::metric(&server, "tether_signaling_held_bytes").await;
    let evicted = crate::support::metric(
        &server,
        "tether_signaling_drops_total{reason=\"memory_budget\"}",
    )
    .await;
    println!(
        "suspended pairs: {PAIRS} pairs x {SIGNALS} signals of 60 KiB to a dropped peer \
         (unbounded: {}), held now {}, peak held {} (budget {}), RSS growth {}, \
         memory_budget evictions {evicted}",
        mib((PAIRS * SIGNALS * 60 * 1024) as u64),
        mib(held),
        mib(peak.max(peaks.held)),
        mib(BUDGET),
        mib(peaks.rss_growth)
    );
    // One frame may be in flight above the budget before it is enforced.
    assert!(peak <= BUDGET + 64 * 1024, "peak held {peak}");
    assert!(held <= BUDGET);
    assert!(peaks.rss_growth < 48 * MIB, "RSS grew {}", peaks.rss_growth);
    assert!(evicted >= (PAIRS / 2) as u64, "{evicted} evictions");
    // Oldest first: the first pair's peer is gone, the last pair's resumes with everything.
    let mut senders = senders;
    assert_eq!(senders[0].recv_type("peer-left").await["type"], "peer-left");
    let mut late = Raw::connect(&url).await;
    late.send(json!({"type": "resume", "v": 1, "resume_token": tokens[PAIRS - 1], "last_seq": 0}))
        .await;
    let resumed = late.recv().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["replayed"], SIGNALS as u64);
    let mut gone = Raw::connect(&url).await;
    gone.send(json!({"type": "resume", "v": 1, "resume_token": tokens[0], "last_seq": 0}))
        .await;
    assert_eq!(gone.recv().await["code"], "resume-unknown");
    let (rounds, worst) = calm.finish().await;
    println!("suspended pairs: bystanders {rounds} rounds, worst round trip {worst:?}");
    drop(senders);
    stop(server).await;
}
