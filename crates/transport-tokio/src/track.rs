//! RTP tracks: [`RtpSender`] (from [`PeerConnection::add_track`](crate::PeerConnection::add_track))
//! and [`RtpReceiver`] (from [`PeerEvent::Track`](crate::PeerEvent::Track)), and their
//! negotiated [`RtpParameters`].
//!
//! Handles talk to the packet path directly (no hop through the driver task): a sender
//! protects and writes on the promoted ICE path itself; a receiver's packets are pushed into
//! its bounded queue by the generation readers. The driver only updates what a handle sees
//! (parameters, the transport's SRTP, closed) through a `watch` channel.

use std::sync::Arc;

use session_core::sdp::{Codec, Direction, MediaKind};
use tokio::sync::{mpsc, watch};

use crate::error::TrackError;
use crate::rtp_path::{RtcpPackets, SrtpOut};

/// RTP packets queued per receiver; beyond that the newest packet is dropped and counted
/// ([`MediaStats::queue_dropped`](crate::MediaStats::queue_dropped)).
pub const RTP_QUEUE: usize = 1024;
/// Compound RTCP packets queued per sender or receiver (same overflow policy).
pub const RTCP_QUEUE: usize = 64;

/// What was negotiated for one side of a transceiver.
///
/// Fields may be added: build one with `..Default::default()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RtpParameters {
    /// Negotiated codecs, in preference order, with the payload types on the wire (RTX
    /// entries included, `apt=` in their fmtp).
    pub codecs: Vec<Codec>,
    /// Negotiated header extensions: (id, URI).
    pub header_extensions: Vec<(u8, String)>,
    /// Sender: our SSRC. Receiver: the remote's media SSRC from its SDP, 0 if it announced
    /// none (the path then routes by MID or payload type).
    pub ssrc: u32,
    /// RTX SSRC (sender: ours, video; receiver: the remote's `a=ssrc-group:FID`, if any).
    pub rtx_ssrc: Option<u32>,
    /// The m-section's mid.
    pub mid: String,
    /// The negotiated direction from our point of view, once an exchange completed.
    pub direction: Option<Direction>,
}

/// What the driver tells a track handle.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrackLink {
    /// Set once negotiated.
    pub(crate) params: Option<RtpParameters>,
    /// The transport's SRTP, once DTLS is up.
    pub(crate) out: Option<Arc<SrtpOut>>,
    /// The peer connection closed.
    pub(crate) closed: bool,
}

/// Waits until `ready` holds for the link, or the link closes.
async fn wait_link<T>(
    link: &watch::Receiver<TrackLink>,
    mut ready: impl FnMut(&TrackLink) -> Option<T>,
) -> Result<T, TrackError> {
    {
        let l = link.borrow();
        if l.closed {
            return Err(TrackError::Closed);
        }
        if let Some(t) = ready(&l) {
            return Ok(t);
        }
    }
    let mut link = link.clone();
    let mut out = None;
    link.wait_for(|l| {
        if l.closed {
            return true;
        }
        out = ready(l);
        out.is_some()
    })
    .await
    .map_err(|_| TrackError::Closed)?;
    out.ok_or(TrackError::Closed)
}

/// The sending side of a transceiver (W3C `RTCRtpSender`), returned by
/// [`PeerConnection::add_track`](crate::PeerConnection::add_track).
///
/// Packets written before DTLS is connected wait for it (the write call does not return until
/// the transport's SRTP is ready). Writes go to the promoted ICE path; while an ICE restart
/// switches paths, packets keep going out on the old one until the new one is promoted.
#[derive(Debug)]
pub struct RtpSender {
    kind: MediaKind,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    link: watch::Receiver<TrackLink>,
    feedback: mpsc::Receiver<RtcpPackets>,
}

impl RtpSender {
    pub(crate) fn new(
        kind: MediaKind,
        ssrc: u32,
        rtx_ssrc: Option<u32>,
        link: watch::Receiver<TrackLink>,
        feedback: mpsc::Receiver<RtcpPackets>,
    ) -> Self {
        Self {
            kind,
            ssrc,
            rtx_ssrc,
            link,
            feedback,
        }
    }

    /// Our SSRC for this track (fixed for the transceiver's life, across ICE restarts).
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Our RTX SSRC (video).
    pub fn rtx_ssrc(&self) -> Option<u32> {
        self.rtx_ssrc
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// The negotiated parameters; waits until the first offer/answer exchange that includes
    /// this track completed.
    pub async fn parameters(&self) -> Result<RtpParameters, TrackError> {
        wait_link(&self.link, |l| l.params.clone()).await
    }

    async fn out(&self) -> Result<Arc<SrtpOut>, TrackError> {
        let (out, sends) = wait_link(&self.link, |l| match (&l.out, &l.params) {
            (Some(out), Some(p)) => Some((
                Arc::clone(out),
                p.direction.is_some_and(session_core::transceiver::sends),
            )),
            _ => None,
        })
        .await?;
        if sends {
            Ok(out)
        } else {
            Err(TrackError::NotSending)
        }
    }

    /// Protects and sends one RTP packet. Its SSRC must be [`ssrc`](Self::ssrc) or
    /// [`rtx_ssrc`](Self::rtx_ssrc); payload types and header extension ids are the
    /// application's (take them from [`parameters`](Self::parameters)). Waits until the
    /// transport's SRTP is ready.
    pub async fn write_rtp(&self, packet: &rtp::packet::Packet) -> Result<(), TrackError> {
        let ssrc = packet.header.ssrc;
        if ssrc != self.ssrc && Some(ssrc) != self.rtx_ssrc {
            return Err(TrackError::ForeignSsrc(ssrc));
        }
        self.out().await?.write_rtp(packet).await
    }

    /// Protects and sends one compound RTCP packet (e.g. a sender report). Waits until the
    /// transport's SRTP is ready.
    pub async fn write_rtcp(
        &self,
        packets: &[Box<dyn rtcp::packet::Packet + Send + Sync>],
    ) -> Result<(), TrackError> {
        let out = wait_link(&self.link, |l| l.out.clone()).await?;
        out.write_rtcp(packets).await
    }

    /// The next RTCP feedback about our SSRCs (NACK, PLI, FIR, receiver report blocks): the
    /// packets of one received compound packet that name this sender's SSRC. `None` once the
    /// peer connection closed.
    pub async fn read_rtcp(&mut self) -> Option<Vec<Box<dyn rtcp::packet::Packet + Send + Sync>>> {
        self.feedback.recv().await
    }
}

/// The receiving side of a transceiver (W3C `RTCRtpReceiver` with its track), delivered by
/// [`PeerEvent::Track`](crate::PeerEvent::Track) when the remote starts sending.
///
/// Overflow policy: up to [`RTP_QUEUE`] packets wait; beyond that the newest is dropped and
/// counted. Packets come unprotected, in arrival order (reordering is the jitter buffer's job).
#[derive(Debug)]
pub struct RtpReceiver {
    kind: MediaKind,
    mid: String,
    params: RtpParameters,
    link: watch::Receiver<TrackLink>,
    pub(crate) rtp: mpsc::Receiver<rtp::packet::Packet>,
    pub(crate) rtcp: mpsc::Receiver<RtcpPackets>,
}

impl RtpReceiver {
    pub(crate) fn new(
        kind: MediaKind,
        params: RtpParameters,
        link: watch::Receiver<TrackLink>,
        rtp: mpsc::Receiver<rtp::packet::Packet>,
        rtcp: mpsc::Receiver<RtcpPackets>,
    ) -> Self {
        Self {
            kind,
            mid: params.mid.clone(),
            params,
            link,
            rtp,
            rtcp,
        }
    }

    /// Audio or video.
    pub fn kind(&self) -> MediaKind {
        self.kind
    }

    /// The m-section's mid.
    pub fn mid(&self) -> &str {
        &self.mid
    }

    /// The parameters negotiated when the track arrived (remote payload types and SSRCs).
    pub fn parameters(&self) -> &RtpParameters {
        &self.params
    }

    /// The next RTP packet, unprotected; `None` once the peer connection closed.
    pub async fn read_rtp(&mut self) -> Option<rtp::packet::Packet> {
        self.rtp.recv().await
    }

    /// The next RTCP packets the remote sent about its own SSRC on this track (sender
    /// reports, SDES, BYE); `None` once the peer connection closed.
    pub async fn read_rtcp(&mut self) -> Option<Vec<Box<dyn rtcp::packet::Packet + Send + Sync>>> {
        self.rtcp.recv().await
    }

    /// Protects and sends one compound RTCP packet (receiver reports, NACK, PLI, FIR) to the
    /// remote sender. Waits until the transport's SRTP is ready.
    pub async fn write_rtcp(
        &self,
        packets: &[Box<dyn rtcp::packet::Packet + Send + Sync>],
    ) -> Result<(), TrackError> {
        let out = wait_link(&self.link, |l| l.out.clone()).await?;
        out.write_rtcp(packets).await
    }
}
