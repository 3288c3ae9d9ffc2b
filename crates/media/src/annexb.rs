//! H.264 Annex-B byte streams: a source that splits them into access units, and a sink.
//!
//! Annex-B carries no timing, so the source is given a frame rate. An access unit (one
//! picture) starts at an access unit delimiter, at SPS/PPS/SEI after a picture, or at a slice
//! whose `first_mb_in_slice` is 0.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{annexb_nals, CodecKind};
use crate::error::{SinkError, SourceError};
use crate::frame::{Frame, LoopClock, MediaSink, MediaSource};

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Reads H.264 access units from an Annex-B stream held in memory.
#[derive(Debug)]
pub struct H264Source {
    units: Vec<(Bytes, bool)>,
    frame_duration: Duration,
    next: usize,
    looping: bool,
    want_keyframe: bool,
    clock: LoopClock,
}

fn is_vcl(nal_type: u8) -> bool {
    (1..=5).contains(&nal_type)
}

impl H264Source {
    /// Splits a whole Annex-B stream into access units played at `fps` frames per second.
    pub fn new(stream: Bytes, fps: u32) -> Result<Self, SourceError> {
        if fps == 0 {
            return Err(SourceError::Malformed {
                container: "H.264 Annex-B",
                reason: "zero frame rate",
            });
        }
        let mut units = Vec::new();
        let mut current = BytesMut::new();
        let mut has_vcl = false;
        let mut has_idr = false;
        for nal in annexb_nals(&stream) {
            let t = nal[0] & 0x1f;
            let starts_au = match t {
                6..=9 => has_vcl,
                1 | 5 => has_vcl && nal.get(1).is_some_and(|b| b & 0x80 != 0),
                _ => false,
            };
            if starts_au {
                units.push((std::mem::take(&mut current).freeze(), has_idr));
                has_vcl = false;
                has_idr = false;
            }
            has_vcl |= is_vcl(t);
            has_idr |= t == 5;
            current.put_slice(&START_CODE);
            current.put_slice(nal);
        }
        if has_vcl {
            units.push((current.freeze(), has_idr));
        }
        if units.is_empty() {
            return Err(SourceError::Malformed {
                container: "H.264 Annex-B",
                reason: "no coded picture",
            });
        }
        Ok(Self {
            units,
            frame_duration: Duration::from_secs(1) / fps,
            next: 0,
            looping: false,
            want_keyframe: false,
            clock: LoopClock::default(),
        })
    }

    /// Reads and splits an Annex-B file.
    pub fn open(path: impl AsRef<Path>, fps: u32) -> Result<Self, SourceError> {
        Self::new(Bytes::from(std::fs::read(path)?), fps)
    }

    /// Starts over at the end instead of ending (timestamps keep increasing).
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// Number of access units in the stream.
    pub fn frame_count(&self) -> usize {
        self.units.len()
    }
}

impl MediaSource for H264Source {
    fn codec(&self) -> CodecKind {
        CodecKind::H264
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        let mut wrapped = false;
        loop {
            if self.next >= self.units.len() {
                if !self.looping || wrapped {
                    return Ok(None);
                }
                wrapped = true;
                self.next = 0;
                self.clock.wrap();
            }
            let index = self.next;
            let (data, keyframe) = self.units[index].clone();
            self.next += 1;
            if self.want_keyframe && !keyframe {
                continue;
            }
            self.want_keyframe = false;
            let frame = Frame {
                data,
                timestamp: self.frame_duration * u32::try_from(index).unwrap_or(u32::MAX),
                duration: self.frame_duration,
                keyframe,
            };
            return Ok(Some(self.clock.stamp(frame)));
        }
    }

    fn request_keyframe(&mut self) {
        self.want_keyframe = true;
    }
}

/// Writes H.264 access units (Annex-B, as the depacketizer produces them) to a byte stream.
#[derive(Debug)]
pub struct H264Sink<W: Write> {
    out: W,
}

impl<W: Write + Send> H264Sink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        Self { out }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> MediaSink for H264Sink<W> {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        if !frame.data.starts_with(&[0, 0, 1]) && !frame.data.starts_with(&START_CODE) {
            return Err(SinkError::Rejected(
                "H.264 frame without Annex-B start code",
            ));
        }
        self.out.write_all(&frame.data)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_access_units() {
        // SPS PPS IDR(first_mb=0) | slice(first_mb=0) | AUD slice | slice with first_mb!=0 (same AU)
        let stream: Vec<u8> = [
            &[0, 0, 0, 1, 0x67, 0x42][..],
            &[0, 0, 0, 1, 0x68, 0xce],
            &[0, 0, 1, 0x65, 0x88, 0x01],
            &[0, 0, 1, 0x41, 0x9a, 0x02],
            &[0, 0, 1, 0x09, 0xf0],
            &[0, 0, 1, 0x41, 0x9a, 0x03],
            &[0, 0, 1, 0x41, 0x40, 0x04],
        ]
        .concat();
        let mut src = H264Source::new(Bytes::from(stream), 25).expect("parse");
        assert_eq!(src.frame_count(), 3);
        let a = src.next_frame().expect("ok").expect("frame");
        assert!(a.keyframe);
        assert_eq!(
            a.data.as_ref(),
            &[0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x01]
        );
        let b = src.next_frame().expect("ok").expect("frame");
        assert!(!b.keyframe);
        assert_eq!(b.timestamp, Duration::from_millis(40));
        src.request_keyframe();
        assert!(src.next_frame().expect("ok").is_none());
        assert!(H264Source::new(Bytes::from_static(&[0, 0, 1, 0x67, 1]), 30).is_err());
    }

    #[test]
    fn sink_rejects_non_annexb() {
        let mut sink = H264Sink::new(Vec::new());
        let f = |d: &'static [u8]| Frame {
            data: Bytes::from_static(d),
            timestamp: Duration::ZERO,
            duration: Duration::ZERO,
            keyframe: false,
        };
        assert!(sink.write_frame(&f(&[0x65, 1])).is_err());
        sink.write_frame(&f(&[0, 0, 0, 1, 0x65, 1])).expect("write");
        assert_eq!(sink.into_inner(), vec![0, 0, 0, 1, 0x65, 1]);
    }
}
