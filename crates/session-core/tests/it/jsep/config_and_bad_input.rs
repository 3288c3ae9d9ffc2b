//! `set_configuration` and bad input from the peer.

use super::*;

fn update(servers: &[&str]) -> ConfigUpdate {
    ConfigUpdate {
        ice_servers: if servers.is_empty() {
            Vec::new()
        } else {
            vec![IceServer {
                urls: servers.iter().map(|s| (*s).to_owned()).collect(),
                username: Some("user".into()),
                credential: Some("secret".into()),
            }]
        },
        ice_transport_policy: IceTransportPolicy::All,
        bundle_policy: BundlePolicy::MaxBundle,
        certificate_fingerprints: vec![fingerprint(0xA)],
    }
}

#[test]
fn set_configuration_rules() {
    let mut p = av_data_pair();
    let now = p.tick(Duration::from_millis(1));
    let before = first_ice(&p.a.s.local_description().unwrap());
    // Same configuration: no restart.
    p.a.s.set_configuration(update(&[]), now).unwrap();
    assert!(!p.a.s.restart_pending());
    assert!(!p.a.events().contains(&Event::NegotiationNeeded));
    // Immutable fields.
    let mut u = update(&["stun:stun.example.org:3478"]);
    u.bundle_policy = BundlePolicy::MaxCompat;
    assert_eq!(
        p.a.s.set_configuration(u, now),
        Err(SessionError::Config(ConfigError::BundlePolicyChanged))
    );
    let mut u = update(&["stun:stun.example.org:3478"]);
    u.certificate_fingerprints = vec![fingerprint(0xC)];
    assert_eq!(
        p.a.s.set_configuration(u, now),
        Err(SessionError::Config(ConfigError::CertificateChanged))
    );
    for bad in ["http://example.org", "stun:", "", "example.org:3478"] {
        assert_eq!(
            p.a.s
                .set_configuration(update(&["stun:ok.example.org", bad]), now),
            Err(SessionError::Config(ConfigError::InvalidIceServer(
                bad.to_owned()
            ))),
            "{bad:?}"
        );
    }
    assert!(!p.a.s.restart_pending(), "rejected updates change nothing");
    assert_eq!(
        SessionError::Config(ConfigError::BundlePolicyChanged).fault(),
        session_core::error::Fault::Application
    );
    // New ICE servers: restart requested, and the next offer carries fresh credentials and
    // gathers with the new servers.
    let servers = [
        "stun:stun.example.org:3478",
        "TURN:turn.example.org?transport=udp",
        "turns:turn.example.org:443",
    ];
    p.a.s.set_configuration(update(&servers), now).unwrap();
    assert!(p.a.s.restart_pending());
    assert!(p.a.events().contains(&Event::NegotiationNeeded));
    let (offer, _) = p.exchange();
    assert_ne!(first_ice(&offer), before);
    assert!(!p.a.s.restart_pending());
    let (cmds, _, ev) = p.a.drain();
    assert!(
        cmds.iter().any(|c| matches!(
            c,
            TransportCommand::StartGeneration { generation: Generation(1), ice_servers, .. }
                if ice_servers.len() == 1 && ice_servers[0].urls.len() == 3
        )),
        "{cmds:?}"
    );
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::IceGenerationStarted {
                reason: Some(RestartReason::Configuration),
                ..
            }
        )),
        "{ev:?}"
    );
    // A change of transport policy restarts too.
    let now = p.tick(Duration::from_millis(1));
    let mut u = update(&servers);
    u.ice_transport_policy = IceTransportPolicy::Relay;
    p.a.s.set_configuration(u, now).unwrap();
    assert!(p.a.s.restart_pending());
}

// ----- bad input -----

/// Checks that an SDP error is the expected one.
type SdpCheck = fn(&SdpError) -> bool;

/// A remote offer from a fresh B-like peer (audio + data), for malformation.
fn fresh_remote_offer() -> SessionDescription {
    let mut q = Pair::new();
    q.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    q.b.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = q.now;
    q.b.s.create_offer(OfferOptions::default(), now).unwrap()
}

#[test]
fn bad_remote_descriptions_are_typed_errors_and_harmless() {
    let offer = fresh_remote_offer();
    let mut p = Pair::new();
    let now = p.now;
    let dup = {
        // Both m-sections claim mid 0.
        offer.sdp.replace("a=mid:1", "a=mid:0")
    };
    let cases: Vec<(&str, String, SdpCheck)> = vec![
        ("garbage", "hello world".into(), |e| {
            matches!(e, SdpError::Syntax(_))
        }),
        ("empty", String::new(), |e| matches!(e, SdpError::Syntax(_))),
        (
            "truncated",
            offer.sdp[..offer.sdp.len() / 3].to_owned(),
            |_| true,
        ),
        (
            "no fingerprint",
            drop_lines(&offer.sdp, "a=fingerprint"),
            |e| matches!(e, SdpError::MissingFingerprint { .. }),
        ),
        ("no ufrag", drop_lines(&offer.sdp, "a=ice-ufrag"), |e| {
            matches!(e, SdpError::MissingIceCredentials { .. })
        }),
        ("no pwd", drop_lines(&offer.sdp, "a=ice-pwd"), |e| {
            matches!(e, SdpError::MissingIceCredentials { .. })
        }),
        (
            "short ufrag",
            replace_attr(&offer.sdp, "ice-ufrag", "ab"),
            |e| matches!(e, SdpError::InvalidIceCredentials { .. }),
        ),
        ("duplicate mid", dup, |e| {
            matches!(e, SdpError::DuplicateMid(_))
        }),
        ("no mid", drop_lines(&offer.sdp, "a=mid"), |e| {
            matches!(
                e,
                SdpError::MissingMid { .. } | SdpError::BundleUnknownMid(_)
            )
        }),
        (
            "bad fingerprint",
            replace_attr(&offer.sdp, "fingerprint", "sha-256 zz"),
            |e| matches!(e, SdpError::InvalidFingerprint(_)),
        ),
        (
            "huge",
            format!("{}{}", offer.sdp, "a=x\r\n".repeat(60_000)),
            |e| matches!(e, SdpError::TooLarge(_)),
        ),
    ];
    for (name, text, ok) in cases {
        let r =
            p.a.s
                .set_remote_description(desc(SdpType::Offer, &text), now);
        match &r {
            Err(SessionError::Sdp(e)) => assert!(ok(e), "{name}: {e:?}"),
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(r.unwrap_err().fault(), session_core::error::Fault::Peer);
        assert_eq!(p.a.s.signaling_state(), SignalingState::Stable, "{name}");
        assert!(p.a.s.remote_description().is_none());
        assert!(p.a.cmds().is_empty());
    }
    // A correct description afterwards succeeds.
    p.a.s.set_remote_description(offer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::HaveRemoteOffer);
    let answer = p.a.s.create_answer(now).unwrap();
    p.a.s.set_local_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn bad_remote_answers_are_peer_errors_and_harmless() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = p.now;
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.a.drain();
    let swapped = answer
        .sdp
        .replace("a=mid:0", "a=mid:X")
        .replace("a=mid:1", "a=mid:0")
        .replace("a=mid:X", "a=mid:1")
        .replace("BUNDLE 0 1", "BUNDLE 1 0");
    let cases: Vec<(&str, String, SessionError)> = vec![
        (
            "actpass in an answer",
            replace_attr(&answer.sdp, "setup", "actpass"),
            SessionError::Peer(PeerError::InvalidSetupInAnswer { mid: "0".into() }),
        ),
        (
            "m-lines swapped",
            swapped,
            SessionError::Peer(PeerError::AnswerMismatch),
        ),
        (
            "bundle rejected",
            drop_lines(&answer.sdp, "a=group:BUNDLE"),
            SessionError::Peer(PeerError::BundleRejected),
        ),
    ];
    for (name, text, want) in cases {
        let r =
            p.a.s
                .set_remote_description(desc(SdpType::Answer, &text), now);
        assert_eq!(r, Err(want.clone()), "{name}");
        let (cmds, _, ev) = p.a.drain();
        assert!(cmds.is_empty(), "{name}: {cmds:?}");
        let SessionError::Peer(pe) = want else {
            unreachable!()
        };
        assert!(ev.contains(&Event::PeerMisbehaved(pe)), "{name}: {ev:?}");
        assert_eq!(p.a.s.signaling_state(), SignalingState::HaveLocalOffer);
    }
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn renegotiation_that_reorders_m_lines_is_rejected() {
    let mut p = Pair::new();
    p.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    p.a.s.add_transceiver(MediaKind::Video, Direction::SendRecv);
    p.exchange();
    p.a.drain();
    p.b.drain();
    let now = p.tick(Duration::from_millis(1));
    // A second offer from A in which the two m-sections are swapped.
    let offer = p.a.s.create_offer(OfferOptions::default(), now).unwrap();
    let text = offer.sdp.clone();
    let first = text.find("\r\nm=").unwrap() + 2;
    let second = first + text[first..].find("\r\nm=").unwrap() + 2;
    let swapped = format!(
        "{}{}{}",
        &text[..first],
        &text[second..],
        &text[first..second]
    );
    let r =
        p.b.s
            .set_remote_description(desc(SdpType::Offer, &swapped), now);
    assert_eq!(r, Err(SessionError::Peer(PeerError::MLinesChanged)));
    assert!(p
        .b
        .events()
        .contains(&Event::PeerMisbehaved(PeerError::MLinesChanged)));
    // Removing an m-line is rejected the same way.
    let removed = text[..second].replace("BUNDLE 0 1", "BUNDLE 0");
    assert_eq!(
        p.b.s
            .set_remote_description(desc(SdpType::Offer, &removed), now),
        Err(SessionError::Peer(PeerError::MLinesChanged))
    );
    // A changed media kind for a mid, too.
    let kind_changed = text.replacen("m=audio", "m=video", 1);
    assert!(matches!(
        p.b.s
            .set_remote_description(desc(SdpType::Offer, &kind_changed), now),
        Err(SessionError::Peer(PeerError::MidKindChanged { .. }) | SessionError::Sdp(_))
    ));
    // A changed fingerprint.
    let fp = replace_attr(
        &text,
        "fingerprint",
        &format!("sha-256 {}", ["CC"; 32].join(":")),
    );
    assert!(matches!(
        p.b.s.set_remote_description(desc(SdpType::Offer, &fp), now),
        Err(SessionError::Peer(PeerError::FingerprintChanged { .. }))
    ));
    assert_eq!(p.b.s.signaling_state(), SignalingState::Stable);
    assert!(p.b.cmds().is_empty());
    // The genuine offer works.
    p.a.s.set_local_description(offer.clone(), now).unwrap();
    p.b.s.set_remote_description(offer, now).unwrap();
    let answer = p.b.s.create_answer(now).unwrap();
    p.b.s.set_local_description(answer.clone(), now).unwrap();
    p.a.s.set_remote_description(answer, now).unwrap();
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
}

#[test]
fn garbage_signal_json_is_a_signal_error() {
    let mut p = connected_data_pair();
    let now = p.tick(Duration::from_millis(1));
    for bad in [
        "",
        "null",
        "[]",
        "{}",
        "{\"type\":\"nope\"}",
        "{\"type\":\"candidate\"}",
        "{\"type\":\"description\",\"description\":{\"type\":\"offerx\",\"sdp\":\"\"}}",
        "{\"type\":\"bye\"",
        "\u{0}\u{1}",
    ] {
        let r = p.a.s.handle_signal_json(bad, now);
        assert!(matches!(r, Err(SessionError::Signal(_))), "{bad:?}: {r:?}");
    }
    let huge = format!(
        "{{\"type\":\"bye\",\"reason\":\"{}\"}}",
        "x".repeat(session_core::signal::MAX_SIGNAL_LEN)
    );
    assert!(matches!(
        p.a.s.handle_signal_json(&huge, now),
        Err(SessionError::Signal(
            session_core::signal::SignalParseError::TooLarge(_)
        ))
    ));
    // A description with a malformed SDP inside valid JSON is an SDP error.
    let r = p.a.s.handle_signal_json(
        r#"{"type":"description","description":{"type":"offer","sdp":"v=0"}}"#,
        now,
    );
    assert!(matches!(r, Err(SessionError::Sdp(_))), "{r:?}");
    assert!(!p.a.s.is_closed());
    assert_eq!(p.a.s.signaling_state(), SignalingState::Stable);
    let (o, _) = p.exchange();
    assert_eq!(o.kind, SdpType::Offer);
}

/// Mutates `base` with up to `n` edits driven by `ops` (byte flips, line drops, duplications).
fn mutate(base: &str, ops: &[(u8, u16, u8)]) -> String {
    let mut lines: Vec<String> = base.split("\r\n").map(str::to_owned).collect();
    for &(op, at, byte) in ops {
        if lines.is_empty() {
            break;
        }
        let i = usize::from(at) % lines.len();
        match op % 5 {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let mut b = lines[i].clone().into_bytes();
                if !b.is_empty() {
                    let j = usize::from(byte) % b.len();
                    b[j] = byte;
                }
                lines[i] = String::from_utf8_lossy(&b).into_owned();
            }
            3 => {
                let j = (usize::from(at) / 7) % lines.len();
                lines.swap(i, j);
            }
            _ => {
                let cut = usize::from(byte) % (lines[i].len() + 1);
                let mut end = cut;
                while !lines[i].is_char_boundary(end) {
                    end -= 1;
                }
                lines[i].truncate(end);
            }
        }
    }
    lines.join("\r\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_signal_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), s in ".{0,80}") {
        let mut session = Session::new(manual_cfg(1), t0());
        let now = t0();
        let text = String::from_utf8_lossy(&bytes);
        let _ = session.handle_signal_json(&text, now);
        let _ = session.handle_signal_json(&s, now);
        // Random strings inside each message shape.
        for shape in [
            format!(r#"{{"type":"description","description":{{"type":"offer","sdp":{}}}}}"#, serde_json_string(&s)),
            format!(r#"{{"type":"description","description":{{"type":"answer","sdp":{}}}}}"#, serde_json_string(&s)),
            format!(r#"{{"type":"candidate","candidate":{{"candidate":{},"sdpMid":"0"}}}}"#, serde_json_string(&s)),
            format!(r#"{{"type":"end-of-candidates","usernameFragment":{}}}"#, serde_json_string(&s)),
        ] {
            let r = session.handle_signal_json(&shape, now);
            prop_assert!(!matches!(r, Err(SessionError::Signal(_))), "{shape}: {r:?}");
        }
        prop_assert!(!session.is_closed());
    }

    #[test]
    fn fuzz_mutated_remote_offers_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6)) {
        let offer = fuzz_offer();
        let text = mutate(&offer.sdp, &ops);
        let mut q = Pair::new();
        let now = q.now;
        let r = q.a.s.set_remote_description(desc(SdpType::Offer, &text), now);
        match r {
            Ok(()) => {
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::HaveRemoteOffer);
                // Whatever was accepted can be answered or rolled back.
                if let Ok(answer) = q.a.s.create_answer(now) {
                    let _ = sdp::parse(&answer.sdp).map_err(|e| TestCaseError::fail(format!("our answer: {e}\n{}", answer.sdp)))?;
                    q.a.s.set_local_description(answer, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                } else {
                    q.a.s.set_remote_description(rollback(), now).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
            }
            Err(e) => {
                prop_assert!(matches!(e, SessionError::Sdp(_) | SessionError::Peer(_)), "{e:?}");
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
                // Still usable: the genuine offer applies.
                q.a.s.set_remote_description(offer.clone(), now).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
        }
    }

    #[test]
    fn fuzz_random_remote_answers_never_panic(ops in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6), junk in ".{0,64}") {
        let (mut q, answer) = fuzz_pair_waiting_for_answer();
        let now = q.now;
        for text in [mutate(&answer.sdp, &ops), junk] {
            let r = q.a.s.set_remote_description(desc(SdpType::Answer, &text), now);
            if r.is_ok() {
                prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
                return Ok(());
            }
            prop_assert_eq!(q.a.s.signaling_state(), SignalingState::HaveLocalOffer);
        }
        q.a.s.set_remote_description(answer, now).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(q.a.s.signaling_state(), SignalingState::Stable);
    }
}

fn serde_json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn fuzz_offer() -> SessionDescription {
    use std::sync::OnceLock;
    static OFFER: OnceLock<SessionDescription> = OnceLock::new();
    OFFER
        .get_or_init(|| {
            let mut q = Pair::new();
            q.b.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
            q.b.s.add_transceiver(MediaKind::Video, Direction::SendOnly);
            q.b.s
                .create_data_channel("chat", DataChannelInit::default())
                .unwrap();
            let now = q.now;
            q.b.s.create_offer(OfferOptions::default(), now).unwrap()
        })
        .clone()
}

fn fuzz_pair_waiting_for_answer() -> (Pair, SessionDescription) {
    let mut q = Pair::new();
    q.a.s.add_transceiver(MediaKind::Audio, Direction::SendRecv);
    q.a.s
        .create_data_channel("chat", DataChannelInit::default())
        .unwrap();
    let now = q.now;
    let offer = q.a.s.create_offer(OfferOptions::default(), now).unwrap();
    q.a.s.set_local_description(offer.clone(), now).unwrap();
    q.b.s.set_remote_description(offer, now).unwrap();
    let answer = q.b.s.create_answer(now).unwrap();
    (q, answer)
}
