//! Frames and the source/sink traits.

use std::time::Duration;

use bytes::Bytes;

use crate::codec::CodecKind;
use crate::error::{SinkError, SourceError};

/// One encoded media frame (a video picture or an audio packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The encoded bytes as a decoder takes them (VP8/VP9 frame, Opus packet, H.264 access
    /// unit in Annex-B form with start codes).
    pub data: Bytes,
    /// Presentation time from the start of the stream.
    pub timestamp: Duration,
    /// How long the frame lasts (the gap to the next frame).
    pub duration: Duration,
    /// Whether a decoder can start at this frame (always true for audio).
    pub keyframe: bool,
}

/// Where frames come from: a file, a generator, an encoder.
///
/// Sources are sans-IO and unpaced: [`next_frame`](Self::next_frame) returns the next frame at
/// once; the runner ([`crate::runner::send_track`]) sleeps until each frame's timestamp.
pub trait MediaSource: Send {
    /// The codec of every frame this source yields.
    fn codec(&self) -> CodecKind;

    /// The next frame, `Ok(None)` at the end of the stream.
    ///
    /// Timestamps never go backwards (a looping source keeps counting).
    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError>;

    /// The receiver needs a keyframe (PLI/FIR): the next frame returned should be one.
    ///
    /// File sources skip ahead to their next keyframe; an encoder would force one.
    fn request_keyframe(&mut self);
}

/// Where received frames go: a file writer, a decoder, a test collector.
pub trait MediaSink: Send {
    /// Takes one complete frame, in decode order.
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError>;

    /// The stream ended: flush and finalize (headers with counts, last pages).
    fn finish(&mut self) -> Result<(), SinkError>;
}

/// Helper for file sources: optional looping with continuous timestamps.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoopClock {
    /// Added to every frame timestamp of the current pass.
    offset: Duration,
    /// End of the last frame returned (timestamp + duration), in stream time.
    end: Duration,
}

impl LoopClock {
    /// Stamps a frame of the current pass (its `timestamp` is relative to the file start).
    pub(crate) fn stamp(&mut self, mut frame: Frame) -> Frame {
        frame.timestamp += self.offset;
        self.end = self.end.max(frame.timestamp + frame.duration);
        frame
    }

    /// Starts the next pass right after the last frame.
    pub(crate) fn wrap(&mut self) {
        self.offset = self.end;
    }
}
