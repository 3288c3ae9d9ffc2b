//! RTP payloads back to frames, with the `rtp` crate's depacketizers (inputs checked first
//! where those could misbehave on malformed data).

use bytes::{Bytes, BytesMut};
use rtp::codecs::{h264::H264Packet, vp8::Vp8Packet, vp9::Vp9Packet};
use rtp::packet::Packet;
use rtp::packetizer::Depacketizer;

use crate::codec::CodecKind;

/// A frame's payloads could not be turned back into a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DepacketizeError {
    /// A payload descriptor or aggregation header is malformed.
    #[error("malformed {codec:?} payload: {reason}")]
    Malformed {
        /// The codec.
        codec: CodecKind,
        /// What is wrong.
        reason: String,
    },
    /// The payloads held no media data.
    #[error("empty frame")]
    Empty,
}

/// Whether an RTP payload begins a frame (VP8 S bit with partition 0, VP9 B bit, any H.264
/// NAL unit that is not a FU-A continuation, every Opus packet).
pub fn is_frame_start(codec: CodecKind, payload: &[u8]) -> bool {
    let Some(&b0) = payload.first() else {
        return false;
    };
    match codec {
        CodecKind::Vp8 => b0 & 0x10 != 0 && b0 & 0x07 == 0,
        CodecKind::Vp9 => b0 & 0x08 != 0,
        CodecKind::H264 => match b0 & 0x1f {
            28 | 29 => payload.get(1).is_some_and(|b| b & 0x80 != 0),
            0 | 30 | 31 => false,
            _ => true,
        },
        CodecKind::Opus => true,
    }
}

fn malformed(codec: CodecKind, reason: impl ToString) -> DepacketizeError {
    DepacketizeError::Malformed {
        codec,
        reason: reason.to_string(),
    }
}

/// Checks an H.264 payload's aggregation structure before the `rtp` crate parses it.
fn check_h264(payload: &[u8]) -> Result<(), DepacketizeError> {
    let Some(&b0) = payload.first() else {
        return Err(malformed(CodecKind::H264, "empty payload"));
    };
    match b0 & 0x1f {
        24 => {
            let mut at = 1;
            while at < payload.len() {
                if at + 2 > payload.len() {
                    return Err(malformed(CodecKind::H264, "STAP-A length cut short"));
                }
                let len = usize::from(u16::from_be_bytes([payload[at], payload[at + 1]]));
                at += 2 + len;
                if len == 0 || at > payload.len() {
                    return Err(malformed(
                        CodecKind::H264,
                        "STAP-A NAL unit overruns the payload",
                    ));
                }
            }
            Ok(())
        }
        28 if payload.len() < 3 => Err(malformed(CodecKind::H264, "FU-A too short")),
        0 | 25..=27 | 29..=31 => Err(malformed(CodecKind::H264, "unsupported NAL unit type")),
        _ => Ok(()),
    }
}

/// Joins the payloads of one complete frame (in sequence order) into the frame's bytes.
pub fn depacketize(codec: CodecKind, packets: &[Packet]) -> Result<Bytes, DepacketizeError> {
    let mut out = BytesMut::new();
    match codec {
        CodecKind::Opus => {
            for p in packets {
                out.extend_from_slice(&p.payload);
            }
        }
        CodecKind::Vp8 => {
            for p in packets {
                let data = Vp8Packet::default()
                    .depacketize(&p.payload)
                    .map_err(|e| malformed(codec, e))?;
                out.extend_from_slice(&data);
            }
        }
        CodecKind::Vp9 => {
            for p in packets {
                if p.payload.is_empty() {
                    return Err(malformed(codec, "empty payload"));
                }
                let data = Vp9Packet::default()
                    .depacketize(&p.payload)
                    .map_err(|e| malformed(codec, e))?;
                out.extend_from_slice(&data);
            }
        }
        CodecKind::H264 => {
            let mut d = H264Packet::default();
            for p in packets {
                check_h264(&p.payload)?;
                let data = d.depacketize(&p.payload).map_err(|e| malformed(codec, e))?;
                out.extend_from_slice(&data);
            }
        }
    }
    if out.is_empty() {
        return Err(DepacketizeError::Empty);
    }
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::frame::Frame;
    use crate::packetizer::{Packetizer, PacketizerConfig};

    fn round_trip(codec: CodecKind, data: Vec<u8>) {
        let frame = Frame {
            data: Bytes::from(data),
            timestamp: Duration::ZERO,
            duration: Duration::ZERO,
            keyframe: true,
        };
        let mut p = Packetizer::new(PacketizerConfig::new(codec, 96, 1)).expect("cfg");
        let packets = p.packetize(&frame).expect("packetize");
        assert!(is_frame_start(codec, &packets[0].payload));
        for later in &packets[1..] {
            assert!(!is_frame_start(codec, &later.payload) || codec == CodecKind::H264);
        }
        assert_eq!(
            depacketize(codec, &packets).expect("depacketize"),
            frame.data
        );
    }

    #[test]
    fn round_trips() {
        round_trip(CodecKind::Vp8, (0..4000).map(|i| i as u8).collect());
        round_trip(CodecKind::Vp9, (0..4000).map(|i| i as u8).collect());
        round_trip(CodecKind::Opus, vec![0xf8, 1, 2, 3]);
        let mut h264 = vec![
            0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80,
        ];
        h264.extend_from_slice(&[0, 0, 0, 1, 0x65]);
        h264.extend((0..3000).map(|i| (i % 251) as u8 | 1));
        round_trip(CodecKind::H264, h264);
    }

    #[test]
    fn malformed_h264_aggregates_are_errors() {
        let pkt = |payload: &'static [u8]| Packet {
            payload: Bytes::from_static(payload),
            ..Default::default()
        };
        for bad in [
            &[24u8, 0][..],
            &[24, 0, 5, 1],
            &[28, 0x80],
            &[25, 1, 2],
            &[24, 0, 0],
        ] {
            assert!(
                depacketize(CodecKind::H264, &[pkt(bad)]).is_err(),
                "{bad:?}"
            );
        }
        assert!(depacketize(CodecKind::Vp8, &[pkt(&[0x10])]).is_err());
        assert!(depacketize(CodecKind::Opus, &[]).is_err());
    }
}
