//! media: RTP depacketizers, RTCP feedback, the jitter buffer and the file readers.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use media::depacketizer::{depacketize as join_payloads, is_frame_start};
use media::jitter::JitterOutput;
use media::{
    CodecKind, Frame, H264Source, IvfSource, JitterBuffer, MediaSource, OggOpusSource,
    PacketizerConfig, ReceiveConfig, RtpReceiveStream, RtpSendStream, SendConfig,
};
use rtp::packet::Packet;

const CODECS: [CodecKind; 4] = [
    CodecKind::Vp8,
    CodecKind::Vp9,
    CodecKind::H264,
    CodecKind::Opus,
];

/// The SSRC of the simulated local sender (seeds aim their NACK/PLI at it).
const LOCAL_SSRC: u32 = 0x1111_1111;

/// One start instant per process: time in the targets is an offset from it.
fn t0() -> Instant {
    static T0: OnceLock<Instant> = OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn codec(byte: u8) -> CodecKind {
    CODECS[usize::from(byte) % CODECS.len()]
}

fn packet(seq: u16, timestamp: u32, marker: bool, payload: &[u8]) -> Packet {
    let mut p = Packet::default();
    p.header.version = 2;
    p.header.payload_type = 96;
    p.header.ssrc = 0x2222_2222;
    p.header.sequence_number = seq;
    p.header.timestamp = timestamp;
    p.header.marker = marker;
    p.payload = Bytes::copy_from_slice(payload);
    p
}

/// Splits `[codec byte] ([u16 length, big-endian] [payload])*` into its codec and payloads
/// (a simple framing so that seeds are real packetizer output; a short tail is one payload).
pub fn split_payloads(data: &[u8]) -> Option<(CodecKind, Vec<&[u8]>)> {
    let (&first, mut rest) = data.split_first()?;
    let mut payloads = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = match rest {
            [hi, lo, tail @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), tail),
            _ => (rest.len(), rest),
        };
        let len = len.min(tail.len());
        payloads.push(&tail[..len]);
        rest = &tail[len..];
    }
    Some((codec(first), payloads))
}

/// The payloads of one frame, for one codec, as the receiver joins them: VP8 and VP9 payload
/// descriptors, H.264 single NAL units, STAP-A and FU-A, Opus packets (framing:
/// [`split_payloads`]).
pub fn depacketize(data: &[u8]) {
    let Some((codec, payloads)) = split_payloads(data) else {
        return;
    };
    let packets: Vec<Packet> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| packet(i as u16, 0, i + 1 == payloads.len(), p))
        .collect();
    for p in &packets {
        let _ = is_frame_start(codec, &p.payload);
        let _ = media::codec::opus_packet_samples(&p.payload);
    }
    if let Ok(frame) = join_payloads(codec, &packets) {
        assert!(!frame.is_empty(), "a joined frame is never empty");
        let _ = codec.is_keyframe(&frame);
        if codec == CodecKind::Opus {
            assert_eq!(
                frame,
                payloads.concat(),
                "Opus frames are the payloads as they are"
            );
        }
    }
}

/// RTCP compound packets (SR, RR, NACK, PLI, FIR, anything else) as both ends of a track read
/// them: the receive stream (sender reports) and the send stream (NACK, PLI, receiver reports),
/// the latter holding a few sent frames so that NACKs find packets to resend.
pub fn rtcp(data: &[u8]) {
    let now = t0() + Duration::from_secs(1);
    let mut receiver = RtpReceiveStream::new(ReceiveConfig::new(CodecKind::Vp8, 96, LOCAL_SSRC));
    let _ = receiver.handle_rtcp_bytes(data, now);
    let _ = receiver.poll_rtcp(now);
    let _ = receiver.receiver_report(now);

    let mut config = PacketizerConfig::new(CodecKind::Vp8, 96, LOCAL_SSRC);
    config.initial_sequence = 0xfffe; // NACKs around the wrap
    let Ok(mut sender) = RtpSendStream::new(SendConfig::new(config)) else {
        unreachable!("valid VP8 configuration")
    };
    for i in 0..4u8 {
        let frame = Frame {
            data: Bytes::from(vec![0x10 | (i & 1); 1500]),
            timestamp: Duration::from_millis(u64::from(i) * 33),
            duration: Duration::from_millis(33),
            keyframe: i == 0,
        };
        let _ = sender.send_frame(&frame, now);
    }
    if let Ok(packets) = media::parse_rtcp(data) {
        sender.handle_rtcp(&packets, now);
        let mut resent = 0;
        while sender.poll_retransmit().is_some() {
            resent += 1;
            assert!(resent <= 1024, "more resends than the history holds");
        }
        let _ = sender.take_keyframe_request();
        let _ = sender.sender_report(now, 0);
    }
}

/// One operation on a jitter buffer.
#[derive(Debug, Arbitrary)]
enum JitterOp {
    Insert {
        seq: u16,
        timestamp: u32,
        marker: bool,
        /// First payload bytes (frame start flags); the rest is filler.
        head: [u8; 3],
    },
    Advance {
        ms: u16,
    },
    Pop,
    Flush,
}

/// A jitter buffer (and the receive stream around it) fed arbitrary sequence numbers,
/// timestamps and arrival times. Frames and skips come out in sequence order, never twice.
pub fn jitter(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(byte) = u8::arbitrary(&mut u) else {
        return;
    };
    let codec = codec(byte);
    let mut buffer = JitterBuffer::new(codec, Duration::from_millis(200));
    let mut stream = RtpReceiveStream::new(ReceiveConfig::new(codec, 96, LOCAL_SSRC));
    let mut now = t0();
    // The first extended sequence number not yet released or skipped, once something was.
    let mut released: Option<u64> = None;
    let check = |out: &JitterOutput, released: &mut Option<u64>| {
        let (start, end) = match out {
            JitterOutput::Frame(f) => {
                assert!(!f.packets.is_empty(), "empty frame released");
                (f.first_seq, f.first_seq + f.packets.len() as u64)
            }
            JitterOutput::Skipped { skipped } => (skipped.start, skipped.end),
            _ => return,
        };
        assert!(start < end, "empty output {out:?}");
        if let Some(r) = *released {
            assert!(
                start >= r,
                "output {start}..{end} behind {r} (released twice?)"
            );
        }
        *released = Some(end);
    };
    let mut ops = 0;
    // `arbitrary` pads an exhausted input with zeros instead of failing, so without the
    // `is_empty` check every input ran to the 2,000-op cap, repeating one all-zero insert.
    while !u.is_empty() {
        let Ok(op) = JitterOp::arbitrary(&mut u) else {
            break;
        };
        ops += 1;
        if ops > 2_000 {
            break;
        }
        match op {
            JitterOp::Insert {
                seq,
                timestamp,
                marker,
                head,
            } => {
                let payload = [head[0], head[1], head[2], 0x9d, 0x01, 0x2a, 0, 0];
                let p = packet(seq, timestamp, marker, &payload);
                let _ = buffer.insert(p.clone(), now);
                let _ = stream.handle_rtp(p, now);
            }
            JitterOp::Advance { ms } => {
                now += Duration::from_millis(u64::from(ms));
                stream.handle_timeout(now);
                while stream.poll_frame().is_some() {}
                let _ = stream.poll_rtcp(now);
            }
            JitterOp::Pop => {
                let mut popped = 0;
                while let Some(out) = buffer.pop(now) {
                    check(&out, &mut released);
                    popped += 1;
                    assert!(popped <= 70_000, "pop does not end");
                }
            }
            JitterOp::Flush => {
                for out in buffer.flush() {
                    check(&out, &mut released);
                }
                assert!(buffer.is_empty(), "flush left {} packets", buffer.len());
            }
        }
        if let Some(t) = buffer.poll_timeout() {
            assert!(!buffer.is_empty(), "a timeout with nothing held");
            let _ = t;
        }
        let _ = stream.poll_timeout();
    }
    stream.finish();
    while stream.poll_frame().is_some() {}
}

/// Reads every frame of a source (looping sources: two passes), checking that timestamps never
/// go backwards; `keyframes` says after which frames to ask for a keyframe.
fn drain(mut source: impl MediaSource, frames: usize, keyframes: u8) {
    let mut last = Duration::ZERO;
    for i in 0..frames.saturating_mul(2).saturating_add(2).min(100_000) {
        if keyframes & (1 << (i % 8)) != 0 {
            source.request_keyframe();
        }
        match source.next_frame() {
            Ok(Some(frame)) => {
                assert!(frame.timestamp >= last, "timestamp went backwards");
                last = frame.timestamp;
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Splits off the first byte: reader options (looping, keyframe requests).
fn options(data: &[u8]) -> Option<(u8, Bytes)> {
    let (&first, rest) = data.split_first()?;
    Some((first, Bytes::copy_from_slice(rest)))
}

/// An IVF file (VP8/VP9), after one option byte.
pub fn ivf(data: &[u8]) {
    let Some((opt, file)) = options(data) else {
        return;
    };
    if let Ok(source) = IvfSource::new(file) {
        let n = source.frame_count();
        drain(source.looping(opt & 1 != 0), n, opt >> 1);
    }
}

/// An Ogg Opus file, after one option byte.
pub fn ogg(data: &[u8]) {
    let Some((opt, file)) = options(data) else {
        return;
    };
    if let Ok(source) = OggOpusSource::new(file) {
        let n = source.frame_count();
        drain(source.looping(opt & 1 != 0), n, opt >> 1);
    }
}

/// An H.264 Annex-B stream, after one option byte (its top bits: the frame rate, 0 included).
pub fn annexb(data: &[u8]) {
    let Some((opt, file)) = options(data) else {
        return;
    };
    if let Ok(source) = H264Source::new(file, u32::from(opt >> 2)) {
        let n = source.frame_count();
        drain(source.looping(opt & 1 != 0), n, opt >> 1);
    }
}
