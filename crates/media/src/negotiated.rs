//! Building send/receive configurations from negotiated SDP parameters
//! (`session_core::sdp::Codec` lists and `a=extmap` ids), as the transport reports them.

use session_core::sdp::Codec;

use crate::codec::CodecKind;
use crate::nack::NackConfig;
use crate::packetizer::PacketizerConfig;
use crate::receiver::ReceiveConfig;
use crate::sender::{RtxConfig, SendConfig};

/// The `a=extmap` URI of the mid header extension (RFC 8843).
pub const MID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";

/// The negotiated parameters do not allow a track.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No negotiated codec is one this crate can packetize.
    #[error("no supported codec among the negotiated ones")]
    NoSupportedCodec,
}

/// The first negotiated codec this crate supports (the answerer's preference order).
pub fn select_codec(codecs: &[Codec]) -> Option<(CodecKind, &Codec)> {
    codecs
        .iter()
        .find_map(|c| CodecKind::from_codec(c).map(|k| (k, c)))
}

/// The RTX payload type whose `apt=` names `media_payload_type`, if negotiated.
pub fn rtx_payload_type(codecs: &[Codec], media_payload_type: u8) -> Option<u8> {
    codecs
        .iter()
        .filter(|c| c.name.eq_ignore_ascii_case("rtx"))
        .find(|c| {
            c.fmtp.as_deref().is_some_and(|f| {
                f.split(';')
                    .filter_map(|kv| kv.trim().strip_prefix("apt="))
                    .any(|apt| apt.trim().parse::<u8>() == Ok(media_payload_type))
            })
        })
        .map(|c| c.payload_type)
}

fn has_feedback(codec: &Codec, value: &str) -> bool {
    codec
        .rtcp_fb
        .iter()
        .any(|fb| fb.trim().eq_ignore_ascii_case(value))
}

/// The one-byte extension id negotiated for `uri`, if any (ids 1-14 only).
fn extension_id(extensions: &[(u16, String)], uri: &str) -> Option<u8> {
    extensions
        .iter()
        .find(|(_, u)| u == uri)
        .and_then(|(id, _)| u8::try_from(*id).ok())
        .filter(|id| (1..=14).contains(id))
}

impl SendConfig {
    /// A send configuration from the negotiated codecs and header extensions: the first
    /// supported codec, RTX if an `rtx` codec points at it and an RTX SSRC exists, the mid
    /// extension if negotiated and `mid` is given. Sequence numbers and timestamps start at the
    /// given (random) values.
    pub fn negotiated(
        codecs: &[Codec],
        extensions: &[(u16, String)],
        ssrc: u32,
        rtx_ssrc: Option<u32>,
        mid: Option<&str>,
        initial_sequence: u16,
        initial_timestamp: u32,
    ) -> Result<Self, NegotiationError> {
        let (kind, codec) = select_codec(codecs).ok_or(NegotiationError::NoSupportedCodec)?;
        let mut packetizer = PacketizerConfig::new(kind, codec.payload_type, ssrc);
        packetizer.initial_sequence = initial_sequence;
        packetizer.initial_timestamp = initial_timestamp;
        packetizer.mid_extension = mid
            .filter(|m| !m.is_empty() && m.len() <= 16)
            .and_then(|m| extension_id(extensions, MID_URI).map(|id| (id, m.to_owned())));
        let mut config = SendConfig::new(packetizer);
        config.rtx = rtx_payload_type(codecs, codec.payload_type)
            .zip(rtx_ssrc)
            .map(|(payload_type, ssrc)| RtxConfig {
                payload_type,
                ssrc,
                initial_sequence: initial_sequence.wrapping_add(0x8000),
            });
        Ok(config)
    }
}

impl ReceiveConfig {
    /// A receive configuration from the negotiated codecs: the first supported codec, NACK if
    /// `a=rtcp-fb:<pt> nack` was negotiated, PLI if `nack pli` was (video), RTX if an `rtx`
    /// codec points at it.
    pub fn negotiated(
        codecs: &[Codec],
        remote_ssrc: Option<u32>,
        remote_rtx_ssrc: Option<u32>,
        local_ssrc: u32,
    ) -> Result<Self, NegotiationError> {
        let (kind, codec) = select_codec(codecs).ok_or(NegotiationError::NoSupportedCodec)?;
        let mut config = ReceiveConfig::new(kind, codec.payload_type, local_ssrc);
        config.remote_ssrc = remote_ssrc;
        config.nack = has_feedback(codec, "nack").then(NackConfig::default);
        config.pli = !kind.is_audio() && has_feedback(codec, "nack pli");
        config.rtx = rtx_payload_type(codecs, codec.payload_type).map(|pt| (pt, remote_rtx_ssrc));
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(pt: u8, name: &str, fmtp: Option<&str>, fb: &[&str]) -> Codec {
        Codec {
            payload_type: pt,
            name: name.into(),
            clock_rate: 90_000,
            channels: None,
            fmtp: fmtp.map(Into::into),
            rtcp_fb: fb.iter().map(|s| (*s).into()).collect(),
        }
    }

    fn chrome_like() -> Vec<Codec> {
        vec![
            codec(45, "AV1", None, &["nack"]),
            codec(
                96,
                "VP8",
                None,
                &["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"],
            ),
            codec(97, "rtx", Some("apt=96"), &[]),
            codec(98, "VP9", Some("profile-id=0"), &["nack"]),
            codec(99, "rtx", Some("apt=98"), &[]),
        ]
    }

    #[test]
    fn send_config_from_sdp() {
        let ext = vec![
            (1, "urn:ietf:params:rtp-hdrext:toffset".to_owned()),
            (4, MID_URI.to_owned()),
        ];
        let cfg = SendConfig::negotiated(&chrome_like(), &ext, 10, Some(11), Some("0"), 5, 6)
            .expect("vp8");
        assert_eq!(cfg.packetizer.codec, CodecKind::Vp8);
        assert_eq!(cfg.packetizer.payload_type, 96);
        assert_eq!(cfg.packetizer.mid_extension, Some((4, "0".into())));
        assert_eq!(cfg.rtx.map(|r| (r.payload_type, r.ssrc)), Some((97, 11)));
        let no_rtx_ssrc =
            SendConfig::negotiated(&chrome_like(), &[], 10, None, Some("0"), 0, 0).expect("vp8");
        assert_eq!(
            (no_rtx_ssrc.rtx, no_rtx_ssrc.packetizer.mid_extension),
            (None, None)
        );
        assert_eq!(
            SendConfig::negotiated(&chrome_like()[..1], &[], 1, None, None, 0, 0).err(),
            Some(NegotiationError::NoSupportedCodec)
        );
    }

    #[test]
    fn receive_config_from_sdp() {
        let cfg = ReceiveConfig::negotiated(&chrome_like(), Some(5), Some(6), 1).expect("vp8");
        assert_eq!(
            (cfg.codec, cfg.payload_type, cfg.pli),
            (CodecKind::Vp8, 96, true)
        );
        assert!(cfg.nack.is_some());
        assert_eq!(cfg.rtx, Some((97, Some(6))));
        let opus = vec![Codec {
            clock_rate: 48_000,
            channels: Some(2),
            ..codec(
                111,
                "opus",
                Some("minptime=10;useinbandfec=1"),
                &["transport-cc"],
            )
        }];
        let cfg = ReceiveConfig::negotiated(&opus, None, None, 1).expect("opus");
        assert_eq!(
            (cfg.codec, cfg.nack, cfg.pli, cfg.rtx),
            (CodecKind::Opus, None, false, None)
        );
    }
}
