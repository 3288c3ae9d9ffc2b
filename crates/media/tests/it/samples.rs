//! The shipped samples parse, and our sinks write files that ffprobe decodes.

use std::fs::File;
use std::io::BufWriter;

use crate::common::{ffprobe_frames, sample, scratch};
use media::{
    CodecKind, H264Sink, H264Source, IvfSink, IvfSource, MediaSink, MediaSource, OggOpusSink,
    OggOpusSource,
};

fn drain(source: &mut dyn MediaSource, sink: &mut dyn MediaSink) -> (usize, usize) {
    let (mut frames, mut keys) = (0, 0);
    let mut last = None;
    while let Some(f) = source.next_frame().expect("read") {
        assert!(
            last.is_none_or(|t| f.timestamp >= t),
            "timestamps go forward"
        );
        last = Some(f.timestamp);
        frames += 1;
        keys += usize::from(f.keyframe);
        sink.write_frame(&f).expect("write");
    }
    sink.finish().expect("finish");
    (frames, keys)
}

#[test]
fn vp8_sample_round_trips_through_the_ivf_sink() {
    let mut src = IvfSource::open(sample("vp8.ivf")).expect("open");
    assert_eq!(src.codec(), CodecKind::Vp8);
    let (w, h) = (src.header().width, src.header().height);
    assert_eq!((w, h), (320, 240));
    let out = scratch("vp8-copy.ivf");
    let mut sink = IvfSink::new(
        File::create(&out).expect("create"),
        CodecKind::Vp8,
        w,
        h,
        90_000,
    )
    .expect("sink");
    let (frames, keys) = drain(&mut src, &mut sink);
    assert_eq!(
        (frames, keys),
        (120, 4),
        "4 s at 30 fps, a keyframe every 30 frames"
    );
    assert_eq!(ffprobe_frames(&sample("vp8.ivf")), ("vp8".into(), 120));
    assert_eq!(ffprobe_frames(&out), ("vp8".into(), 120));
}

#[test]
fn vp9_sample_parses_with_keyframes() {
    let mut src = IvfSource::open(sample("vp9.ivf")).expect("open");
    assert_eq!(src.codec(), CodecKind::Vp9);
    let out = scratch("vp9-copy.ivf");
    let mut sink = IvfSink::new(
        File::create(&out).expect("create"),
        CodecKind::Vp9,
        160,
        120,
        90_000,
    )
    .expect("sink");
    let (frames, keys) = drain(&mut src, &mut sink);
    assert_eq!((frames, keys), (60, 2));
    assert_eq!(ffprobe_frames(&out), ("vp9".into(), 60));
}

#[test]
fn h264_sample_splits_into_access_units() {
    let mut src = H264Source::open(sample("h264.h264"), 30).expect("open");
    let out = scratch("copy.h264");
    let mut sink = H264Sink::new(BufWriter::new(File::create(&out).expect("create")));
    let (frames, keys) = drain(&mut src, &mut sink);
    assert_eq!((frames, keys), (120, 4));
    drop(sink);
    assert_eq!(ffprobe_frames(&out), ("h264".into(), 120));
}

#[test]
fn opus_sample_round_trips_through_the_ogg_sink() {
    let mut src = OggOpusSource::open(sample("opus.ogg")).expect("open");
    assert_eq!(src.head().channels, 1);
    let expected = ffprobe_frames(&sample("opus.ogg")).1;
    assert_eq!(src.frame_count() as u64, expected);
    let out = scratch("copy.ogg");
    let file = BufWriter::new(File::create(&out).expect("create"));
    let mut sink = OggOpusSink::new(file, 1, src.head().pre_skip, 1).expect("sink");
    let (frames, _) = drain(&mut src, &mut sink);
    assert_eq!(frames as u64, expected);
    drop(sink);
    assert_eq!(ffprobe_frames(&out), ("opus".into(), expected));
}

#[test]
fn looping_keeps_time_running() {
    let mut src = OggOpusSource::open(sample("opus.ogg"))
        .expect("open")
        .looping(true);
    let n = src.frame_count();
    let mut last = None;
    for _ in 0..n * 2 + 5 {
        let f = src.next_frame().expect("read").expect("looping never ends");
        if let Some(prev) = last {
            assert!(f.timestamp > prev);
        }
        last = Some(f.timestamp);
    }
}
