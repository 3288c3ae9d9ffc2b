//! `tether signal --redis`: three real server processes on one real `redis-server` serve one
//! room. Two clients talk both ways while one process is killed with SIGKILL and later another
//! gets SIGTERM; every signal whose `send()` returned `Ok` arrives, once and in order, through
//! the surviving processes.
//!
//! Starts its own `redis-server` on a free loopback port; a missing one fails the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use signaling_ws::{ClientConfig, ClientEvent, PeerId, SignalingClient};

const WAIT: Duration = Duration::from_secs(20);

/// A child process killed (by its pid) on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Starts `redis-server` on a free 127.0.0.1 port (no persistence); returns it and its URL.
fn redis() -> (Proc, String) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (.ci/run installs the Debian package)");
    let proc = Proc(child);
    let deadline = Instant::now() + WAIT;
    loop {
        let pong = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(1)))?;
            s.write_all(b"PING\r\n")?;
            let mut buf = [0u8; 7];
            s.read_exact(&mut buf)?;
            Ok(buf)
        });
        if pong.is_ok_and(|b| &b == b"+PONG\r\n") {
            return (proc, format!("redis://127.0.0.1:{port}/0"));
        }
        assert!(Instant::now() < deadline, "redis-server did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `tether signal --redis URL` on a free port; returns it and its WebSocket URL.
fn signal_server(redis: &str) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args([
            "signal",
            "--listen",
            "127.0.0.1:0",
            "--no-page",
            "--redis",
            redis,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("cannot run tether signal");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    let url = line
        .trim()
        .strip_prefix("signaling on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    (Proc(child), url)
}

/// Sends `range` to `to` (about one per millisecond) and receives until `expect` signals
/// arrived; returns what arrived and how often the client resumed. Any `NotDelivered`,
/// `Rejoined` or `Closed` fails the test.
async fn talk(
    mut client: SignalingClient,
    to: PeerId,
    range: std::ops::RangeInclusive<u64>,
    expect: usize,
) -> (SignalingClient, Vec<u64>, usize) {
    let mut next = *range.start();
    let mut got = Vec::new();
    let mut resumed = 0;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while got.len() < expect || next <= *range.end() {
        tokio::select! {
            event = client.recv() => match event.expect("client open") {
                ClientEvent::Signal { data, .. } => got.push(data.get().parse::<u64>().unwrap()),
                ClientEvent::NotDelivered { messages } => {
                    panic!("{} signal(s) reported not delivered", messages.len())
                }
                ClientEvent::Closed { reason } => panic!("client closed: {reason}"),
                ClientEvent::Rejoined { .. } => panic!("rejoined: the peer lost its identity"),
                ClientEvent::Resumed { .. } => resumed += 1,
                _ => {}
            },
            _ = tick.tick(), if next <= *range.end() => {
                client.send_json(&to, &next).await.expect("send accepted");
                next += 1;
            }
            () = tokio::time::sleep_until(deadline) => {
                panic!("timed out: sent up to {next}, received {}: {got:?}", got.len())
            }
        }
    }
    (client, got, resumed)
}

fn sigterm(p: &Proc) {
    let status = Command::new("kill")
        .args(["-TERM", &p.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_processes_killed_or_stopped_mid_conversation_lose_no_accepted_signal() {
    let (_redis, redis_url) = redis();
    let (mut p1, u1) = signal_server(&redis_url);
    let (p2, u2) = signal_server(&redis_url);
    let (_p3, u3) = signal_server(&redis_url);
    let config = |url: &str, others: [&String; 2]| {
        ClientConfig::new(url, "conversation")
            .with_fallback_urls(others.into_iter().cloned())
            .with_reconnect_for(WAIT)
    };
    // Carol is on the first process too, with nowhere else to go: once that process is found
    // dead (no heartbeat for 5 s), any other process suspends her and tells the room.
    let carol = SignalingClient::connect(
        ClientConfig::new(&u1, "conversation").with_reconnect_for(Duration::from_millis(500)),
    )
    .await
    .unwrap();
    let carol_id = carol.peer_id();
    let alice = SignalingClient::connect(config(&u1, [&u2, &u3]))
        .await
        .unwrap();
    let bob = SignalingClient::connect(config(&u2, [&u3, &u1]))
        .await
        .unwrap();
    let (a_id, b_id) = (alice.peer_id(), bob.peer_id());

    // Round 1: SIGKILL alice's server mid-conversation; she resumes on another process.
    let a = tokio::spawn(talk(alice, b_id.clone(), 1..=200, 200));
    let b = tokio::spawn(talk(bob, a_id.clone(), 1..=200, 200));
    tokio::time::sleep(Duration::from_millis(60)).await;
    p1.0.kill().expect("SIGKILL");
    let _ = p1.0.wait();
    let (alice, got_a, resumed) = a.await.unwrap();
    let (bob, got_b, _) = b.await.unwrap();
    assert!(resumed >= 1, "alice moved to another process");
    assert_eq!(
        got_a,
        (1..=200).collect::<Vec<_>>(),
        "alice got every signal once, in order"
    );
    assert_eq!(
        got_b,
        (1..=200).collect::<Vec<_>>(),
        "bob got every signal once, in order"
    );
    assert_eq!(
        (alice.peer_id(), bob.peer_id()),
        (a_id.clone(), b_id.clone()),
        "same peers"
    );
    let mut bob = bob;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, bob.recv())
            .await
            .expect("carol suspended in time")
            .expect("bob open");
        if matches!(&event, ClientEvent::PeerSuspended(id) if *id == carol_id) {
            break;
        }
    }
    drop(carol);

    // Round 2: SIGTERM the second process (both clients are on it now, or bob is): it closes
    // with 1001, exits 0, and the clients resume on the third.
    let a = tokio::spawn(talk(alice, b_id.clone(), 201..=400, 200));
    let b = tokio::spawn(talk(bob, a_id.clone(), 201..=400, 200));
    tokio::time::sleep(Duration::from_millis(60)).await;
    sigterm(&p2);
    let (alice, got_a, resumed_a) = a.await.unwrap();
    let (bob, got_b, resumed_b) = b.await.unwrap();
    assert!(
        resumed_a >= 1 && resumed_b >= 1,
        "both moved off the stopped process"
    );
    assert_eq!(got_a, (201..=400).collect::<Vec<_>>());
    assert_eq!(got_b, (201..=400).collect::<Vec<_>>());
    let mut p2 = p2;
    let status = p2.0.wait().expect("wait");
    assert!(status.success(), "SIGTERM: clean exit, got {status}");
    alice.close().await;
    bob.close().await;
}

#[test]
fn signal_without_redis_exits_8_with_a_clear_message() {
    let port = free_port(); // nothing listens there
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["signal", "--listen", "127.0.0.1:0", "--no-page", "--redis"])
        .arg(format!("redis://127.0.0.1:{port}/0"))
        .stdin(Stdio::null())
        .output()
        .expect("cannot run tether signal");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(8), "{stderr}");
    assert!(stderr.contains("cannot use Redis"), "{stderr}");
}
