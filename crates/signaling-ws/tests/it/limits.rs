//! Bad input, floods, limits, liveness, slow consumers and signed room tokens.

use std::time::Duration;

use futures_util::SinkExt;
use serde_json::json;
use signaling_ws::{Limits, RoomTokenKey, ServerConfig};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{metric, signal, start, wait_metric, Raw, WAIT};

fn with_limits(limits: Limits) -> ServerConfig {
    ServerConfig {
        limits,
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn bad_input_gets_an_error_and_everyone_else_is_served() {
    let server = start(ServerConfig::default()).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "ok").await;
    let (mut b, b_id, _) = Raw::join(&url, "ok").await;
    a.recv_type("peer-joined").await;

    let mut bad = Raw::connect(&url).await;
    let cases: [(&str, &str); 8] = [
        ("not json", "bad-message"),
        ("[1,2]", "bad-message"),
        (r#"{"type":"dance"}"#, "unknown-type"),
        (r#"{"type":"join","v":1}"#, "bad-message"),
        (
            r#"{"type":"resume","v":1,"resume_token":"x"}"#,
            "bad-message",
        ),
        (r#"{"type":"signal","to":"p","data":1}"#, "not-joined"),
        (
            r#"{"type":"join","v":1,"room":"has space"}"#,
            "invalid-room",
        ),
        (r#"{"type":"ack","seq":1}"#, "not-joined"),
    ];
    for (text, code) in cases {
        bad.send_text(text).await;
        let err = bad.recv().await;
        assert_eq!(
            (err["type"].as_str(), err["code"].as_str()),
            (Some("error"), Some(code)),
            "{text}"
        );
        // Between the bad frames, the good pair keeps working.
        a.send(signal(&b_id, json!(text))).await;
        assert_eq!(b.recv().await["data"], text);
    }
    let huge_room = "r".repeat(10_000);
    bad.send(json!({"type": "join", "v": 1, "room": huge_room}))
        .await;
    assert_eq!(bad.recv().await["code"], "invalid-room");
    bad.ws.send(Message::binary(vec![0u8; 16])).await.unwrap();
    assert_eq!(bad.recv().await["code"], "binary-unsupported");
    // Joined peers get the same treatment, and keep their membership.
    b.send_text("{").await;
    assert_eq!(b.recv().await["code"], "bad-message");
    b.send(json!({"type": "signal", "to": b_id})).await;
    assert_eq!(b.recv().await["code"], "bad-message");
    b.send(json!({"type": "join", "v": 1, "room": "ok"})).await;
    assert_eq!(b.recv().await["code"], "already-joined");
    a.send(signal(&b_id, json!("still here"))).await;
    assert_eq!(b.recv().await["data"], "still here");

    // A wrong version closes.
    bad.send(json!({"type": "join", "v": 99, "room": "ok"}))
        .await;
    assert_eq!(bad.recv().await["code"], "unsupported-version");
    assert_eq!(bad.close_code().await, Some(4002));

    // An oversized frame closes with 1009; the others are unaffected.
    let mut big = Raw::connect(&url).await;
    big.send(json!({"type": "join", "v": 1, "room": "x".repeat(100 * 1024)}))
        .await;
    let code = big.close_code().await;
    assert!(code == Some(1009) || code.is_none(), "{code:?}");
    wait_metric(
        &server,
        "tether_signaling_drops_total{reason=\"too_big\"}",
        |v| v == 1,
    )
    .await;
    a.send(signal(&b_id, json!("after"))).await;
    assert_eq!(b.recv().await["data"], "after");
    assert!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"bad_message\"}"
        )
        .await
            >= 7
    );
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn a_flood_is_rate_limited_then_closed() {
    let server = start(with_limits(Limits {
        messages_per_second: 5,
        message_burst: 10,
        ..Limits::default()
    }))
    .await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "f").await;
    let (mut flood, _, _) = Raw::join(&url, "f").await;
    a.recv_type("peer-joined").await;
    for i in 0..200u64 {
        let text = json!({"type": "ping", "nonce": i}).to_string();
        if flood.ws.send(Message::text(text)).await.is_err() {
            break;
        }
    }
    let mut pongs = 0;
    let mut limited = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut flood.ws))
            .await
            .expect("in time")
        {
            Some(Ok(Message::Text(t))) => {
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                match v["type"].as_str() {
                    Some("pong") => pongs += 1,
                    Some("error") => {
                        assert_eq!(v["code"], "rate-limited");
                        limited += 1;
                    }
                    _ => {}
                }
            }
            Some(Ok(Message::Close(c))) => break c.map(|c| u16::from(c.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(code, Some(4008));
    // The burst is 10 tokens, one of which paid for the join.
    // (A slow machine may refill a few tokens while the flood is written.)
    assert!((9..=20).contains(&pongs), "{pongs} pongs");
    assert!(
        (1..=2).contains(&limited),
        "one warning per window: {limited}"
    );
    // The flooder is suspended, not gone; the other peer is still served.
    assert_eq!(a.recv().await["type"], "peer-suspended");
    a.fence().await;
    assert!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"rate_limited\"}"
        )
        .await
            >= 11
    );
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn join_deadline_room_full_and_connection_limit() {
    let server = start(with_limits(Limits {
        join_timeout: Duration::from_millis(200),
        max_peers_per_room: 2,
        max_connections: 3,
        ..Limits::default()
    }))
    .await;
    let url = server.ws_url();
    let mut idle = Raw::connect(&url).await;
    assert_eq!(idle.close_code().await, Some(4001));
    drop(idle);
    wait_metric(&server, "tether_signaling_connections", |v| v == 0).await;

    let (_a, _, _) = Raw::join(&url, "full").await;
    let (_b, _, _) = Raw::join(&url, "full").await;
    let mut c = Raw::connect(&url).await;
    c.send(json!({"type": "join", "v": 1, "room": "full"}))
        .await;
    assert_eq!(c.recv().await["code"], "room-full");
    assert_eq!(c.close_code().await, Some(4004));
    drop(c);
    wait_metric(&server, "tether_signaling_connections", |v| v == 2).await;

    let _c = Raw::connect(&url).await;
    let refused = tokio_tungstenite::connect_async(url.as_str()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    assert_eq!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"connection_limit\"}"
        )
        .await,
        1
    );
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn a_silent_connection_fails_liveness() {
    let server = start(ServerConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "live").await;
    let (mut mute, _, _) = Raw::join(&url, "live").await;
    a.recv_type("peer-joined").await;
    // `mute` never reads, so it never answers pings; `a` reads (and pongs) all along.
    assert_eq!(
        a.recv_type("peer-suspended").await["type"],
        "peer-suspended"
    );
    assert_eq!(mute.close_code().await, Some(4011));
    assert_eq!(
        metric(&server, "tether_signaling_drops_total{reason=\"liveness\"}").await,
        1
    );
    a.fence().await;
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn a_slow_consumer_is_cut_and_memory_stays_bounded() {
    let limits = Limits {
        outbound_queue: 8,
        resume_buffer: 64,
        resume_buffer_bytes: 256 * 1024,
        messages_per_second: 100_000,
        message_burst: 100_000,
        write_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = start(with_limits(limits)).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "slow").await;
    let (slow, slow_id, _) = Raw::join(&url, "slow").await;
    a.recv_type("peer-joined").await;
    let chunk = "x".repeat(32 * 1024);
    // `slow` never reads. Sends stop once it is suspended and then evicted.
    let mut left = false;
    for _ in 0..2_000 {
        a.send(signal(&slow_id, json!(chunk))).await;
        let kept = metric(&server, "tether_signaling_resume_buffer_bytes").await;
        assert!(
            kept <= 2 * 256 * 1024 + 64 * 1024,
            "resume buffers bounded: {kept}"
        );
        let gone = metric(&server, "tether_signaling_peers").await == 1;
        if gone {
            left = true;
            break;
        }
    }
    let (_, m) = crate::support::http_get(&server, "/metrics").await;
    assert!(left, "the slow peer was evicted: {m}");
    assert!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"slow_consumer\"}"
        )
        .await
            >= 1
    );
    // What is left is the few membership events kept for `a`.
    assert!(metric(&server, "tether_signaling_resume_buffer_bytes").await < 1024);
    a.recv_type("peer-left").await;
    drop(slow);
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn signed_room_tokens_accept_reject_and_expire() {
    let key = RoomTokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let server = start(ServerConfig {
        room_tokens: Some(key.clone()),
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();

    let good = key.sign("vip", Duration::from_secs(60));
    let mut c = Raw::connect(&url).await;
    c.send(json!({"type": "join", "v": 1, "room": "vip", "token": good}))
        .await;
    assert_eq!(c.recv().await["type"], "joined");

    let cases = [
        (None, "invalid-token"),
        (
            Some(key.sign("other-room", Duration::from_secs(60))),
            "invalid-token",
        ),
        (Some("v1.99999999999.00ff".to_owned()), "invalid-token"),
        (Some(key.sign_until("vip", 1)), "token-expired"),
    ];
    for (token, code) in cases {
        let mut c = Raw::connect(&url).await;
        c.send(json!({"type": "join", "v": 1, "room": "vip", "token": token}))
            .await;
        assert_eq!(c.recv().await["code"], code);
        assert_eq!(c.close_code().await, Some(4003));
    }
    server.shutdown(WAIT).await.unwrap();
}

/// Writes one masked client frame with the given first byte straight to the socket.
async fn raw_frame(raw: &mut Raw, first: u8, payload: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    let mut frame = vec![first, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    match raw.ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.write_all(&frame).await.unwrap(),
        _ => unreachable!("plain ws:// in these tests"),
    }
}

#[tokio::test]
async fn protocol_violations_close_with_1002_and_1007() {
    let server = start(ServerConfig::default()).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "pv").await;
    let (mut b, b_id, _) = Raw::join(&url, "pv").await;
    a.recv_type("peer-joined").await;
    // Reserved bit 1 set on a text frame, with no extension negotiated.
    let mut rsv = Raw::connect(&url).await;
    raw_frame(&mut rsv, 0x80 | 0x40 | 0x1, b"{}").await;
    assert_eq!(rsv.close_code().await, Some(1002));
    // A text frame that is not UTF-8.
    let mut utf8 = Raw::connect(&url).await;
    raw_frame(&mut utf8, 0x80 | 0x1, &[0xff, 0xfe, 0xfd]).await;
    assert_eq!(utf8.close_code().await, Some(1007));
    assert_eq!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"protocol_violation\"}"
        )
        .await,
        2
    );
    // JSON arrays are not messages; too deeply nested data is refused; others relay.
    a.send_text(r#"["join", 1, "pv"]"#).await;
    assert_eq!(a.recv().await["code"], "bad-message");
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    a.send_text(&format!(
        r#"{{"type":"signal","to":"{b_id}","data":{deep}}}"#
    ))
    .await;
    assert_eq!(a.recv().await["code"], "bad-message");
    let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
    a.send_text(&format!(r#"{{"type":"signal","to":"{b_id}","data":{ok}}}"#))
        .await;
    assert!(b.recv_type("signal").await["data"].is_array());
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn origins_and_token_lifetimes() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let key = RoomTokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let server = start(ServerConfig {
        room_tokens: Some(key.clone()),
        allowed_origins: vec!["https://app.example".into()],
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let with_origin = |origin: &str| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req
    };
    match tokio_tungstenite::connect_async(with_origin("https://evil.example")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let (ws, _) = tokio_tungstenite::connect_async(with_origin("https://app.example"))
        .await
        .expect("an allowed origin");
    let mut allowed = Raw { ws };
    // A token valid for ten years is refused: the default maximum lifetime is 24 h.
    let forever = key.sign("vip", Duration::from_secs(10 * 365 * 86_400));
    allowed
        .send(json!({"type": "join", "v": 1, "room": "vip", "token": forever}))
        .await;
    assert_eq!(allowed.recv().await["code"], "invalid-token");
    // No Origin (not a browser): allowed; a token in canonical form within the lifetime joins.
    let mut c = Raw::connect(&url).await;
    let good = key.sign("vip", Duration::from_secs(600));
    c.send(json!({"type": "join", "v": 1, "room": "vip", "token": good}))
        .await;
    assert_eq!(c.recv().await["type"], "joined");
    let upper = {
        let (head, mac) = good.rsplit_once('.').unwrap();
        format!("{head}.{}", mac.to_uppercase())
    };
    let mut d = Raw::connect(&url).await;
    d.send(json!({"type": "join", "v": 1, "room": "vip", "token": upper}))
        .await;
    assert_eq!(d.recv().await["code"], "invalid-token");
    assert_eq!(
        metric(&server, "tether_signaling_drops_total{reason=\"origin\"}").await,
        1
    );
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn metrics_on_their_own_address() {
    let server = start(ServerConfig {
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..ServerConfig::default()
    })
    .await;
    assert_ne!(server.metrics_addr(), server.local_addr());
    let (status, _) = crate::support::http_get(&server, "/metrics").await;
    assert_eq!(status, 404, "not on the public address");
    let (status, body) = crate::support::http_get_at(server.metrics_addr(), "/metrics").await;
    assert_eq!(status, 200);
    assert!(body.contains("tether_signaling_connections "), "{body}");
    // The earlier request to the public address was a plain HTTP request.
    assert!(
        body.contains("tether_signaling_http_requests_total 2"),
        "{body}"
    );
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let server = start(ServerConfig {
        limits: Limits {
            max_connections_per_address: 2,
            ..Limits::default()
        },
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..ServerConfig::default()
    })
    .await;
    let url = server.ws_url();
    let via_proxy = |client: &str| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        req
    };
    // Through the proxy (127.0.0.1): two per forwarded client, then 429.
    let mut open = Vec::new();
    for _ in 0..2 {
        open.push(
            tokio_tungstenite::connect_async(via_proxy("203.0.113.5"))
                .await
                .expect("under the limit"),
        );
    }
    match tokio_tungstenite::connect_async(via_proxy("203.0.113.5")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status().as_u16(), 429)
        }
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }
    // Another forwarded client is counted apart.
    open.push(
        tokio_tungstenite::connect_async(via_proxy("203.0.113.6"))
            .await
            .expect("another client"),
    );
    // From an untrusted address the header is ignored: 127.0.0.2 is limited as itself.
    let mut direct = 0;
    for _ in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let tcp = socket.connect(server.local_addr()).await.unwrap();
        let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
        if let Ok(ws) = tokio_tungstenite::client_async(via_proxy("198.51.100.1"), stream).await {
            direct += 1;
            open.push(ws);
        }
    }
    assert_eq!(direct, 2);
    assert_eq!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"address_limit\"}"
        )
        .await,
        2
    );
    drop(open);
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn plain_disconnects_are_not_slow_consumers() {
    // Bounds far above what this test queues: `b` is never a slow consumer by them.
    let limits = Limits {
        outbound_queue: 1024,
        outbound_queue_bytes: 64 * 1024 * 1024,
        resume_buffer: 4096,
        resume_buffer_bytes: 64 * 1024 * 1024,
        messages_per_second: 10_000,
        message_burst: 10_000,
        ..Limits::default()
    };
    let server = start(with_limits(limits)).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "gone").await;
    let (b, b_id, _) = Raw::join(&url, "gone").await;
    a.recv_type("peer-joined").await;
    // `b` does not read: the socket buffers fill and the server's write to `b` blocks with
    // frames queued behind it. Then `b` goes away (a reset, with unread data): the blocked
    // write fails. That is a disconnect, not a slow consumer.
    let chunk = "z".repeat(32 * 1024);
    for _ in 0..300 {
        a.send(signal(&b_id, json!(chunk))).await;
    }
    a.fence().await;
    drop(b);
    a.recv_type("peer-suspended").await;
    assert_eq!(
        metric(
            &server,
            "tether_signaling_drops_total{reason=\"slow_consumer\"}"
        )
        .await,
        0
    );
    server.shutdown(WAIT).await.unwrap();
}

/// Suspended peers count against their address (open connections and suspended peers together
/// at most twice `max_connections_per_address`), on both backends.
async fn suspended_peers_count_against_their_address(base: ServerConfig) {
    let server = start(ServerConfig {
        limits: Limits {
            max_connections_per_address: 2,
            ..Limits::default()
        },
        ..base
    })
    .await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "held").await;
    let (b, _, _) = Raw::join(&url, "held").await;
    a.recv_type("peer-joined").await;
    drop(b);
    a.recv_type("peer-suspended").await;
    drop(a); // both suspended: 0 open + 2 suspended
    let mut c = Raw::connect(&url).await;
    c.send(json!({"type": "join", "v": 1, "room": "held"}))
        .await;
    let joined = c.recv().await;
    let a_attached = joined["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["suspended"] == false)
        .count();
    for _ in 0..a_attached {
        c.recv_type("peer-suspended").await;
    }
    let (d, _, _) = Raw::join(&url, "held").await;
    c.recv_type("peer-joined").await;
    drop(d);
    c.recv_type("peer-suspended").await; // 1 open + 3 suspended
                                         // One more open connection would make five: refused, although only one is open.
    let refused = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url.as_str()))
        .await
        .expect("an answer in time");
    assert!(refused.is_err(), "a fifth slot for the address");
    c.fence().await;
    server.shutdown(WAIT).await.unwrap();
}

crate::both_backends!(suspended_peers_count_against_their_address);
