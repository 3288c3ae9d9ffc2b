//! The driver's side of RTP tracks: `add_track`, `Track` events, SRTP setup once DTLS is up,
//! and keeping every track handle and the routing table in step with negotiation.

use std::collections::HashMap;
use std::sync::Arc;

use session_core::sdp::codecs::EXT_SDES_MID;
use session_core::sdp::{MediaDesc, MediaKind, SessionDesc};
use session_core::signaling::SignalingState;
use session_core::transceiver::TransceiverId;
use session_core::transport::TransportId;
use tokio::sync::{mpsc, watch};

use super::Driver;
use crate::error::{PeerConnectionError, TransportError};
use crate::event::PeerEvent;
use crate::rtp_path::{self, MediaShared, ReceiverSink, SrtpOut};
use crate::signaling::Signaling;
use crate::srtp::SrtpKeys;
use crate::stats::MediaStats;
use crate::track::{RtpParameters, RtpReceiver, RtpSender, TrackLink, RTCP_QUEUE, RTP_QUEUE};

/// The media state the driver owns.
#[derive(Debug, Default)]
pub(crate) struct MediaIo {
    shared: Arc<MediaShared>,
    /// Each transport's outbound SRTP, once DTLS is up.
    out: HashMap<TransportId, Arc<SrtpOut>>,
    senders: HashMap<TransceiverId, watch::Sender<TrackLink>>,
    receivers: HashMap<TransceiverId, watch::Sender<TrackLink>>,
    /// Remote tracks waiting for the exchange to complete (their parameters are the answer's).
    pending: Vec<PendingTrack>,
    closed: bool,
}

/// A remote track whose queues already fill, announced once signaling is stable again.
#[derive(Debug)]
struct PendingTrack {
    id: TransceiverId,
    mid: String,
    kind: MediaKind,
    link: watch::Receiver<TrackLink>,
    rtp: mpsc::Receiver<rtp::packet::Packet>,
    rtcp: mpsc::Receiver<crate::rtp_path::RtcpPackets>,
}

impl MediaIo {
    pub(crate) fn stats(&self) -> MediaStats {
        use std::sync::atomic::Ordering::Relaxed;
        let c = &self.shared.counters;
        MediaStats {
            rtp_packets_in: c.rtp_in.load(Relaxed),
            rtcp_packets_in: c.rtcp_in.load(Relaxed),
            auth_failed: c.auth_failed.load(Relaxed),
            replayed: c.replayed.load(Relaxed),
            malformed: c.malformed.load(Relaxed),
            unroutable: c.unroutable.load(Relaxed),
            queue_dropped: c.queue_dropped.load(Relaxed),
            rtp_packets_out: c.rtp_out.load(Relaxed),
            rtcp_packets_out: c.rtcp_out.load(Relaxed),
            dropped_before_srtp: 0,
        }
    }
}

/// Is `id` usable as an `a=msid` token?
fn valid_msid_token(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Parses a description's SDP (ours or the peer's, already validated by the session).
fn parsed(desc: Option<session_core::signal::SessionDescription>) -> Option<SessionDesc> {
    desc.and_then(|d| session_core::sdp::parse(&d.sdp).ok())
}

/// Header extensions both descriptions carry for this m-section (the answer's subset, with the
/// offer's ids).
fn negotiated_extensions(
    local: Option<&MediaDesc>,
    remote: Option<&MediaDesc>,
) -> Vec<(u8, String)> {
    let (Some(local), Some(remote)) = (local, remote) else {
        return remote
            .or(local)
            .map(|m| {
                m.extmaps
                    .iter()
                    .filter_map(|e| Some((u8::try_from(e.id).ok()?, e.uri.clone())))
                    .collect()
            })
            .unwrap_or_default();
    };
    local
        .extmaps
        .iter()
        .filter(|l| {
            remote
                .extmaps
                .iter()
                .any(|r| r.id == l.id && r.uri == l.uri)
        })
        .filter_map(|e| Some((u8::try_from(e.id).ok()?, e.uri.clone())))
        .collect()
}

/// The remote's RTX SSRC for `ssrc`, from `a=ssrc-group:FID`.
fn remote_rtx(m: &MediaDesc, ssrc: u32) -> Option<u32> {
    m.ssrc_groups
        .iter()
        .find(|g| g.semantics.eq_ignore_ascii_case("FID") && g.ssrcs.first() == Some(&ssrc))
        .and_then(|g| g.ssrcs.get(1).copied())
}

impl<S: Signaling> Driver<S> {
    /// `add_track`: a transceiver that sends (negotiation follows), and its sender handle.
    pub(super) fn add_track(
        &mut self,
        kind: MediaKind,
        stream_id: &str,
        track_id: &str,
    ) -> Result<RtpSender, PeerConnectionError> {
        for id in [stream_id, track_id] {
            if !valid_msid_token(id) {
                return Err(PeerConnectionError::InvalidTrackId(id.to_owned()));
            }
        }
        if self.session.is_closed() {
            return Err(PeerConnectionError::Closed);
        }
        let id = self.session.add_track(kind);
        self.session.set_msid(id, stream_id, track_id);
        let Some(t) = self.session.transceivers().get(id.index() as usize) else {
            return Err(PeerConnectionError::Closed);
        };
        let (ssrc, rtx) = (t.ssrc, t.rtx_ssrc);
        let (fb_tx, fb_rx) = mpsc::channel(RTCP_QUEUE);
        {
            let mut routes = self.media.shared.routes_mut();
            routes.senders.insert(ssrc, fb_tx.clone());
            if let Some(rtx) = rtx {
                routes.senders.insert(rtx, fb_tx);
            }
        }
        let (link, link_rx) = watch::channel(TrackLink::default());
        self.media.senders.insert(id, link);
        self.sync_media();
        Ok(RtpSender::new(kind, ssrc, rtx, link_rx, fb_rx))
    }

    /// The session's `Track` event: the track's queues start filling now; its receiver handle
    /// reaches the application once the exchange completed (the answer fixes its parameters).
    pub(super) fn on_track(&mut self, transceiver: TransceiverId, mid: String, kind: MediaKind) {
        if self.media.closed {
            return;
        }
        let (rtp_tx, rtp_rx) = mpsc::channel(RTP_QUEUE);
        let (rtcp_tx, rtcp_rx) = mpsc::channel(RTCP_QUEUE);
        self.media.shared.routes_mut().receivers.insert(
            transceiver.index(),
            ReceiverSink {
                rtp: rtp_tx,
                rtcp: rtcp_tx,
            },
        );
        let (link, link_rx) = watch::channel(TrackLink::default());
        self.media.receivers.insert(transceiver, link);
        self.media.pending.retain(|p| p.id != transceiver);
        self.media.pending.push(PendingTrack {
            id: transceiver,
            mid,
            kind,
            link: link_rx,
            rtp: rtp_rx,
            rtcp: rtcp_rx,
        });
        self.sync_media();
    }

    /// Hands the pending remote tracks to the application if signaling is stable.
    fn announce_tracks(&mut self) {
        if self.session.signaling_state() != SignalingState::Stable {
            return;
        }
        for p in std::mem::take(&mut self.media.pending) {
            let params = self.receiver_parameters(p.id, &p.mid);
            self.emit(PeerEvent::Track(RtpReceiver::new(
                p.kind, params, p.link, p.rtp, p.rtcp,
            )));
        }
    }

    fn receiver_parameters(&self, id: TransceiverId, mid: &str) -> RtpParameters {
        let local = parsed(self.session.local_description());
        let remote = parsed(self.session.remote_description());
        let rm = remote.as_ref().and_then(|d| d.media_by_mid(mid));
        let lm = local.as_ref().and_then(|d| d.media_by_mid(mid));
        let t = self.session.transceivers().get(id.index() as usize);
        let ssrc = t.and_then(|t| t.remote_ssrcs.first().copied()).unwrap_or(0);
        RtpParameters {
            codecs: t
                .map(|t| t.codecs.clone())
                .filter(|c| !c.is_empty())
                .or_else(|| rm.map(|m| m.codecs.clone()))
                .unwrap_or_default(),
            header_extensions: negotiated_extensions(lm, rm),
            ssrc,
            rtx_ssrc: rm.and_then(|m| remote_rtx(m, ssrc)),
            mid: mid.to_owned(),
            direction: t.and_then(|t| t.current_direction),
        }
    }

    pub(super) fn on_srtp(
        &mut self,
        transport: TransportId,
        result: Result<Option<Box<SrtpKeys>>, TransportError>,
    ) {
        match result {
            Ok(Some(keys)) => {
                let Some(switch) = self.transport_switch(transport) else {
                    return; // closed meanwhile
                };
                tracing::info!(%transport, profile = ?keys.profile, "SRTP ready");
                let (inbound, outbound) =
                    rtp_path::split(*keys, Arc::clone(&switch), Arc::clone(&self.media.shared));
                switch.set_media(inbound);
                self.media.out.insert(transport, outbound);
                self.sync_media();
            }
            Ok(None) => tracing::debug!(%transport, "DTLS negotiated no SRTP profile"),
            Err(e) => {
                tracing::warn!(%transport, error = %e, "SRTP setup failed");
                self.emit(PeerEvent::TransportError(e));
            }
        }
    }

    /// The transport an m-section's media travels on: its BUNDLE group's, else its own.
    fn transport_of(&self, mid: &str, remote: Option<&SessionDesc>) -> Option<TransportId> {
        let tag = remote
            .and_then(|d| d.bundle_group_of(mid))
            .and_then(|g| g.first())
            .map_or(mid, String::as_str);
        let transports = self.session.transports();
        transports
            .iter()
            .find(|t| t.tag == tag)
            .or_else(|| (transports.len() == 1).then(|| &transports[0]))
            .map(|t| t.id)
    }

    /// Brings every track handle and the routing table in step with the session (after a
    /// negotiation, a new track, or SRTP becoming ready).
    pub(super) fn sync_media(&mut self) {
        if self.media.closed {
            return;
        }
        let local = parsed(self.session.current_local_description());
        let remote = parsed(self.session.current_remote_description());
        let mut mid_ext = None;
        let mut routes = Vec::new();
        for t in self.session.transceivers() {
            let Some(mid) = t.mid.as_deref() else {
                continue;
            };
            let lm = local.as_ref().and_then(|d| d.media_by_mid(mid));
            let rm = remote.as_ref().and_then(|d| d.media_by_mid(mid));
            let negotiated = lm.is_some() && rm.is_some() && !t.stopped;
            let extensions = negotiated_extensions(lm, rm);
            if negotiated && mid_ext.is_none() {
                mid_ext = extensions
                    .iter()
                    .find(|(_, uri)| uri == EXT_SDES_MID)
                    .map(|(id, _)| *id);
            }
            let out = self
                .transport_of(mid, remote.as_ref())
                .and_then(|tr| self.media.out.get(&tr).cloned());
            if let Some(link) = self.media.senders.get(&t.id) {
                // A sender added to a transceiver that was already negotiated without sending
                // (`add_track` reusing a remote-created recvonly transceiver) is not negotiated
                // for itself until an exchange lets it send: until then its handle waits
                // instead of seeing the old recvonly parameters (and refusing writes).
                let sends = t
                    .current_direction
                    .is_some_and(session_core::transceiver::sends);
                let included = sends || link.borrow().params.is_some();
                let params = (negotiated && included).then(|| RtpParameters {
                    codecs: t.codecs.clone(),
                    header_extensions: extensions.clone(),
                    ssrc: t.ssrc,
                    rtx_ssrc: t.rtx_ssrc,
                    mid: mid.to_owned(),
                    direction: t.current_direction,
                });
                link.send_modify(|l| {
                    l.params = params;
                    l.out.clone_from(&out);
                });
            }
            if let Some(link) = self.media.receivers.get(&t.id) {
                link.send_modify(|l| l.out.clone_from(&out));
                if negotiated {
                    routes.push((
                        t.id.index(),
                        rtp_path::receiver_route(mid, &t.remote_ssrcs, &t.codecs),
                    ));
                }
            }
        }
        self.media
            .shared
            .routes_mut()
            .table
            .rebuild(routes.iter().map(|(k, r)| (*k, r)), mid_ext);
        self.announce_tracks();
    }

    /// The peer connection closed: every track handle sees it, queues end.
    pub(super) fn close_media(&mut self) {
        self.media.closed = true;
        for link in self
            .media
            .senders
            .values()
            .chain(self.media.receivers.values())
        {
            link.send_modify(|l| {
                l.closed = true;
                l.out = None;
            });
        }
        self.media.out.clear();
        self.media.pending.clear();
        let mut routes = self.media.shared.routes_mut();
        routes.receivers.clear();
        routes.senders.clear();
        routes.table.rebuild([], None);
    }

    pub(super) fn media_stats(&self) -> MediaStats {
        self.media.stats()
    }

    fn transport_switch(&self, transport: TransportId) -> Option<Arc<crate::switch::SwitchConn>> {
        self.transports
            .get(&transport)
            .map(|t| Arc::clone(t.switch_conn()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use session_core::sdp::{Extmap, SsrcGroup};

    fn media(sdp_ext: &[(u16, &str)]) -> MediaDesc {
        let fingerprint = vec!["AB"; 32].join(":");
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
             m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n\
             a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\n\
             a=fingerprint:sha-256 {fingerprint}\r\na=setup:actpass\r\n\
             a=rtpmap:96 VP8/90000\r\n"
        );
        let mut m = session_core::sdp::parse(&sdp)
            .expect("test SDP")
            .media
            .remove(0);
        m.extmaps = sdp_ext
            .iter()
            .map(|(id, uri)| Extmap {
                id: *id,
                direction: None,
                uri: (*uri).to_owned(),
            })
            .collect();
        m
    }

    #[test]
    fn msid_tokens() {
        assert!(valid_msid_token("stream-1"));
        assert!(valid_msid_token("{a0b1}"));
        for bad in ["", "a b", "a\tb", "a\r\nb", &"x".repeat(65)] {
            assert!(!valid_msid_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn extensions_are_the_intersection() {
        let offer = media(&[(1, "urn:a"), (4, EXT_SDES_MID), (5, "urn:c")]);
        let answer = media(&[(4, EXT_SDES_MID), (5, "urn:other")]);
        assert_eq!(
            negotiated_extensions(Some(&offer), Some(&answer)),
            vec![(4, EXT_SDES_MID.to_owned())]
        );
        // One side only (a track before the exchange completed): that side's list.
        assert_eq!(negotiated_extensions(None, Some(&answer)).len(), 2);
        // Ids above 255 cannot be on the wire.
        let wide = media(&[(256, "urn:x")]);
        assert!(negotiated_extensions(Some(&wide), None).is_empty());
    }

    #[test]
    fn rtx_from_fid_group() {
        let mut m = media(&[]);
        m.ssrc_groups = vec![SsrcGroup {
            semantics: "FID".to_owned(),
            ssrcs: vec![10, 11],
        }];
        assert_eq!(remote_rtx(&m, 10), Some(11));
        assert_eq!(remote_rtx(&m, 11), None);
    }
}
