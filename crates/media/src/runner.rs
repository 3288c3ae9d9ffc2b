//! Tokio glue: the tasks that drive a [`RtpSendStream`] from a [`MediaSource`] and a
//! [`RtpReceiveStream`] into a [`MediaSink`] over a transport.
//!
//! The transport is abstracted by [`RtpWriter`] (the send side of a track: transport-tokio's
//! `RtpSender`) and [`RtpReader`] (the receive side: `RtpReceiver`). SRTP happens below them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rtcp::packet::Packet as RtcpPacket;
use rtp::packet::Packet;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use crate::error::{PacketizeError, SinkError, SourceError};
use crate::frame::{MediaSink, MediaSource};
use crate::receiver::{ReceiveConfig, RtcpBatch, RtpReceiveStream};
use crate::sender::{ntp_time, RtpSendStream, SendConfig};
use crate::stats::{ReceiverStats, SenderStats};

/// A transport error, boxed (the runner only passes it on).
pub type TransportError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The send side of an RTP track on some transport.
#[async_trait]
pub trait RtpWriter: Send + Sync {
    /// Sends one RTP packet (the transport protects it with SRTP).
    async fn write_rtp(&self, packet: &Packet) -> Result<(), TransportError>;
    /// Sends an RTCP compound packet.
    async fn write_rtcp(
        &self,
        packets: &[Box<dyn RtcpPacket + Send + Sync>],
    ) -> Result<(), TransportError>;
    /// The next RTCP compound packet about our SSRC; `None` once the transport is closed.
    /// Must be cancel-safe (it is raced against timers).
    async fn read_rtcp(&mut self) -> Option<RtcpBatch>;
}

/// What the receive side of a track delivers: media, or RTCP from the remote sender.
#[derive(Debug)]
#[non_exhaustive]
pub enum Received {
    /// An RTP packet of the track (unprotected).
    Rtp(Packet),
    /// An RTCP compound packet the remote sender sent about its own SSRC (sender reports:
    /// they give the receiver's reports their LSR/DLSR, from which the sender gets an RTT).
    Rtcp(RtcpBatch),
}

/// The receive side of an RTP track on some transport.
///
/// RTP and the remote sender's RTCP come through one method because the runner waits for
/// both at once (two `&mut self` reads could not be raced against each other).
#[async_trait]
pub trait RtpReader: Send + Sync {
    /// The next RTP packet of this track, or RTCP from its sender, whichever comes first;
    /// `None` once the track ended (no more RTP will come). Must be cancel-safe.
    async fn read(&mut self) -> Option<Received>;
    /// Sends an RTCP compound packet (feedback to the sender).
    async fn write_rtcp(
        &self,
        packets: &[Box<dyn RtcpPacket + Send + Sync>],
    ) -> Result<(), TransportError>;
}

/// Why [`send_track`] stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendTrackError {
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A frame could not be packetized (or the configuration is invalid).
    #[error(transparent)]
    Packetize(#[from] PacketizeError),
    /// The transport refused a packet.
    #[error("transport: {0}")]
    Transport(TransportError),
}

/// Why [`receive_track`] stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveTrackError {
    /// The sink failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// Timing of the send task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    /// Time between sender reports.
    pub report_interval: Duration,
    /// How long to keep answering NACKs after the last frame.
    pub linger: Duration,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            report_interval: Duration::from_secs(1),
            linger: Duration::from_secs(1),
        }
    }
}

fn wall_clock_ntp() -> u64 {
    ntp_time(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

/// Sends a source's frames at their timestamps until it ends (then lingers to answer NACKs),
/// answering NACK with retransmissions, PLI/FIR with a keyframe, and sending sender reports.
///
/// Returns the sender's counters.
pub async fn send_track<S, W>(
    source: S,
    writer: W,
    config: SendConfig,
    options: SendOptions,
) -> Result<SenderStats, SendTrackError>
where
    S: MediaSource,
    W: RtpWriter,
{
    let (live, _) = watch::channel(SenderStats::default());
    send_track_observed(source, writer, config, options, &live).await
}

/// [`send_track`] that also publishes the sender's counters on `live` while it runs (after
/// every wake-up that changed them), for live per-track statistics.
pub async fn send_track_observed<S, W>(
    mut source: S,
    mut writer: W,
    config: SendConfig,
    options: SendOptions,
    live: &watch::Sender<SenderStats>,
) -> Result<SenderStats, SendTrackError>
where
    S: MediaSource,
    W: RtpWriter,
{
    let mut stream = RtpSendStream::new(config)?;
    let start = Instant::now();
    let mut next_frame = source.next_frame()?;
    let mut next_report = start + options.report_interval;
    let mut linger_until: Option<Instant> = None;
    let mut rtcp_open = true;
    loop {
        let frame_due = next_frame.as_ref().map(|f| start + f.timestamp);
        let deadline = [frame_due, Some(next_report), linger_until]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(next_report);
        tokio::select! {
            batch = writer.read_rtcp(), if rtcp_open => match batch {
                Some(batch) => stream.handle_rtcp(&batch, Instant::now().into_std()),
                None => rtcp_open = false,
            },
            () = sleep_until(deadline) => {}
        }
        let now = Instant::now();
        if stream.take_keyframe_request() {
            source.request_keyframe();
            if next_frame.as_ref().is_some_and(|f| !f.keyframe) {
                next_frame = source.next_frame()?;
            }
        }
        while let Some(retransmit) = stream.poll_retransmit() {
            writer
                .write_rtp(&retransmit)
                .await
                .map_err(SendTrackError::Transport)?;
        }
        while let Some(frame) = next_frame.take_if(|f| start + f.timestamp <= now) {
            for packet in stream.send_frame(&frame, now.into_std())? {
                writer
                    .write_rtp(&packet)
                    .await
                    .map_err(SendTrackError::Transport)?;
            }
            next_frame = source.next_frame()?;
        }
        if now >= next_report {
            next_report = now + options.report_interval;
            if let Some(sr) = stream.sender_report(now.into_std(), wall_clock_ntp()) {
                let batch: RtcpBatch = vec![Box::new(sr)];
                writer
                    .write_rtcp(&batch)
                    .await
                    .map_err(SendTrackError::Transport)?;
            }
        }
        publish(live, stream.stats());
        if next_frame.is_none() {
            let until = *linger_until.get_or_insert(now + options.linger);
            if now >= until {
                break;
            }
        }
    }
    publish(live, stream.stats());
    Ok(stream.stats().clone())
}

/// Publishes `now` on `live` if it changed (no wake-up for watchers otherwise).
fn publish<T: Clone + PartialEq>(live: &watch::Sender<T>, now: &T) {
    live.send_if_modified(|seen| {
        let changed = seen != now;
        if changed {
            seen.clone_from(now);
        }
        changed
    });
}

/// Receives a track until the reader ends: reorders, requests retransmissions and keyframes,
/// sends receiver reports (with LSR/DLSR from the sender reports the reader delivers), and writes complete frames to the sink (finished at the end).
///
/// RTCP write failures are logged and ignored (feedback is best effort). Returns the
/// receiver's counters.
pub async fn receive_track<R, K>(
    reader: R,
    sink: K,
    config: ReceiveConfig,
) -> Result<ReceiverStats, ReceiveTrackError>
where
    R: RtpReader,
    K: MediaSink,
{
    let (live, _) = watch::channel(ReceiverStats::default());
    receive_track_observed(reader, sink, config, &live).await
}

/// [`receive_track`] that also publishes the receiver's counters on `live` while it runs
/// (after every wake-up that changed them), for live per-track statistics.
pub async fn receive_track_observed<R, K>(
    mut reader: R,
    mut sink: K,
    config: ReceiveConfig,
    live: &watch::Sender<ReceiverStats>,
) -> Result<ReceiverStats, ReceiveTrackError>
where
    R: RtpReader,
    K: MediaSink,
{
    let mut stream = RtpReceiveStream::new(config);
    loop {
        let timeout = stream.poll_timeout().map(Instant::from_std);
        let mut ended = false;
        tokio::select! {
            input = reader.read() => match input {
                Some(Received::Rtp(packet)) => {
                    if let Err(reason) = stream.handle_rtp(packet, Instant::now().into_std()) {
                        tracing::trace!(%reason, "RTP packet dropped");
                    }
                }
                Some(Received::Rtcp(batch)) => {
                    stream.handle_rtcp(&batch, Instant::now().into_std());
                }
                None => ended = true,
            },
            () = sleep_until(timeout.unwrap_or_else(Instant::now)), if timeout.is_some() => {
                stream.handle_timeout(Instant::now().into_std());
            }
        }
        if ended {
            break;
        }
        while let Some(frame) = stream.poll_frame() {
            sink.write_frame(&frame)?;
        }
        if let Some(batch) = stream.poll_rtcp(Instant::now().into_std()) {
            if let Err(error) = reader.write_rtcp(&batch).await {
                tracing::debug!(%error, "RTCP feedback not sent");
            }
        }
        publish(live, stream.stats());
    }
    stream.finish();
    while let Some(frame) = stream.poll_frame() {
        sink.write_frame(&frame)?;
    }
    sink.finish()?;
    publish(live, stream.stats());
    Ok(stream.stats().clone())
}
