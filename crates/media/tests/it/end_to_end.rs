//! Sender and receiver runners over an in-memory lossy link (virtual time): the samples
//! arrive complete thanks to NACK, and the written files decode with ffprobe.

use std::fs::File;
use std::io::BufWriter;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::link::{pair, Link};
use crate::common::{ffprobe_frames, sample, scratch};
use media::runner::{receive_track, send_track, SendOptions};
use media::{
    CodecKind, Frame, H264Sink, H264Source, IvfSink, IvfSource, MediaSink, MediaSource,
    OggOpusSink, OggOpusSource, PacketizerConfig, ReceiveConfig, ReceiverStats, SendConfig,
    SenderStats, SinkError,
};

/// Runs one track through a link with `loss`; returns the stats of both ends.
async fn transfer<S: MediaSource + 'static, K: MediaSink + 'static>(
    source: S,
    sink: K,
    seed: u64,
    loss: f64,
    nack: bool,
) -> (SenderStats, ReceiverStats, Arc<Link>) {
    let codec = source.codec();
    let link = Link::new(seed, loss);
    let (writer, reader) = pair(link.clone());
    let mut packetizer = PacketizerConfig::new(codec, 96, 0x5eed_0001);
    // Start near the wrap so that the run crosses it.
    packetizer.initial_sequence = 65_500;
    packetizer.initial_timestamp = u32::MAX - 20_000;
    packetizer.mid_extension = Some((1, "0".into()));
    let send = tokio::spawn(send_track(
        source,
        writer,
        SendConfig::new(packetizer),
        SendOptions::default(),
    ));
    let mut receive = ReceiveConfig::new(codec, 96, 0x0bad_cafe);
    if !nack {
        receive.nack = None;
    }
    let recv = tokio::spawn(receive_track(reader, sink, receive));
    let sent = send.await.expect("send task").expect("send");
    let received = recv.await.expect("receive task").expect("receive");
    (sent, received, link)
}

fn check_recovery(
    what: &str,
    seed: u64,
    frames: u64,
    sent: &SenderStats,
    got: &ReceiverStats,
    link: &Link,
) {
    let dropped = link.dropped.load(Ordering::Relaxed);
    let passed = link.passed.load(Ordering::Relaxed);
    println!("{what} seed={seed}: sent {sent:?}\nreceived {got:?}\nlink dropped {dropped} passed {passed}");
    assert_eq!(
        sent.frames_sent, frames,
        "{what}: every frame sent (seed {seed})"
    );
    assert!(dropped > 0, "{what}: the link lost packets (seed {seed})");
    assert!(
        got.nacks_sent > 0 && sent.retransmitted_packets > 0,
        "{what}: NACK was used (seed {seed})"
    );
    let complete = got.frames_delivered as f64 / frames as f64;
    assert!(
        complete >= 0.99,
        "{what}: {complete:.4} of frames complete, want >= 0.99 (seed {seed})"
    );
    assert_eq!(
        got.malformed_rtp + got.malformed_rtcp,
        0,
        "{what}: nothing malformed"
    );
}

fn check_decodes(what: &str, path: &std::path::Path, codec: &str, frames: u64) {
    let (decoded_codec, decoded) = ffprobe_frames(path);
    assert_eq!(decoded_codec, codec);
    let diff = decoded.abs_diff(frames) as f64 / frames as f64;
    assert!(
        diff <= 0.01,
        "{what}: ffprobe decoded {decoded} frames of {frames}"
    );
}

/// Seeds of the lossy runs (each is a different loss pattern); printed on failure.
const SEEDS: [u64; 3] = [0x5eed_0001, 0x5eed_0002, 0x5eed_0003];

#[tokio::test(start_paused = true)]
async fn vp8_sample_survives_5_percent_loss() {
    for seed in SEEDS {
        let source = IvfSource::open(sample("vp8.ivf")).expect("open");
        let frames = source.frame_count() as u64;
        let out = scratch(&format!("e2e-vp8-{seed}.ivf"));
        let sink = IvfSink::new(
            File::create(&out).expect("create"),
            CodecKind::Vp8,
            320,
            240,
            90_000,
        )
        .expect("sink");
        let (sent, got, link) = transfer(source, sink, seed, 0.05, true).await;
        check_recovery("VP8", seed, frames, &sent, &got, &link);
        check_decodes("VP8", &out, "vp8", frames);
    }
}

#[tokio::test(start_paused = true)]
async fn vp9_sample_survives_5_percent_loss() {
    for seed in SEEDS {
        let source = IvfSource::open(sample("vp9.ivf")).expect("open");
        let frames = source.frame_count() as u64;
        let out = scratch(&format!("e2e-vp9-{seed}.ivf"));
        let sink = IvfSink::new(
            File::create(&out).expect("create"),
            CodecKind::Vp9,
            160,
            120,
            90_000,
        )
        .expect("sink");
        let (sent, got, link) = transfer(source, sink, seed, 0.05, true).await;
        check_recovery("VP9", seed, frames, &sent, &got, &link);
        check_decodes("VP9", &out, "vp9", frames);
    }
}

#[tokio::test(start_paused = true)]
async fn h264_sample_survives_5_percent_loss() {
    for seed in SEEDS {
        let source = H264Source::open(sample("h264.h264"), 30).expect("open");
        let frames = source.frame_count() as u64;
        let out = scratch(&format!("e2e-{seed}.h264"));
        let sink = H264Sink::new(BufWriter::new(File::create(&out).expect("create")));
        let (sent, got, link) = transfer(source, sink, seed, 0.05, true).await;
        check_recovery("H.264", seed, frames, &sent, &got, &link);
        check_decodes("H.264", &out, "h264", frames);
    }
}

#[tokio::test(start_paused = true)]
async fn opus_sample_survives_5_percent_loss() {
    for seed in SEEDS {
        let source = OggOpusSource::open(sample("opus.ogg")).expect("open");
        let frames = source.frame_count() as u64;
        let pre_skip = source.head().pre_skip;
        let out = scratch(&format!("e2e-opus-{seed}.ogg"));
        let file = BufWriter::new(File::create(&out).expect("create"));
        let sink = OggOpusSink::new(file, 1, pre_skip, 7).expect("sink");
        let (sent, got, link) = transfer(source, sink, seed, 0.05, true).await;
        check_recovery("Opus", seed, frames, &sent, &got, &link);
        check_decodes("Opus", &out, "opus", frames);
    }
}

/// Without NACK, losses are repaired by PLI: the sender skips to its next keyframe and the
/// receiver writes only decodable frames.
#[tokio::test(start_paused = true)]
async fn without_nack_pli_recovers_at_keyframes() {
    let seed = 0x5eed_0042;
    let source = IvfSource::open(sample("vp8.ivf")).expect("open");
    let frames = source.frame_count() as u64;
    let out = scratch("e2e-vp8-pli.ivf");
    let sink = IvfSink::new(
        File::create(&out).expect("create"),
        CodecKind::Vp8,
        320,
        240,
        90_000,
    )
    .expect("sink");
    let (sent, got, _) = transfer(source, sink, seed, 0.05, false).await;
    println!("PLI run: sent {sent:?}\nreceived {got:?}");
    assert_eq!(got.nacks_sent, 0);
    assert!(
        got.plis_sent > 0 && sent.plis_received > 0,
        "PLI was sent and seen"
    );
    assert!(got.frames_lost > 0);
    // The sender skipped frames to reach keyframes sooner.
    assert!(
        sent.frames_sent < frames,
        "{} of {frames}",
        sent.frames_sent
    );
    assert!(got.frames_delivered < sent.frames_sent);
    // Everything written decodes: no frame after a loss without a keyframe first.
    let (_, decoded) = ffprobe_frames(&out);
    assert_eq!(decoded, got.frames_delivered);
}

/// Keeps every frame it is given.
#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<Frame>>>);

impl MediaSink for Collect {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        self.0.lock().expect("lock").push(frame.clone());
        Ok(())
    }
    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn lossless_link_delivers_every_frame_byte_exact_and_in_time() {
    let mut reference = IvfSource::open(sample("vp8.ivf")).expect("open");
    let mut expected = Vec::new();
    while let Some(f) = reference.next_frame().expect("read") {
        expected.push(f);
    }
    let sink = Collect::default();
    let started = tokio::time::Instant::now();
    let (sent, got, _) = transfer(
        IvfSource::open(sample("vp8.ivf")).expect("open"),
        sink.clone(),
        1,
        0.0,
        true,
    )
    .await;
    // 4 s of media plus the 1 s linger, in virtual time.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_secs(6),
        "{elapsed:?}"
    );
    assert_eq!(sent.frames_sent, expected.len() as u64);
    assert_eq!((got.nacks_sent, got.plis_sent, got.packets_lost), (0, 0, 0));
    let frames = sink.0.lock().expect("lock").clone();
    assert_eq!(frames.len(), expected.len());
    for (got, want) in frames.iter().zip(&expected) {
        assert_eq!(got.data, want.data);
        assert_eq!(got.keyframe, want.keyframe);
        // RTP time has 90 kHz resolution.
        assert!(got.timestamp.abs_diff(want.timestamp) < Duration::from_micros(12));
    }
}
