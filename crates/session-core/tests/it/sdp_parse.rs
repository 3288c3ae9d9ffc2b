//! SDP parsing against captured and hand-written fixtures, round trips through the writer, and
//! malformed input rejected with exact typed errors.

use std::path::{Path, PathBuf};

use session_core::candidate::{CandidateError, CandidateProtocol, CandidateType, TcpType};
use session_core::sdp::{
    self, codecs, Direction, MediaDesc, MediaKind, SdpError, SessionDesc, Setup, MAX_SDP_LEN,
};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every `.sdp` under `tests/fixtures`, recursively, sorted.
fn all_fixtures() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "sdp") {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&fixtures_dir(), &mut out);
    out.sort();
    out
}

fn load(rel: &str) -> String {
    let path = fixtures_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse_fixture(rel: &str) -> SessionDesc {
    sdp::parse(&load(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn mids(d: &SessionDesc) -> Vec<&str> {
    d.media.iter().map(|m| m.mid.as_str()).collect()
}

fn codec_names(m: &MediaDesc) -> Vec<String> {
    m.codecs
        .iter()
        .map(|c| c.name.to_ascii_lowercase())
        .collect()
}

/// Is the m-section live (not rejected)? Bundle-only sections have port 0 but are live.
fn is_live(d: &SessionDesc, m: &MediaDesc) -> bool {
    m.port != 0
        || d.bundle_group_of(&m.mid)
            .and_then(|g| g.first())
            .and_then(|tag| d.media_by_mid(tag))
            .is_some_and(|t| t.port != 0)
}

/// Structural checks that hold for every valid fixture.
fn check_structure(name: &str, d: &SessionDesc) {
    assert!(!d.media.is_empty(), "{name}: no m-sections");
    for group in &d.bundle_groups {
        for mid in group {
            assert!(d.media_by_mid(mid).is_some(), "{name}: bundle names {mid}");
        }
    }
    for m in &d.media {
        if !is_live(d, m) {
            continue;
        }
        let ice = m
            .ice
            .as_ref()
            .unwrap_or_else(|| panic!("{name}/{}: no ICE", m.mid));
        assert!(ice.is_valid(), "{name}/{}", m.mid);
        assert!(
            m.fingerprints
                .iter()
                .any(|f| f.algorithm == "sha-256" && f.value.len() == 32),
            "{name}/{}: no sha-256 fingerprint",
            m.mid
        );
        assert!(m.setup.is_some(), "{name}/{}: no setup", m.mid);
        match m.kind {
            MediaKind::Audio => {
                assert!(codec_names(m).contains(&"opus".into()), "{name}/{}", m.mid);
                assert!(m.rtcp_mux, "{name}/{}", m.mid);
                assert!(m.protocol.contains("RTP"));
            }
            MediaKind::Video => {
                assert!(codec_names(m).contains(&"vp8".into()), "{name}/{}", m.mid);
                assert!(m.rtcp_mux, "{name}/{}", m.mid);
            }
            MediaKind::Application => {
                assert_eq!(m.sctp_port, Some(5000), "{name}/{}", m.mid);
                assert!(m.codecs.is_empty());
                assert!(m.protocol.ends_with("SCTP"), "{name}/{}", m.mid);
            }
            _ => unreachable!("{name}: unexpected kind"),
        }
    }
}

#[test]
fn every_fixture_parses_with_expected_structure() {
    let fixtures = all_fixtures();
    assert!(
        fixtures.len() >= 6,
        "expected hand-written fixtures, found {fixtures:?}"
    );
    for path in &fixtures {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let d = sdp::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_structure(&name, &d);
    }
}

#[test]
fn every_fixture_round_trips_through_write() {
    for path in all_fixtures() {
        let name = path.display().to_string();
        let d = sdp::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let written = sdp::write(&d);
        assert!(written.ends_with("\r\n"), "{name}");
        assert!(
            !written.replace("\r\n", "").contains('\n'),
            "{name}: bare LF in output"
        );
        let again = sdp::parse(&written).unwrap_or_else(|e| panic!("{name}: {e}\n{written}"));
        assert_eq!(again, d, "{name}:\n{written}");
        // Writing is stable.
        assert_eq!(sdp::write(&again), written, "{name}");
    }
}

#[test]
fn chromium_captured_offers_and_answers() {
    let chromium = fixtures_dir().join("chromium");
    if !chromium.join("offer-av-data.sdp").exists() {
        return;
    }
    let offer = parse_fixture("chromium/offer-av-data.sdp");
    assert_eq!(mids(&offer), ["0", "1", "2"]);
    assert_eq!(offer.bundle_groups, [vec!["0", "1", "2"]]);
    assert!(offer.extmap_allow_mixed);
    assert!(!offer.ice_lite);
    let kinds: Vec<_> = offer.media.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [MediaKind::Audio, MediaKind::Video, MediaKind::Application]
    );
    for m in &offer.media {
        assert_eq!(m.setup, Some(Setup::ActPass));
        assert!(m.trickle);
        assert_eq!(m.ice, offer.media[0].ice);
    }
    let video = &offer.media[1];
    assert!(video
        .ssrc_groups
        .iter()
        .any(|g| g.semantics == "FID" && g.ssrcs.len() == 2));
    assert!(video.cname.is_some());
    assert!(video.msid.is_some());
    assert!(!codecs::answer_codecs(MediaKind::Video, &video.codecs).is_empty());
    assert_eq!(offer.media[2].max_message_size, Some(262_144));

    let gathered = parse_fixture("chromium/offer-av-data-gathered.sdp");
    for m in &gathered.media {
        assert!(!m.candidates.is_empty(), "mid {}", m.mid);
        assert!(m.candidates.iter().all(|c| c.typ == CandidateType::Host));
    }

    let answer = parse_fixture("chromium/answer-av-data.sdp");
    assert_eq!(mids(&answer), ["0", "1", "2"]);
    for m in &answer.media {
        assert_eq!(m.setup, Some(Setup::Active));
    }

    for (before, after) in [
        (
            "chromium/offer-av-data-before-restart.sdp",
            "chromium/offer-av-data-ice-restart.sdp",
        ),
        (
            "chromium/answer-av-data.sdp",
            "chromium/answer-av-data-ice-restart.sdp",
        ),
    ] {
        if !fixtures_dir().join(after).exists() {
            continue;
        }
        let (b, a) = (parse_fixture(before), parse_fixture(after));
        assert_ne!(b.media[0].ice, a.media[0].ice, "{after}: same credentials");
        assert_eq!(b.media[0].fingerprints, a.media[0].fingerprints);
    }
}

#[test]
fn handwritten_chromium_offer() {
    let d = parse_fixture("handwritten/chromium-offer-av-data.sdp");
    assert_eq!(d.session_id, 4_611_731_400_430_051_336);
    assert_eq!(d.session_version, 2);
    assert_eq!(mids(&d), ["0", "1", "2"]);
    assert_eq!(d.bundle_groups, [vec!["0", "1", "2"]]);

    let audio = &d.media[0];
    assert_eq!(audio.port, 54400);
    assert_eq!(audio.protocol, "UDP/TLS/RTP/SAVPF");
    assert_eq!(audio.ice.as_ref().unwrap().ufrag, "sGr7");
    assert_eq!(audio.fingerprints[0].value[..2], [0x5B, 0x0E]);
    assert_eq!(
        audio
            .codecs
            .iter()
            .map(|c| c.payload_type)
            .collect::<Vec<_>>(),
        [111, 63, 9, 0, 8, 13, 110, 126]
    );
    let opus = &audio.codecs[0];
    assert_eq!(
        (opus.name.as_str(), opus.clock_rate, opus.channels),
        ("opus", 48000, Some(2))
    );
    assert_eq!(opus.fmtp.as_deref(), Some("minptime=10;useinbandfec=1"));
    assert_eq!(opus.rtcp_fb, ["transport-cc"]);
    assert_eq!(audio.extmaps.len(), 4);
    assert_eq!(audio.extmaps[3].uri, codecs::EXT_SDES_MID);
    assert_eq!(audio.direction, Direction::SendRecv);
    assert!(audio.rtcp_mux && audio.rtcp_rsize);
    assert_eq!(audio.ssrcs, [3_735_928_559]);
    assert_eq!(audio.cname.as_deref(), Some("q4MBnY8xW2v1KpZs"));
    let msid = audio.msid.as_ref().unwrap();
    assert_eq!(msid.stream, "3f1c7a52-8e0b-4d6f-9a21-5c7e0b3d9f84");
    assert_eq!(
        msid.track.as_deref(),
        Some("b2d4e6f8-1a3c-4e5f-8a9b-0c1d2e3f4a5b")
    );
    assert_eq!(audio.candidates.len(), 3);
    assert!(audio.candidates[0].address.ends_with(".local"));
    assert_eq!(audio.candidates[1].tcp_type, Some(TcpType::Active));
    assert_eq!(audio.candidates[2].typ, CandidateType::ServerReflexive);
    assert!(!audio.end_of_candidates);

    let video = &d.media[1];
    assert_eq!(video.codecs.len(), 19);
    assert_eq!(video.ssrcs, [2_882_400_001, 2_882_400_002]);
    assert_eq!(video.ssrc_groups[0].ssrcs, [2_882_400_001, 2_882_400_002]);
    let answer = codecs::answer_codecs(MediaKind::Video, &video.codecs);
    let pts: Vec<u8> = answer.iter().map(|c| c.payload_type).collect();
    assert_eq!(pts, [96, 97, 98, 99, 102, 103, 106, 107]);
    let ext = codecs::answer_extmaps(MediaKind::Video, &video.extmaps);
    assert_eq!(ext.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3, 4]);

    let data = &d.media[2];
    assert_eq!(data.kind, MediaKind::Application);
    assert_eq!(data.protocol, "UDP/DTLS/SCTP");
    assert_eq!(data.sctp_port, Some(5000));
    assert_eq!(data.max_message_size, Some(262_144));
}

#[test]
fn handwritten_chromium_answer() {
    let d = parse_fixture("handwritten/chromium-answer.sdp");
    assert!(d.media.iter().all(|m| m.setup == Some(Setup::Active)));
    assert_eq!(d.media[1].direction, Direction::RecvOnly);
    assert!(d.media[1].msid.is_none());
    assert_eq!(d.media[0].ice.as_ref().unwrap().ufrag, "Zx3+");
}

#[test]
fn firefox_offer_inherits_session_level_attributes() {
    let d = parse_fixture("handwritten/firefox-offer.sdp");
    assert_eq!(d.session_id, 5_066_528_406_326_063_378);
    assert_eq!(d.session_version, 0);
    for m in &d.media {
        assert_eq!(m.fingerprints.len(), 1, "{}", m.mid);
        assert_eq!(m.fingerprints[0].value[0], 0x9E);
        assert!(m.trickle, "session-level ice-options:trickle");
        assert_eq!(m.ice.as_ref().unwrap().ufrag, "8d3f0a1c");
    }
    let audio = &d.media[0];
    assert_eq!(audio.extmaps[1].direction, Some(Direction::RecvOnly));
    assert_eq!(audio.codecs[1].channels, Some(1));
    let video = &d.media[1];
    let names = codec_names(video);
    assert_eq!(
        names,
        ["vp8", "rtx", "vp9", "rtx", "h264", "rtx", "h264", "rtx"]
    );
    // rtcp-fb lines come after the rtpmap lines in Firefox: still attached.
    assert_eq!(video.codecs[0].rtcp_fb.len(), 5);
    assert_eq!(video.ssrcs, [2_613_208_219, 1_848_590_741]);
    let answer = codecs::answer_codecs(MediaKind::Video, &video.codecs);
    let pts: Vec<u8> = answer.iter().map(|c| c.payload_type).collect();
    // H264 97 has packetization-mode 0 (default): refused, with its rtx 98.
    assert_eq!(pts, [120, 124, 121, 125, 126, 127]);
    assert_eq!(d.media[2].max_message_size, Some(1_073_741_823));
}

#[test]
fn data_only_offer_with_all_candidate_types() {
    let d = parse_fixture("handwritten/data-only-offer.sdp");
    assert_eq!(d.media.len(), 1);
    let m = &d.media[0];
    assert!(m.end_of_candidates);
    let types: Vec<_> = m.candidates.iter().map(|c| c.typ).collect();
    assert_eq!(
        types,
        [
            CandidateType::Host,
            CandidateType::ServerReflexive,
            CandidateType::Host,
            CandidateType::Relay
        ]
    );
    assert_eq!(m.candidates[2].protocol, CandidateProtocol::Tcp);
    assert_eq!(m.candidates[2].tcp_type, Some(TcpType::Passive));
    assert_eq!(m.candidates[3].related_port, Some(61665));
    assert!(m
        .candidates
        .iter()
        .all(|c| c.ufrag.as_deref() == Some("Qm4x")));
}

#[test]
fn non_bundled_offer_keeps_per_section_credentials() {
    let d = parse_fixture("handwritten/non-bundled-offer.sdp");
    assert!(d.bundle_groups.is_empty());
    assert_eq!(mids(&d), ["audio", "video", "data", "old"]);
    let ufrags: Vec<_> = d.media[..3]
        .iter()
        .map(|m| m.ice.as_ref().unwrap().ufrag.as_str())
        .collect();
    assert_eq!(ufrags, ["aUd1", "vId2", "dAt3"]);
    assert_ne!(d.media[0].fingerprints, d.media[1].fingerprints);
    assert!(d.media.iter().all(|m| !m.trickle));
    assert_eq!(d.media[0].direction, Direction::SendOnly);
    assert_eq!(d.media[0].msid.as_ref().unwrap().stream, "-");
    // `a=rtcp-fb:* nack` applies to every payload type.
    assert_eq!(d.media[1].codecs[0].rtcp_fb, ["nack", "nack pli"]);
    assert_eq!(d.media[1].codecs[1].rtcp_fb, ["nack"]);
    assert_eq!(d.media[2].max_message_size, Some(65536));
    // The rejected m-section needs no transport attributes.
    let old = &d.media[3];
    assert_eq!(old.port, 0);
    assert!(old.ice.is_none() && old.fingerprints.is_empty() && old.setup.is_none());
    assert_eq!(old.direction, Direction::Inactive);
}

#[test]
fn bundle_only_sections_inherit_from_the_tagged_section() {
    let d = parse_fixture("handwritten/bundle-only-offer.sdp");
    let tag = &d.media[0];
    for m in &d.media[1..] {
        assert_eq!(m.port, 0);
        assert_eq!(m.ice, tag.ice);
        assert_eq!(m.fingerprints, tag.fingerprints);
        assert_eq!(m.setup, Some(Setup::ActPass));
        assert!(
            m.trickle,
            "ice-options:trickle is a transport attribute too"
        );
    }
    // Written back, the port-0 sections stay bundle-only.
    let written = sdp::write(&d);
    assert_eq!(written.matches("a=bundle-only\r\n").count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Malformed input.

/// A minimal valid offer to break in one place at a time.
fn base() -> String {
    [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuv",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "a=setup:actpass",
        "a=mid:0",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:abcd",
        "a=ice-pwd:abcdefghijklmnopqrstuv",
        "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "a=setup:actpass",
        "a=mid:1",
        "a=sctp-port:5000",
        "",
    ]
    .join("\r\n")
}

/// `base()` with every line starting with `prefix` removed.
fn without(prefix: &str) -> String {
    base()
        .split("\r\n")
        .filter(|l| !l.starts_with(prefix))
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn replace(from: &str, to: &str) -> String {
    let b = base();
    assert!(b.contains(from), "{from}");
    b.replacen(from, to, 1)
}

#[test]
fn base_is_valid() {
    let d = sdp::parse(&base()).unwrap();
    assert_eq!(mids(&d), ["0", "1"]);
}

#[test]
fn missing_fingerprint() {
    assert_eq!(
        sdp::parse(&without("a=fingerprint")),
        Err(SdpError::MissingFingerprint { mid: "0".into() })
    );
}

#[test]
fn session_level_fingerprint_suffices() {
    let text = without("a=fingerprint").replace(
        "t=0 0\r\n",
        "t=0 0\r\na=fingerprint:SHA-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33\r\n",
    );
    let d = sdp::parse(&text).unwrap();
    assert_eq!(d.media[1].fingerprints[0].algorithm, "sha-1");
    assert_eq!(d.media[1].fingerprints[0].value.len(), 20);
}

#[test]
fn invalid_fingerprints() {
    for bad in [
        "sha-256 00:11",
        "md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
        "sha-1 0011:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33",
        "sha-1 ZZ:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33",
        "sha-256",
    ] {
        let text = replace(
            "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
            &format!("a=fingerprint:{bad}"),
        );
        assert_eq!(
            sdp::parse(&text),
            Err(SdpError::InvalidFingerprint(
                bad[..bad.len().min(64)].into()
            )),
            "{bad}"
        );
    }
}

#[test]
fn missing_ufrag() {
    assert_eq!(
        sdp::parse(&without("a=ice-ufrag")),
        Err(SdpError::MissingIceCredentials { mid: "0".into() })
    );
    assert_eq!(
        sdp::parse(&without("a=ice-pwd")),
        Err(SdpError::MissingIceCredentials { mid: "0".into() })
    );
}

#[test]
fn invalid_ice_credentials() {
    assert_eq!(
        sdp::parse(&replace("a=ice-ufrag:abcd", "a=ice-ufrag:ab_d")),
        Err(SdpError::InvalidIceCredentials { mid: "0".into() })
    );
    assert_eq!(
        sdp::parse(&replace(
            "a=ice-pwd:abcdefghijklmnopqrstuv",
            "a=ice-pwd:short"
        )),
        Err(SdpError::InvalidIceCredentials { mid: "0".into() })
    );
}

#[test]
fn missing_mid() {
    assert_eq!(
        sdp::parse(&replace("a=mid:1\r\n", "")),
        Err(SdpError::MissingMid { index: 1 })
    );
}

#[test]
fn duplicate_mid() {
    assert_eq!(
        sdp::parse(&replace("a=mid:1", "a=mid:0")),
        Err(SdpError::DuplicateMid("0".into()))
    );
}

#[test]
fn invalid_mid() {
    let long = "x".repeat(33);
    assert_eq!(
        sdp::parse(&replace("a=mid:1", &format!("a=mid:{long}"))),
        Err(SdpError::InvalidMid(long))
    );
    assert_eq!(
        sdp::parse(&replace("a=mid:1", "a=mid:a\"b")),
        Err(SdpError::InvalidMid("a\"b".into()))
    );
}

#[test]
fn bad_setup() {
    assert_eq!(
        sdp::parse(&replace(
            "a=setup:actpass\r\na=mid:1",
            "a=setup:server\r\na=mid:1"
        )),
        Err(SdpError::InvalidSetup { mid: "1".into() })
    );
    assert_eq!(
        sdp::parse(&without("a=setup")),
        Err(SdpError::InvalidSetup { mid: "0".into() })
    );
}

#[test]
fn bundle_unknown_mid() {
    assert_eq!(
        sdp::parse(&replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0 1 7")),
        Err(SdpError::BundleUnknownMid("7".into()))
    );
    // Other group semantics are not checked.
    assert!(sdp::parse(&replace("a=group:BUNDLE 0 1", "a=group:LS 0 9")).is_ok());
}

#[test]
fn unsupported_media() {
    assert_eq!(
        sdp::parse(&replace(
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "m=text 9 UDP/DTLS/SCTP webrtc-datachannel"
        )),
        Err(SdpError::UnsupportedMedia("text".into()))
    );
    assert!(matches!(
        sdp::parse(&replace(
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "m=audio 9 UDP/DTLS/SCTP 111"
        )),
        Err(SdpError::UnsupportedMedia(_))
    ));
}

#[test]
fn oversized() {
    let mut text = base();
    while text.len() <= MAX_SDP_LEN {
        text.push_str("a=x-padding:0123456789012345678901234567890123456789\r\n");
    }
    assert_eq!(sdp::parse(&text), Err(SdpError::TooLarge(text.len())));
}

#[test]
fn garbage_bytes() {
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let text = String::from_utf8_lossy(&bytes);
    assert!(matches!(sdp::parse(&text), Err(SdpError::Syntax(_))));
    assert!(matches!(sdp::parse(""), Err(SdpError::Syntax(_))));
    assert!(matches!(
        sdp::parse("hello world"),
        Err(SdpError::Syntax(_))
    ));
    assert!(matches!(
        sdp::parse(&replace("o=- 1 1", "o=- x 1")),
        Err(SdpError::Syntax(_))
    ));
    assert!(matches!(
        sdp::parse(&replace("o=- 1 1", "o=- 18446744073709551616 1")),
        Err(SdpError::Syntax(_))
    ));
}

#[test]
fn truncated() {
    let text = base();
    // Cut in the middle of the o= line: a syntax error.
    assert!(matches!(
        sdp::parse(&text[..text.find("IN IP4").unwrap()]),
        Err(SdpError::Syntax(_))
    ));
    // Cut before the second m-section's mid: BUNDLE names a mid that no longer exists.
    let cut = text.find("a=mid:1").unwrap();
    assert_eq!(
        sdp::parse(&text[..cut]),
        Err(SdpError::MissingMid { index: 1 })
    );
    // Every prefix: never a panic, and either an error or a valid description.
    for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
        let _ = sdp::parse(&text[..end]);
    }
}

#[test]
fn bad_candidate_line() {
    let text = replace(
        "a=mid:1\r\n",
        "a=mid:1\r\na=candidate:1 1 udp 2122260223 10.0.0.1 99999 typ host\r\n",
    );
    assert_eq!(
        sdp::parse(&text),
        Err(SdpError::Candidate {
            mid: "1".into(),
            source: CandidateError::InvalidField {
                field: "port",
                value: "99999".into()
            }
        })
    );
    let text = replace(
        "a=mid:0\r\n",
        "a=mid:0\r\na=candidate:1 1 udp 2122260223 10.0.0.1 9 typ host ufrag\r\n",
    );
    assert_eq!(
        sdp::parse(&text),
        Err(SdpError::Candidate {
            mid: "0".into(),
            source: CandidateError::DanglingExtension("ufrag".into())
        })
    );
}

#[test]
fn bad_attribute_values() {
    assert_eq!(
        sdp::parse(&replace("a=sctp-port:5000", "a=sctp-port:70000")),
        Err(SdpError::InvalidAttribute("sctp-port:70000".into()))
    );
    assert!(matches!(
        sdp::parse(&replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus")),
        Err(SdpError::InvalidAttribute(_))
    ));
    assert!(matches!(
        sdp::parse(&replace("a=rtcp-mux", "a=extmap:0 urn:x")),
        Err(SdpError::InvalidAttribute(_))
    ));
    // A control character in the URI (found by the `sdp` fuzz target: written back, the vertical
    // tab was trimmed and the description read back differently).
    assert!(matches!(
        sdp::parse(&replace("a=rtcp-mux", "a=extmap:4 urn:\u{b}x")),
        Err(SdpError::InvalidAttribute(_))
    ));
    assert!(matches!(
        sdp::parse(&replace("a=rtcp-mux", "a=ssrc:-1 cname:x")),
        Err(SdpError::InvalidAttribute(_))
    ));
}

#[test]
fn rejected_section_is_lenient() {
    let text = base().replace(
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n",
        "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n",
    );
    let text = text.replace("a=group:BUNDLE 0 1", "a=group:BUNDLE 0");
    let text = {
        // Drop the rejected section's fingerprint and setup too.
        let idx = text.find("m=application").unwrap();
        let (head, tail) = text.split_at(idx);
        let tail: Vec<_> = tail
            .split("\r\n")
            .filter(|l| !l.starts_with("a=fingerprint") && !l.starts_with("a=setup"))
            .collect();
        format!("{head}{}", tail.join("\r\n"))
    };
    let d = sdp::parse(&text).unwrap();
    let data = &d.media[1];
    assert_eq!(data.port, 0);
    assert!(data.ice.is_none() && data.fingerprints.is_empty() && data.setup.is_none());
    assert_eq!(sdp::parse(&sdp::write(&d)), Ok(d));
}

#[test]
fn session_level_ice_lite_and_trickle() {
    let text = replace(
        "t=0 0\r\n",
        "t=0 0\r\na=ice-lite\r\na=ice-options:ice2 trickle\r\n",
    );
    let d = sdp::parse(&text).unwrap();
    assert!(d.ice_lite);
    assert!(d.media.iter().all(|m| m.trickle));
    assert!(!d.extmap_allow_mixed);
    let written = sdp::write(&d);
    assert!(written.contains("\r\na=ice-lite\r\n"));
    assert_eq!(sdp::parse(&written), Ok(d));
}
