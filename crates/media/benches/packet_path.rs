//! Packet path throughput: packetize and depacketize ~1200-byte RTP packets (VP8, Opus), raw
//! and through the full send/receive streams (wire format, history, jitter buffer).
//!
//! `cargo bench -p tether-media --bench packet_path`; results are packets per second.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use media::depacketizer::depacketize;
use media::{
    CodecKind, Frame, Packetizer, PacketizerConfig, ReceiveConfig, RtpReceiveStream, RtpSendStream,
    SendConfig,
};
use rtp::packet::Packet;
use webrtc_util::marshal::Marshal;

/// Packets per video frame in the benchmark (each ~1200 bytes on the wire).
const VIDEO_PACKETS: usize = 10;

fn frame(codec: CodecKind) -> Frame {
    // A payload that fills the packets up to the default 1200-byte MTU.
    let len = match codec {
        CodecKind::Opus => 1200 - 12 - 8,
        _ => VIDEO_PACKETS * (1200 - 12 - 4) - 100,
    };
    Frame {
        data: Bytes::from((0..len).map(|i| (i * 7) as u8 & 0xfe).collect::<Vec<u8>>()),
        timestamp: Duration::ZERO,
        duration: Duration::from_millis(20),
        keyframe: true,
    }
}

fn packets_of(codec: CodecKind) -> Vec<Packet> {
    let mut p = Packetizer::new(PacketizerConfig::new(codec, 96, 1)).expect("config");
    p.packetize(&frame(codec)).expect("packetize")
}

fn bench(c: &mut Criterion) {
    for codec in [CodecKind::Vp8, CodecKind::Opus] {
        let packets = packets_of(codec);
        let n = packets.len() as u64;
        let wire_len: usize = packets
            .iter()
            .map(|p| p.marshal().map(|w| w.len()).unwrap_or(0))
            .sum();
        eprintln!(
            "{codec:?}: {n} packets per frame, {} bytes average on the wire",
            wire_len / packets.len()
        );

        let mut g = c.benchmark_group("packetize");
        g.throughput(Throughput::Elements(n));
        let f = frame(codec);
        let mut packetizer = Packetizer::new(PacketizerConfig::new(codec, 96, 1)).expect("config");
        g.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
            b.iter(|| black_box(packetizer.packetize(black_box(&f)).expect("packetize")))
        });
        let mut stream = RtpSendStream::new(SendConfig::new(PacketizerConfig::new(codec, 96, 1)))
            .expect("config");
        let now = Instant::now();
        g.bench_function(BenchmarkId::new("send_stream+marshal", codec.name()), |b| {
            b.iter(|| {
                for p in stream.send_frame(black_box(&f), now).expect("send") {
                    black_box(p.marshal().expect("marshal"));
                }
            })
        });
        g.finish();

        let mut g = c.benchmark_group("depacketize");
        g.throughput(Throughput::Elements(n));
        g.bench_function(BenchmarkId::from_parameter(codec.name()), |b| {
            b.iter(|| black_box(depacketize(codec, black_box(&packets)).expect("depacketize")))
        });
        // Full receive path from the wire: parse, jitter buffer, depacketize, frame out.
        let mut sender = Packetizer::new(PacketizerConfig::new(codec, 96, 1)).expect("config");
        let mut receiver = RtpReceiveStream::new(ReceiveConfig::new(codec, 96, 2));
        let mut media_time = Duration::ZERO;
        g.bench_function(
            BenchmarkId::new("unmarshal+receive_stream", codec.name()),
            |b| {
                b.iter_batched(
                    || {
                        media_time += Duration::from_millis(20);
                        let mut f = frame(codec);
                        f.timestamp = media_time;
                        sender
                            .packetize(&f)
                            .expect("packetize")
                            .iter()
                            .map(|p| p.marshal().expect("marshal"))
                            .collect::<Vec<_>>()
                    },
                    |wire| {
                        for w in &wire {
                            let _ = receiver.handle_rtp_bytes(w, now);
                        }
                        black_box(receiver.poll_frame().expect("frame"))
                    },
                    criterion::BatchSize::SmallInput,
                )
            },
        );
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
