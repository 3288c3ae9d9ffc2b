//! Codecs this crate can packetize, and per-codec bitstream facts (keyframes, Opus durations).

use session_core::sdp::{Codec, MediaKind};

/// A media codec the packet path supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CodecKind {
    /// VP8 (RFC 7741), 90 kHz.
    Vp8,
    /// VP9 (RFC 9628), 90 kHz.
    Vp9,
    /// H.264 (RFC 6184, packetization-mode 1), 90 kHz.
    H264,
    /// Opus (RFC 7587), 48 kHz.
    Opus,
}

impl CodecKind {
    /// The codec an SDP `a=rtpmap` encoding name denotes (case-insensitive), if supported.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "vp8" => Some(Self::Vp8),
            "vp9" => Some(Self::Vp9),
            "h264" => Some(Self::H264),
            "opus" => Some(Self::Opus),
            _ => None,
        }
    }

    /// The codec of a negotiated SDP codec, if supported.
    pub fn from_codec(codec: &Codec) -> Option<Self> {
        Self::from_name(&codec.name)
    }

    /// The SDP encoding name (`VP8`, `VP9`, `H264`, `opus`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Vp8 => "VP8",
            Self::Vp9 => "VP9",
            Self::H264 => "H264",
            Self::Opus => "opus",
        }
    }

    /// The RTP clock rate (90 kHz for video, 48 kHz for Opus).
    pub fn clock_rate(self) -> u32 {
        match self {
            Self::Opus => 48_000,
            _ => 90_000,
        }
    }

    /// Audio or video.
    pub fn media_kind(self) -> MediaKind {
        match self {
            Self::Opus => MediaKind::Audio,
            _ => MediaKind::Video,
        }
    }

    /// Whether every frame stands alone (audio): no keyframes, no PLI.
    pub fn is_audio(self) -> bool {
        matches!(self, Self::Opus)
    }

    /// Whether an encoded frame (as stored in a file, without RTP payload headers) is a keyframe.
    ///
    /// Audio frames are always "keyframes". Malformed or empty frames are not.
    pub fn is_keyframe(self, frame: &[u8]) -> bool {
        match self {
            Self::Opus => true,
            // RFC 6386 9.1: frame tag bit 0 is 0 for key frames.
            Self::Vp8 => frame.first().is_some_and(|b| b & 0x01 == 0),
            Self::Vp9 => vp9_is_keyframe(frame),
            Self::H264 => annexb_nal_types(frame).any(|t| t == 5),
        }
    }
}

/// VP9 uncompressed header: frame_marker(2) profile(2, low bit first) [reserved(1) if profile 3]
/// show_existing_frame(1) frame_type(1, 0 = key).
fn vp9_is_keyframe(frame: &[u8]) -> bool {
    let Some(&b) = frame.first() else {
        return false;
    };
    if b >> 6 != 0b10 {
        return false;
    }
    let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
    let mut bit = 4; // index (from the top, 0-based) of the next bit
    if profile == 3 {
        bit += 1;
    }
    let show_existing = (b >> (7 - bit)) & 1;
    if show_existing == 1 {
        return false;
    }
    bit += 1;
    (b >> (7 - bit)) & 1 == 0
}

/// The NAL unit types of an Annex-B byte stream, in order.
pub(crate) fn annexb_nal_types(stream: &[u8]) -> impl Iterator<Item = u8> + '_ {
    annexb_nals(stream).filter_map(|nal| nal.first().map(|b| b & 0x1f))
}

/// The NAL units (without start codes) of an Annex-B byte stream, in order.
pub(crate) fn annexb_nals(stream: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut pos = find_start_code(stream, 0).map(|(_, end)| end);
    std::iter::from_fn(move || {
        let start = pos?;
        match find_start_code(stream, start) {
            Some((code_start, code_end)) => {
                pos = Some(code_end);
                Some(&stream[start..code_start])
            }
            None => {
                pos = None;
                Some(&stream[start..])
            }
        }
    })
    .map(trim_trailing_zeros)
    .filter(|nal| !nal.is_empty())
}

fn trim_trailing_zeros(nal: &[u8]) -> &[u8] {
    let end = nal.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &nal[..end]
}

/// Finds the next `00 00 01` start code at or after `from`: (start of the code, first byte after).
fn find_start_code(stream: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            return Some((i, i + 3));
        }
        i += 1;
    }
    None
}

/// The number of 48 kHz samples in an Opus packet (RFC 6716 3.1), if the TOC is valid.
pub fn opus_packet_samples(packet: &[u8]) -> Option<u32> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    // Frame size in units of 1/48000 s.
    let frame: u32 = match config {
        0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
        12..=15 => [480, 960][usize::from(config % 2)],
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 0x03 {
        0 => 1,
        1 | 2 => 2,
        _ => u32::from(*packet.get(1)? & 0x3f),
    };
    let samples = frame * frames;
    // RFC 6716: at most 120 ms per packet.
    (frames > 0 && samples <= 5760).then_some(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in [
            CodecKind::Vp8,
            CodecKind::Vp9,
            CodecKind::H264,
            CodecKind::Opus,
        ] {
            assert_eq!(CodecKind::from_name(c.name()), Some(c));
        }
        assert_eq!(CodecKind::from_name("rtx"), None);
        assert_eq!(CodecKind::Opus.clock_rate(), 48_000);
        assert_eq!(CodecKind::Vp8.clock_rate(), 90_000);
    }

    #[test]
    fn opus_durations() {
        // config 11 = SILK WB 60 ms (2880 samples), code 0.
        assert_eq!(opus_packet_samples(&[11 << 3]), Some(2880));
        // config 31 = CELT FB 20 ms, one frame.
        assert_eq!(opus_packet_samples(&[31 << 3]), Some(960));
        // code 1: two frames of 20 ms.
        assert_eq!(opus_packet_samples(&[(31 << 3) | 1]), Some(1920));
        // code 3 with 3 frames.
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3, 3]), Some(2880));
        // code 3 with no count byte, zero frames, or more than 120 ms.
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3]), None);
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3, 0]), None);
        assert_eq!(opus_packet_samples(&[(31 << 3) | 3, 7]), None);
        assert_eq!(opus_packet_samples(&[]), None);
    }

    #[test]
    fn keyframes() {
        assert!(CodecKind::Vp8.is_keyframe(&[0x10, 0, 0]));
        assert!(!CodecKind::Vp8.is_keyframe(&[0x11]));
        assert!(!CodecKind::Vp8.is_keyframe(&[]));
        // VP9 profile 0, show_existing 0, frame_type 0: 10 0 0 0 0 ...
        assert!(CodecKind::Vp9.is_keyframe(&[0b1000_0000]));
        assert!(!CodecKind::Vp9.is_keyframe(&[0b1000_0100]));
        assert!(!CodecKind::Vp9.is_keyframe(&[0b0000_0000]));
        let idr = [0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3];
        assert!(CodecKind::H264.is_keyframe(&idr));
        assert!(!CodecKind::H264.is_keyframe(&[0, 0, 1, 0x41, 9]));
        let nals: Vec<&[u8]> = annexb_nals(&idr).collect();
        assert_eq!(nals, vec![&[0x67, 1][..], &[0x68, 2][..], &[0x65, 3][..]]);
    }
}
