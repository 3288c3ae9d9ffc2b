//! [`SessionDesc`] to SDP text.
//!
//! The output follows what Chromium emits (and accepts in `setRemoteDescription`): transport
//! attributes repeated in every m-section, `a=rtcp-mux`, one `a=rtpmap` per payload type.

use std::fmt::Write as _;

use super::{Direction, MediaDesc, SessionDesc};

/// Writes a JSEP session description (CRLF line endings).
pub fn write(desc: &SessionDesc) -> String {
    let mut w = Writer(String::with_capacity(1024 + desc.media.len() * 2048));
    w.line(format_args!("v=0"));
    w.line(format_args!(
        "o=- {} {} IN IP4 127.0.0.1",
        desc.session_id, desc.session_version
    ));
    w.line(format_args!("s=-"));
    w.line(format_args!("t=0 0"));
    for group in &desc.bundle_groups {
        let mut line = String::from("a=group:BUNDLE");
        for mid in group {
            line.push(' ');
            line.push_str(mid);
        }
        w.line(format_args!("{line}"));
    }
    if desc.extmap_allow_mixed {
        w.line(format_args!("a=extmap-allow-mixed"));
    }
    w.line(format_args!("a=msid-semantic: WMS"));
    if desc.ice_lite {
        w.line(format_args!("a=ice-lite"));
    }
    for media in &desc.media {
        write_media(&mut w, desc, media);
    }
    w.0
}

struct Writer(String);

impl Writer {
    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        // Writing to a String cannot fail.
        let _ = self.0.write_fmt(args);
        self.0.push_str("\r\n");
    }
}

/// Is this port-0 m-section bundled into a group whose tagged m-section is live?
fn is_bundle_only(desc: &SessionDesc, media: &MediaDesc) -> bool {
    media.port == 0
        && desc.bundle_group_of(&media.mid).is_some_and(|group| {
            group.first().is_some_and(|tag| {
                tag != &media.mid && desc.media_by_mid(tag).is_some_and(|m| m.port != 0)
            })
        })
}

fn write_media(w: &mut Writer, desc: &SessionDesc, m: &MediaDesc) {
    let rtp = m.kind.is_rtp();
    let formats = if rtp {
        if m.codecs.is_empty() {
            // An m= line needs at least one format; without an rtpmap it reads back as none.
            "0".to_owned()
        } else {
            m.codecs
                .iter()
                .map(|c| c.payload_type.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        }
    } else {
        "webrtc-datachannel".to_owned()
    };
    w.line(format_args!(
        "m={} {} {} {}",
        m.kind.as_str(),
        m.port,
        m.protocol,
        formats
    ));
    w.line(format_args!("c=IN IP4 0.0.0.0"));
    if rtp {
        w.line(format_args!("a=rtcp:9 IN IP4 0.0.0.0"));
    }
    if let Some(ice) = &m.ice {
        w.line(format_args!("a=ice-ufrag:{}", ice.ufrag));
        w.line(format_args!("a=ice-pwd:{}", ice.pwd));
    }
    if m.trickle {
        w.line(format_args!("a=ice-options:trickle"));
    }
    for fp in &m.fingerprints {
        w.line(format_args!("a=fingerprint:{fp}"));
    }
    if let Some(setup) = m.setup {
        w.line(format_args!("a=setup:{}", setup.as_str()));
    }
    w.line(format_args!("a=mid:{}", m.mid));
    if is_bundle_only(desc, m) {
        w.line(format_args!("a=bundle-only"));
    }
    for e in &m.extmaps {
        match e.direction {
            Some(d) => w.line(format_args!("a=extmap:{}/{} {}", e.id, d.as_str(), e.uri)),
            None => w.line(format_args!("a=extmap:{} {}", e.id, e.uri)),
        }
    }
    if rtp || m.direction != Direction::SendRecv {
        w.line(format_args!("a={}", m.direction.as_str()));
    }
    let msid_text = m.msid.as_ref().map(|msid| match &msid.track {
        Some(track) => format!("{} {track}", msid.stream),
        None => msid.stream.clone(),
    });
    if let Some(msid) = &msid_text {
        w.line(format_args!("a=msid:{msid}"));
    }
    if m.rtcp_mux {
        w.line(format_args!("a=rtcp-mux"));
    }
    if m.rtcp_rsize {
        w.line(format_args!("a=rtcp-rsize"));
    }
    for c in &m.codecs {
        match c.channels {
            Some(ch) => w.line(format_args!(
                "a=rtpmap:{} {}/{}/{ch}",
                c.payload_type, c.name, c.clock_rate
            )),
            None => w.line(format_args!(
                "a=rtpmap:{} {}/{}",
                c.payload_type, c.name, c.clock_rate
            )),
        }
        for fb in &c.rtcp_fb {
            w.line(format_args!("a=rtcp-fb:{} {fb}", c.payload_type));
        }
        if let Some(fmtp) = c.fmtp.as_deref().filter(|f| !f.is_empty()) {
            w.line(format_args!("a=fmtp:{} {fmtp}", c.payload_type));
        }
    }
    for g in &m.ssrc_groups {
        let mut line = format!("a=ssrc-group:{}", g.semantics);
        for ssrc in &g.ssrcs {
            let _ = write!(line, " {ssrc}");
        }
        w.line(format_args!("{line}"));
    }
    if let Some(cname) = &m.cname {
        for ssrc in &m.ssrcs {
            w.line(format_args!("a=ssrc:{ssrc} cname:{cname}"));
            if let Some(msid) = &msid_text {
                w.line(format_args!("a=ssrc:{ssrc} msid:{msid}"));
            }
        }
    }
    if let Some(port) = m.sctp_port {
        w.line(format_args!("a=sctp-port:{port}"));
    }
    if let Some(size) = m.max_message_size {
        w.line(format_args!("a=max-message-size:{size}"));
    }
    for c in &m.candidates {
        w.line(format_args!("a={c}"));
    }
    if m.end_of_candidates {
        w.line(format_args!("a=end-of-candidates"));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::candidate::{Candidate, CandidateProtocol, CandidateType};
    use crate::ice::IceCredentials;
    use crate::sdp::{parse, Codec, Extmap, Fingerprint, MediaKind, Msid, Setup, SsrcGroup};

    fn media(kind: MediaKind, mid: &str) -> MediaDesc {
        MediaDesc {
            kind,
            mid: mid.to_owned(),
            port: 9,
            protocol: if kind.is_rtp() {
                "UDP/TLS/RTP/SAVPF"
            } else {
                "UDP/DTLS/SCTP"
            }
            .to_owned(),
            ice: Some(IceCredentials {
                ufrag: "abcd".into(),
                pwd: "abcdefghijklmnopqrstuv".into(),
            }),
            trickle: true,
            fingerprints: vec![Fingerprint {
                algorithm: "sha-256".into(),
                value: (0..32).collect(),
            }],
            setup: Some(Setup::ActPass),
            direction: Direction::SendRecv,
            rtcp_mux: kind.is_rtp(),
            rtcp_rsize: kind.is_rtp(),
            codecs: crate::sdp::codecs::local_codecs(kind),
            extmaps: crate::sdp::codecs::local_extmaps(kind),
            msid: None,
            ssrcs: Vec::new(),
            ssrc_groups: Vec::new(),
            cname: None,
            sctp_port: (!kind.is_rtp()).then_some(5000),
            max_message_size: (!kind.is_rtp()).then_some(262_144),
            candidates: Vec::new(),
            end_of_candidates: false,
        }
    }

    #[test]
    fn writes_chromium_layout() {
        let mut audio = media(MediaKind::Audio, "0");
        audio.msid = Some(Msid {
            stream: "s".into(),
            track: Some("t".into()),
        });
        audio.ssrcs = vec![7];
        audio.cname = Some("cn".into());
        let mut data = media(MediaKind::Application, "1");
        data.candidates = vec!["candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host"
            .parse()
            .unwrap()];
        data.end_of_candidates = true;
        let desc = SessionDesc {
            session_id: 42,
            session_version: 3,
            bundle_groups: vec![vec!["0".into(), "1".into()]],
            ice_lite: false,
            extmap_allow_mixed: true,
            media: vec![audio, data],
        };
        let text = write(&desc);
        let expected = [
            "v=0",
            "o=- 42 3 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0 1",
            "a=extmap-allow-mixed",
            "a=msid-semantic: WMS",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:abcdefghijklmnopqrstuv",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F",
            "a=setup:actpass",
            "a=mid:0",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=sendrecv",
            "a=msid:s t",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            "a=rtpmap:111 opus/48000/2",
            "a=rtcp-fb:111 transport-cc",
            "a=rtcp-fb:111 nack",
            "a=fmtp:111 minptime=10;useinbandfec=1",
            "a=ssrc:7 cname:cn",
            "a=ssrc:7 msid:s t",
            "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
            "c=IN IP4 0.0.0.0",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:abcdefghijklmnopqrstuv",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:14:15:16:17:18:19:1A:1B:1C:1D:1E:1F",
            "a=setup:actpass",
            "a=mid:1",
            "a=sctp-port:5000",
            "a=max-message-size:262144",
            "a=candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host",
            "a=end-of-candidates",
            "",
        ]
        .join("\r\n");
        assert_eq!(text, expected);
        assert_eq!(parse(&text), Ok(desc));
    }

    #[test]
    fn video_with_rtx_and_groups() {
        let mut video = media(MediaKind::Video, "v");
        video.direction = Direction::RecvOnly;
        video.ssrc_groups = vec![SsrcGroup {
            semantics: "FID".into(),
            ssrcs: vec![1, 2],
        }];
        video.ssrcs = vec![1, 2];
        video.cname = Some("x".into());
        let desc = SessionDesc {
            session_id: 1,
            session_version: 1,
            bundle_groups: vec![],
            ice_lite: true,
            extmap_allow_mixed: false,
            media: vec![video],
        };
        let text = write(&desc);
        assert!(text.contains("\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 98 99\r\n"));
        assert!(text.contains("\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n"));
        assert!(text.contains("\r\na=ssrc-group:FID 1 2\r\n"));
        assert!(text.contains("\r\na=recvonly\r\n"));
        assert!(text.contains("\r\na=ice-lite\r\n"));
        assert!(!text.contains("a=bundle-only"));
        assert_eq!(parse(&text), Ok(desc));
    }

    fn token(max: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!("[A-Za-z0-9+/]{{1,{max}}}")).unwrap()
    }

    fn arb_direction() -> impl Strategy<Value = Direction> {
        prop_oneof![
            Just(Direction::SendRecv),
            Just(Direction::SendOnly),
            Just(Direction::RecvOnly),
            Just(Direction::Inactive),
        ]
    }

    fn arb_fingerprint() -> impl Strategy<Value = Fingerprint> {
        (0..Fingerprint::ALGORITHMS.len()).prop_flat_map(|i| {
            let (name, len) = Fingerprint::ALGORITHMS[i];
            proptest::collection::vec(any::<u8>(), len).prop_map(move |value| Fingerprint {
                algorithm: name.to_owned(),
                value,
            })
        })
    }

    type TransportParts = (IceCredentials, Vec<Fingerprint>, Setup);

    fn arb_transport() -> impl Strategy<Value = TransportParts> {
        (
            "[A-Za-z0-9+/]{4,16}",
            "[A-Za-z0-9+/]{22,32}",
            proptest::collection::vec(arb_fingerprint(), 1..3),
            prop_oneof![
                Just(Setup::ActPass),
                Just(Setup::Active),
                Just(Setup::Passive),
                Just(Setup::HoldConn),
            ],
        )
            .prop_map(|(ufrag, pwd, fps, setup)| (IceCredentials { ufrag, pwd }, fps, setup))
    }

    fn arb_codecs() -> impl Strategy<Value = Vec<Codec>> {
        let fb = prop::sample::subsequence(
            vec!["nack", "nack pli", "ccm fir", "goog-remb", "transport-cc"],
            0..=5,
        );
        let codec = (
            "[A-Za-z0-9-]{1,12}",
            any::<u32>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of("[a-z0-9=;/-]{1,30}"),
            fb,
        );
        (
            prop::sample::subsequence((0u8..=127).collect::<Vec<_>>(), 0..5),
            proptest::collection::vec(codec, 5),
        )
            .prop_map(|(pts, specs)| {
                pts.into_iter()
                    .zip(specs)
                    .map(|(pt, (name, clock_rate, channels, fmtp, fb))| Codec {
                        payload_type: pt,
                        name,
                        clock_rate,
                        channels,
                        fmtp,
                        rtcp_fb: fb.into_iter().map(str::to_owned).collect(),
                    })
                    .collect()
            })
    }

    fn arb_candidate() -> impl Strategy<Value = Candidate> {
        (
            token(8),
            any::<std::net::Ipv4Addr>(),
            any::<u16>(),
            any::<u32>(),
            proptest::option::of(0u32..4),
        )
            .prop_map(|(foundation, ip, port, priority, generation)| Candidate {
                foundation,
                component: 1,
                protocol: CandidateProtocol::Udp,
                priority,
                address: ip.to_string(),
                port,
                typ: CandidateType::Host,
                related_address: None,
                related_port: None,
                tcp_type: None,
                ufrag: None,
                generation,
                network_id: None,
                network_cost: None,
                extensions: Vec::new(),
            })
    }

    prop_compose! {
        fn arb_media(index: usize)(
            kind in prop_oneof![
                Just(MediaKind::Audio),
                Just(MediaKind::Video),
                Just(MediaKind::Application),
            ],
            mid_base in "[A-Za-z0-9_.-]{0,8}",
            port in prop_oneof![Just(0u16), Just(9u16), any::<u16>()],
            transport in proptest::option::of(arb_transport()),
            direction in arb_direction(),
            rtcp_mux in any::<bool>(),
            rtcp_rsize in any::<bool>(),
            codecs in arb_codecs(),
            extmaps in proptest::collection::vec(
                (1u16..=255, proptest::option::of(arb_direction()), "[a-z][a-z0-9:./-]{0,40}"),
                0..4,
            ),
            msid in proptest::option::of(("[A-Za-z0-9{}-]{1,36}", proptest::option::of("[A-Za-z0-9{}-]{1,36}"))),
            ssrcs in prop::sample::subsequence(vec![1u32, 2, 0xdead_beef, u32::MAX], 0..=4),
            cname in token(16),
            ssrc_groups in proptest::collection::vec(
                (prop_oneof![Just("FID"), Just("SIM"), Just("FEC-FR")], proptest::collection::vec(any::<u32>(), 0..4)),
                0..2,
            ),
            sctp in proptest::option::of(any::<u16>()),
            max_message_size in proptest::option::of(any::<u64>()),
            candidates in proptest::collection::vec(arb_candidate(), 0..3),
            end_of_candidates in any::<bool>(),
            rtp_savp in any::<bool>(),
        ) -> MediaDesc {
            // A live m-section needs its transport attributes; only rejected ones may lack them.
            let port = if transport.is_none() { 0 } else { port };
            let (ice, fingerprints, setup) = match transport {
                Some((ice, fps, setup)) => (Some(ice), fps, Some(setup)),
                None => (None, Vec::new(), None),
            };
            let protocol = match (kind.is_rtp(), rtp_savp) {
                (true, true) => "RTP/SAVPF",
                (true, false) => "UDP/TLS/RTP/SAVPF",
                (false, true) => "DTLS/SCTP",
                (false, false) => "UDP/DTLS/SCTP",
            };
            MediaDesc {
                kind,
                mid: format!("{mid_base}{index}"),
                port,
                protocol: protocol.to_owned(),
                ice,
                trickle: false,
                fingerprints,
                setup,
                direction,
                rtcp_mux,
                rtcp_rsize,
                codecs: if kind.is_rtp() { codecs } else { Vec::new() },
                extmaps: extmaps
                    .into_iter()
                    .map(|(id, direction, uri)| Extmap { id, direction, uri })
                    .collect(),
                msid: msid.map(|(stream, track)| Msid { stream, track }),
                cname: (!ssrcs.is_empty()).then_some(cname),
                ssrcs,
                ssrc_groups: ssrc_groups
                    .into_iter()
                    .map(|(s, ssrcs)| SsrcGroup { semantics: s.to_owned(), ssrcs })
                    .collect(),
                sctp_port: sctp,
                max_message_size,
                candidates,
                end_of_candidates,
            }
        }
    }

    fn arb_desc() -> impl Strategy<Value = SessionDesc> {
        (
            (1usize..=4).prop_flat_map(|n| (0..n).map(arb_media).collect::<Vec<_>>()),
            any::<u64>(),
            any::<u64>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mut media, id, version, bundle, trickle, lite, mixed)| {
                for m in &mut media {
                    m.trickle = trickle;
                }
                // Bundle every m-section that carries transport attributes (as JSEP does).
                let bundle_groups = if bundle {
                    vec![media
                        .iter()
                        .filter(|m| m.ice.is_some())
                        .map(|m| m.mid.clone())
                        .collect()]
                } else {
                    Vec::new()
                };
                SessionDesc {
                    session_id: id,
                    session_version: version,
                    bundle_groups,
                    ice_lite: lite,
                    extmap_allow_mixed: mixed,
                    media,
                }
            })
    }

    proptest! {
        #[test]
        fn parse_write_round_trip(desc in arb_desc()) {
            let text = write(&desc);
            prop_assert!(text.ends_with("\r\n"));
            prop_assert_eq!(parse(&text), Ok(desc.clone()), "{}", text);
        }
    }
}
