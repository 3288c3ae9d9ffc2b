//! Media of `tether peer`: `--send FILE` sends a media file as a track, `--record DIR`
//! writes every received track to a file named after its codec.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use media::{
    CodecKind, Frame, H264Sink, H264Source, IvfSink, IvfSource, MediaSink, MediaSource,
    OggOpusSink, OggOpusSource, ReceiverStats, SinkError, SourceError,
};
use tokio::task::JoinHandle;
use transport_tokio::{MediaTrackError, RtpReceiver, RtpSender, TrackError};

use crate::error::CliError;

/// Frame rate given to H.264 Annex-B files (the format has no timing).
pub const H264_FPS: u32 = 30;

/// Media options of `tether peer` (kept apart from [`PeerOptions`](crate::PeerOptions) so
/// that code building those keeps compiling).
#[derive(Debug, Clone, Default)]
pub struct PeerMediaOptions {
    /// Send this file as a track: IVF (VP8, VP9), Ogg Opus (`.ogg`, `.opus`) or H.264
    /// Annex-B (`.h264`, `.264`, played at [`H264_FPS`]). The peer hangs up once it was sent.
    pub send_file: Option<PathBuf>,
    /// Play the file in a loop (until the session ends) instead of once.
    pub loop_file: bool,
    /// Write each received track to this directory: `<mid>.ivf` (VP8, VP9), `<mid>.ogg`
    /// (Opus), `<mid>.h264` (H.264).
    pub record: Option<PathBuf>,
}

/// A media file opened as a source, whichever its container.
#[derive(Debug)]
pub enum FileSource {
    /// IVF: VP8 or VP9.
    Ivf(IvfSource),
    /// Ogg Opus.
    Ogg(OggOpusSource),
    /// H.264 Annex-B.
    H264(H264Source),
}

impl FileSource {
    /// Opens `path` by its extension; `looping` plays it forever.
    pub fn open(path: &Path, looping: bool) -> Result<Self, CliError> {
        let bad = |e: SourceError| CliError::Config(format!("cannot use {}: {e}", path.display()));
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "ivf" => Self::Ivf(IvfSource::open(path).map_err(bad)?.looping(looping)),
            "ogg" | "opus" | "oga" => {
                Self::Ogg(OggOpusSource::open(path).map_err(bad)?.looping(looping))
            }
            "h264" | "264" => Self::H264(
                H264Source::open(path, H264_FPS)
                    .map_err(bad)?
                    .looping(looping),
            ),
            _ => {
                return Err(CliError::Config(format!(
                    "cannot send {}: not .ivf (VP8/VP9), .ogg/.opus (Opus) or .h264 (H.264)",
                    path.display()
                )))
            }
        })
    }

    fn inner(&mut self) -> &mut dyn MediaSource {
        match self {
            Self::Ivf(s) => s,
            Self::Ogg(s) => s,
            Self::H264(s) => s,
        }
    }
}

impl MediaSource for FileSource {
    fn codec(&self) -> CodecKind {
        match self {
            Self::Ivf(s) => s.codec(),
            Self::Ogg(s) => s.codec(),
            Self::H264(s) => s.codec(),
        }
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, SourceError> {
        self.inner().next_frame()
    }

    fn request_keyframe(&mut self) {
        self.inner().request_keyframe();
    }
}

/// A file sink of the container that fits a codec.
enum FileSink {
    Ivf(IvfSink<BufWriter<File>>),
    Ogg(OggOpusSink<BufWriter<File>>),
    H264(H264Sink<BufWriter<File>>),
}

impl MediaSink for FileSink {
    fn write_frame(&mut self, frame: &Frame) -> Result<(), SinkError> {
        match self {
            Self::Ivf(s) => s.write_frame(frame),
            Self::Ogg(s) => s.write_frame(frame),
            Self::H264(s) => s.write_frame(frame),
        }
    }

    fn finish(&mut self) -> Result<(), SinkError> {
        match self {
            Self::Ivf(s) => s.finish(),
            Self::Ogg(s) => s.finish(),
            Self::H264(s) => s.finish(),
        }
    }
}

/// The file a track of `codec` with this mid is recorded to.
pub fn record_path(dir: &Path, mid: &str, codec: CodecKind) -> PathBuf {
    let safe: String = mid
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let ext = match codec {
        CodecKind::Vp8 | CodecKind::Vp9 => "ivf",
        CodecKind::Opus => "ogg",
        _ => "h264",
    };
    dir.join(format!("track-{safe}.{ext}"))
}

/// A track being recorded.
pub(crate) type Recording = JoinHandle<Result<ReceiverStats, MediaTrackError>>;

/// Starts writing `track` to a file in `dir`; the file is finished when the track ends.
pub(crate) fn record(track: RtpReceiver, dir: &Path) -> Result<(PathBuf, Recording), CliError> {
    let codec = track.media_codec().ok_or_else(|| {
        CliError::Failed(format!(
            "track {} has no codec this peer can record",
            track.mid()
        ))
    })?;
    let path = record_path(dir, track.mid(), codec);
    let io = |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let out = BufWriter::new(File::create(&path).map_err(io)?);
    let sink_error = |e: SinkError| CliError::Failed(format!("{}: {e}", path.display()));
    let sink = match codec {
        // The picture size is not signalled in SDP: the sink writes the one the first
        // keyframe declares.
        CodecKind::Vp8 | CodecKind::Vp9 => {
            FileSink::Ivf(IvfSink::new(out, codec, 0, 0, 90_000).map_err(sink_error)?)
        }
        // Opus in WebRTC is negotiated as stereo; 312 samples is the usual encoder delay.
        CodecKind::Opus => {
            FileSink::Ogg(OggOpusSink::new(out, 2, 312, 0x7e7e_0001).map_err(sink_error)?)
        }
        _ => FileSink::H264(H264Sink::new(out)),
    };
    Ok((path, tokio::spawn(track.receive_into(sink))))
}

/// One line about a finished recording.
pub(crate) fn describe_recording(path: &Path, stats: &ReceiverStats) -> String {
    format!(
        "recorded {}: {} frames ({} keyframes), {} packets, {} lost, {} recovered by NACK",
        path.display(),
        stats.frames_delivered,
        stats.keyframes_delivered,
        stats.packets_received,
        stats.packets_lost,
        stats.packets_recovered
    )
}

/// `--echo` for media: sends a remote track back on a new track of the same kind, packet by
/// packet (no decoding): payload types are mapped by codec name and clock rate, the SSRC is
/// ours, header extensions are dropped (their ids belong to the other direction), RTX is not
/// forwarded, and a keyframe request (PLI/FIR) from the peer about the echo is passed on to the
/// original sender as a PLI.
pub(crate) async fn echo_track(mut track: RtpReceiver, sender: RtpSender) {
    use rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
    use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

    let mut sender = sender;
    let Ok(out) = sender.parameters().await else {
        return;
    };
    let map: Vec<(u8, u8)> = track
        .parameters()
        .codecs
        .iter()
        .filter(|c| !c.name.eq_ignore_ascii_case("rtx"))
        .filter_map(|c| {
            out.codecs
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&c.name) && o.clock_rate == c.clock_rate)
                .map(|o| (c.payload_type, o.payload_type))
        })
        .collect();
    let ssrc = sender.ssrc();
    let mut remote_ssrc = track.parameters().ssrc;
    loop {
        tokio::select! {
            packet = track.read_rtp() => {
                let Some(mut p) = packet else { break };
                let Some(&(_, pt)) = map.iter().find(|(i, _)| *i == p.header.payload_type) else {
                    continue; // RTX or a codec the echo did not negotiate
                };
                remote_ssrc = p.header.ssrc;
                p.header.payload_type = pt;
                p.header.ssrc = ssrc;
                p.header.extension = false;
                p.header.extension_profile = 0;
                p.header.extensions.clear();
                match sender.write_rtp(&p).await {
                    Ok(()) => {}
                    // The peer renegotiated the echo away (recvonly/inactive): drop, go on.
                    Err(TrackError::NotSending) => {}
                    Err(TrackError::Closed) => break,
                    Err(e) => {
                        eprintln!("echo of the remote {:?} track stopped: {e}", track.kind());
                        break;
                    }
                }
            }
            feedback = sender.read_rtcp() => {
                let Some(batch) = feedback else { break };
                let wants_keyframe = batch.iter().any(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                });
                if wants_keyframe && remote_ssrc != 0 {
                    let pli: Vec<Box<dyn rtcp::packet::Packet + Send + Sync>> =
                        vec![Box::new(PictureLossIndication {
                            sender_ssrc: ssrc,
                            media_ssrc: remote_ssrc,
                        })];
                    let _ = track.write_rtcp(&pli).await;
                }
            }
        }
    }
}
