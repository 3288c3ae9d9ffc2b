//! The demo's media: a VP8 video track and an Opus audio track from the samples embedded in
//! the binary, looping, sent by the caller while the data transfer and the ICE restart happen;
//! the callee counts the frames that arrive and the longest gap between two of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use media::{
    CodecKind, Frame, IvfSource, MediaSink, MediaSource, OggOpusSource, ReceiverStats, SenderStats,
    SinkError, SourceError,
};
use session_core::sdp::MediaKind;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use transport_tokio::{LocalTrack, MediaTrackError, PeerConnection, RtpReceiver};

use crate::timeline::Timeline;

/// The VP8 sample (320x240, 30 fps, 120 frames), embedded so the binary needs no files.
const VP8_SAMPLE: &[u8] = include_bytes!("../../media/samples/vp8.ivf");
/// The Opus sample (201 packets of 20 ms).
const OPUS_SAMPLE: &[u8] = include_bytes!("../../media/samples/opus.ogg");

/// A source that ends when told to (the samples loop forever otherwise).
struct Stoppable<S> {
    inner: S,
    stop: Arc<AtomicBool>,
}

impl<S: MediaSource> MediaSource for Stoppable<S> {
    fn codec(&self) -> CodecKind {
        self.inner.codec()
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        if self.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        self.inner.next_frame()
    }

    fn request_keyframe(&mut self) {
        self.inner.request_keyframe();
    }
}

/// What a receiving sink saw.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Arrivals {
    /// Frames written.
    pub(crate) frames: u64,
    last: Option<Instant>,
    /// The longest time between two frames.
    pub(crate) longest_gap: Duration,
}

/// A sink that only counts frames and the gaps between them (the demo has no display).
struct Counting(Arc<Mutex<Arrivals>>);

impl MediaSink for Counting {
    fn write_frame(&mut self, _frame: &Frame) -> Result<(), SinkError> {
        let now = Instant::now();
        if let Ok(mut a) = self.0.lock() {
            a.frames += 1;
            if let Some(last) = a.last {
                a.longest_gap = a.longest_gap.max(now - last);
            }
            a.last = Some(now);
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// The caller's two tracks, sending.
pub(crate) struct MediaSend {
    video: LocalTrack,
    audio: LocalTrack,
    stop: Arc<AtomicBool>,
}

/// Adds the looping sample tracks to the caller (before the data channel, so one offer
/// carries everything).
pub(crate) async fn start(caller: &PeerConnection) -> Result<MediaSend, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let video = IvfSource::new(Bytes::from_static(VP8_SAMPLE))
        .map_err(|e| format!("the embedded VP8 sample: {e}"))?
        .looping(true);
    let audio = OggOpusSource::new(Bytes::from_static(OPUS_SAMPLE))
        .map_err(|e| format!("the embedded Opus sample: {e}"))?
        .looping(true);
    let video = caller
        .add_media_track(
            Stoppable {
                inner: video,
                stop: Arc::clone(&stop),
            },
            "demo",
            "video",
        )
        .await
        .map_err(|e| e.to_string())?;
    let audio = caller
        .add_media_track(
            Stoppable {
                inner: audio,
                stop: Arc::clone(&stop),
            },
            "demo",
            "audio",
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(MediaSend { video, audio, stop })
}

impl MediaSend {
    /// Ends both sources now; the tracks keep answering NACKs for a second.
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for both tracks to end (after [`stop`](Self::stop)); (video, audio) counters.
    pub(crate) async fn finished(self) -> Result<(SenderStats, SenderStats), String> {
        let wait = Duration::from_secs(5);
        let done = |t: LocalTrack| async move {
            tokio::time::timeout(wait, t.finished())
                .await
                .map_err(|_| "a media track did not end".to_owned())?
                .map_err(|e| e.to_string())
        };
        Ok((done(self.video).await?, done(self.audio).await?))
    }
}

type ReceiveTask = JoinHandle<Result<ReceiverStats, MediaTrackError>>;

/// The callee's receiving side: each remote track is received into a counting sink.
pub(crate) struct MediaReceive {
    /// (video, audio) arrivals, live.
    pub(crate) video: Arc<Mutex<Arrivals>>,
    /// See `video`.
    pub(crate) audio: Arc<Mutex<Arrivals>>,
    tasks: Arc<Mutex<Vec<(bool, ReceiveTask)>>>,
    acceptor: JoinHandle<()>,
}

/// Receives every track that `tracks` delivers (the callee's `PeerEvent::Track`s).
pub(crate) fn receive(
    mut tracks: mpsc::UnboundedReceiver<RtpReceiver>,
    tl: Arc<Timeline>,
) -> MediaReceive {
    let video = Arc::new(Mutex::new(Arrivals::default()));
    let audio = Arc::new(Mutex::new(Arrivals::default()));
    let tasks = Arc::new(Mutex::new(Vec::new()));
    let (v, a, t) = (Arc::clone(&video), Arc::clone(&audio), Arc::clone(&tasks));
    let acceptor = tokio::spawn(async move {
        while let Some(track) = tracks.recv().await {
            let codec = track.media_codec();
            tl.note(
                "callee",
                format!("remote {:?} track ({codec:?}) arrived", track.kind()),
            );
            let is_video = codec.is_some_and(|c| c.media_kind() == MediaKind::Video);
            let arrivals = Arc::clone(if is_video { &v } else { &a });
            let task = tokio::spawn(track.receive_into(Counting(arrivals)));
            if let Ok(mut t) = t.lock() {
                t.push((is_video, task));
            }
        }
    });
    MediaReceive {
        video,
        audio,
        tasks,
        acceptor,
    }
}

impl MediaReceive {
    /// Arrivals so far: (video, audio).
    pub(crate) fn arrivals(&self) -> (Arrivals, Arrivals) {
        let get = |m: &Arc<Mutex<Arrivals>>| m.lock().map(|a| *a).unwrap_or_default();
        (get(&self.video), get(&self.audio))
    }

    /// After the peer connection closed: the receivers' counters (video, audio), when both
    /// tracks arrived.
    pub(crate) async fn finished(self) -> (Option<ReceiverStats>, Option<ReceiverStats>) {
        self.acceptor.abort();
        let tasks = self
            .tasks
            .lock()
            .map(|mut t| std::mem::take(&mut *t))
            .unwrap_or_default();
        let mut out = (None, None);
        for (is_video, task) in tasks {
            let stats = match tokio::time::timeout(Duration::from_secs(5), task).await {
                Ok(Ok(Ok(stats))) => Some(stats),
                _ => None,
            };
            if is_video {
                out.0 = stats;
            } else {
                out.1 = stats;
            }
        }
        out
    }
}
