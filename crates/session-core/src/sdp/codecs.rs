//! What Tether can send and receive, and how an answer's codecs are chosen.
//!
//! Pure functions: [`local_codecs`] and [`local_extmaps`] describe our capabilities (with the
//! payload types and extension ids Chromium uses, so that offers look familiar to browsers);
//! [`answer_codecs`] and [`answer_extmaps`] intersect a remote offer with them, keeping the
//! remote's payload types, ids and order as JSEP requires of an answer.

use super::{Codec, Extmap, MediaKind};

/// `urn:ietf:params:rtp-hdrext:ssrc-audio-level` (RFC 6464).
pub const EXT_AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
/// Absolute send time (used by REMB).
pub const EXT_ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
/// Transport-wide congestion control sequence numbers.
pub const EXT_TRANSPORT_CC: &str =
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
/// `urn:ietf:params:rtp-hdrext:sdes:mid` (RFC 8843): demultiplexes BUNDLE.
pub const EXT_SDES_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

/// RTCP feedback types Tether understands.
const SUPPORTED_FEEDBACK: [&str; 5] = ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"];

fn codec(pt: u8, name: &str, clock_rate: u32, channels: Option<u16>, fmtp: Option<&str>) -> Codec {
    Codec {
        payload_type: pt,
        name: name.to_owned(),
        clock_rate,
        channels,
        fmtp: fmtp.map(str::to_owned),
        rtcp_fb: Vec::new(),
    }
}

fn video_codec(pt: u8, name: &str, fmtp: Option<&str>) -> Codec {
    Codec {
        rtcp_fb: SUPPORTED_FEEDBACK.iter().map(|s| (*s).to_owned()).collect(),
        ..codec(pt, name, 90_000, None, fmtp)
    }
}

/// The codecs Tether offers for `kind`, in preference order (empty for data).
///
/// Audio: Opus 48 kHz stereo (PT 111, in-band FEC, transport-cc and NACK feedback). Video: VP8 (96, rtx 97), H.264 constrained
/// baseline packetization-mode 1 (102, rtx 103), VP9 profile 0 (98, rtx 99), each with NACK,
/// PLI, FIR, REMB and transport-cc feedback.
pub fn local_codecs(kind: MediaKind) -> Vec<Codec> {
    match kind {
        MediaKind::Audio => vec![Codec {
            // NACK for audio is offered (libwebrtc supports it when negotiated; browsers do not
            // offer it): between Tether peers a lost Opus packet is recovered when the round
            // trip allows, otherwise FEC and concealment do as usual.
            rtcp_fb: vec!["transport-cc".to_owned(), "nack".to_owned()],
            ..codec(
                111,
                "opus",
                48_000,
                Some(2),
                Some("minptime=10;useinbandfec=1"),
            )
        }],
        MediaKind::Video => vec![
            video_codec(96, "VP8", None),
            codec(97, "rtx", 90_000, None, Some("apt=96")),
            video_codec(
                102,
                "H264",
                Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
            ),
            codec(103, "rtx", 90_000, None, Some("apt=102")),
            video_codec(98, "VP9", Some("profile-id=0")),
            codec(99, "rtx", 90_000, None, Some("apt=98")),
        ],
        MediaKind::Application => Vec::new(),
    }
}

/// The RTP header extensions Tether offers for `kind`, with Chromium's ids.
///
/// Audio: 1 audio level, 2 abs-send-time, 3 transport-cc, 4 mid. Video: 2, 3, 4.
pub fn local_extmaps(kind: MediaKind) -> Vec<Extmap> {
    let ext = |id: u16, uri: &str| Extmap {
        id,
        direction: None,
        uri: uri.to_owned(),
    };
    match kind {
        MediaKind::Audio => vec![
            ext(1, EXT_AUDIO_LEVEL),
            ext(2, EXT_ABS_SEND_TIME),
            ext(3, EXT_TRANSPORT_CC),
            ext(4, EXT_SDES_MID),
        ],
        MediaKind::Video => vec![
            ext(2, EXT_ABS_SEND_TIME),
            ext(3, EXT_TRANSPORT_CC),
            ext(4, EXT_SDES_MID),
        ],
        MediaKind::Application => Vec::new(),
    }
}

/// H.264 `packetization-mode` (default 0, RFC 6184).
fn packetization_mode(c: &Codec) -> &str {
    c.fmtp_param("packetization-mode").unwrap_or("0")
}

/// Is the H.264 `profile-level-id` (default `42000a`) a Baseline-family profile (profile_idc
/// 0x42, any constraint flags, any level)? Main (0x4d) and High (0x64) are refused.
fn is_baseline_h264(c: &Codec) -> bool {
    let id = c.fmtp_param("profile-level-id").unwrap_or("42000a");
    id.len() == 6 && id.bytes().all(|b| b.is_ascii_hexdigit()) && id[..2].eq_ignore_ascii_case("42")
}

/// VP9 `profile-id` (default 0).
fn vp9_profile(c: &Codec) -> &str {
    c.fmtp_param("profile-id").unwrap_or("0")
}

/// The local codec that `remote` matches, if any (rtx is handled by the caller).
fn matching_local<'a>(kind: MediaKind, local: &'a [Codec], remote: &Codec) -> Option<&'a Codec> {
    local.iter().find(|l| {
        if !l.name.eq_ignore_ascii_case(&remote.name)
            || l.name.eq_ignore_ascii_case("rtx")
            || l.clock_rate != remote.clock_rate
        {
            return false;
        }
        if kind == MediaKind::Audio && l.channels.unwrap_or(1) != remote.channels.unwrap_or(1) {
            return false;
        }
        if l.name.eq_ignore_ascii_case("H264") {
            return packetization_mode(l) == packetization_mode(remote) && is_baseline_h264(remote);
        }
        if l.name.eq_ignore_ascii_case("VP9") {
            return vp9_profile(remote) == "0";
        }
        true
    })
}

/// The remote codecs Tether supports, as an answer lists them.
///
/// Keeps the remote payload types, order and fmtp; matches names case-insensitively with the
/// clock rate (and channels for audio); H.264 only with a matching packetization-mode and a
/// Baseline-family profile; VP9 only profile 0. An `rtx` entry stays only if its `apt` names a
/// kept codec. RTCP feedback is cut down to what Tether implements for that codec. Everything
/// else (RED, ULPFEC, G.722, PCMU, ...) is dropped.
pub fn answer_codecs(kind: MediaKind, remote: &[Codec]) -> Vec<Codec> {
    let local = local_codecs(kind);
    let supports_rtx = local.iter().any(|c| c.name.eq_ignore_ascii_case("rtx"));

    let primary: Vec<Option<Codec>> = remote
        .iter()
        .map(|r| {
            let l = matching_local(kind, &local, r)?;
            Some(Codec {
                rtcp_fb: r
                    .rtcp_fb
                    .iter()
                    .filter(|fb| l.rtcp_fb.contains(fb))
                    .cloned()
                    .collect(),
                ..r.clone()
            })
        })
        .collect();
    let kept = |pt: u8| primary.iter().flatten().any(|c| c.payload_type == pt);

    remote
        .iter()
        .zip(primary.iter())
        .filter_map(|(r, p)| {
            if let Some(c) = p {
                return Some(c.clone());
            }
            let is_rtx = r.name.eq_ignore_ascii_case("rtx") && r.clock_rate == 90_000;
            let apt = r.fmtp_param("apt").and_then(|a| a.parse::<u8>().ok());
            match apt {
                Some(apt) if supports_rtx && is_rtx && kept(apt) => Some(Codec {
                    rtcp_fb: Vec::new(),
                    ..r.clone()
                }),
                _ => None,
            }
        })
        .collect()
}

/// The remote header extensions Tether supports, with the remote's ids and order.
///
/// Directions are dropped: the answer uses the extensions in both directions.
pub fn answer_extmaps(kind: MediaKind, remote: &[Extmap]) -> Vec<Extmap> {
    let local = local_extmaps(kind);
    remote
        .iter()
        .filter(|r| local.iter().any(|l| l.uri == r.uri))
        .map(|r| Extmap {
            id: r.id,
            direction: None,
            uri: r.uri.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(pt: u8, name: &str, rate: u32, ch: Option<u16>, fmtp: Option<&str>) -> Codec {
        codec(pt, name, rate, ch, fmtp)
    }

    fn with_fb(mut c: Codec, fb: &[&str]) -> Codec {
        c.rtcp_fb = fb.iter().map(|s| (*s).to_owned()).collect();
        c
    }

    fn pts(codecs: &[Codec]) -> Vec<u8> {
        codecs.iter().map(|c| c.payload_type).collect()
    }

    #[test]
    fn local_capabilities() {
        let audio = local_codecs(MediaKind::Audio);
        assert_eq!(pts(&audio), [111]);
        assert_eq!(audio[0].channels, Some(2));
        assert_eq!(audio[0].fmtp_param("useinbandfec"), Some("1"));
        assert_eq!(audio[0].rtcp_fb, ["transport-cc", "nack"]);

        let video = local_codecs(MediaKind::Video);
        assert_eq!(pts(&video), [96, 97, 102, 103, 98, 99]);
        for c in &video {
            if c.name == "rtx" {
                assert!(c.rtcp_fb.is_empty());
                let apt: u8 = c.fmtp_param("apt").unwrap().parse().unwrap();
                assert_eq!(apt + 1, c.payload_type);
            } else {
                assert!(c.rtcp_fb.iter().any(|f| f == "nack pli"));
                assert_eq!(c.clock_rate, 90_000);
            }
        }
        assert_eq!(video[2].fmtp_param("profile-level-id"), Some("42e01f"));
        assert!(local_codecs(MediaKind::Application).is_empty());

        let a: Vec<u16> = local_extmaps(MediaKind::Audio)
            .iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(a, [1, 2, 3, 4]);
        let v = local_extmaps(MediaKind::Video);
        assert_eq!(v.iter().map(|e| e.id).collect::<Vec<_>>(), [2, 3, 4]);
        assert!(v.iter().any(|e| e.uri == EXT_SDES_MID));
        assert!(local_extmaps(MediaKind::Application).is_empty());
    }

    #[test]
    fn audio_answer_keeps_opus_only() {
        // Chromium 120's audio offer.
        let offer = vec![
            with_fb(
                remote(
                    111,
                    "opus",
                    48_000,
                    Some(2),
                    Some("minptime=10;useinbandfec=1"),
                ),
                &["transport-cc"],
            ),
            remote(63, "red", 48_000, Some(2), Some("111/111")),
            remote(9, "G722", 8_000, None, None),
            remote(0, "PCMU", 8_000, None, None),
            remote(8, "PCMA", 8_000, None, None),
            remote(13, "CN", 8_000, None, None),
            remote(110, "telephone-event", 48_000, None, None),
            remote(126, "telephone-event", 8_000, None, None),
        ];
        let answer = answer_codecs(MediaKind::Audio, &offer);
        assert_eq!(answer, vec![offer[0].clone()]);

        // Different payload type and case: still opus, remote PT kept; mono opus is not ours.
        let offer = vec![
            remote(109, "OPUS", 48_000, Some(1), None),
            with_fb(
                remote(120, "OPUS", 48_000, Some(2), None),
                &["nack", "transport-cc"],
            ),
        ];
        let answer = answer_codecs(MediaKind::Audio, &offer);
        assert_eq!(pts(&answer), [120]);
        // Feedback both sides support, in the offer's order.
        assert_eq!(answer[0].rtcp_fb, ["nack", "transport-cc"]);
        assert_eq!(answer[0].name, "OPUS");
        // Opus offered for video is not video.
        assert!(answer_codecs(MediaKind::Video, &offer).is_empty());
        assert!(answer_codecs(MediaKind::Application, &offer).is_empty());
    }

    #[test]
    fn video_answer_filters_profiles_and_rtx() {
        let fb = [
            "goog-remb",
            "transport-cc",
            "ccm fir",
            "nack",
            "nack pli",
            "x-unknown",
        ];
        let offer =
            vec![
            with_fb(remote(96, "VP8", 90_000, None, None), &fb),
            remote(97, "rtx", 90_000, None, Some("apt=96")),
            with_fb(remote(98, "VP9", 90_000, None, Some("profile-id=0")), &fb),
            remote(99, "rtx", 90_000, None, Some("apt=98")),
            with_fb(remote(100, "VP9", 90_000, None, Some("profile-id=2")), &fb),
            remote(101, "rtx", 90_000, None, Some("apt=100")),
            with_fb(
                remote(
                    102,
                    "H264",
                    90_000,
                    None,
                    Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
                ),
                &fb,
            ),
            remote(103, "rtx", 90_000, None, Some("apt=102")),
            remote(
                104,
                "H264",
                90_000,
                None,
                Some("level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f"),
            ),
            remote(105, "rtx", 90_000, None, Some("apt=104")),
            remote(
                106,
                "H264",
                90_000,
                None,
                Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
            ),
            remote(
                112,
                "H264",
                90_000,
                None,
                Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"),
            ),
            remote(113, "rtx", 90_000, None, Some("apt=112")),
            remote(
                114,
                "H264",
                90_000,
                None,
                Some("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
            ),
            with_fb(remote(45, "AV1", 90_000, None, Some("level-idx=5;profile=0;tier=0")), &fb),
            remote(46, "rtx", 90_000, None, Some("apt=45")),
            remote(116, "red", 90_000, None, None),
            remote(117, "rtx", 90_000, None, Some("apt=116")),
            remote(118, "ulpfec", 90_000, None, None),
            remote(119, "rtx", 90_000, None, Some("apt=")),
        ];
        let answer = answer_codecs(MediaKind::Video, &offer);
        assert_eq!(pts(&answer), [96, 97, 98, 99, 102, 103, 106]);
        assert_eq!(answer[0].rtcp_fb, &fb[..5]);
        assert!(answer[1].rtcp_fb.is_empty());
        assert_eq!(answer[1].fmtp.as_deref(), Some("apt=96"));
        assert_eq!(answer[4].fmtp, offer[6].fmtp);
    }

    #[test]
    fn h264_defaults() {
        // No fmtp: packetization-mode 0 (we only do 1), profile 42000a.
        let offer = vec![remote(126, "H264", 90_000, None, None)];
        assert!(answer_codecs(MediaKind::Video, &offer).is_empty());
        let offer = vec![remote(
            126,
            "h264",
            90_000,
            None,
            Some("packetization-mode=1"),
        )];
        assert_eq!(pts(&answer_codecs(MediaKind::Video, &offer)), [126]);
        let offer = vec![remote(
            126,
            "H264",
            90_000,
            None,
            Some("packetization-mode=1;profile-level-id=zz"),
        )];
        assert!(answer_codecs(MediaKind::Video, &offer).is_empty());
        // VP9 without profile-id is profile 0; wrong clock rate is not VP8.
        let offer = vec![
            remote(98, "VP9", 90_000, None, None),
            remote(96, "VP8", 8_000, None, None),
        ];
        assert_eq!(pts(&answer_codecs(MediaKind::Video, &offer)), [98]);
    }

    #[test]
    fn rtx_must_follow_a_kept_codec() {
        // rtx listed before its codec is still kept; rtx on audio is not ours.
        let offer = vec![
            remote(97, "rtx", 90_000, None, Some("apt=96")),
            remote(96, "VP8", 90_000, None, None),
            remote(95, "rtx", 90_000, None, Some("apt=94")),
        ];
        assert_eq!(pts(&answer_codecs(MediaKind::Video, &offer)), [97, 96]);
        let offer = vec![
            remote(111, "opus", 48_000, Some(2), None),
            remote(112, "rtx", 48_000, None, Some("apt=111")),
        ];
        assert_eq!(pts(&answer_codecs(MediaKind::Audio, &offer)), [111]);
    }

    #[test]
    fn extmap_answer_uses_remote_ids() {
        let ext = |id, uri: &str| Extmap {
            id,
            direction: None,
            uri: uri.to_owned(),
        };
        let offer = vec![
            ext(14, "urn:ietf:params:rtp-hdrext:toffset"),
            ext(12, EXT_ABS_SEND_TIME),
            ext(13, "urn:3gpp:video-orientation"),
            Extmap {
                direction: Some(crate::sdp::Direction::SendOnly),
                ..ext(7, EXT_TRANSPORT_CC)
            },
            ext(9, EXT_SDES_MID),
            ext(1, EXT_AUDIO_LEVEL),
        ];
        let answer = answer_extmaps(MediaKind::Video, &offer);
        assert_eq!(
            answer,
            vec![
                ext(12, EXT_ABS_SEND_TIME),
                ext(7, EXT_TRANSPORT_CC),
                ext(9, EXT_SDES_MID)
            ]
        );
        let answer = answer_extmaps(MediaKind::Audio, &offer);
        assert_eq!(
            answer.iter().map(|e| e.id).collect::<Vec<_>>(),
            [12, 7, 9, 1]
        );
        assert!(answer_extmaps(MediaKind::Application, &offer).is_empty());
    }
}
