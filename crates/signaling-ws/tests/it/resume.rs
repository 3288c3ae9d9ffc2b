//! Suspension, resume with replay, grace expiry, and the client's own reconnects.

use std::time::Duration;

use serde_json::json;
use signaling_ws::{ClientConfig, ClientEvent, Limits, ServerConfig, SignalingClient};

use crate::relay::next;
use crate::support::{metric, signal, start, wait_metric, Raw, WAIT};

fn config(base: &ServerConfig, grace: Duration) -> ServerConfig {
    ServerConfig {
        grace,
        ..base.clone()
    }
}

async fn resume_replays_missed_messages_in_order_exactly_once(base: ServerConfig) {
    let server = start(config(&base, Duration::from_secs(30))).await;
    let url = server.ws_url();
    let (mut a, a_id, _) = Raw::join(&url, "r").await;
    let (mut b, b_id, b_token) = Raw::join(&url, "r").await;
    a.recv_type("peer-joined").await;

    // B gets two messages, then its network drops (no bye, no close frame).
    a.send(signal(&b_id, json!(1))).await;
    a.send(signal(&b_id, json!(2))).await;
    assert_eq!(b.recv().await["seq"], 1);
    assert_eq!(b.recv().await["seq"], 2);
    drop(b);
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-suspended", "seq": 2, "peer_id": b_id})
    );

    // Queued while suspended.
    for n in 3..=7 {
        a.send(signal(&b_id, json!(n))).await;
    }
    a.fence().await;

    let mut b2 = Raw::connect(&url).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": b_token, "last_seq": 2}))
        .await;
    let resumed = b2.recv().await;
    assert_eq!(resumed["type"], "resumed", "{resumed}");
    assert_eq!(resumed["peer_id"], b_id.as_str());
    assert_eq!(resumed["replayed"], 5);
    assert_eq!(resumed["peers"], json!([{"id": a_id, "suspended": false}]));
    let new_token = resumed["resume_token"].as_str().unwrap().to_owned();
    assert_ne!(new_token, b_token);
    for n in 3..=7u64 {
        let m = b2.recv().await;
        assert_eq!(
            (m["seq"].as_u64(), m["data"].as_u64()),
            (Some(n), Some(n)),
            "{m}"
        );
        assert_eq!(m["from"], a_id.as_str());
    }
    b2.fence().await; // exactly once: nothing else is pending
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-resumed", "seq": 3, "peer_id": b_id})
    );

    // Live again, numbering continues.
    a.send(signal(&b_id, json!(8))).await;
    assert_eq!(b2.recv().await["seq"], 8);

    // The old token is spent.
    let mut b3 = Raw::connect(&url).await;
    b3.send(json!({"type": "resume", "v": 1, "resume_token": b_token, "last_seq": 2}))
        .await;
    assert_eq!(b3.recv().await["code"], "resume-unknown");
    assert_eq!(
        metric(&server, "tether_signaling_resumes_total{result=\"ok\"}").await,
        1
    );
    assert_eq!(
        metric(&server, "tether_signaling_resumes_total{result=\"failed\"}").await,
        1
    );
    server.shutdown(WAIT).await.unwrap();
}

async fn resume_on_a_new_connection_closes_the_old_one(base: ServerConfig) {
    let server = start(config(&base, Duration::from_secs(30))).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "r").await;
    let (mut b, b_id, token) = Raw::join(&url, "r").await;
    a.recv_type("peer-joined").await;
    a.send(signal(&b_id, json!("x"))).await;
    assert_eq!(b.recv().await["seq"], 1);

    // B's old socket is still open (the server has not noticed any drop).
    let mut b2 = Raw::connect(&url).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": token, "last_seq": 0}))
        .await;
    let resumed = b2.recv().await;
    assert_eq!(resumed["replayed"], 1);
    assert_eq!(b2.recv().await["data"], "x");
    assert_eq!(b.close_code().await, Some(4009));
    // A saw no suspension: the peer never was.
    a.fence().await;
    server.shutdown(WAIT).await.unwrap();
}

async fn grace_expiry_means_peer_left_and_resume_is_refused(base: ServerConfig) {
    let server = start(config(&base, Duration::from_millis(300))).await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "r").await;
    let (b, b_id, token) = Raw::join(&url, "r").await;
    a.recv_type("peer-joined").await;
    drop(b);
    assert_eq!(a.recv().await["type"], "peer-suspended");
    assert_eq!(
        a.recv().await,
        json!({"type": "peer-left", "seq": 3, "peer_id": b_id})
    );
    assert_eq!(
        metric(&server, "tether_signaling_grace_expired_total").await,
        1
    );

    // The verdict is explicit, and the same connection may join again.
    let mut b2 = Raw::connect(&url).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": token, "last_seq": 0}))
        .await;
    let verdict = b2.recv().await;
    assert_eq!(verdict["code"], "resume-unknown");
    b2.send(json!({"type": "join", "v": 1, "room": "r"})).await;
    assert_eq!(b2.recv().await["type"], "joined");
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn suspended_peer_over_its_resume_buffer_is_evicted() {
    let limits = Limits {
        resume_buffer: 4,
        ..Limits::default()
    };
    let server = start(ServerConfig {
        limits,
        ..config(&ServerConfig::default(), Duration::from_secs(30))
    })
    .await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "r").await;
    let (b, b_id, token) = Raw::join(&url, "r").await;
    a.recv_type("peer-joined").await;
    drop(b);
    a.recv_type("peer-suspended").await;
    for n in 0..5 {
        a.send(signal(&b_id, json!(n))).await;
    }
    assert_eq!(a.recv_type("peer-left").await["peer_id"], b_id.as_str());
    let mut b2 = Raw::connect(&url).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": token, "last_seq": 0}))
        .await;
    assert_eq!(b2.recv().await["code"], "resume-unknown");
    assert_eq!(
        metric(&server, "tether_signaling_drops_total{reason=\"evicted\"}").await,
        1
    );
    // Only the membership events kept for `a` remain.
    assert!(metric(&server, "tether_signaling_resume_buffer_bytes").await < 1024);
    server.shutdown(WAIT).await.unwrap();
}

async fn resume_from_before_the_kept_window_is_a_gap(base: ServerConfig) {
    let limits = Limits {
        resume_buffer: 4,
        ..Limits::default()
    };
    let server = start(ServerConfig {
        limits,
        ..config(&base, Duration::from_secs(30))
    })
    .await;
    let url = server.ws_url();
    let (mut a, _, _) = Raw::join(&url, "r").await;
    let (mut b, b_id, token) = Raw::join(&url, "r").await;
    a.recv_type("peer-joined").await;
    for n in 1..=10u64 {
        a.send(signal(&b_id, json!(n))).await;
        assert_eq!(b.recv().await["seq"], n);
    }
    // B never acked; only seq 7..=10 are kept. Resuming from 2 cannot be made whole.
    let mut b2 = Raw::connect(&url).await;
    b2.send(json!({"type": "resume", "v": 1, "resume_token": token, "last_seq": 2}))
        .await;
    assert_eq!(b2.recv().await["code"], "resume-gap");
    assert_eq!(b.close_code().await, Some(4009));
    assert_eq!(a.recv_type("peer-left").await["peer_id"], b_id.as_str());
    server.shutdown(WAIT).await.unwrap();
}

async fn client_reconnects_and_resumes_by_itself(base: ServerConfig) {
    let server = start(config(&base, Duration::from_secs(30))).await;
    let url = server.ws_url();
    let alice = SignalingClient::connect(ClientConfig::new(&url, "auto"))
        .await
        .unwrap();
    let mut bob = SignalingClient::connect(ClientConfig::new(&url, "auto"))
        .await
        .unwrap();
    let bob_id = bob.peer_id();
    for n in 0..10 {
        alice.send_json(&bob_id, &n).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        if let ClientEvent::Signal { data, .. } = next(&mut bob).await {
            got.push(data.get().parse::<u32>().unwrap());
        }
    }
    // Bob's network "drops" mid-stream; Alice keeps sending meanwhile.
    bob.reconnect().await.unwrap();
    for n in 10..20 {
        alice.send_json(&bob_id, &n).await.unwrap();
    }
    let mut resumed = false;
    while got.len() < 20 {
        match next(&mut bob).await {
            ClientEvent::Signal { data, .. } => got.push(data.get().parse::<u32>().unwrap()),
            ClientEvent::Resumed { peers, .. } => {
                resumed = true;
                assert_eq!(peers.len(), 1);
            }
            ClientEvent::Reconnecting => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(resumed, "bob resumed");
    assert_eq!(got, (0..20).collect::<Vec<_>>(), "in order, exactly once");
    assert_eq!(bob.peer_id(), bob_id);
    wait_metric(
        &server,
        "tether_signaling_resumes_total{result=\"ok\"}",
        |v| v == 1,
    )
    .await;
    bob.close().await;
    drop(alice);
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn client_rejoins_when_resume_is_impossible() {
    let server = start(config(&ServerConfig::default(), Duration::from_millis(200))).await;
    let url = server.ws_url();
    let mut alice = SignalingClient::connect(ClientConfig::new(&url, "rj"))
        .await
        .unwrap();
    let bob = SignalingClient::connect(ClientConfig::new(&url, "rj"))
        .await
        .unwrap();
    let bob_id = bob.peer_id();
    assert!(matches!(next(&mut alice).await, ClientEvent::PeerJoined(_)));
    // Three signals the server has not confirmed yet (it confirms every 32nd).
    for n in 1..=3 {
        alice.send_json(&bob_id, &n).await.unwrap();
    }
    // Stop the server and start a new one on the same port: Alice's resume is unknown there.
    let addr = server.local_addr();
    server.shutdown(WAIT).await.unwrap();
    let server = signaling_ws::Server::bind(
        addr,
        config(&ServerConfig::default(), Duration::from_millis(200)),
    )
    .await
    .unwrap();
    let mut rejoined = None;
    let mut not_delivered = Vec::new();
    for _ in 0..20 {
        match next(&mut alice).await {
            ClientEvent::NotDelivered { messages } => {
                not_delivered = messages
                    .into_iter()
                    .map(|(to, d)| (to, d.get().to_owned()))
                    .collect();
            }
            ClientEvent::Rejoined { peer_id, .. } => {
                rejoined = Some(peer_id);
                break;
            }
            ClientEvent::Reconnecting | ClientEvent::PeerSuspended(_) => {}
            ClientEvent::PeerJoined(id) | ClientEvent::PeerLeft(id) => {
                assert_ne!(id, bob_id);
            }
            other => panic!("{other:?}"),
        }
    }
    let new_id = rejoined.expect("alice rejoined");
    // Without a shared backend the restart lost what the server held: the application hears
    // which signals may not have been relayed (reported before `Rejoined`).
    let expected: Vec<_> = (1..=3).map(|n| (bob_id.clone(), n.to_string())).collect();
    assert_eq!(not_delivered, expected);
    assert_eq!(alice.peer_id(), new_id);
    drop(bob);
    server.shutdown(WAIT).await.unwrap();
}

#[tokio::test]
async fn a_reconnector_resumes_the_client_and_does_not_keep_it_alive() {
    let server = start(config(&ServerConfig::default(), Duration::from_secs(30))).await;
    let url = server.ws_url();
    let alice = SignalingClient::connect(ClientConfig::new(&url, "rc"))
        .await
        .unwrap();
    let mut bob = SignalingClient::connect(ClientConfig::new(&url, "rc"))
        .await
        .unwrap();
    let bob_id = bob.peer_id();
    // The handle can be used without the client (as when an adapter owns the client).
    let reconnector = bob.reconnector();
    reconnector.reconnect().await.unwrap();
    alice.send_json(&bob_id, &1).await.unwrap();
    let (mut resumed, mut got) = (false, None);
    while got.is_none() || !resumed {
        match next(&mut bob).await {
            ClientEvent::Resumed { .. } => resumed = true,
            ClientEvent::Signal { data, .. } => got = Some(data.get().to_owned()),
            ClientEvent::Reconnecting => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(resumed, "bob resumed");
    assert_eq!(got.as_deref(), Some("1"));
    assert_eq!(bob.peer_id(), bob_id, "the same peer after the resume");
    // Once the client is gone, the handle says so (it did not keep the driver alive).
    bob.close().await;
    assert!(matches!(
        reconnector.reconnect().await,
        Err(signaling_ws::ClientError::Closed)
    ));
    drop(alice);
    server.shutdown(WAIT).await.unwrap();
}

crate::both_backends!(
    resume_replays_missed_messages_in_order_exactly_once,
    resume_on_a_new_connection_closes_the_old_one,
    grace_expiry_means_peer_left_and_resume_is_refused,
    resume_from_before_the_kept_window_is_a_gap,
    client_reconnects_and_resumes_by_itself
);

#[tokio::test]
async fn a_token_source_lets_the_client_rejoin_after_its_first_token_expired() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let key =
        signaling_ws::RoomTokenKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap();
    let tokens = ServerConfig {
        room_tokens: Some(key.clone()),
        ..ServerConfig::default()
    };
    let server = start(tokens.clone()).await;
    let url = server.ws_url();
    let short = key.sign("tk", Duration::from_secs(2));
    // The application's source: the short-lived token first, fresh ones later.
    let calls = Arc::new(AtomicUsize::new(0));
    let (first, asked) = (short.clone(), Arc::clone(&calls));
    let source = move || {
        Some(match asked.fetch_add(1, Ordering::Relaxed) {
            0 => first.clone(),
            _ => key.sign("tk", Duration::from_secs(60)),
        })
    };
    let mut alice =
        SignalingClient::connect(ClientConfig::new(&url, "tk").with_token_source(source))
            .await
            .unwrap();
    let mut bob = SignalingClient::connect(ClientConfig::new(&url, "tk").with_token(short))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await; // the short token has expired
                                                           // A restart of the (in-memory) server: resume is impossible, both must join again.
    let addr = server.local_addr();
    server.shutdown(WAIT).await.unwrap();
    let server = signaling_ws::Server::bind(addr, tokens).await.unwrap();
    let mut rejoined = false;
    while !rejoined {
        match next(&mut alice).await {
            ClientEvent::Rejoined { .. } => rejoined = true,
            ClientEvent::Closed { reason } => panic!("alice gave up: {reason}"),
            _ => {}
        }
    }
    assert!(
        calls.load(Ordering::Relaxed) >= 2,
        "the source was asked again"
    );
    // Without a source, the expired token ends the client, and it says why.
    loop {
        if let ClientEvent::Closed { reason } = next(&mut bob).await {
            assert!(reason.contains("token-expired"), "{reason}");
            break;
        }
    }
    alice.close().await;
    server.shutdown(WAIT).await.unwrap();
}
