//! The whole packet path with SRTP, with its numbers: packetize + protect and
//! unprotect + depacketize of ~1200-byte RTP packets (VP8: 10 packets per frame; Opus: one),
//! with both SRTP profiles WebRTC negotiates (AES-128-CM + HMAC-SHA1-80, AEAD-AES-128-GCM).
//!
//! - `protect/<profile>/<codec>`: a frame through the send stream (packetizer, history,
//!   counters), marshalled, then SRTP-protected.
//! - `unprotect/<profile>/<codec>`: SRTP unprotect (replay protection on), unmarshal, the
//!   receive stream (jitter buffer, loss detection), depacketize, the frame out.
//!
//! `cargo bench -p tether-media --bench srtp_path`; throughput is packets per second.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use media::{
    CodecKind, Frame, PacketizerConfig, ReceiveConfig, RtpReceiveStream, RtpSendStream, SendConfig,
};
use rtp::packet::Packet;
use webrtc_srtp::context::Context;
use webrtc_srtp::option::srtp_replay_protection;
use webrtc_srtp::protection_profile::ProtectionProfile;
use webrtc_util::marshal::{Marshal, Unmarshal};

/// Frames prepared for one pass of the unprotect benchmark (then a fresh context and stream).
const PASS: usize = 256;

fn frame(codec: CodecKind, index: usize) -> Frame {
    let len = match codec {
        CodecKind::Opus => 1200 - 12 - 8,
        _ => 10 * (1200 - 12 - 4) - 100,
    };
    let step = match codec {
        CodecKind::Opus => Duration::from_millis(20),
        _ => Duration::from_micros(33_333),
    };
    Frame {
        data: Bytes::from((0..len).map(|i| (i * 7) as u8 & 0xfe).collect::<Vec<u8>>()),
        timestamp: step * index as u32,
        duration: step,
        keyframe: true,
    }
}

fn context(profile: ProtectionProfile) -> Context {
    let key: Vec<u8> = (0..profile.key_len()).map(|i| i as u8).collect();
    let salt: Vec<u8> = (0..profile.salt_len()).map(|i| 0x40 + i as u8).collect();
    Context::new(&key, &salt, profile, Some(srtp_replay_protection(64)), None).expect("context")
}

fn send_stream(codec: CodecKind) -> RtpSendStream {
    RtpSendStream::new(SendConfig::new(PacketizerConfig::new(codec, 96, 0x1234)))
        .expect("send stream")
}

fn name(profile: ProtectionProfile) -> &'static str {
    match profile {
        ProtectionProfile::AeadAes128Gcm => "aead_aes128_gcm",
        _ => "aes128_cm_sha1_80",
    }
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    for profile in [
        ProtectionProfile::Aes128CmHmacSha1_80,
        ProtectionProfile::AeadAes128Gcm,
    ] {
        for codec in [CodecKind::Vp8, CodecKind::Opus] {
            let id = BenchmarkId::new(name(profile), codec.name());
            let per_frame = send_stream(codec)
                .send_frame(&frame(codec, 0), now)
                .expect("packetize")
                .len() as u64;

            let mut g = c.benchmark_group("protect");
            g.throughput(Throughput::Elements(per_frame));
            let mut stream = send_stream(codec);
            let mut ctx = context(profile);
            let mut index = 0;
            g.bench_function(id.clone(), |b| {
                b.iter(|| {
                    index += 1;
                    for p in stream
                        .send_frame(&frame(codec, index), now)
                        .expect("packetize")
                    {
                        let wire = p.marshal().expect("marshal");
                        black_box(ctx.encrypt_rtp(&wire).expect("protect"));
                    }
                })
            });
            g.finish();

            // PASS frames protected once; each pass unprotects them with a fresh context
            // (replay protection would reject a second pass) into a fresh receive stream.
            let mut stream = send_stream(codec);
            let mut ctx = context(profile);
            let protected: Vec<Vec<Bytes>> = (0..PASS)
                .map(|i| {
                    stream
                        .send_frame(&frame(codec, i), now)
                        .expect("packetize")
                        .iter()
                        .map(|p| {
                            ctx.encrypt_rtp(&p.marshal().expect("marshal"))
                                .expect("protect")
                        })
                        .collect()
                })
                .collect();
            let mut g = c.benchmark_group("unprotect");
            g.throughput(Throughput::Elements(per_frame));
            g.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    let mut ctx = context(profile);
                    let mut rx = RtpReceiveStream::new(ReceiveConfig::new(codec, 96, 0x5678));
                    for i in 0..iters as usize {
                        if i > 0 && i % PASS == 0 {
                            ctx = context(profile);
                            rx = RtpReceiveStream::new(ReceiveConfig::new(codec, 96, 0x5678));
                        }
                        let start = Instant::now();
                        for wire in &protected[i % PASS] {
                            let plain = ctx.decrypt_rtp(wire).expect("unprotect");
                            let packet = Packet::unmarshal(&mut plain.as_ref()).expect("rtp");
                            rx.handle_rtp(packet, now).expect("accepted");
                        }
                        let frame = rx.poll_frame().expect("a whole frame");
                        total += start.elapsed();
                        black_box(frame);
                    }
                    total
                })
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
