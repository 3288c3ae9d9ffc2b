//! Join, relay, leave; room isolation; the server stamps `from`; the client library; HTTP
//! endpoints.

use std::time::Duration;

use serde_json::json;
use signaling_ws::{ClientConfig, ClientEvent, EmbeddedFile, ServerConfig, SignalingClient};

use crate::support::{http_get, metric, signal, start, Raw, WAIT};

async fn join_relay_leave(base: ServerConfig) {
    let server = start(base).await;
    let url = server.ws_url();
    let (mut a, a_id, _) = Raw::join(&url, "room-1").await;
    let mut b = Raw::connect(&url).await;
    b.send(json!({"type": "join", "v": 1, "room": "room-1"}))
        .await;
    let joined = b.recv().await;
    assert_eq!(joined["peers"], json!([{"id": a_id, "suspended": false}]));
    let b_id = joined["peer_id"].as_str().unwrap().to_owned();
    assert_ne!(a_id, b_id);
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-joined", "seq": 1, "peer_id": b_id})
    );

    // `data` arrives byte for byte (spacing and key order kept).
    let raw = format!(r#"{{"type":"signal","to":"{b_id}","data":{{"z": 1,  "a":"x"}}}}"#);
    a.send_text(&raw).await;
    let msg = b.ws_text().await;
    assert_eq!(
        msg,
        format!(r#"{{"type":"signal","seq":1,"from":"{a_id}","data":{{"z": 1,  "a":"x"}}}}"#)
    );

    b.send(json!({"type": "bye"})).await;
    assert_eq!(b.close_code().await, Some(1000));
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-left", "seq": 2, "peer_id": b_id})
    );
    a.fence().await;
    assert_eq!(
        metric(&server, "tether_signaling_signals_relayed_total").await,
        1
    );
    server.shutdown(WAIT).await.unwrap();
}

async fn rooms_are_isolated_and_from_cannot_be_spoofed(base: ServerConfig) {
    let server = start(base).await;
    let url = server.ws_url();
    let (mut a, a_id, _) = Raw::join(&url, "room-a").await;
    let (mut b, b_id, _) = Raw::join(&url, "room-a").await;
    let (mut c, c_id, _) = Raw::join(&url, "room-c").await;
    a.recv_type("peer-joined").await;

    // C cannot reach A: another room's peer is unknown.
    c.send(signal(&a_id, json!("hi"))).await;
    let err = c.recv().await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "unknown-peer");

    // A claims to be C: the server stamps the real sender.
    a.send(json!({"type": "signal", "to": b_id, "from": c_id, "data": 1}))
        .await;
    let got = b.recv().await;
    assert_eq!(got["from"], a_id.as_str());
    // A peer cannot signal itself either.
    a.send(signal(&a_id, json!(1))).await;
    assert_eq!(a.recv().await["code"], "unknown-peer");

    // Nothing leaked anywhere: each client's next message is its own pong.
    a.fence().await;
    b.fence().await;
    c.fence().await;
    server.shutdown(WAIT).await.unwrap();
}

async fn client_library_joins_relays_and_leaves(base: ServerConfig) {
    let server = start(base).await;
    let url = server.ws_url();
    let mut alice = SignalingClient::connect(ClientConfig::new(&url, "lib-room"))
        .await
        .unwrap();
    let mut bob = SignalingClient::connect(ClientConfig::new(&url, "lib-room"))
        .await
        .unwrap();
    assert_eq!(bob.peers().len(), 1);
    assert_eq!(bob.peers()[0].id, alice.peer_id());
    match next(&mut alice).await {
        ClientEvent::PeerJoined(id) => assert_eq!(id, bob.peer_id()),
        other => panic!("{other:?}"),
    }
    assert_eq!(alice.peers().len(), 1);

    for i in 0..10 {
        alice
            .send_json(&bob.peer_id(), &json!({"n": i}))
            .await
            .unwrap();
    }
    for i in 0..10 {
        match next(&mut bob).await {
            ClientEvent::Signal { from, data } => {
                assert_eq!(from, alice.peer_id());
                assert_eq!(data.get(), format!(r#"{{"n":{i}}}"#));
            }
            other => panic!("{other:?}"),
        }
    }
    let bob_id = bob.peer_id();
    bob.close().await;
    match next(&mut alice).await {
        ClientEvent::PeerLeft(id) => assert_eq!(id, bob_id),
        other => panic!("{other:?}"),
    }
    assert!(alice.peers().is_empty());
    alice.close().await;
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn health_ready_metrics_and_static_files() {
    let dir = std::env::temp_dir().join(format!("tether-sig-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>tether</h1>").unwrap();
    let config = ServerConfig {
        static_dir: Some(dir.clone()),
        ..ServerConfig::default()
    };
    let server = start(config).await;
    assert_eq!(http_get(&server, "/healthz").await, (200, "ok\n".into()));
    assert_eq!(http_get(&server, "/readyz").await, (200, "ready\n".into()));
    let (status, body) = http_get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("# TYPE tether_signaling_connections gauge"));
    assert!(body.contains("tether_signaling_resumes_total{result=\"failed\"} 0"));
    assert_eq!(
        http_get(&server, "/").await,
        (200, "<h1>tether</h1>".into())
    );
    assert_eq!(http_get(&server, "/index.html").await.1, "<h1>tether</h1>");
    assert_eq!(http_get(&server, "/../Cargo.toml").await.0, 404);
    assert_eq!(http_get(&server, "/missing.js").await.0, 404);

    let (_a, _, _) = Raw::join(&server.ws_url(), "m").await;
    assert_eq!(metric(&server, "tether_signaling_connections").await, 1);
    assert_eq!(metric(&server, "tether_signaling_rooms").await, 1);
    assert_eq!(metric(&server, "tether_signaling_joins_total").await, 1);
    server.shutdown(WAIT).await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn embedded_files_take_precedence_over_the_static_dir() {
    static FILES: &[EmbeddedFile] = &[
        EmbeddedFile {
            path: "/index.html",
            content_type: "text/html; charset=utf-8",
            body: b"<h1>embedded</h1>",
        },
        EmbeddedFile {
            path: "/app.js",
            content_type: "text/javascript; charset=utf-8",
            body: b"'use strict';",
        },
    ];
    let dir = std::env::temp_dir().join(format!("tether-sig-embed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>from disk</h1>").unwrap();
    std::fs::write(dir.join("other.txt"), "disk").unwrap();
    let config = ServerConfig {
        static_dir: Some(dir.clone()),
        embedded: FILES,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    assert_eq!(
        http_get(&server, "/").await,
        (200, "<h1>embedded</h1>".into())
    );
    assert_eq!(
        http_get(&server, "/index.html").await.1,
        "<h1>embedded</h1>"
    );
    assert_eq!(http_get(&server, "/app.js").await.1, "'use strict';");
    assert_eq!(http_get(&server, "/other.txt").await, (200, "disk".into()));
    assert_eq!(http_get(&server, "/healthz").await.0, 200);
    server.shutdown(WAIT).await.unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn shutdown_closes_clients_with_going_away() {
    let server = start(ServerConfig::default()).await;
    let (mut a, _, _) = Raw::join(&server.ws_url(), "bye-room").await;
    let down = tokio::spawn(server.shutdown(Duration::from_secs(5)));
    assert_eq!(a.close_code().await, Some(1001));
    drop(a);
    down.await.unwrap().unwrap();
}

pub(crate) async fn next(client: &mut SignalingClient) -> ClientEvent {
    tokio::time::timeout(WAIT, client.recv())
        .await
        .expect("an event in time")
        .expect("client open")
}

/// A response far larger than the 16 KiB request-head buffer goes out whole, and the
/// keep-alive connection then serves another request.
#[tokio::test]
async fn large_responses_and_keep_alive() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    static BIG: [u8; 1 << 20] = [b'x'; 1 << 20];
    static FILES: [EmbeddedFile; 1] = [EmbeddedFile {
        path: "/big.txt",
        content_type: "text/plain",
        body: &BIG,
    }];
    let server = start(ServerConfig {
        embedded: &FILES,
        ..ServerConfig::default()
    })
    .await;
    let (status, body) = http_get(&server, "/big.txt").await;
    assert_eq!((status, body.len()), (200, 1 << 20));
    let mut tcp = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    let exchange = async {
        for path in ["/healthz", "/readyz"] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
            tcp.write_all(req.as_bytes()).await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = tcp.read(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        }
    };
    tokio::time::timeout(WAIT, exchange).await.expect("in time");
    server.shutdown(WAIT).await.unwrap();
}

/// `cseq`: a repeat is dropped, every 32nd is confirmed with `accepted`, a resume reports the
/// highest accepted one, and a skipped number (a signal dropped for the rate) closes with 4008.
async fn numbered_signals_once_confirmed_and_gaps_close(base: ServerConfig) {
    let server = start(base).await;
    let url = server.ws_url();
    let (mut a, _, a_token) = Raw::join(&url, "n").await;
    let (mut b, b_id, _) = Raw::join(&url, "n").await;
    a.recv_type("peer-joined").await;
    let numbered = |n: u64| json!({"type": "signal", "to": b_id, "data": n, "cseq": n});
    for n in 1..=3 {
        a.send(numbered(n)).await;
    }
    a.send(numbered(2)).await; // a re-send after a doubtful drop: dropped as a repeat
    for n in 4..=32 {
        a.send(numbered(n)).await;
    }
    assert_eq!(a.recv().await, json!({"type": "accepted", "cseq": 32}));
    for n in 1..=32u64 {
        assert_eq!(b.recv().await["data"], n);
    }
    b.fence().await; // 32 signals, the repeat was not relayed
                     // The resume on a new connection reports the highest accepted `cseq`.
    let mut a2 = Raw::connect(&url).await;
    a2.send(json!({"type": "resume", "v": 1, "resume_token": a_token, "last_seq": 0}))
        .await;
    let resumed = a2.recv().await;
    assert_eq!(resumed["last_cseq"], 32, "{resumed}");
    a2.send(numbered(33)).await;
    assert_eq!(b.recv().await["data"], 33);
    // 34 never arrived (dropped for the rate, say): 35 must not confirm it.
    a2.send(numbered(35)).await;
    assert_eq!(a2.recv_type("error").await["code"], "rate-limited");
    assert_eq!(a2.close_code().await, Some(4008));
    // 35 was not relayed: b hears only that a's connection dropped.
    assert_eq!(b.recv().await["type"], "peer-suspended");
    b.fence().await;
    server.shutdown(WAIT).await.unwrap();
}

crate::both_backends!(
    numbered_signals_once_confirmed_and_gaps_close,
    join_relay_leave,
    rooms_are_isolated_and_from_cannot_be_spoofed,
    client_library_joins_relays_and_leaves
);
