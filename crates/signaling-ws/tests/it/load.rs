//! The load test (ignored by default): 5,000 concurrent clients in pairs, ping-ponging signals.
//!
//! Run it with `cargo test -p tether-signaling-ws --release -- --ignored load --nocapture`.
//! The server runs in a child process (this test binary, re-executed with
//! `TETHER_SIGNALING_LOAD_SERVE=1`) so that its RSS can be measured alone. Knobs:
//! `TETHER_SIGNALING_LOAD_CLIENTS` (default 5000, even), `TETHER_SIGNALING_LOAD_ROUNDS` (default
//! 20 round trips per pair).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use signaling_ws::{ClientConfig, ClientEvent, Limits, Server, ServerConfig, SignalingClient};

const SERVE_ENV: &str = "TETHER_SIGNALING_LOAD_SERVE";
/// The whole load test must finish within this.
const BUDGET: Duration = Duration::from_secs(300);

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The server side of the load test; does nothing unless started by `load_5000_clients`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "helper process of the load test"]
async fn load_server_process() {
    if std::env::var_os(SERVE_ENV).is_none() {
        return;
    }
    let config = ServerConfig {
        limits: Limits {
            max_connections: 20_000,
            max_peers_per_room: 2,
            // Every client of the load test comes from 127.0.0.1.
            max_connections_per_address: 20_000,
            joins_per_second_per_address: 1_000_000,
            join_burst_per_address: 1_000_000,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    println!("LISTENING {}", server.ws_url());
    // Serve until the parent closes stdin (or the budget runs out).
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin()
            .read_line(&mut line)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            line.clear();
        }
    });
    let _ = tokio::time::timeout(BUDGET, stdin_closed).await;
    let _ = server.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run with --release -- --ignored load --nocapture"]
async fn load_5000_clients() {
    let clients = env_num("TETHER_SIGNALING_LOAD_CLIENTS", 5000) / 2 * 2;
    let rounds = env_num("TETHER_SIGNALING_LOAD_ROUNDS", 20);
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "load::load_server_process",
            "--nocapture",
        ])
        .env(SERVE_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server process starts");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("server prints its address").unwrap();
        if let Some(url) = line.strip_prefix("LISTENING ") {
            break url.to_owned();
        }
    };
    let result = tokio::time::timeout(BUDGET, run_load(&url, clients, rounds, pid)).await;
    drop(child.stdin.take()); // the server shuts down
    let _ = child.wait();
    result.expect("load test within its budget");
}

async fn run_load(url: &str, clients: usize, rounds: usize, pid: u32) {
    let rss_idle = rss_kib(pid);
    let t0 = Instant::now();
    let connected: Vec<SignalingClient> = futures_util::stream::iter(0..clients)
        .map(|i| {
            let config = ClientConfig::new(url, &format!("load-{}", i / 2));
            async move {
                SignalingClient::connect(config)
                    .await
                    .expect("client joins")
            }
        })
        .buffered(64)
        .collect()
        .await;
    let connect_time = t0.elapsed();
    let rss_connected = rss_kib(pid);

    let start = Instant::now();
    let mut pairs = Vec::new();
    let mut it = connected.into_iter();
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        pairs.push(tokio::spawn(ping_pong(a, b, rounds, start)));
    }
    let mut latencies = Vec::with_capacity(clients * rounds);
    for p in pairs {
        latencies.extend(p.await.unwrap());
    }
    let elapsed = start.elapsed();
    let rss_after = rss_kib(pid);
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "load: {clients} clients ({} pairs), {rounds} round trips per pair\n\
         load: connect+join all: {:.2} s\n\
         load: relayed {} signals in {:.2} s = {:.0} msg/s\n\
         load: relay latency p50 {} us, p99 {} us, max {} us\n\
         load: server RSS idle {} KiB, all joined {} KiB, after all left {} KiB (peak {} KiB)",
        clients / 2,
        connect_time.as_secs_f64(),
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        latencies.last().copied().unwrap_or(0),
        rss_idle.0,
        rss_connected.0,
        rss_after.0,
        rss_after.1,
    );
    assert_eq!(latencies.len(), clients * rounds);
}

/// `rounds` round trips between `a` and `b`; returns one-way latencies in microseconds.
async fn ping_pong(
    mut a: SignalingClient,
    mut b: SignalingClient,
    rounds: usize,
    epoch: Instant,
) -> Vec<u64> {
    let mut out = Vec::with_capacity(rounds * 2);
    let (a_id, b_id) = (a.peer_id(), b.peer_id());
    for _ in 0..rounds {
        let sent = epoch.elapsed().as_micros() as u64;
        a.send_json(&b_id, &sent).await.unwrap();
        let t = recv_signal(&mut b).await;
        out.push(epoch.elapsed().as_micros() as u64 - t);
        let sent = epoch.elapsed().as_micros() as u64;
        b.send_json(&a_id, &sent).await.unwrap();
        let t = recv_signal(&mut a).await;
        out.push(epoch.elapsed().as_micros() as u64 - t);
    }
    a.close().await;
    b.close().await;
    out
}

async fn recv_signal(c: &mut SignalingClient) -> u64 {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), c.recv())
            .await
            .expect("signal in time")
            .expect("client open");
        if let ClientEvent::Signal { data, .. } = ev {
            return data.get().parse().unwrap();
        }
    }
}

/// (VmRSS, VmHWM) of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
