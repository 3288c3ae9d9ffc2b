//! Malformed RTP/RTCP from the network is dropped and counted, never a panic.

use std::time::{Duration, Instant};

use bytes::Bytes;
use media::{
    CodecKind, PacketizerConfig, ReceiveConfig, RtcpDropReason, RtpDropReason, RtpReceiveStream,
    RtpSendStream, SendConfig,
};
use proptest::prelude::*;
use rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
use rtp::packet::Packet;
use webrtc_util::marshal::Marshal;

const CODECS: [CodecKind; 4] = [
    CodecKind::Vp8,
    CodecKind::Vp9,
    CodecKind::H264,
    CodecKind::Opus,
];

fn receiver(codec: CodecKind) -> RtpReceiveStream {
    let mut cfg = ReceiveConfig::new(codec, 96, 2);
    cfg.rtx = Some((97, None));
    RtpReceiveStream::new(cfg)
}

#[test]
fn garbage_is_counted_by_cause() {
    let now = Instant::now();
    let mut r = receiver(CodecKind::Vp8);
    assert_eq!(
        r.handle_rtp_bytes(&[0x80, 96], now),
        Err(RtpDropReason::Malformed)
    );
    assert_eq!(
        r.handle_rtcp_bytes(&[0x80, 200, 0, 9], now),
        Err(RtcpDropReason::Malformed)
    );
    let mut p = Packet::default();
    p.header.version = 2;
    p.header.payload_type = 96;
    p.header.ssrc = 7;
    p.payload = Bytes::from_static(&[0x10, 0, 0, 0]);
    r.handle_rtp(p.clone(), now)
        .expect("first packet latches the SSRC");
    p.header.ssrc = 8;
    assert_eq!(
        r.handle_rtp(p.clone(), now),
        Err(RtpDropReason::UnknownSsrc(8))
    );
    p.header.ssrc = 7;
    p.header.payload_type = 100;
    assert_eq!(
        r.handle_rtp(p.clone(), now),
        Err(RtpDropReason::UnexpectedPayloadType(100))
    );
    p.header.payload_type = 97;
    p.payload = Bytes::from_static(&[1]);
    assert_eq!(r.handle_rtp(p, now), Err(RtpDropReason::MalformedRtx));
    let s = r.stats();
    assert_eq!(
        (s.malformed_rtp, s.malformed_rtcp, s.rtp_dropped),
        (2, 1, 2)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes as RTP and RTCP, for every codec.
    #[test]
    fn random_bytes_never_panic(
        codec in prop::sample::select(CODECS.to_vec()),
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 1..40),
    ) {
        let mut now = Instant::now();
        let mut r = receiver(codec);
        for d in &datagrams {
            now += Duration::from_millis(7);
            let _ = r.handle_rtp_bytes(d, now);
            let _ = r.handle_rtcp_bytes(d, now);
            r.handle_timeout(now);
            while r.poll_frame().is_some() {}
            let _ = r.poll_rtcp(now);
        }
        r.finish();
        while r.poll_frame().is_some() {}
    }

    /// Well-formed RTP headers with arbitrary payloads: the depacketizers see garbage.
    #[test]
    fn random_payloads_never_panic(
        codec in prop::sample::select(CODECS.to_vec()),
        packets in prop::collection::vec((any::<bool>(), 0u32..3, prop::collection::vec(any::<u8>(), 0..64)), 1..60),
    ) {
        let now = Instant::now();
        let mut r = receiver(codec);
        for (i, (marker, ts, payload)) in packets.iter().enumerate() {
            let mut p = Packet::default();
            p.header.version = 2;
            p.header.payload_type = 96;
            p.header.ssrc = 5;
            p.header.sequence_number = i as u16;
            p.header.timestamp = *ts;
            p.header.marker = *marker;
            p.payload = Bytes::from(payload.clone());
            let wire = p.marshal().expect("marshal");
            let _ = r.handle_rtp_bytes(&wire, now);
            while r.poll_frame().is_some() {}
        }
        r.handle_timeout(now + Duration::from_secs(5));
        r.finish();
        let s = r.stats();
        prop_assert_eq!(s.malformed_rtp, 0, "the headers are valid");
        prop_assert!(s.frames_delivered + s.frames_malformed <= s.packets_received);
    }

    /// Arbitrary RTCP bytes, and well-formed NACKs with arbitrary contents, at the sender.
    #[test]
    fn random_rtcp_at_the_sender_never_panics(
        data in prop::collection::vec(any::<u8>(), 0..300),
        pairs in prop::collection::vec((any::<u16>(), any::<u16>()), 0..20),
        ours in any::<bool>(),
    ) {
        let mut s = RtpSendStream::new(SendConfig::new(PacketizerConfig::new(CodecKind::Vp8, 96, 1))).expect("cfg");
        let frame = media::Frame {
            data: Bytes::from(vec![0x10; 5000]),
            timestamp: Duration::ZERO,
            duration: Duration::ZERO,
            keyframe: true,
        };
        let sent = s.send_frame(&frame, Instant::now()).expect("send").len();
        let mut buf = Bytes::from(data);
        if let Ok(packets) = rtcp::packet::unmarshal(&mut buf) {
            s.handle_rtcp(&packets, Instant::now());
        }
        let nack = TransportLayerNack {
            sender_ssrc: 9,
            media_ssrc: if ours { 1 } else { 2 },
            nacks: pairs.iter().map(|&(packet_id, lost_packets)| NackPair { packet_id, lost_packets }).collect(),
        };
        let mut wire = nack.marshal().expect("marshal");
        let parsed = rtcp::packet::unmarshal(&mut wire).expect("parse");
        s.handle_rtcp(&parsed, Instant::now());
        let mut resent = 0;
        while let Some(p) = s.poll_retransmit() {
            prop_assert!(usize::from(p.header.sequence_number) < sent, "only packets we sent");
            resent += 1;
        }
        if !ours {
            prop_assert_eq!(resent, 0);
        }
    }
}
