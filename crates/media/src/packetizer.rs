//! Frames to RTP packets: the `rtp` crate's payloaders plus our own header (payload type,
//! SSRC, sequence, timestamp, marker, header extensions).

use bytes::Bytes;
use rtp::codecs::{h264::H264Payloader, opus::OpusPayloader, vp8::Vp8Payloader, vp9::Vp9Payloader};
use rtp::header::{Header, EXTENSION_PROFILE_ONE_BYTE};
use rtp::packet::Packet;
use rtp::packetizer::Payloader;

use crate::codec::CodecKind;
use crate::error::PacketizeError;
use crate::frame::Frame;

/// RTP fixed header length (no CSRC).
pub const RTP_HEADER_LEN: usize = 12;
/// Default packet size limit: RTP header + payload, leaving room for SRTP, UDP, IP and TURN.
pub const DEFAULT_MTU: usize = 1200;

/// What the packetizer writes into every packet header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketizerConfig {
    /// The codec of the frames.
    pub codec: CodecKind,
    /// The negotiated payload type.
    pub payload_type: u8,
    /// Our SSRC.
    pub ssrc: u32,
    /// Largest RTP packet (header + extensions + payload) to produce.
    pub mtu: usize,
    /// First sequence number (random per RFC 3550; chosen by the caller).
    pub initial_sequence: u16,
    /// RTP timestamp of media time zero (random per RFC 3550; chosen by the caller).
    pub initial_timestamp: u32,
    /// `urn:ietf:params:rtp-hdrext:sdes:mid` extension: (negotiated id 1-14, mid value).
    pub mid_extension: Option<(u8, String)>,
}

impl PacketizerConfig {
    /// A configuration with the default MTU, sequence and timestamp starting at 0, no extensions.
    pub fn new(codec: CodecKind, payload_type: u8, ssrc: u32) -> Self {
        Self {
            codec,
            payload_type,
            ssrc,
            mtu: DEFAULT_MTU,
            initial_sequence: 0,
            initial_timestamp: 0,
            mid_extension: None,
        }
    }
}

/// Turns frames into RTP packets (sans-IO).
#[derive(Debug)]
pub struct Packetizer {
    config: PacketizerConfig,
    payloader: Box<dyn Payloader + Send + Sync>,
    next_sequence: u16,
    mid: Option<(u8, Bytes)>,
    max_payload: usize,
}

impl Packetizer {
    /// Checks the configuration (MTU room, extension id 1-14 and value ≤ 16 bytes).
    pub fn new(config: PacketizerConfig) -> Result<Self, PacketizeError> {
        let mid = match &config.mid_extension {
            Some((id, mid)) => {
                if !(1..=14).contains(id) {
                    return Err(PacketizeError::Config("mid extension id must be 1-14"));
                }
                if mid.is_empty() || mid.len() > 16 {
                    return Err(PacketizeError::Config("mid must be 1-16 bytes"));
                }
                Some((*id, Bytes::from(mid.clone().into_bytes())))
            }
            None => None,
        };
        // One-byte extension block: 4-byte profile header + (1 + len) rounded up to 4.
        let ext_len = mid
            .as_ref()
            .map_or(0, |(_, m)| 4 + (1 + m.len()).div_ceil(4) * 4);
        let overhead = RTP_HEADER_LEN + ext_len;
        // Room for the largest payload descriptor (VP9 flexible mode, 3 bytes) plus some data.
        if config.mtu < overhead + 16 {
            return Err(PacketizeError::Config("MTU too small for the RTP headers"));
        }
        let payloader: Box<dyn Payloader + Send + Sync> = match config.codec {
            CodecKind::Vp8 => {
                let mut vp8 = Vp8Payloader::default();
                vp8.enable_picture_id = true;
                Box::new(vp8)
            }
            CodecKind::Vp9 => {
                // Deterministic first picture id (the payloader would draw a random one).
                let mut vp9 = Vp9Payloader::default();
                vp9.initial_picture_id_fn = Some(std::sync::Arc::new(|| 0));
                Box::new(vp9)
            }
            CodecKind::H264 => Box::new(H264Payloader::default()),
            CodecKind::Opus => Box::new(OpusPayloader),
        };
        Ok(Self {
            next_sequence: config.initial_sequence,
            max_payload: config.mtu - overhead,
            config,
            payloader,
            mid,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PacketizerConfig {
        &self.config
    }

    /// The RTP timestamp of a media time.
    pub fn rtp_timestamp(&self, media_time: std::time::Duration) -> u32 {
        let ticks =
            media_time.as_nanos() * u128::from(self.config.codec.clock_rate()) / 1_000_000_000;
        // RTP timestamps wrap modulo 2^32 by design.
        self.config.initial_timestamp.wrapping_add(ticks as u32)
    }

    /// The sequence number the next packet gets.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Packetizes one frame; the last packet of a video frame has the marker bit.
    pub fn packetize(&mut self, frame: &Frame) -> Result<Vec<Packet>, PacketizeError> {
        if frame.data.is_empty() {
            return Err(PacketizeError::EmptyFrame);
        }
        let payloads = self.payloader.payload(self.max_payload, &frame.data)?;
        if payloads.is_empty() {
            return Err(PacketizeError::EmptyFrame);
        }
        let timestamp = self.rtp_timestamp(frame.timestamp);
        let last = payloads.len() - 1;
        let mut packets = Vec::with_capacity(payloads.len());
        for (i, payload) in payloads.into_iter().enumerate() {
            let mut header = Header {
                version: 2,
                // Audio: the marker flags a talkspurt start (RFC 3551); we send continuous
                // audio, so only the first packet of the stream has it.
                marker: if self.config.codec.is_audio() {
                    self.next_sequence == self.config.initial_sequence && packets.is_empty()
                } else {
                    i == last
                },
                payload_type: self.config.payload_type,
                sequence_number: self.next_sequence,
                timestamp,
                ssrc: self.config.ssrc,
                ..Default::default()
            };
            if let Some((id, mid)) = &self.mid {
                header.extension = true;
                header.extension_profile = EXTENSION_PROFILE_ONE_BYTE;
                header.set_extension(*id, mid.clone())?;
            }
            self.next_sequence = self.next_sequence.wrapping_add(1);
            packets.push(Packet { header, payload });
        }
        Ok(packets)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use webrtc_util::marshal::{Marshal, MarshalSize, Unmarshal};

    use super::*;

    fn frame(len: usize) -> Frame {
        Frame {
            data: Bytes::from(vec![0x10; len]),
            timestamp: Duration::from_millis(100),
            duration: Duration::from_millis(33),
            keyframe: true,
        }
    }

    #[test]
    fn vp8_frame_is_split_under_the_mtu_with_marker_on_the_last() {
        let mut cfg = PacketizerConfig::new(CodecKind::Vp8, 96, 0x1234);
        cfg.initial_sequence = 65_534;
        cfg.initial_timestamp = u32::MAX - 10;
        cfg.mid_extension = Some((4, "0".into()));
        let mut p = Packetizer::new(cfg).expect("config");
        let packets = p.packetize(&frame(5000)).expect("packetize");
        assert!(packets.len() >= 5);
        let seqs: Vec<u16> = packets.iter().map(|p| p.header.sequence_number).collect();
        assert_eq!(&seqs[..3], &[65_534, 65_535, 0]);
        for (i, pkt) in packets.iter().enumerate() {
            assert_eq!(pkt.header.marker, i == packets.len() - 1);
            assert_eq!(pkt.header.payload_type, 96);
            assert_eq!(pkt.header.ssrc, 0x1234);
            // 100 ms at 90 kHz = 9000 ticks, wrapped.
            assert_eq!(pkt.header.timestamp, (u32::MAX - 10).wrapping_add(9000));
            assert_eq!(pkt.header.get_extension(4).as_deref(), Some(&b"0"[..]));
            let wire = pkt.marshal().expect("marshal");
            assert!(wire.len() <= DEFAULT_MTU, "{} > MTU", wire.len());
            assert_eq!(wire.len(), pkt.marshal_size());
            let back = Packet::unmarshal(&mut wire.clone()).expect("parse");
            assert_eq!(&back, pkt);
        }
    }

    #[test]
    fn opus_is_one_packet_per_frame() {
        let mut p = Packetizer::new(PacketizerConfig::new(CodecKind::Opus, 111, 1)).expect("cfg");
        let a = p.packetize(&frame(100)).expect("a");
        let b = p.packetize(&frame(100)).expect("b");
        assert_eq!((a.len(), b.len()), (1, 1));
        assert!(a[0].header.marker && !b[0].header.marker);
        assert_eq!(a[0].header.timestamp, 4800);
    }

    #[test]
    fn bad_configs_and_frames_are_errors() {
        let mut cfg = PacketizerConfig::new(CodecKind::Vp8, 96, 1);
        cfg.mtu = 20;
        assert!(Packetizer::new(cfg.clone()).is_err());
        cfg.mtu = 1200;
        cfg.mid_extension = Some((15, "a".into()));
        assert!(Packetizer::new(cfg.clone()).is_err());
        cfg.mid_extension = None;
        let mut p = Packetizer::new(cfg).expect("cfg");
        assert!(matches!(
            p.packetize(&frame(0)),
            Err(PacketizeError::EmptyFrame)
        ));
    }
}
