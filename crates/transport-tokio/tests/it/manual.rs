//! Manual negotiation over real loopback sockets: the test is the application's signaling. It
//! does the W3C dance itself (offer/answer, trickled candidates, end-of-candidates), a manual
//! ICE restart, an illegal call, and glare resolved by hand with a rollback.

use test_support::config;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use session_core::channel::DataChannelInit;
use session_core::error::SessionError;
use session_core::session::{Event, OfferOptions};
use session_core::signal::{IceCandidateInit, SessionDescription};
use session_core::signaling::{SdpType, SignalingState};
use session_core::transport::Generation;
use tokio::sync::mpsc;
use transport_tokio::{
    memory_pair, DataChannel, Message, PeerConfig, PeerConnection, PeerConnectionError, PeerEvent,
    PeerEvents,
};

/// Bound of every test.
const TEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound of one wait for an event or a message.
const WAIT: Duration = Duration::from_secs(15);

/// What the forwarder of one peer's events recorded.
#[derive(Default)]
struct Trickled {
    candidates: usize,
    end_of_candidates: usize,
    /// `add_ice_candidate` errors at the other peer (there must be none).
    errors: Vec<String>,
}

/// A manual peer whose local candidates a task forwards to the other peer by hand (the test's
/// signaling); every other event goes to `events`.
struct Side {
    pc: Arc<PeerConnection>,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    trickled: Arc<Mutex<Trickled>>,
}

/// Two manual peers on loopback, wired so each one's candidates reach the other.
fn manual_pair() -> (Side, Side) {
    manual_pair_with(config(false, Some(1)), config(false, Some(2)))
}

/// [`manual_pair`] with these configurations.
fn manual_pair_with(ca: PeerConfig, cb: PeerConfig) -> (Side, Side) {
    let (a, a_events) = PeerConnection::new_manual(ca).expect("peer A");
    let (b, b_events) = PeerConnection::new_manual(cb).expect("peer B");
    assert!(a.is_manual() && b.is_manual());
    let (a, b) = (Arc::new(a), Arc::new(b));
    let side_a = forward(a.clone(), a_events, b.clone());
    let side_b = forward(b, b_events, a);
    (side_a, side_b)
}

fn forward(pc: Arc<PeerConnection>, mut events: PeerEvents, to: Arc<PeerConnection>) -> Side {
    let (tx, rx) = mpsc::unbounded_channel();
    let trickled = Arc::new(Mutex::new(Trickled::default()));
    let record = trickled.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            let candidate = match ev {
                PeerEvent::LocalCandidate(c) => {
                    record.lock().unwrap().candidates += 1;
                    c
                }
                PeerEvent::LocalEndOfCandidates {
                    username_fragment,
                    sdp_mid,
                } => {
                    record.lock().unwrap().end_of_candidates += 1;
                    IceCandidateInit {
                        candidate: String::new(),
                        sdp_mid,
                        sdp_m_line_index: None,
                        username_fragment,
                    }
                }
                other => {
                    let _ = tx.send(other);
                    continue;
                }
            };
            if let Err(e) = to.add_ice_candidate(candidate).await {
                if !matches!(e, PeerConnectionError::Closed) {
                    record.lock().unwrap().errors.push(e.to_string());
                }
            }
        }
    });
    Side {
        pc,
        events: rx,
        trickled,
    }
}

async fn next_matching<T>(
    events: &mut mpsc::UnboundedReceiver<PeerEvent>,
    mut f: impl FnMut(PeerEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            let ev = events.recv().await.expect("event stream ended");
            if let Some(t) = f(ev) {
                return t;
            }
        }
    })
    .await
    .expect("timed out waiting for an event")
}

async fn remote_channel(side: &mut Side) -> DataChannel {
    remote_channel_from(&mut side.events).await
}

async fn recv_text(dc: &mut DataChannel) -> String {
    match tokio::time::timeout(WAIT, dc.recv()).await {
        Ok(Some(Message::Text(t))) => t,
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// `from` sends `text`, `to` answers `echo:<text>`, `from` checks it.
async fn echo(from: &mut DataChannel, to: &mut DataChannel, text: &str) {
    from.send_text(text).await.expect("send");
    assert_eq!(recv_text(to).await, text);
    to.send_text(format!("echo:{text}")).await.expect("echo");
    assert_eq!(recv_text(from).await, format!("echo:{text}"));
}

async fn state(pc: &PeerConnection) -> SignalingState {
    pc.signaling_state().await.expect("signaling state")
}

/// The offer/answer exchange by hand, `offerer` to `answerer`, checking every signaling state.
async fn exchange(
    offerer: &PeerConnection,
    answerer: &PeerConnection,
    options: OfferOptions,
) -> (SessionDescription, SessionDescription) {
    assert_eq!(state(offerer).await, SignalingState::Stable);
    let offer = offerer.create_offer(options).await.expect("create_offer");
    assert_eq!(offer.kind, SdpType::Offer);
    offerer
        .set_local_description(offer.clone())
        .await
        .expect("offerer set_local");
    assert_eq!(state(offerer).await, SignalingState::HaveLocalOffer);
    answerer
        .set_remote_description(offer.clone())
        .await
        .expect("answerer set_remote");
    assert_eq!(state(answerer).await, SignalingState::HaveRemoteOffer);
    let answer = answerer.create_answer().await.expect("create_answer");
    assert_eq!(answer.kind, SdpType::Answer);
    answerer
        .set_local_description(answer.clone())
        .await
        .expect("answerer set_local");
    offerer
        .set_remote_description(answer.clone())
        .await
        .expect("offerer set_remote");
    assert_eq!(state(offerer).await, SignalingState::Stable);
    assert_eq!(state(answerer).await, SignalingState::Stable);
    (offer, answer)
}

fn ufrags(d: &SessionDescription) -> Vec<String> {
    d.sdp
        .lines()
        .filter_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
        .collect()
}

fn sdp_of(d: Option<SessionDescription>) -> String {
    d.expect("a description").sdp
}

/// A opens a channel, the test negotiates and trickles by hand; echo. Returns both channel ends.
async fn connect(a: &mut Side, b: &mut Side) -> (DataChannel, DataChannel) {
    let mut dc_a =
        a.pc.create_data_channel("chat", DataChannelInit::default())
            .await
            .expect("channel");
    next_matching(&mut a.events, |ev| {
        matches!(ev, PeerEvent::Session(Event::NegotiationNeeded)).then_some(())
    })
    .await;
    let (offer, answer) = exchange(&a.pc, &b.pc, OfferOptions::default()).await;
    assert_eq!(sdp_of(a.pc.local_description().await.unwrap()), offer.sdp);
    assert_eq!(sdp_of(a.pc.remote_description().await.unwrap()), answer.sdp);
    assert_eq!(sdp_of(b.pc.local_description().await.unwrap()), answer.sdp);
    assert_eq!(sdp_of(b.pc.remote_description().await.unwrap()), offer.sdp);
    let mut dc_b = remote_channel(b).await;
    assert_eq!(dc_b.label(), "chat");
    echo(&mut dc_a, &mut dc_b, "hello").await;
    (dc_a, dc_b)
}

fn check_trickled(side: &Side, name: &str) {
    let t = side.trickled.lock().unwrap();
    assert!(t.candidates >= 1, "{name} trickled no candidate");
    assert!(
        t.errors.is_empty(),
        "{name}'s candidates refused: {:?}",
        t.errors
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_answer_trickle_echo_then_manual_ice_restart() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (mut a, mut b) = manual_pair();
        let (mut dc_a, dc_b) = connect(&mut a, &mut b).await;
        check_trickled(&a, "A");
        check_trickled(&b, "B");
        // Both finished gathering: end-of-candidates reached the app and went to the peer.
        tokio::time::timeout(WAIT, async {
            while a.trickled.lock().unwrap().end_of_candidates == 0
                || b.trickled.lock().unwrap().end_of_candidates == 0
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("no end-of-candidates");

        // A manual ICE restart while data flows: B's sender keeps going across the switch.
        let first_offer = sdp_of(a.pc.local_description().await.unwrap());
        let sender = tokio::spawn(async move {
            for i in 0..100 {
                dc_b.send_text(format!("m{i}")).await.expect("send");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            dc_b
        });
        let (offer, _answer) = exchange(&a.pc, &b.pc, OfferOptions { ice_restart: true }).await;
        let old = ufrags(&SessionDescription {
            kind: SdpType::Offer,
            sdp: first_offer,
        });
        let new = ufrags(&offer);
        assert!(
            !new.is_empty() && new.iter().all(|u| !old.contains(u)),
            "{old:?} {new:?}"
        );
        next_matching(&mut a.events, |ev| match ev {
            PeerEvent::Session(Event::IceGenerationPromoted {
                generation: Generation(1),
                ..
            }) => Some(()),
            _ => None,
        })
        .await;
        for i in 0..100 {
            assert_eq!(
                recv_text(&mut dc_a).await,
                format!("m{i}"),
                "lost or reordered"
            );
        }
        let mut dc_b = sender.await.expect("sender");
        echo(&mut dc_a, &mut dc_b, "after restart").await;
        let stats = a.pc.stats().await.expect("stats");
        assert!(
            stats
                .generations
                .iter()
                .any(|g| g.generation == Generation(1) && g.promoted),
            "{stats:?}"
        );
        check_trickled(&a, "A");
        check_trickled(&b, "B");
        // No `bye` in manual mode (the application's signaling tells the peer): close both.
        a.pc.close().await;
        a.pc.close().await;
        b.pc.close().await;
        a.pc.wait_closed().await;
        b.pc.wait_closed().await;
    })
    .await
    .expect("test timed out");
}

/// Each m-section's `a=ice-ufrag`, by mid.
fn ufrags_by_mid(d: &SessionDescription) -> std::collections::BTreeMap<String, String> {
    let parsed = session_core::sdp::parse(&d.sdp).expect("valid SDP");
    parsed
        .media
        .iter()
        .filter_map(|m| Some((m.mid.clone(), m.ice.as_ref()?.ufrag.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_partial_restart_offers_new_credentials_for_one_m_section() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let compat = |seed| {
            let mut c = config(false, Some(seed));
            c.bundle_policy = session_core::config::BundlePolicy::MaxCompat;
            c
        };
        let (mut a, mut b) = manual_pair_with(compat(3), compat(4));
        let audio =
            a.pc.add_track(session_core::sdp::MediaKind::Audio, "s", "mic")
                .await
                .expect("track");
        let (mut dc_a, mut dc_b) = connect(&mut a, &mut b).await;
        let audio_mid = audio.parameters().await.expect("negotiated").mid;
        let before = ufrags_by_mid(&a.pc.local_description().await.unwrap().unwrap());
        assert_eq!(before.len(), 2, "{before:?}");
        let data_mid = before.keys().find(|m| **m != audio_mid).unwrap().clone();
        assert_ne!(before[&audio_mid], before[&data_mid], "not bundled");
        let b_before = ufrags_by_mid(&b.pc.local_description().await.unwrap().unwrap());

        // The partial restart raises negotiation-needed; the application offers.
        a.pc.restart_ice_transport(&audio_mid)
            .await
            .expect("partial restart");
        next_matching(&mut a.events, |ev| {
            matches!(ev, PeerEvent::Session(Event::NegotiationNeeded)).then_some(())
        })
        .await;
        let (offer, answer) = exchange(&a.pc, &b.pc, OfferOptions::default()).await;
        let (offered, answered) = (ufrags_by_mid(&offer), ufrags_by_mid(&answer));
        assert_ne!(offered[&audio_mid], before[&audio_mid], "audio restarted");
        assert_eq!(offered[&data_mid], before[&data_mid], "data untouched");
        // The answerer restarts that transport too, and only that one.
        assert_ne!(answered[&audio_mid], b_before[&audio_mid]);
        assert_eq!(answered[&data_mid], b_before[&data_mid]);
        next_matching(&mut a.events, |ev| match ev {
            PeerEvent::Session(Event::IceGenerationPromoted {
                generation: Generation(1),
                ..
            }) => Some(()),
            _ => None,
        })
        .await;
        echo(&mut dc_a, &mut dc_b, "after the partial restart").await;
        let stats = a.pc.stats().await.expect("stats");
        let transport_of = |mid: &str| {
            stats
                .transports
                .iter()
                .find(|t| t.mids == [mid])
                .expect("a transport of its own")
                .id
        };
        let (ta, td) = (transport_of(&audio_mid), transport_of(&data_mid));
        assert!(
            stats
                .generations
                .iter()
                .any(|g| g.transport == ta && g.generation == Generation(1) && g.promoted),
            "{stats:?}"
        );
        assert!(
            stats
                .generations
                .iter()
                .filter(|g| g.transport == td)
                .all(|g| g.generation == Generation(0) && g.promoted),
            "{stats:?}"
        );
        a.pc.close().await;
        b.pc.close().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn illegal_calls_are_refused_and_change_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (mut a, mut b) = manual_pair();
        let (mut dc_a, mut dc_b) = connect(&mut a, &mut b).await;
        let local = sdp_of(b.pc.local_description().await.unwrap());
        let remote = b.pc.remote_description().await.unwrap().expect("remote");
        // An answer while stable, and createAnswer without an offer: InvalidState.
        let answer = SessionDescription {
            kind: SdpType::Answer,
            sdp: remote.sdp.clone(),
        };
        let r = b.pc.set_remote_description(answer).await;
        assert!(
            matches!(
                r,
                Err(PeerConnectionError::Session(SessionError::InvalidState(_)))
            ),
            "{r:?}"
        );
        let r = b.pc.create_answer().await;
        assert!(
            matches!(
                r,
                Err(PeerConnectionError::Session(SessionError::InvalidState(_)))
            ),
            "{r:?}"
        );
        // Nothing changed: same state, same descriptions, data still flows.
        assert_eq!(state(&b.pc).await, SignalingState::Stable);
        assert_eq!(sdp_of(b.pc.local_description().await.unwrap()), local);
        assert_eq!(sdp_of(b.pc.remote_description().await.unwrap()), remote.sdp);
        echo(&mut dc_a, &mut dc_b, "still here").await;
        a.pc.close().await;
        b.pc.close().await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn perfect_negotiation_refuses_manual_calls() {
    let (sa, _sb) = memory_pair(Duration::ZERO);
    let (pc, _events) = PeerConnection::new(config(false, Some(3)), sa).expect("peer");
    assert!(!pc.is_manual());
    let r = pc.create_offer(OfferOptions::default()).await;
    assert!(
        matches!(r, Err(PeerConnectionError::PerfectNegotiation)),
        "{r:?}"
    );
    let r = pc
        .set_remote_description(SessionDescription {
            kind: SdpType::Rollback,
            sdp: String::new(),
        })
        .await;
    assert!(
        matches!(r, Err(PeerConnectionError::PerfectNegotiation)),
        "{r:?}"
    );
    let r = pc
        .add_ice_candidate(IceCandidateInit {
            candidate: String::new(),
            sdp_mid: None,
            sdp_m_line_index: Some(0),
            username_fragment: None,
        })
        .await;
    assert!(
        matches!(r, Err(PeerConnectionError::PerfectNegotiation)),
        "{r:?}"
    );
    // The getters work in both modes.
    assert_eq!(state(&pc).await, SignalingState::Stable);
    assert!(pc.local_description().await.unwrap().is_none());
    pc.close().await;
    pc.wait_closed().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glare_by_hand_with_rollback() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (mut a, mut b) = manual_pair();
        let mut dc_a =
            a.pc.create_data_channel("from-a", DataChannelInit::default())
                .await
                .expect("channel A");
        let mut dc_b =
            b.pc.create_data_channel("from-b", DataChannelInit::default())
                .await
                .expect("channel B");
        // Both offer at once.
        let offer_a = a.pc.create_offer(OfferOptions::default()).await.unwrap();
        a.pc.set_local_description(offer_a.clone()).await.unwrap();
        let offer_b = b.pc.create_offer(OfferOptions::default()).await.unwrap();
        b.pc.set_local_description(offer_b.clone()).await.unwrap();
        // B (impolite) ignores A's offer: it is refused in have-local-offer.
        let r = b.pc.set_remote_description(offer_a).await;
        assert!(
            matches!(
                r,
                Err(PeerConnectionError::Session(SessionError::InvalidState(_)))
            ),
            "{r:?}"
        );
        assert_eq!(state(&b.pc).await, SignalingState::HaveLocalOffer);
        // A (polite) rolls its offer back and answers B's.
        a.pc.set_local_description(SessionDescription {
            kind: SdpType::Rollback,
            sdp: String::new(),
        })
        .await
        .expect("rollback");
        assert_eq!(state(&a.pc).await, SignalingState::Stable);
        assert!(a.pc.local_description().await.unwrap().is_none());
        a.pc.set_remote_description(offer_b)
            .await
            .expect("B's offer");
        let answer = a.pc.create_answer().await.unwrap();
        a.pc.set_local_description(answer.clone()).await.unwrap();
        b.pc.set_remote_description(answer)
            .await
            .expect("A's answer");
        assert_eq!(state(&a.pc).await, SignalingState::Stable);
        assert_eq!(state(&b.pc).await, SignalingState::Stable);
        // Both channels open (B's offer carried the SCTP m-section both share).
        let mut at_b = remote_channel(&mut b).await;
        let mut at_a = remote_channel(&mut a).await;
        assert_eq!(at_b.label(), "from-a");
        assert_eq!(at_a.label(), "from-b");
        echo(&mut dc_a, &mut at_b, "a to b").await;
        echo(&mut dc_b, &mut at_a, "b to a").await;
        check_trickled(&a, "A");
        check_trickled(&b, "B");
        a.pc.close().await;
        b.pc.close().await;
        a.pc.wait_closed().await;
        b.pc.wait_closed().await;
    })
    .await
    .expect("test timed out");
}

/// A peer that does not trickle (simple clients, WHIP/WHEP, ICE-lite servers) puts its
/// candidates only in its description. Here nothing is trickled either way: A's candidates
/// never reach B (so B never checks; it only answers A's checks), and B's reach A only as
/// `a=candidate` lines inside B's answer, with `a=end-of-candidates`. A must check them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidates_only_inside_the_answer_are_checked() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (a, mut a_events) = PeerConnection::new_manual(config(false, Some(1))).expect("A");
        let (b, mut b_events) = PeerConnection::new_manual(config(false, Some(2))).expect("B");
        tokio::spawn(async move { while a_events.recv().await.is_some() {} });
        let dc_a = a
            .create_data_channel("chat", DataChannelInit::default())
            .await
            .expect("channel");
        let offer = a
            .create_offer(OfferOptions::default())
            .await
            .expect("offer");
        a.set_local_description(offer.clone())
            .await
            .expect("A local");
        b.set_remote_description(offer).await.expect("B remote");
        let answer = b.create_answer().await.expect("answer");
        b.set_local_description(answer.clone())
            .await
            .expect("B local");
        // B gathers; its candidates are kept for the answer instead of being trickled.
        let mut lines = Vec::new();
        let mut later = Vec::new();
        tokio::time::timeout(WAIT, async {
            loop {
                match b_events.recv().await.expect("B's events") {
                    PeerEvent::LocalCandidate(c) => lines.push(format!("a={}", c.candidate)),
                    PeerEvent::LocalEndOfCandidates { .. } => break,
                    other => later.push(other),
                }
            }
        })
        .await
        .expect("B did not finish gathering");
        assert!(!lines.is_empty(), "B gathered no candidate");
        lines.push("a=end-of-candidates".to_owned());
        let mut sdp = Vec::new();
        for l in answer.sdp.split("\r\n") {
            sdp.push(l.to_owned());
            if l.starts_with("a=mid:") {
                sdp.extend(lines.iter().cloned());
            }
        }
        let answer_with_candidates = SessionDescription {
            kind: SdpType::Answer,
            sdp: sdp.join("\r\n"),
        };
        a.set_remote_description(answer_with_candidates)
            .await
            .expect("A remote");
        dc_a.send_text("checked from the SDP").await.expect("send");
        let mut dc_b = match later.into_iter().find_map(|ev| match ev {
            PeerEvent::DataChannel(dc) => Some(dc),
            _ => None,
        }) {
            Some(dc) => dc,
            None => {
                let (tx, mut rx) = mpsc::unbounded_channel();
                tokio::spawn(async move {
                    while let Some(ev) = b_events.recv().await {
                        let _ = tx.send(ev);
                    }
                });
                remote_channel_from(&mut rx).await
            }
        };
        assert_eq!(recv_text(&mut dc_b).await, "checked from the SDP");
        a.close().await;
        b.close().await;
    })
    .await
    .expect("test timed out");
}

async fn remote_channel_from(events: &mut mpsc::UnboundedReceiver<PeerEvent>) -> DataChannel {
    next_matching(events, |ev| match ev {
        PeerEvent::DataChannel(dc) => Some(dc),
        _ => None,
    })
    .await
}
