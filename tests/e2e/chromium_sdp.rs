//! SDP acceptance against real Chromium: its descriptions go into our `Session`, ours go into its
//! `RTCPeerConnection`, and both sides must accept them. Descriptions only: no transport runs,
//! so nothing connects (and nothing needs to).
//!
//! The page is `tests/www/peer.html`, driven one command at a time.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use session_core::config::{Config, Negotiation};
use session_core::policy::RestartReason;
use session_core::sdp::{Direction, Fingerprint, MediaKind};
use session_core::session::{Event, Session};
use session_core::signal::SessionDescription;
use session_core::signaling::{SdpType, SignalingState};
use tether_tests::browser::{self, Browser};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const T: Duration = Duration::from_secs(15);

/// Our fake DTLS certificate fingerprint: `AB:AB:...` (32 bytes).
const FINGERPRINT_BYTE: u8 = 0xAB;

fn session(now: Instant) -> Session {
    let fp = Fingerprint {
        algorithm: "sha-256".into(),
        value: vec![FINGERPRINT_BYTE; 32],
    };
    let mut cfg = Config::new([1u8; 32], vec![fp], true);
    cfg.negotiation = Negotiation::Manual;
    Session::new(cfg, now)
}

/// `peer.html`, one command at a time.
struct Page {
    b: Browser,
}

impl Page {
    fn launch() -> Result<Self, Box<dyn std::error::Error>> {
        Ok(Self {
            b: Browser::launch("peer.html")?,
        })
    }

    /// Sends `{cmd, ...args}` and returns the page's reply, which must say `"ok": true`.
    fn call(&mut self, cmd: &str, args: Value) -> Result<Value, Box<dyn std::error::Error>> {
        let mut msg = args;
        msg["cmd"] = json!(cmd);
        self.b.send(msg)?;
        let reply = self.b.expect(cmd, T)?;
        if reply["ok"] != json!(true) {
            return Err(format!("Chromium: {cmd} failed: {}", reply["error"]).into());
        }
        Ok(reply)
    }

    /// `setRemoteDescription` of one of our descriptions; on failure the error shows the SDP.
    fn set_remote(
        &mut self,
        desc: &SessionDescription,
    ) -> Result<Value, Box<dyn std::error::Error>> {
        self.call(
            "set-remote",
            json!({ "description": serde_json::to_value(desc)? }),
        )
        .map_err(|e| format!("{e}\n--- our SDP ---\n{}", desc.sdp).into())
    }

    fn done(mut self) -> TestResult {
        self.b.send(json!({ "cmd": "done" }))?;
        self.b.result(T)?;
        Ok(())
    }
}

/// One m-section of an SDP, as far as these tests look.
#[derive(Debug)]
struct Section {
    kind: String,
    port: u32,
    formats: Vec<String>,
    mid: Option<String>,
    /// `a=rtpmap` encoding names, in payload type order of the m-line.
    codecs: Vec<String>,
}

/// A deliberately independent, minimal reading of SDP text (not our parser).
fn sections(sdp: &str) -> Vec<Section> {
    let mut out: Vec<Section> = Vec::new();
    let mut rtpmap: Vec<(String, String)> = Vec::new();
    let flush = |out: &mut Vec<Section>, rtpmap: &mut Vec<(String, String)>| {
        if let Some(s) = out.last_mut() {
            s.codecs = s
                .formats
                .iter()
                .filter_map(|pt| rtpmap.iter().find(|(p, _)| p == pt).map(|(_, n)| n.clone()))
                .collect();
        }
        rtpmap.clear();
    };
    for line in sdp.lines() {
        if let Some(m) = line.strip_prefix("m=") {
            flush(&mut out, &mut rtpmap);
            let f: Vec<&str> = m.split_whitespace().collect();
            out.push(Section {
                kind: f.first().unwrap_or(&"").to_string(),
                port: f.get(1).and_then(|p| p.parse().ok()).unwrap_or(0),
                formats: f.iter().skip(3).map(|s| s.to_string()).collect(),
                mid: None,
                codecs: Vec::new(),
            });
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            if let Some(s) = out.last_mut() {
                s.mid = Some(mid.trim().to_string());
            }
        } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let mut it = map.split_whitespace();
            if let (Some(pt), Some(enc)) = (it.next(), it.next()) {
                let name = enc.split('/').next().unwrap_or("").to_string();
                rtpmap.push((pt.to_string(), name));
            }
        }
    }
    flush(&mut out, &mut rtpmap);
    out
}

fn mids(sdp: &str) -> Vec<String> {
    sections(sdp)
        .into_iter()
        .map(|s| s.mid.unwrap_or_default())
        .collect()
}

fn ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(|s| s.trim().to_string())
}

/// W3C spelling of a direction (`sendrecv`, ...).
fn w3c(d: Direction) -> String {
    format!("{d:?}").to_lowercase()
}

/// Chromium's transceivers as `(mid, currentDirection)`.
fn page_current_directions(state: &Value) -> Vec<(String, String)> {
    state["transceivers"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .map(|t| {
                    let s = |k: &str| t[k].as_str().unwrap_or("null").to_string();
                    (s("mid"), s("currentDirection"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Our transceivers as `(mid, currentDirection as the remote sees it)`.
fn our_directions_seen_from_remote(s: &Session) -> Vec<(String, String)> {
    let reverse = |d: Direction| match d {
        Direction::SendOnly => Direction::RecvOnly,
        Direction::RecvOnly => Direction::SendOnly,
        other => other,
    };
    s.transceivers()
        .iter()
        .map(|t| {
            let mid = t.mid.clone().unwrap_or_default();
            let dir = t
                .current_direction
                .map(|d| w3c(reverse(d)))
                .unwrap_or_else(|| "null".into());
            (mid, dir)
        })
        .collect()
}

fn assert_our_answer_shape(answer: &str, offer: &str) {
    let fp = vec!["AB"; 32].join(":");
    assert!(
        answer.contains(&format!("a=fingerprint:sha-256 {fp}")),
        "fingerprint:\n{answer}"
    );
    assert!(
        answer.contains("a=setup:active") || answer.contains("a=setup:passive"),
        "an answer's setup must be active or passive:\n{answer}"
    );
    assert!(
        !answer.contains("a=setup:actpass"),
        "an answer must not say actpass:\n{answer}"
    );
    assert_eq!(
        mids(answer),
        mids(offer),
        "the answer must keep the offer's m-sections:\n{answer}"
    );
}

/// (1) Chromium offers audio + video + data; our answer is accepted by Chromium.
#[test]
fn chromium_offer_our_answer() -> TestResult {
    if browser::skipped("chromium_offer_our_answer") {
        return Ok(());
    }
    let now = Instant::now();
    let mut page = Page::launch()?;
    page.call("create", json!({ "media": true, "data": true }))?;
    let offer = page.call("offer", json!({}))?["sdp"]
        .as_str()
        .ok_or("no sdp")?
        .to_string();
    assert_eq!(mids(&offer), ["0", "1", "2"], "Chromium's offer:\n{offer}");

    let mut s = session(now);
    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Offer,
            sdp: offer.clone(),
        },
        now,
    )
    .map_err(|e| format!("our set_remote_description(Chromium offer): {e}\n{offer}"))?;
    assert_eq!(s.signaling_state(), SignalingState::HaveRemoteOffer);
    let answer = s.create_answer(now)?;
    s.set_local_description(answer.clone(), now)?;
    assert_eq!(s.signaling_state(), SignalingState::Stable);
    assert_our_answer_shape(&answer.sdp, &offer);

    let state = page.set_remote(&answer)?;
    assert_eq!(state["signalingState"], "stable", "{state}");
    let theirs = page_current_directions(&state);
    assert_eq!(
        theirs.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["0", "1"],
        "Chromium's transceivers: {state}"
    );
    assert!(
        theirs.iter().all(|(_, d)| d != "null"),
        "negotiated directions: {state}"
    );
    assert_eq!(
        theirs,
        our_directions_seen_from_remote(&s),
        "both sides agree on directions"
    );
    assert!(
        state["sctp"].is_object(),
        "Chromium must have an SCTP transport for m=application"
    );
    eprintln!("chromium_offer_our_answer: Chromium transceivers {theirs:?}");
    page.done()
}

/// (1b) As (1), with our own tracks added after the offer: both media sections become sendrecv.
#[test]
fn chromium_offer_our_sendrecv_answer() -> TestResult {
    if browser::skipped("chromium_offer_our_sendrecv_answer") {
        return Ok(());
    }
    let now = Instant::now();
    let mut page = Page::launch()?;
    page.call("create", json!({ "media": true, "data": true }))?;
    let offer = page.call("offer", json!({}))?["sdp"]
        .as_str()
        .ok_or("no sdp")?
        .to_string();

    let mut s = session(now);
    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Offer,
            sdp: offer.clone(),
        },
        now,
    )?;
    s.add_track(MediaKind::Audio);
    s.add_track(MediaKind::Video);
    assert_eq!(
        s.transceivers().len(),
        2,
        "add_track must reuse the offered transceivers"
    );
    let answer = s.create_answer(now)?;
    s.set_local_description(answer.clone(), now)?;
    assert_our_answer_shape(&answer.sdp, &offer);

    let state = page.set_remote(&answer)?;
    let theirs = page_current_directions(&state);
    assert_eq!(
        theirs,
        [
            ("0".to_string(), "sendrecv".to_string()),
            ("1".to_string(), "sendrecv".to_string())
        ],
        "{state}"
    );
    assert_eq!(theirs, our_directions_seen_from_remote(&s));
    page.done()
}

/// (2) We offer audio + video + data; Chromium accepts it and answers; we accept its answer.
#[test]
fn our_offer_chromium_answer() -> TestResult {
    if browser::skipped("our_offer_chromium_answer") {
        return Ok(());
    }
    let now = Instant::now();
    let mut s = session(now);
    s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    s.create_data_channel("chat", Default::default())?;
    let offer = s.create_offer(Default::default(), now)?;
    s.set_local_description(offer.clone(), now)?;
    assert_eq!(s.signaling_state(), SignalingState::HaveLocalOffer);
    let ours = sections(&offer.sdp);
    assert_eq!(
        ours.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(),
        ["audio", "video", "application"],
        "our offer:\n{}",
        offer.sdp
    );

    let mut page = Page::launch()?;
    page.call("create", json!({ "media": false, "data": false }))?;
    page.set_remote(&offer)?;
    page.call("add-tracks", json!({}))?;
    let reply = page.call("answer", json!({}))?;
    let answer = reply["sdp"].as_str().ok_or("no sdp")?.to_string();

    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Answer,
            sdp: answer.clone(),
        },
        now,
    )
    .map_err(|e| format!("our set_remote_description(Chromium answer): {e}\n{answer}"))?;
    assert_eq!(s.signaling_state(), SignalingState::Stable);

    // Chromium's answer: the same mids, every section accepted, codecs among the offered ones.
    let theirs = sections(&answer);
    assert_eq!(
        mids(&answer),
        mids(&offer.sdp),
        "Chromium's answer:\n{answer}"
    );
    for (o, a) in ours.iter().zip(&theirs) {
        assert_eq!(o.kind, a.kind);
        assert_ne!(a.port, 0, "Chromium rejected mid {:?}:\n{answer}", a.mid);
        if a.kind != "application" {
            assert!(
                !a.codecs.is_empty(),
                "no codec accepted for mid {:?}:\n{answer}",
                a.mid
            );
            for pt in &a.formats {
                assert!(
                    o.formats.contains(pt),
                    "payload type {pt} was not offered:\n{answer}"
                );
            }
        }
    }
    let audio = &theirs[0].codecs;
    let video = &theirs[1].codecs;
    assert!(
        audio.iter().any(|c| c.eq_ignore_ascii_case("opus")),
        "audio codecs {audio:?}"
    );
    assert!(
        video.iter().any(|c| ["VP8", "VP9", "H264", "AV1"]
            .iter()
            .any(|v| c.eq_ignore_ascii_case(v))),
        "video codecs {video:?}"
    );
    eprintln!("our_offer_chromium_answer: Chromium accepted audio {audio:?}, video {video:?}");

    // Both sides agree: sendrecv everywhere, and our transceivers know the negotiated codecs.
    for t in s.transceivers() {
        assert_eq!(t.current_direction, Some(Direction::SendRecv), "{t:?}");
        assert!(
            !t.codecs.is_empty(),
            "no negotiated codecs on our side: {t:?}"
        );
    }
    let state = page.call("state", json!({}))?;
    assert_eq!(state["signalingState"], "stable");
    assert_eq!(
        page_current_directions(&state),
        our_directions_seen_from_remote(&s),
        "{state}"
    );
    assert!(state["sctp"].is_object(), "{state}");
    page.done()
}

/// (3) Chromium restarts ICE (`createOffer({iceRestart: true})`); we see the new remote
/// credentials, answer with new ones of our own, and Chromium accepts them.
#[test]
fn chromium_ice_restart() -> TestResult {
    if browser::skipped("chromium_ice_restart") {
        return Ok(());
    }
    let now = Instant::now();
    let mut page = Page::launch()?;
    let mut s = session(now);

    // First exchange: Chromium offers, we answer.
    page.call("create", json!({ "media": true, "data": true }))?;
    let offer1 = page.call("offer", json!({}))?["sdp"]
        .as_str()
        .ok_or("no sdp")?
        .to_string();
    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Offer,
            sdp: offer1.clone(),
        },
        now,
    )?;
    let answer1 = s.create_answer(now)?;
    s.set_local_description(answer1.clone(), now)?;
    page.set_remote(&answer1)?;
    let (remote1, local1) = (
        ufrag(&offer1).ok_or("no ufrag")?,
        ufrag(&answer1.sdp).ok_or("no ufrag")?,
    );
    let transport = s
        .transports()
        .first()
        .ok_or("no transport after the first exchange")?
        .id;
    while s.poll_event().is_some() {}

    // Chromium restarts.
    let restart = page.call("offer", json!({ "iceRestart": true }))?;
    let offer2 = restart["sdp"].as_str().ok_or("no sdp")?.to_string();
    let remote2 = ufrag(&offer2).ok_or("no ufrag")?;
    assert_ne!(
        remote2, remote1,
        "Chromium's restart offer must carry a new ufrag"
    );

    let later = now + Duration::from_millis(10);
    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Offer,
            sdp: offer2.clone(),
        },
        later,
    )
    .map_err(|e| format!("our set_remote_description(restart offer): {e}\n{offer2}"))?;
    let answer2 = s.create_answer(later)?;
    s.set_local_description(answer2.clone(), later)?;
    let local2 = ufrag(&answer2.sdp).ok_or("no ufrag")?;
    assert_ne!(
        local2, local1,
        "our answer to a restart must carry new credentials"
    );
    assert_our_answer_shape(&answer2.sdp, &offer2);

    // The restart takes effect when our answer is applied: a new generation, started because
    // of the remote, bound to Chromium's new ufrag and to ours.
    let events: Vec<Event> = std::iter::from_fn(|| s.poll_event()).collect();
    let remote_restart = events.iter().any(|e| {
        matches!(e, Event::IceGenerationStarted { transport: t, reason: Some(RestartReason::Remote), .. } if *t == transport)
    });
    assert!(
        remote_restart,
        "a remote restart must start a new ICE generation: {events:?}"
    );
    let info = s
        .transports()
        .into_iter()
        .find(|t| t.id == transport)
        .ok_or("transport gone")?;
    assert!(
        info.generations.iter().any(|g| g.local_ufrag == local2
            && g.remote_ufrag.as_deref() == Some(remote2.as_str())),
        "no generation for the new ufrags {local2}/{remote2}: {info:?}"
    );
    let (ours, theirs) = s
        .negotiated_credentials(transport)
        .ok_or("no negotiated credentials")?;
    assert_eq!(
        (ours.ufrag.as_str(), theirs.ufrag.as_str()),
        (local2.as_str(), remote2.as_str())
    );

    let state = page.set_remote(&answer2)?;
    assert_eq!(state["signalingState"], "stable", "{state}");
    assert_eq!(
        state["remoteUfrag"],
        json!(local2),
        "Chromium must use our new credentials"
    );
    assert_eq!(state["localUfrag"], json!(remote2));
    eprintln!("chromium_ice_restart: Chromium {remote1} -> {remote2}, ours {local1} -> {local2}");
    page.done()
}

/// (4) Our ICE restart re-offer, which states our established DTLS role
/// (`a=setup:active`/`passive`, not `actpass`), is accepted by Chromium, whose answer keeps the
/// complementary role and brings fresh credentials.
#[test]
fn our_ice_restart_reoffer_is_accepted() -> TestResult {
    if browser::skipped("our_ice_restart_reoffer_is_accepted") {
        return Ok(());
    }
    let now = Instant::now();
    let mut s = session(now);
    s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    s.create_data_channel("chat", Default::default())?;
    let offer = s.create_offer(Default::default(), now)?;
    s.set_local_description(offer.clone(), now)?;
    assert!(offer.sdp.contains("a=setup:actpass"), "{}", offer.sdp);

    let mut page = Page::launch()?;
    page.call("create", json!({ "media": false, "data": false }))?;
    page.set_remote(&offer)?;
    let answer = page.call("answer", json!({}))?["sdp"]
        .as_str()
        .ok_or("no sdp")?
        .to_string();
    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Answer,
            sdp: answer.clone(),
        },
        now,
    )?;
    let role = s.dtls_role().ok_or("no DTLS role after the answer")?;

    s.restart_ice(now);
    let reoffer = s.create_offer(Default::default(), now)?;
    s.set_local_description(reoffer.clone(), now)?;
    let expected_setup = match role {
        session_core::transport::DtlsRole::Client => "a=setup:active",
        _ => "a=setup:passive",
    };
    assert!(reoffer.sdp.contains(expected_setup), "{}", reoffer.sdp);
    assert_ne!(
        ufrag(&reoffer.sdp),
        ufrag(&offer.sdp),
        "a restart changes our ufrag"
    );

    page.set_remote(&reoffer)?;
    let reanswer = page.call("answer", json!({}))?["sdp"]
        .as_str()
        .ok_or("no sdp")?
        .to_string();
    s.set_remote_description(
        SessionDescription {
            kind: SdpType::Answer,
            sdp: reanswer.clone(),
        },
        now,
    )
    .map_err(|e| format!("our set_remote_description(Chromium re-answer): {e}\n{reanswer}"))?;
    assert_eq!(s.signaling_state(), SignalingState::Stable);
    assert_ne!(ufrag(&reanswer), ufrag(&answer), "Chromium restarted too");
    assert!(!s.restart_pending(), "the restart's exchange completed");
    page.done()
}
