//! Media tracks: the `media` crate's runners (pacing, packetization, retransmission, jitter
//! buffer, RTCP feedback) over this crate's RTP tracks.
//!
//! [`PeerConnection::add_media_track`] negotiates a track for a [`MediaSource`] and sends it;
//! [`RtpReceiver::receive_into`] writes a remote track into a [`MediaSink`]. Below them,
//! [`RtpSender`] and [`RtpReceiver`] implement the runner's [`RtpWriter`] and [`RtpReader`].

use async_trait::async_trait;
use media::runner::{
    receive_track_observed, send_track_observed, ReceiveTrackError, Received, RtpReader, RtpWriter,
    SendOptions, SendTrackError, TransportError as RunnerError,
};
use media::{CodecKind, MediaSink, MediaSource, NegotiationError, ReceiveConfig, SendConfig};
use media::{ReceiverStats, SenderStats};
use rtcp::packet::Packet as RtcpPacket;
use session_core::sdp::{Codec, MediaKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{PeerConnectionError, TrackError};
use crate::peer::PeerConnection;
use crate::track::{RtpParameters, RtpReceiver, RtpSender};

/// Why a media track stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaTrackError {
    /// The track's peer connection closed, or the track cannot send.
    #[error(transparent)]
    Track(#[from] TrackError),
    /// The negotiated codecs leave nothing this source or sink can use.
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationError),
    /// Sending stopped (source, packetizer or transport).
    #[error(transparent)]
    Send(#[from] SendTrackError),
    /// Receiving stopped (the sink failed).
    #[error(transparent)]
    Receive(#[from] ReceiveTrackError),
    /// The track's task was stopped ([`LocalTrack::stop`]) or panicked.
    #[error("the track's task ended early: {0}")]
    Aborted(String),
}

#[async_trait]
impl RtpWriter for RtpSender {
    async fn write_rtp(&self, packet: &rtp::packet::Packet) -> Result<(), RunnerError> {
        RtpSender::write_rtp(self, packet).await.map_err(Into::into)
    }

    async fn write_rtcp(
        &self,
        packets: &[Box<dyn RtcpPacket + Send + Sync>],
    ) -> Result<(), RunnerError> {
        RtpSender::write_rtcp(self, packets)
            .await
            .map_err(Into::into)
    }

    async fn read_rtcp(&mut self) -> Option<Vec<Box<dyn RtcpPacket + Send + Sync>>> {
        RtpSender::read_rtcp(self).await
    }
}

#[async_trait]
impl RtpReader for RtpReceiver {
    async fn read(&mut self) -> Option<Received> {
        // Both are cancel-safe channel reads. RTCP first: it is rare (about one sender report
        // a second), so it cannot starve RTP, and a report is never stuck behind a burst.
        // Once the RTCP queue is closed its branch is disabled; `None` comes from RTP.
        let (rtp, rtcp) = (&mut self.rtp, &mut self.rtcp);
        tokio::select! {
            biased;
            Some(batch) = rtcp.recv() => Some(Received::Rtcp(batch)),
            packet = rtp.recv() => packet.map(Received::Rtp),
        }
    }

    async fn write_rtcp(
        &self,
        packets: &[Box<dyn RtcpPacket + Send + Sync>],
    ) -> Result<(), RunnerError> {
        RtpReceiver::write_rtcp(self, packets)
            .await
            .map_err(Into::into)
    }
}

/// The negotiated codecs usable for `kind`: its entries, and the RTX entries (the media crate
/// picks the one whose `apt=` names the chosen payload type).
fn codecs_for(codecs: &[Codec], kind: CodecKind) -> Vec<Codec> {
    codecs
        .iter()
        .filter(|c| CodecKind::from_codec(c) == Some(kind) || c.name.eq_ignore_ascii_case("rtx"))
        .cloned()
        .collect()
}

fn extensions(params: &RtpParameters) -> Vec<(u16, String)> {
    params
        .header_extensions
        .iter()
        .map(|(id, uri)| (u16::from(*id), uri.clone()))
        .collect()
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    // A fixed start is still correct RTP; randomness only makes it harder to guess.
    let _ = getrandom::fill(&mut b);
    u32::from_be_bytes(b)
}

/// The send configuration for a source of codec `kind` over a negotiated sender.
pub(crate) fn send_config(
    params: &RtpParameters,
    kind: CodecKind,
) -> Result<SendConfig, NegotiationError> {
    let r = random_u32();
    SendConfig::negotiated(
        &codecs_for(&params.codecs, kind),
        &extensions(params),
        params.ssrc,
        params.rtx_ssrc,
        Some(params.mid.as_str()),
        (r >> 16) as u16,
        random_u32(),
    )
}

/// The result of a track's task; a stopped or panicked task is [`MediaTrackError::Aborted`].
async fn joined<S>(task: JoinHandle<Result<S, MediaTrackError>>) -> Result<S, MediaTrackError> {
    match task.await {
        Ok(result) => result,
        Err(e) => Err(MediaTrackError::Aborted(e.to_string())),
    }
}

/// A local media track: a [`MediaSource`] being paced, packetized and sent (see
/// [`PeerConnection::add_media_track`]). Dropping the handle does not stop the track.
#[derive(Debug)]
pub struct LocalTrack {
    ssrc: u32,
    kind: MediaKind,
    live: watch::Receiver<SenderStats>,
    task: JoinHandle<Result<SenderStats, MediaTrackError>>,
}

impl LocalTrack {
    /// The track's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// The sender's counters now (packets, frames, NACKs and PLIs answered, what the remote's
    /// receiver reports say: loss, jitter, RTT); all zero until the track is negotiated.
    pub fn stats(&self) -> SenderStats {
        self.live.borrow().clone()
    }

    /// Waits until the source ended and the last retransmissions were answered; the
    /// sender's counters.
    pub async fn finished(self) -> Result<SenderStats, MediaTrackError> {
        joined(self.task).await
    }

    /// Stops sending now (the m-section stays negotiated).
    pub fn stop(&self) {
        self.task.abort();
    }
}

/// A remote media track being received into a [`MediaSink`] on a task of its own (see
/// [`RtpReceiver::spawn_receive`]). Dropping the handle does not stop the track.
#[derive(Debug)]
pub struct RemoteTrack {
    kind: MediaKind,
    mid: String,
    live: watch::Receiver<ReceiverStats>,
    task: JoinHandle<Result<ReceiverStats, MediaTrackError>>,
}

impl RemoteTrack {
    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// The m-section's mid.
    pub fn mid(&self) -> &str {
        &self.mid
    }

    /// The receiver's counters now (packets, bytes, lost, jitter, frames, NACK and PLI sent).
    pub fn stats(&self) -> ReceiverStats {
        self.live.borrow().clone()
    }

    /// Waits until the track ended (the peer connection closed) and the sink is finished;
    /// the receiver's final counters.
    pub async fn finished(self) -> Result<ReceiverStats, MediaTrackError> {
        joined(self.task).await
    }

    /// Stops receiving now (the sink is not finished).
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl PeerConnection {
    /// Adds a track that sends `source` (W3C `addTrack` with a media source): negotiates an
    /// audio or video m-section for it, then paces the source's frames by their timestamps,
    /// packetizes them with the negotiated payload type, answers NACK (RTX when negotiated)
    /// and PLI/FIR (the source skips to a keyframe), and sends RTCP sender reports.
    ///
    /// The negotiated codecs must include the source's codec; otherwise the track ends with
    /// [`MediaTrackError::Negotiation`].
    pub async fn add_media_track<S>(
        &self,
        source: S,
        stream_id: &str,
        track_id: &str,
    ) -> Result<LocalTrack, PeerConnectionError>
    where
        S: MediaSource + 'static,
    {
        let codec = source.codec();
        let kind = codec.media_kind();
        let sender = self.add_track(kind, stream_id, track_id).await?;
        let ssrc = sender.ssrc();
        let (publish, live) = watch::channel(SenderStats::default());
        let task = tokio::spawn(async move {
            let params = sender.parameters().await?;
            let config = send_config(&params, codec)?;
            let options = SendOptions::default();
            Ok(send_track_observed(source, sender, config, options, &publish).await?)
        });
        Ok(LocalTrack {
            ssrc,
            kind,
            live,
            task,
        })
    }
}

impl RtpReceiver {
    /// Receives this track into `sink` until it ends (the peer connection closes): reorders,
    /// requests retransmissions (NACK) and keyframes (PLI) as negotiated, sends receiver
    /// reports, and writes complete frames in decode order. Returns the receiver's counters.
    pub async fn receive_into<K: MediaSink>(
        self,
        sink: K,
    ) -> Result<ReceiverStats, MediaTrackError> {
        let (live, _) = watch::channel(ReceiverStats::default());
        self.receive_observed(sink, &live).await
    }

    /// [`receive_into`](Self::receive_into) on a task of its own, with a handle that reads
    /// the receiver's counters while the track runs ([`RemoteTrack::stats`]).
    pub fn spawn_receive<K: MediaSink + Send + 'static>(self, sink: K) -> RemoteTrack {
        let (kind, mid) = (self.kind(), self.mid().to_owned());
        let (publish, live) = watch::channel(ReceiverStats::default());
        let task = tokio::spawn(async move { self.receive_observed(sink, &publish).await });
        RemoteTrack {
            kind,
            mid,
            live,
            task,
        }
    }

    async fn receive_observed<K: MediaSink>(
        self,
        sink: K,
        live: &watch::Sender<ReceiverStats>,
    ) -> Result<ReceiverStats, MediaTrackError> {
        let params = self.parameters().clone();
        let remote_ssrc = (params.ssrc != 0).then_some(params.ssrc);
        let config =
            ReceiveConfig::negotiated(&params.codecs, remote_ssrc, params.rtx_ssrc, random_u32())?;
        Ok(receive_track_observed(self, sink, config, live).await?)
    }

    /// The codec this track will be received with: the first negotiated codec the media
    /// crate supports (what [`receive_into`](Self::receive_into) uses).
    pub fn media_codec(&self) -> Option<CodecKind> {
        media::negotiated::select_codec(&self.parameters().codecs).map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec(pt: u8, name: &str, fmtp: Option<&str>) -> Codec {
        Codec {
            payload_type: pt,
            name: name.into(),
            clock_rate: 90_000,
            channels: None,
            fmtp: fmtp.map(Into::into),
            rtcp_fb: vec!["nack".into(), "nack pli".into()],
        }
    }

    #[test]
    fn the_sources_codec_is_chosen_not_the_first_negotiated_one() {
        let params = RtpParameters {
            codecs: vec![
                codec(98, "VP9", Some("profile-id=0")),
                codec(99, "rtx", Some("apt=98")),
                codec(96, "VP8", None),
                codec(97, "rtx", Some("apt=96")),
            ],
            ssrc: 1234,
            rtx_ssrc: Some(5678),
            mid: "0".into(),
            ..Default::default()
        };
        let config = send_config(&params, CodecKind::Vp8).unwrap();
        assert_eq!(config.packetizer.payload_type, 96);
        assert_eq!(config.packetizer.ssrc, 1234);
        assert_eq!(
            config.rtx.map(|r| (r.payload_type, r.ssrc)),
            Some((97, 5678))
        );
        assert!(matches!(
            send_config(&params, CodecKind::Opus),
            Err(NegotiationError::NoSupportedCodec)
        ));
    }
}
