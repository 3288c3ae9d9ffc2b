//! The Redis backend: two servers on one real `redis-server` serve one room; resume on the
//! other server; room limits across servers; grace expiry; a graceful shutdown mid-stream.
//!
//! Each test starts its own `redis-server` on a free loopback port (no persistence) and kills it
//! when done. A missing `redis-server` fails the test (`.ci/run` installs it).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use signaling_ws::{
    ClientConfig, ClientEvent, Limits, PeerId, Server, ServerConfig, ServerError, ServerHandle,
    SignalingClient,
};

use crate::support::{http_get, metric, signal, start, Raw, WAIT};

/// A `redis-server` of this test, killed (by its pid) on drop.
pub(crate) struct Redis {
    child: Child,
    port: u16,
    pub(crate) url: String,
}

impl Redis {
    /// Starts `redis-server` on a free 127.0.0.1 port and waits until it answers `PING`.
    pub(crate) fn start() -> Redis {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Redis::start_on(port)
    }

    /// Starts `redis-server` on `port` of 127.0.0.1 (empty: no persistence).
    pub(crate) fn start_on(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (.ci/run installs the Debian package)");
        let redis = Redis {
            child,
            port,
            url: format!("redis://127.0.0.1:{port}/0"),
        };
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
                return redis;
            }
            assert!(Instant::now() < deadline, "redis-server did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Redis {
    /// Sends one inline command; returns the first line of the answer.
    fn command(&self, cmd: &str) -> String {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("redis");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn on(redis: &Redis) -> ServerConfig {
    ServerConfig {
        redis_url: Some(redis.url.clone()),
        ..ServerConfig::default()
    }
}

async fn two(config: ServerConfig) -> (ServerHandle, ServerHandle) {
    (start(config.clone()).await, start(config).await)
}

#[tokio::test]
async fn peers_on_two_servers_relay_both_ways() {
    let redis = Redis::start();
    let (s1, s2) = two(on(&redis)).await;
    let (mut a, a_id, _) = Raw::join(&s1.ws_url(), "room").await;
    let (mut b, b_id, _) = Raw::join(&s2.ws_url(), "room").await;
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-joined", "seq": 1, "peer_id": b_id})
    );
    for n in 1..=5 {
        a.send(signal(&b_id, json!({"n": n}))).await;
        b.send(signal(&a_id, json!([n]))).await;
    }
    for n in 1..=5u64 {
        let m = b.recv().await;
        assert_eq!(
            m,
            json!({"type": "signal", "seq": n, "from": a_id, "data": {"n": n}})
        );
        let m = a.recv().await;
        assert_eq!(
            m,
            json!({"type": "signal", "seq": n + 1, "from": b_id, "data": [n]})
        );
    }
    // A third peer on the first server sees both in its roster, whichever server holds them.
    let mut c = Raw::connect(&s1.ws_url()).await;
    c.send(json!({"type": "join", "v": 1, "room": "room"}))
        .await;
    let joined = c.recv().await;
    assert_eq!(
        joined["peers"],
        json!([{"id": a_id, "suspended": false}, {"id": b_id, "suspended": false}])
    );
    for p in [&mut a, &mut b] {
        assert_eq!(p.recv().await["type"], "peer-joined");
        p.fence().await; // nothing else: each signal arrived once
    }
    // Each process's gauges count its own connected peers and their rooms.
    assert_eq!(metric(&s1, "tether_signaling_peers").await, 2);
    assert_eq!(metric(&s2, "tether_signaling_peers").await, 1);
    assert_eq!(metric(&s2, "tether_signaling_rooms").await, 1);
}

#[tokio::test]
async fn resume_on_the_other_server_replays_what_was_queued() {
    let redis = Redis::start();
    let (s1, s2) = two(on(&redis)).await;
    let (mut a, a_id, _) = Raw::join(&s1.ws_url(), "r").await;
    let (mut b, b_id, b_token) = Raw::join(&s1.ws_url(), "r").await;
    a.recv_type("peer-joined").await;
    a.send(signal(&b_id, json!(1))).await;
    assert_eq!(b.recv().await["seq"], 1);
    drop(b); // the network drops: no bye, no close frame
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-suspended", "seq": 2, "peer_id": b_id})
    );
    for n in 2..=6 {
        a.send(signal(&b_id, json!(n))).await;
    }
    a.fence().await;

    let mut b2 = Raw::connect(&s2.ws_url()).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": b_token, "last_seq": 1}))
        .await;
    let resumed = b2.recv().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["peer_id"], b_id.as_str());
    assert_eq!(resumed["replayed"], 5);
    assert_eq!(resumed["peers"], json!([{"id": a_id, "suspended": false}]));
    for n in 2..=6u64 {
        let m = b2.recv().await;
        assert_eq!(
            (m["seq"].as_u64(), m["data"].as_u64()),
            (Some(n), Some(n)),
            "{m}"
        );
    }
    b2.fence().await; // exactly once
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-resumed", "seq": 3, "peer_id": b_id})
    );
    // Live across servers again; numbering continues.
    a.send(signal(&b_id, json!(7))).await;
    assert_eq!(b2.recv().await["seq"], 7);
    b2.send(signal(&a_id, json!("back"))).await;
    assert_eq!(a.recv().await["data"], "back");
    // The old token is spent, on either server.
    let mut b3 = Raw::connect(&s1.ws_url()).await;
    b3.send(json!({"type": "resume", "v": 1, "resume_token": b_token, "last_seq": 1}))
        .await;
    assert_eq!(b3.recv().await["code"], "resume-unknown");
}

#[tokio::test]
async fn resume_elsewhere_closes_the_old_connection_with_4009() {
    let redis = Redis::start();
    let (s1, s2) = two(on(&redis)).await;
    let (_a, _, _) = Raw::join(&s1.ws_url(), "r").await;
    let (mut b, _, b_token) = Raw::join(&s1.ws_url(), "r").await;
    let mut b2 = Raw::connect(&s2.ws_url()).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": b_token, "last_seq": 0}))
        .await;
    assert_eq!(b2.recv().await["type"], "resumed");
    assert_eq!(b.close_code().await, Some(4009));
}

#[tokio::test]
async fn room_limit_holds_across_servers() {
    let redis = Redis::start();
    let config = ServerConfig {
        limits: Limits {
            max_peers_per_room: 2,
            ..Limits::default()
        },
        ..on(&redis)
    };
    let (s1, s2) = two(config).await;
    let (_a, _, _) = Raw::join(&s1.ws_url(), "small").await;
    let (_b, _, _) = Raw::join(&s2.ws_url(), "small").await;
    for url in [s1.ws_url(), s2.ws_url()] {
        let mut c = Raw::connect(&url).await;
        c.send(json!({"type": "join", "v": 1, "room": "small"}))
            .await;
        assert_eq!(c.recv().await["code"], "room-full");
        assert_eq!(c.close_code().await, Some(4004));
    }
    // Another room is not affected.
    let (_d, _, _) = Raw::join(&s2.ws_url(), "other").await;
}

#[tokio::test]
async fn grace_expiry_and_bye_reach_peers_on_the_other_server() {
    let redis = Redis::start();
    let config = ServerConfig {
        grace: Duration::from_millis(600),
        ..on(&redis)
    };
    let (s1, s2) = two(config).await;
    let (mut a, _, _) = Raw::join(&s1.ws_url(), "g").await;
    let (b, b_id, b_token) = Raw::join(&s2.ws_url(), "g").await;
    let (mut c, c_id, _) = Raw::join(&s2.ws_url(), "g").await;
    a.recv_type("peer-joined").await;
    a.recv_type("peer-joined").await;
    drop(b);
    assert_eq!(a.recv().await["type"], "peer-suspended");
    let left = a.recv().await; // the reaper ends the grace window (any process)
    assert_eq!(left["type"], "peer-left", "{left}");
    assert_eq!(left["peer_id"], b_id.as_str());
    let mut b2 = Raw::connect(&s1.ws_url()).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": b_token, "last_seq": 0}))
        .await;
    assert_eq!(b2.recv().await["code"], "resume-unknown");
    c.send(json!({"type": "bye"})).await;
    assert_eq!(c.close_code().await, Some(1000));
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-left", "seq": 5, "peer_id": c_id})
    );
}

/// Receives signals until `n` arrived; returns their `data` as numbers, in order.
pub(crate) async fn numbers(client: &mut SignalingClient, n: usize) -> Vec<u64> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() < n {
        let event = tokio::time::timeout_at(deadline, client.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} signals arrived: {got:?}", got.len()))
            .expect("client open");
        match event {
            ClientEvent::Signal { data, .. } => got.push(data.get().parse().unwrap()),
            ClientEvent::NotDelivered { messages } => {
                panic!("{} signal(s) reported not delivered", messages.len())
            }
            ClientEvent::Closed { reason } => panic!("client closed: {reason}"),
            _ => {}
        }
    }
    got
}

#[tokio::test]
async fn graceful_shutdown_mid_stream_loses_nothing() {
    let redis = Redis::start();
    let (s1, s2) = two(on(&redis)).await;
    let (u1, u2) = (s1.ws_url(), s2.ws_url());
    let alice =
        SignalingClient::connect(ClientConfig::new(&u1, "talk").with_fallback_urls([u2.clone()]))
            .await
            .unwrap();
    let mut bob = SignalingClient::connect(ClientConfig::new(&u2, "talk"))
        .await
        .unwrap();
    let bob_id: PeerId = bob.peer_id();
    const N: u64 = 300;
    let sender = tokio::spawn(async move {
        for n in 1..=N {
            alice.send_json(&bob_id, &n).await.unwrap();
            if n % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        alice
    });
    // Shut the first server down while alice is sending through it: she is closed with 1001
    // and resumes on the second.
    tokio::time::sleep(Duration::from_millis(20)).await;
    s1.shutdown(Duration::from_secs(5)).await.unwrap();
    let got = numbers(&mut bob, N as usize).await;
    assert_eq!(
        got,
        (1..=N).collect::<Vec<_>>(),
        "every accepted signal, in order, once"
    );
    let alice = sender.await.unwrap();
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn bind_fails_with_a_clear_error_when_redis_does_not_answer() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .unwrap()
        .port(); // closed again: nothing listens there
    let config = ServerConfig {
        redis_url: Some(format!("redis://127.0.0.1:{port}/0")),
        ..ServerConfig::default()
    };
    let err = Server::bind("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect_err("no Redis, no server");
    assert!(matches!(err, ServerError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("Redis is unreachable"), "{err}");
    let bad = ServerConfig {
        redis_url: Some("http://not-redis".into()),
        ..ServerConfig::default()
    };
    let err = Server::bind("127.0.0.1:0".parse().unwrap(), bad)
        .await
        .expect_err("a bad URL");
    assert!(err.to_string().contains("bad Redis URL"), "{err}");
}

#[tokio::test]
async fn redis_outage_closes_with_4013_and_the_server_recovers_when_redis_is_back() {
    let redis = Redis::start();
    let port = redis.port;
    let server = start(on(&redis)).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "o").await;
    let (_b, b_id, _) = Raw::join(&url, "o").await;
    a.recv_type("peer-joined").await;
    drop(redis); // Redis goes away
    a.send(signal(&b_id, json!(1))).await;
    let err = a.recv().await;
    assert_eq!(err["code"], "unavailable", "{err}");
    assert_eq!(a.close_code().await, Some(4013));
    let mut c = Raw::connect(&url).await;
    c.send(json!({"type": "join", "v": 1, "room": "o"})).await;
    assert_eq!(c.recv().await["code"], "unavailable");
    assert_eq!(
        http_get(&server, "/healthz").await.0,
        200,
        "the server lives on"
    );

    // Redis is back (empty: it kept nothing): new peers join and relay, the subscription too.
    let _redis = Redis::start_on(port);
    let deadline = Instant::now() + WAIT;
    let (mut d, d_id, e, e_id) = loop {
        let mut d = Raw::connect(&url).await;
        d.send(json!({"type": "join", "v": 1, "room": "back"}))
            .await;
        let joined = d.recv().await;
        if joined["type"] == "joined" {
            let (e, e_id, _) = Raw::join(&url, "back").await;
            break (d, joined["peer_id"].as_str().unwrap().to_owned(), e, e_id);
        }
        assert!(Instant::now() < deadline, "no recovery: {joined}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut e = e;
    e.send(signal(&d_id, json!("again"))).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let m = d.recv().await;
        if m["type"] == "signal" {
            assert_eq!(
                (m["from"].as_str(), &m["data"]),
                (Some(e_id.as_str()), &json!("again"))
            );
            break;
        }
        assert!(Instant::now() < deadline);
    }
}

#[tokio::test]
async fn a_server_restart_on_redis_resumes_instead_of_rejoining() {
    let redis = Redis::start();
    let server = start(on(&redis)).await;
    let addr = server.local_addr();
    let url = server.ws_url();
    let alice = SignalingClient::connect(ClientConfig::new(&url, "rs"))
        .await
        .unwrap();
    let mut bob = SignalingClient::connect(ClientConfig::new(&url, "rs"))
        .await
        .unwrap();
    let (alice_id, bob_id) = (alice.peer_id(), bob.peer_id());
    for n in 1..=3u64 {
        alice.send_json(&bob_id, &n).await.unwrap();
    }
    assert_eq!(numbers(&mut bob, 3).await, [1, 2, 3]);
    server.shutdown(WAIT).await.unwrap();
    for n in 4..=6u64 {
        alice.send_json(&bob_id, &n).await.unwrap(); // while no server runs
    }
    let server = Server::bind(addr, on(&redis)).await.unwrap();
    assert_eq!(numbers(&mut bob, 3).await, [4, 5, 6]);
    assert_eq!(
        (alice.peer_id(), bob.peer_id()),
        (alice_id, bob_id),
        "same peers"
    );
    alice.close().await;
    bob.close().await;
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn frames_published_while_the_subscription_was_down_are_caught_up() {
    let redis = Redis::start();
    let server = start(on(&redis)).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "sub").await;
    let (mut b, b_id, _) = Raw::join(&url, "sub").await;
    a.recv_type("peer-joined").await;
    a.send(signal(&b_id, json!(1))).await;
    assert_eq!(b.recv().await["data"], 1);
    // Redis drops the server's subscription; a signal is published while nobody listens.
    assert_eq!(redis.command("CLIENT KILL TYPE pubsub"), ":1");
    a.send(signal(&b_id, json!(2))).await;
    let m = b.recv().await; // from the inbox, once subscribed again
    assert_eq!((m["seq"].as_u64(), &m["data"]), (Some(2), &json!(2)), "{m}");
    a.send(signal(&b_id, json!(3))).await;
    assert_eq!(b.recv().await["data"], 3);
    b.fence().await; // each exactly once
}
