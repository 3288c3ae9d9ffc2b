//! IVF files (VP8, VP9): a source that reads them and a sink that writes them.
//!
//! Layout: a 32-byte header (`DKIF`, version, header size, FourCC, width, height, time base
//! denominator and numerator, length, unused), then per frame a 12-byte header (size, 64-bit
//! pts in time-base units) and the frame bytes.
//!
//! The length field: libvpx calls it the frame count and its readers ignore it (they read
//! until the end of the file); ffmpeg reads it as the stream's duration in time-base units
//! and its IVF writer stores that. The two agree only when the time base is one frame. Our
//! sink keeps RTP timing exactly (a 90 kHz time base), so it writes the duration, as ffmpeg
//! does: that is what `ffprobe` and players show.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::CodecKind;
use crate::error::{SinkError, SourceError};
use crate::frame::{Frame, LoopClock, MediaSink, MediaSource};

const HEADER_LEN: usize = 32;
const FRAME_HEADER_LEN: usize = 12;

fn malformed(reason: &'static str) -> SourceError {
    SourceError::Malformed {
        container: "IVF",
        reason,
    }
}

/// The fixed header of an IVF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IvfHeader {
    /// The codec from the FourCC.
    pub codec: CodecKind,
    /// Picture width in pixels.
    pub width: u16,
    /// Picture height in pixels.
    pub height: u16,
    /// Time base: one pts unit is `timebase_num / timebase_den` seconds.
    pub timebase_num: u32,
    /// Time base denominator.
    pub timebase_den: u32,
}

#[derive(Debug, Clone)]
struct IndexEntry {
    data: Bytes,
    timestamp: Duration,
    duration: Duration,
    keyframe: bool,
}

/// Reads VP8/VP9 frames from an IVF file held in memory.
#[derive(Debug)]
pub struct IvfSource {
    header: IvfHeader,
    frames: Vec<IndexEntry>,
    next: usize,
    looping: bool,
    want_keyframe: bool,
    clock: LoopClock,
}

impl IvfSource {
    /// Parses a whole IVF file. Fails on a bad header, a truncated frame or an unknown FourCC.
    pub fn new(file: Bytes) -> Result<Self, SourceError> {
        if file.len() < HEADER_LEN {
            return Err(malformed("file shorter than the header"));
        }
        if &file[0..4] != b"DKIF" {
            return Err(malformed("missing DKIF signature"));
        }
        let header_len = usize::from(u16::from_le_bytes([file[6], file[7]]));
        if header_len < HEADER_LEN || header_len > file.len() {
            return Err(malformed("bad header length"));
        }
        let codec = match &file[8..12] {
            b"VP80" => CodecKind::Vp8,
            b"VP90" => CodecKind::Vp9,
            other => {
                return Err(SourceError::UnsupportedCodec(
                    String::from_utf8_lossy(other).into_owned(),
                ))
            }
        };
        let le32 =
            |at: usize| u32::from_le_bytes([file[at], file[at + 1], file[at + 2], file[at + 3]]);
        let header = IvfHeader {
            codec,
            width: u16::from_le_bytes([file[12], file[13]]),
            height: u16::from_le_bytes([file[14], file[15]]),
            timebase_den: le32(16),
            timebase_num: le32(20),
        };
        if header.timebase_den == 0 || header.timebase_num == 0 {
            return Err(malformed("zero time base"));
        }
        let mut pts = Vec::new();
        let mut pos = header_len;
        while pos < file.len() {
            if file.len() - pos < FRAME_HEADER_LEN {
                return Err(malformed("truncated frame header"));
            }
            let size = le32(pos) as usize;
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&file[pos + 4..pos + 12]);
            let start = pos + FRAME_HEADER_LEN;
            if file.len() - start < size {
                return Err(malformed("truncated frame"));
            }
            pts.push((u64::from_le_bytes(ts), file.slice(start..start + size)));
            pos = start + size;
        }
        let to_time = |units: u64| {
            let nanos = u128::from(units) * u128::from(header.timebase_num) * 1_000_000_000
                / u128::from(header.timebase_den);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        };
        // Frame timestamps never go backwards (the `MediaSource` contract): a pts below an
        // earlier one (a broken or hostile file) is raised to it.
        let mut highest = 0;
        for (p, _) in &mut pts {
            highest = (*p).max(highest);
            *p = highest;
        }
        let one_tick = to_time(1);
        let first = pts.first().map_or(0, |(p, _)| *p);
        let mut frames = Vec::with_capacity(pts.len());
        for (i, (p, data)) in pts.iter().enumerate() {
            let timestamp = to_time(p.saturating_sub(first));
            let duration = match pts.get(i + 1) {
                Some((next, _)) if next > p => to_time(next - p),
                Some(_) => Duration::ZERO,
                None => frames.last().map_or(one_tick, |f: &IndexEntry| f.duration),
            };
            frames.push(IndexEntry {
                keyframe: codec.is_keyframe(data),
                data: data.clone(),
                timestamp,
                duration,
            });
        }
        Ok(Self {
            header,
            frames,
            next: 0,
            looping: false,
            want_keyframe: false,
            clock: LoopClock::default(),
        })
    }

    /// Reads and parses an IVF file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        Self::new(Bytes::from(std::fs::read(path)?))
    }

    /// Starts over at the end instead of ending (timestamps keep increasing).
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// The file header.
    pub fn header(&self) -> &IvfHeader {
        &self.header
    }

    /// Number of frames in the file.
    pub fn frame_count(&self) -> usize {
        self.frames.len()
    }
}

impl MediaSource for IvfSource {
    fn codec(&self) -> CodecKind {
        self.header.codec
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut wrapped = false;
        loop {
            if self.next >= self.frames.len() {
                if !self.looping || wrapped || self.frames.is_empty() {
                    return Ok(None);
                }
                wrapped = true;
                self.next = 0;
                self.clock.wrap();
            }
            let entry = &self.frames[self.next];
            self.next += 1;
            if self.want_keyframe && !entry.keyframe {
                continue;
            }
            self.want_keyframe = false;
            let frame = Frame {
                data: entry.data.clone(),
                timestamp: entry.timestamp,
                duration: entry.duration,
                keyframe: entry.keyframe,
            };
            return Ok(Some(self.clock.stamp(frame)));
        }
    }

    fn request_keyframe(&mut self) {
        self.want_keyframe = true;
    }
}

/// Writes VP8/VP9 frames to an IVF file. [`MediaSink::finish`] fixes up the header: the
/// picture size the first keyframe declares (when it differs from the one given to
/// [`IvfSink::new`]) and the duration (see the module doc).
#[derive(Debug)]
pub struct IvfSink<W: Write + Seek> {
    out: W,
    codec: CodecKind,
    frames: u32,
    timebase_den: u32,
    /// Picture size in the header as written, and as the first keyframe declared it.
    size: (u16, u16),
    stream_size: Option<(u16, u16)>,
    /// Pts of the first and of the last frame, in time-base units.
    first_pts: Option<u64>,
    last_pts: u64,
    finished: bool,
}

impl<W: Write + Seek + Send> IvfSink<W> {
    /// Writes the header. Frame pts are stored in units of `1/timebase_den` seconds (use the
    /// codec clock rate, 90000, to keep RTP timing exactly). `width` and `height` are what the
    /// header says until the first keyframe tells the real size (0 when unknown).
    pub fn new(
        mut out: W,
        codec: CodecKind,
        width: u16,
        height: u16,
        timebase_den: u32,
    ) -> Result<Self, SinkError> {
        let fourcc: &[u8; 4] = match codec {
            CodecKind::Vp8 => b"VP80",
            CodecKind::Vp9 => b"VP90",
            _ => return Err(SinkError::Rejected("IVF holds VP8 or VP9 only")),
        };
        if timebase_den == 0 {
            return Err(SinkError::Rejected("zero time base"));
        }
        let mut h = Vec::with_capacity(HEADER_LEN);
        h.extend_from_slice(b"DKIF");
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        h.extend_from_slice(fourcc);
        h.extend_from_slice(&width.to_le_bytes());
        h.extend_from_slice(&height.to_le_bytes());
        h.extend_from_slice(&timebase_den.to_le_bytes());
        h.extend_from_slice(&1u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        out.write_all(&h)?;
        Ok(Self {
            out,
            codec,
            frames: 0,
            timebase_den,
            size: (width, height),
            stream_size: None,
            first_pts: None,
            last_pts: 0,
            finished: false,
        })
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u32 {
        self.frames
    }

    /// The picture size the first keyframe declared, once one was written.
    pub fn stream_size(&self) -> Option<(u16, u16)> {
        self.stream_size
    }

    /// The header's length field: the duration in time-base units, the mean frame interval
    /// counted once more for the last frame (as ffmpeg's IVF writer computes it).
    fn duration_units(&self) -> u32 {
        let Some(first) = self.first_pts else {
            return 0;
        };
        let span = self.last_pts.saturating_sub(first);
        let frames = u64::from(self.frames);
        let units = if frames > 1 {
            span.saturating_mul(frames) / (frames - 1)
        } else {
            0
        };
        u32::try_from(units).unwrap_or(u32::MAX)
    }

    /// Gives the writer back (after [`MediaSink::finish`]).
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Seek + Send> MediaSink for IvfSink<W> {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        let size = u32::try_from(frame.data.len())
            .map_err(|_| SinkError::Rejected("frame larger than 4 GiB"))?;
        let pts = frame.timestamp.as_nanos() * u128::from(self.timebase_den) / 1_000_000_000;
        let pts = u64::try_from(pts).map_err(|_| SinkError::Rejected("timestamp overflow"))?;
        self.out.write_all(&size.to_le_bytes())?;
        self.out.write_all(&pts.to_le_bytes())?;
        self.out.write_all(&frame.data)?;
        self.frames += 1;
        self.first_pts.get_or_insert(pts);
        self.last_pts = pts;
        if self.stream_size.is_none() && frame.keyframe {
            self.stream_size = crate::dimensions::keyframe_dimensions(self.codec, &frame.data);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        let end = self.out.stream_position()?;
        if let Some((width, height)) = self.stream_size.filter(|s| *s != self.size) {
            self.out.seek(SeekFrom::Start(12))?;
            self.out.write_all(&width.to_le_bytes())?;
            self.out.write_all(&height.to_le_bytes())?;
        }
        self.out.seek(SeekFrom::Start(24))?;
        self.out.write_all(&self.duration_units().to_le_bytes())?;
        self.out.seek(SeekFrom::Start(end))?;
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn frame(ts_ms: u64, data: &'static [u8]) -> Frame {
        Frame {
            data: Bytes::from_static(data),
            timestamp: Duration::from_millis(ts_ms),
            duration: Duration::from_millis(33),
            keyframe: data[0] & 1 == 0,
        }
    }

    fn write_sample() -> Vec<u8> {
        let mut sink = IvfSink::new(Cursor::new(Vec::new()), CodecKind::Vp8, 320, 240, 90_000)
            .expect("header");
        sink.write_frame(&frame(0, &[0x10, 1, 2])).expect("write");
        sink.write_frame(&frame(100, &[0x11, 3])).expect("write");
        sink.write_frame(&frame(200, &[0x10, 4])).expect("write");
        sink.finish().expect("finish");
        sink.into_inner().into_inner()
    }

    #[test]
    fn round_trip_with_durations_and_keyframes() {
        let file = write_sample();
        // Three frames 100 ms apart: 300 ms of 90 kHz units, as ffmpeg would write it.
        assert_eq!(
            u32::from_le_bytes([file[24], file[25], file[26], file[27]]),
            27_000
        );
        let mut src = IvfSource::new(Bytes::from(file)).expect("parse");
        assert_eq!(src.codec(), CodecKind::Vp8);
        assert_eq!(src.header().width, 320);
        let a = src.next_frame().expect("ok").expect("frame");
        assert!(a.keyframe);
        assert_eq!(a.duration, Duration::from_millis(100));
        let b = src.next_frame().expect("ok").expect("frame");
        assert!(!b.keyframe);
        assert_eq!(b.timestamp, Duration::from_millis(100));
        let c = src.next_frame().expect("ok").expect("frame");
        assert_eq!(c.data.as_ref(), &[0x10, 4]);
        assert_eq!(c.duration, Duration::from_millis(100));
        assert!(src.next_frame().expect("ok").is_none());
    }

    /// A file whose pts go backwards (found by the `ivf` fuzz target) still yields
    /// timestamps that never decrease: the late frame takes the earlier frame's time.
    #[test]
    fn pts_going_backwards_do_not_turn_time_back() {
        let mut file = write_sample();
        // The third frame's pts (at header 32 + frame 12 + 3 bytes + frame 12 + 2 bytes + 4):
        // from 200 ms down to 50 ms, in 90 kHz units.
        let at = 32 + 12 + 3 + 12 + 2 + 4;
        assert_eq!(file[at..at + 8], 18_000u64.to_le_bytes());
        file[at..at + 8].copy_from_slice(&4_500u64.to_le_bytes());
        let mut src = IvfSource::new(Bytes::from(file)).expect("parse");
        let mut last = Duration::ZERO;
        while let Some(f) = src.next_frame().expect("ok") {
            assert!(f.timestamp >= last, "{:?} after {last:?}", f.timestamp);
            last = f.timestamp;
        }
        assert_eq!(last, Duration::from_millis(100));
    }

    /// The size in the header is the one the first keyframe declares, whatever the caller
    /// guessed; the duration covers every frame: the sample read back and rewritten has the
    /// sample's own header (ffmpeg wrote it with a 1/30 s time base: 120 frames = 4 s).
    #[test]
    fn a_rewritten_sample_keeps_its_size_and_duration() {
        let sample = include_bytes!("../samples/vp8.ivf");
        let mut src = IvfSource::new(Bytes::from_static(sample)).expect("sample");
        let mut sink = IvfSink::new(Cursor::new(Vec::new()), CodecKind::Vp8, 640, 480, 90_000)
            .expect("header");
        while let Some(frame) = src.next_frame().expect("frame") {
            sink.write_frame(&frame).expect("write");
        }
        sink.finish().expect("finish");
        assert_eq!(sink.stream_size(), Some((320, 240)));
        let file = sink.into_inner().into_inner();
        let back = IvfSource::new(Bytes::from(file.clone())).expect("parse");
        assert_eq!((back.header().width, back.header().height), (320, 240));
        assert_eq!(back.frame_count(), 120);
        let units = u32::from_le_bytes([file[24], file[25], file[26], file[27]]);
        // 4 s at 90 kHz (1/30 s does not divide into 90 kHz ticks exactly: ± a few ticks).
        assert!(units.abs_diff(4 * 90_000) <= 9, "{units} ticks for 4 s");
        let sample_units = u32::from_le_bytes([sample[24], sample[25], sample[26], sample[27]]);
        assert_eq!(sample_units, 120, "4 s at 30 Hz");
    }

    #[test]
    fn keyframe_request_skips_and_looping_continues_time() {
        let mut src = IvfSource::new(Bytes::from(write_sample()))
            .expect("parse")
            .looping(true);
        let _ = src.next_frame().expect("ok");
        src.request_keyframe();
        let k = src.next_frame().expect("ok").expect("frame");
        assert!(k.keyframe);
        assert_eq!(k.timestamp, Duration::from_millis(200));
        let again = src.next_frame().expect("ok").expect("frame");
        assert_eq!(again.timestamp, Duration::from_millis(300));
    }

    #[test]
    fn malformed_files_are_errors() {
        let good = write_sample();
        assert!(IvfSource::new(Bytes::from_static(b"DKIF")).is_err());
        let mut bad = good.clone();
        bad[0] = b'X';
        assert!(IvfSource::new(Bytes::from(bad)).is_err());
        let truncated = good[..good.len() - 1].to_vec();
        assert!(IvfSource::new(Bytes::from(truncated)).is_err());
        let mut av1 = good;
        av1[8..12].copy_from_slice(b"AV01");
        assert!(matches!(
            IvfSource::new(Bytes::from(av1)),
            Err(SourceError::UnsupportedCodec(_))
        ));
    }
}
