//! `WsSignaling` through a real signaling server on 127.0.0.1:0.

use std::time::Duration;

use session_core::channel::DataChannelInit;
use session_core::signal::SignalMessage;
use signaling_ws::{
    random_room_name, ClientConfig, ClientEvent, Server, ServerConfig, ServerHandle,
    SignalingClient,
};
use tether::WsSignaling;
use transport_tokio::{GatherOptions, Message, PeerConfig, PeerConnection, PeerEvent, Signaling};

const WAIT: Duration = Duration::from_secs(15);

/// A signaling server on 127.0.0.1 (port 0), its WebSocket URL and a fresh room name.
async fn server_and_room() -> (ServerHandle, String, String) {
    let server = Server::bind("127.0.0.1:0".parse().unwrap(), ServerConfig::default())
        .await
        .unwrap();
    let url = server.ws_url();
    (server, url, random_room_name())
}

fn loopback(polite: bool) -> PeerConfig {
    let mut c = PeerConfig::new(polite);
    c.gather = GatherOptions::loopback_only();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_connect_through_the_server_and_chat() {
    let (server, url, room) = server_and_room().await;
    let sa = WsSignaling::connect(&url, &room, None).await.unwrap();
    let sb = WsSignaling::connect(&url, &room, None).await.unwrap();
    assert_eq!(sb.remote(), Some(&sa.peer_id()));
    let (a, _a_events) = PeerConnection::new(loopback(false), sa).unwrap();
    let (b, mut b_events) = PeerConnection::new(loopback(true), sb).unwrap();

    let mut dc_a = a
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    let mut dc_b = tokio::time::timeout(WAIT, async {
        loop {
            match b_events.recv().await.expect("B stopped") {
                PeerEvent::DataChannel(dc) => return dc,
                PeerEvent::TransportError(e) => panic!("B: {e}"),
                _ => {}
            }
        }
    })
    .await
    .expect("no data channel on B");
    assert_eq!(dc_b.label(), "chat");
    dc_a.send_text("hello over real signaling").await.unwrap();
    let got = tokio::time::timeout(WAIT, dc_b.recv()).await.unwrap();
    assert_eq!(got, Some(Message::Text("hello over real signaling".into())));
    dc_b.send_text("hello back").await.unwrap();
    let got = tokio::time::timeout(WAIT, dc_a.recv()).await.unwrap();
    assert_eq!(got, Some(Message::Text("hello back".into())));

    a.close().await;
    tokio::time::timeout(WAIT, async {
        a.wait_closed().await;
        b.wait_closed().await;
    })
    .await
    .expect("the peer connections did not stop");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// A peer alone in the room: what it sends waits for the other peer, in order; unreadable
/// data is skipped; a cancelled `recv` loses nothing; the other peer leaving reads as `bye`.
#[tokio::test]
async fn outbox_parsing_cancel_safety_and_peer_left() {
    let (server, url, room) = server_and_room().await;
    let mut glue = WsSignaling::connect(&url, &room, None).await.unwrap();
    assert_eq!(glue.remote(), None);
    for i in 0..3 {
        let msg = SignalMessage::Bye {
            reason: Some(format!("early {i}")),
        };
        glue.send(msg).await.unwrap();
    }

    // The other peer, as a raw client. The glue learns of it while receiving.
    let mut other = SignalingClient::connect(ClientConfig::new(&url, &room))
        .await
        .unwrap();
    let cancelled = tokio::time::timeout(Duration::from_millis(300), glue.recv()).await;
    assert!(cancelled.is_err(), "nothing was sent to the glue yet");
    assert_eq!(glue.remote(), Some(&other.peer_id()));
    let mut early = Vec::new();
    while early.len() < 3 {
        match tokio::time::timeout(WAIT, other.recv())
            .await
            .unwrap()
            .unwrap()
        {
            ClientEvent::Signal { from, data } => {
                assert_eq!(from, glue.peer_id());
                early.push(SignalMessage::from_json(data.get()).unwrap());
            }
            _ => continue,
        }
    }
    for (i, msg) in early.into_iter().enumerate() {
        assert_eq!(
            msg,
            SignalMessage::Bye {
                reason: Some(format!("early {i}"))
            }
        );
    }

    // Unreadable data is skipped; the next good message arrives.
    let to = glue.peer_id();
    other
        .send_json(&to, &serde_json::json!({"type": "nonsense"}))
        .await
        .unwrap();
    let good = SignalMessage::EndOfCandidates {
        username_fragment: None,
        sdp_mid: None,
    };
    other
        .send(
            &to,
            signaling_ws::RawValue::from_string(good.to_json()).unwrap(),
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, glue.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(good));

    // The other peer leaves: the session reads it as bye.
    other.close().await;
    let got = tokio::time::timeout(WAIT, glue.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(got, Some(SignalMessage::Bye { .. })),
        "expected bye, got {got:?}"
    );
    assert_eq!(glue.remote(), None);
    drop(glue);
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// `wait_for_remote` returns the other peer however it shows up (in the roster, joining
/// later), keeps what it signalled meanwhile for `recv`, and both ends get opposite roles.
#[tokio::test]
async fn wait_for_remote_keeps_early_signals_and_roles_are_opposite() {
    let (server, url, room) = server_and_room().await;
    let mut first = WsSignaling::connect(&url, &room, None).await.unwrap();
    let mut second = WsSignaling::connect(&url, &room, None).await.unwrap();
    // The second sees the first in the roster; it signals before the first has looked.
    let first_id = tokio::time::timeout(WAIT, second.wait_for_remote())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first_id, first.peer_id());
    let early = SignalMessage::Bye {
        reason: Some("early".into()),
    };
    second.send(early.clone()).await.unwrap();
    // The first learns of the second (peer-joined), and the signal is kept, not lost.
    let second_id = tokio::time::timeout(WAIT, first.wait_for_remote())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second_id, second.peer_id());
    let got = tokio::time::timeout(WAIT, first.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, Some(early));

    let (a, b) = (
        tether::polite_by_ids(&first.peer_id(), &second_id),
        tether::polite_by_ids(&second.peer_id(), &first_id),
    );
    assert_ne!(a, b, "exactly one of the two is polite");
    drop((first, second));
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[test]
fn the_role_rule_is_string_order() {
    use signaling_ws::PeerId;
    let (low, high) = (PeerId("0a".into()), PeerId("a0".into()));
    assert!(tether::polite_by_ids(&low, &high));
    assert!(!tether::polite_by_ids(&high, &low));
    // JavaScript's `<` on these ASCII ids is the same order (the page's rule).
    assert!(!tether::polite_by_ids(&low, &low));
}

/// `run_peer` (what `tether peer` runs) reports a connection that cannot be made as
/// `CliError::ConnectionFailed`, exit code 7: here the other peer advertises a fingerprint
/// that is not its certificate's, so DTLS fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_connection_is_exit_code_7() {
    let (server, url, room) = server_and_room().await;
    let opts = tether::PeerOptions {
        server: url.clone(),
        room: room.clone(),
        token: None,
        role: tether::Role::Impolite,
        say: None,
        loopback: true,
        echo: false,
        ca_file: None,
        ..Default::default()
    };
    let peer = tokio::spawn(tether::run_peer(opts, std::future::pending()));
    let sig = WsSignaling::connect(&url, &room, None).await.unwrap();
    let mut config = loopback(true);
    config.advertise_fingerprint_override = Some(session_core::sdp::Fingerprint {
        algorithm: "sha-256".into(),
        value: vec![0xAB; 32],
    });
    let (other, _events) = PeerConnection::new(config, sig).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(30), peer)
        .await
        .expect("run_peer did not give up")
        .unwrap();
    let err = result.expect_err("the connection cannot succeed");
    assert_eq!(err.exit_code(), 7, "{err}");
    assert!(
        err.to_string().starts_with("the connection failed"),
        "{err}"
    );
    other.close().await;
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The first peer of a room learns of the second from `peer-joined` alone: the wait ends
/// although the second never signals (an impolite first joiner must offer, and nobody else
/// would: `tether peer --role auto` hung when the first joiner's id sorted last).
#[tokio::test]
async fn wait_for_remote_ends_on_peer_joined_without_a_signal() {
    let (server, url, room) = server_and_room().await;
    let mut first = WsSignaling::connect(&url, &room, None).await.unwrap();
    let waiting = tokio::time::timeout(Duration::from_millis(200), first.wait_for_remote()).await;
    assert!(waiting.is_err(), "alone in the room, nobody to wait for");
    let second = WsSignaling::connect(&url, &room, None).await.unwrap();
    let remote = tokio::time::timeout(Duration::from_secs(5), first.wait_for_remote())
        .await
        .expect("peer-joined did not end the wait")
        .unwrap();
    assert_eq!(remote, second.peer_id());
    drop((first, second));
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}

/// The hang-up has reached the server when `wait_closed` returns: a peer whose process exits
/// right then still leaves the room at once. The peer runs on a single-threaded runtime that
/// is blocked from the moment `wait_closed` returns (nothing of it runs any more, as after an
/// exit) while another thread watches the room: the other peer must get the `bye` signal and
/// `peer-left`, never `peer-suspended` (which would leave it waiting for the resume grace).
/// 5 rounds.
#[test]
fn the_hang_up_has_left_when_wait_closed_returns() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(Server::bind(
            "127.0.0.1:0".parse().unwrap(),
            ServerConfig::default(),
        ))
        .unwrap();
    let url = server.ws_url();
    for round in 0..5 {
        let room = random_room_name();
        let mut observer = rt
            .block_on(SignalingClient::connect(ClientConfig::new(&url, &room)))
            .unwrap();
        let peer_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let seen = peer_rt.block_on(async {
            let sig = WsSignaling::connect(&url, &room, None).await.unwrap();
            let peer_id = sig.peer_id();
            let (pc, _events) = PeerConnection::new(loopback(false), sig).unwrap();
            pc.close().await;
            pc.wait_closed().await;
            // From here on this runtime's thread is blocked: none of the peer's tasks runs.
            std::thread::spawn(move || {
                handle.block_on(async move {
                    let (mut bye, mut left) = (false, false);
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while !(bye && left) {
                            match observer.recv().await {
                                Some(ClientEvent::Signal { from, data }) if from == peer_id => {
                                    bye |= matches!(
                                        SignalMessage::from_json(data.get()),
                                        Ok(SignalMessage::Bye { .. })
                                    );
                                }
                                Some(ClientEvent::PeerLeft(p)) if p == peer_id => left = true,
                                Some(ClientEvent::PeerSuspended(p)) if p == peer_id => break,
                                Some(_) => {}
                                None => break,
                            }
                        }
                    })
                    .await;
                    observer.close().await;
                    (bye, left)
                })
            })
            .join()
            .unwrap()
        });
        peer_rt.shutdown_background();
        assert_eq!(
            seen,
            (true, true),
            "round {round}: (bye, peer-left) seen by the other peer"
        );
    }
    rt.block_on(server.shutdown(Duration::from_secs(5)))
        .unwrap();
}

/// Waits for a promoted ICE generation after the first; panics if the session closes.
async fn restarted(events: &mut transport_tokio::PeerEvents) {
    loop {
        match events.recv().await.expect("peer stopped") {
            PeerEvent::Session(session_core::session::Event::IceGenerationPromoted {
                generation,
                ..
            }) if generation.0 >= 1 => return,
            PeerEvent::Session(session_core::session::Event::Closed(by)) => {
                panic!("the call ended: {by:?}")
            }
            _ => {}
        }
    }
}

/// The signaling server restarts (without a shared backend it forgets every room): the call
/// stays up, both peers rejoin and pair again, and signaling works again: a data channel
/// carries messages through the outage, and an ICE restart after it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_keeps_the_call_and_signaling_pairs_again() {
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::bind(addr, ServerConfig::default()).await.unwrap();
    let addr = server.local_addr();
    let url = server.ws_url();
    let room = random_room_name();
    let sa = WsSignaling::connect(&url, &room, None).await.unwrap();
    let sb = WsSignaling::connect(&url, &room, None).await.unwrap();
    let (a, mut a_events) = PeerConnection::new(loopback(false), sa).unwrap();
    let (b, mut b_events) = PeerConnection::new(loopback(true), sb).unwrap();
    let mut dc_a = a
        .create_data_channel("chat", DataChannelInit::default())
        .await
        .unwrap();
    let mut dc_b = tokio::time::timeout(WAIT, async {
        loop {
            if let PeerEvent::DataChannel(dc) = b_events.recv().await.expect("B stopped") {
                return dc;
            }
        }
    })
    .await
    .expect("no data channel on B");
    dc_a.send_text("before").await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, dc_b.recv()).await.unwrap(),
        Some(Message::Text("before".into()))
    );

    // The server goes away and comes back on the same address with no rooms.
    server.shutdown(Duration::from_secs(2)).await.unwrap();
    dc_a.send_text("during").await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, dc_b.recv()).await.unwrap(),
        Some(Message::Text("during".into())),
        "the data channel needs no signaling"
    );
    let server = Server::bind(addr, ServerConfig::default()).await.unwrap();

    // Signaling works again once both rejoined: an ICE restart completes on both sides.
    a.restart_ice().await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), restarted(&mut a_events))
        .await
        .expect("A's restart did not complete after the server came back");
    tokio::time::timeout(Duration::from_secs(30), restarted(&mut b_events))
        .await
        .expect("B's side of the restart did not complete");
    dc_b.send_text("after").await.unwrap();
    assert_eq!(
        tokio::time::timeout(WAIT, dc_a.recv()).await.unwrap(),
        Some(Message::Text("after".into()))
    );
    a.close().await;
    a.wait_closed().await;
    tokio::time::timeout(WAIT, b.wait_closed())
        .await
        .expect("B did not close after A's bye");
    server.shutdown(Duration::from_secs(5)).await.unwrap();
}
