//! The SRTP packet path of a DTLS transport.
//!
//! Inbound ([`SrtpIn`]): the reader task of every live ICE generation hands SRTP/SRTCP
//! datagrams to [`SrtpIn::on_datagram`] in place (no extra task hop). It unprotects them with
//! the transport's remote context (shared by the generations, so replay protection spans an
//! ICE restart; the replay windows are ours, see [`replay`], and move only for authentic
//! packets), parses them, and routes them through the peer's [`MediaShared`] table to the
//! receiver's or sender's bounded queue. Anything that fails is dropped and counted.
//!
//! Outbound ([`SrtpOut`]): [`RtpSender`](crate::RtpSender) and
//! [`RtpReceiver`](crate::RtpReceiver) protect with the local context and write on the
//! switchable connection, i.e. on the promoted ICE generation, like DTLS.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::mpsc;
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;
use webrtc_util::marshal::{Marshal, MarshalSize};
use webrtc_util::Conn;

use crate::error::TrackError;
use crate::route::{self, ReceiverKey, ReceiverRoute, RouteTable, Routed};
use crate::srtp::{self, SrtpKeys};
use crate::switch::SwitchConn;

/// Largest RTP packet marshalled on the stack before protection (beyond: on the heap).
const STACK_PACKET: usize = 1500;

/// A compound RTCP packet, parsed.
pub type RtcpPackets = Vec<Box<dyn rtcp::packet::Packet + Send + Sync>>;

/// Counters of the media path of a peer connection.
#[derive(Debug, Default)]
pub(crate) struct MediaCounters {
    pub(crate) rtp_in: AtomicU64,
    pub(crate) rtcp_in: AtomicU64,
    pub(crate) auth_failed: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) unroutable: AtomicU64,
    pub(crate) queue_dropped: AtomicU64,
    pub(crate) rtp_out: AtomicU64,
    pub(crate) rtcp_out: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The queues of one remote track.
#[derive(Debug, Clone)]
pub(crate) struct ReceiverSink {
    pub(crate) rtp: mpsc::Sender<rtp::packet::Packet>,
    pub(crate) rtcp: mpsc::Sender<RtcpPackets>,
}

/// The routing state shared by the driver (which rebuilds it after each negotiation) and the
/// generation readers (which look up every packet).
#[derive(Debug, Default)]
pub(crate) struct Routes {
    pub(crate) table: RouteTable,
    pub(crate) receivers: HashMap<ReceiverKey, ReceiverSink>,
    /// Feedback queues of our senders, by our SSRC (media and RTX).
    pub(crate) senders: HashMap<u32, mpsc::Sender<RtcpPackets>>,
}

/// The media state of a peer connection shared with its packet paths.
#[derive(Debug, Default)]
pub(crate) struct MediaShared {
    pub(crate) routes: RwLock<Routes>,
    pub(crate) counters: MediaCounters,
}

impl MediaShared {
    fn routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access for the driver.
    pub(crate) fn routes_mut(&self) -> std::sync::RwLockWriteGuard<'_, Routes> {
        self.routes.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The counter an unprotect failure goes to: a replay, a packet too short or unparsable, or
/// (anything else) a failed authentication.
fn failure_counter<'a>(c: &'a MediaCounters, e: &webrtc_srtp::Error) -> &'a AtomicU64 {
    use webrtc_srtp::Error as E;
    match e {
        E::SrtpSsrcDuplicated(..) | E::SrtcpSsrcDuplicated(..) | E::ErrDuplicated => &c.replayed,
        E::ErrTooShortRtp
        | E::ErrTooShortRtcp
        | E::SrtpTooSmall(..)
        | E::SrtcpTooSmall(..)
        | E::Rtcp(_)
        | E::Util(_) => &c.malformed,
        _ => &c.auth_failed,
    }
}

/// The inbound half of a transport's SRTP: unprotect and route.
pub(crate) struct SrtpIn {
    profile: ProtectionProfile,
    remote: Mutex<Remote>,
    media: Arc<MediaShared>,
    budget: SsrcBudget,
}

/// The peer's context (without replay protection of its own) and our replay windows.
struct Remote {
    ctx: Context,
    replay: Replay,
}

/// Most distinct SSRCs the remote context may create state for outside the SDP's (webrtc-srtp
/// keeps per-SSRC state, created before authentication, and never forgets it).
pub(crate) const MAX_UNKNOWN_SSRCS: usize = 1024;

/// The SSRCs admitted to unprotection without being announced (RTP routed by MID or payload
/// type; every SRTCP sender). Beyond [`MAX_UNKNOWN_SSRCS`], new ones are dropped.
#[derive(Debug, Default)]
struct SsrcBudget {
    seen: Mutex<std::collections::HashSet<u32>>,
}

impl SsrcBudget {
    fn admit(&self, ssrc: u32) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(&ssrc) {
            return true;
        }
        if seen.len() >= MAX_UNKNOWN_SSRCS {
            return false;
        }
        seen.insert(ssrc);
        true
    }
}

impl std::fmt::Debug for SrtpIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpIn")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

/// The outbound half of a transport's SRTP: protect and write on the promoted path.
pub(crate) struct SrtpOut {
    local: Mutex<Context>,
    switch: Arc<SwitchConn>,
    media: Arc<MediaShared>,
}

impl std::fmt::Debug for SrtpOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrtpOut").finish_non_exhaustive()
    }
}

/// Splits a transport's keys into its inbound and outbound halves.
pub(crate) fn split(
    keys: SrtpKeys,
    switch: Arc<SwitchConn>,
    media: Arc<MediaShared>,
) -> (Arc<SrtpIn>, Arc<SrtpOut>) {
    let inbound = SrtpIn::new(keys.profile, keys.remote, Arc::clone(&media));
    let outbound = SrtpOut {
        local: Mutex::new(keys.local),
        switch,
        media,
    };
    (Arc::new(inbound), Arc::new(outbound))
}

impl SrtpIn {
    /// The inbound path of the peer's context `remote` (which must have no replay protection
    /// of its own: ours is kept here, after authentication).
    fn new(profile: ProtectionProfile, remote: Context, media: Arc<MediaShared>) -> Self {
        Self {
            profile,
            remote: Mutex::new(Remote {
                ctx: remote,
                replay: Replay::new(srtp::SRTP_REPLAY_WINDOW, srtp::SRTCP_REPLAY_WINDOW),
            }),
            media,
            budget: SsrcBudget::default(),
        }
    }

    /// Unprotects and routes one SRTP or SRTCP datagram (RFC 7983 said RTP/RTCP). Never
    /// panics on peer input: failures are counted.
    pub(crate) fn on_datagram(&self, packet: &[u8]) {
        if route::is_rtcp(packet) {
            self.on_rtcp(packet);
        } else {
            self.on_rtp(packet);
        }
    }

    fn on_rtp(&self, packet: &[u8]) {
        let c = &self.media.counters;
        // Checked before `rtp` parses it: header extension elements that overrun the packet
        // made it panic (found by the `demux` fuzz target).
        let Ok(header) = ::media::parse_rtp_header(packet) else {
            return bump(&c.malformed);
        };
        if header.version != 2 {
            return bump(&c.malformed);
        }
        // Route first (the header is in the clear): a packet nobody receives costs no
        // decryption and creates no SRTP state.
        let routes = self.media.routes();
        let routed = routes.table.route_ssrc(header.ssrc).or_else(|| {
            let mid = routes
                .table
                .mid_ext()
                .and_then(|id| header.get_extension(id));
            routes
                .table
                .route_unknown(mid.as_deref(), header.payload_type)
        });
        let Some(routed) = routed else {
            return bump(&c.unroutable);
        };
        let Some(sink) = routes.receivers.get(&routed.key()) else {
            return bump(&c.unroutable);
        };
        let learn = !matches!(routed, Routed::Ssrc(_));
        if learn && !self.budget.admit(header.ssrc) {
            return bump(&c.unroutable);
        }
        let plain = {
            let mut remote = lock(&self.remote);
            let (index, new) = remote.replay.check_rtp(header.ssrc, header.sequence_number);
            if !new {
                return bump(&c.replayed);
            }
            match remote.ctx.decrypt_rtp_with_header(packet, &header) {
                Ok(p) if remote.replay.accept_rtp(header.ssrc, index) => p,
                Ok(_) => return bump(&c.replayed),
                Err(e) => return bump(failure_counter(c, &e)),
            }
        };
        let Some(payload) = payload_of(&plain, &header) else {
            return bump(&c.malformed);
        };
        bump(&c.rtp_in);
        let ssrc = header.ssrc;
        // Overflow policy: drop the newest packet (this one) and count it.
        if sink
            .rtp
            .try_send(rtp::packet::Packet { header, payload })
            .is_err()
        {
            bump(&c.queue_dropped);
        }
        drop(routes);
        if learn {
            self.media.routes_mut().table.learn(ssrc, routed.key());
        }
    }

    fn on_rtcp(&self, packet: &[u8]) {
        let c = &self.media.counters;
        if packet.len() < srtp::min_srtcp_len(self.profile) {
            return bump(&c.malformed);
        }
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        if !self.budget.admit(ssrc) {
            return bump(&c.unroutable);
        }
        if !srtp::srtcp_encrypted(self.profile, packet) {
            // Never authentic here (see `srtcp_encrypted`): refused before the context,
            // which would take it without checking its tag.
            return bump(&c.auth_failed);
        }
        let index = srtp::srtcp_index(self.profile, packet);
        let plain = {
            let mut remote = lock(&self.remote);
            if !remote.replay.check_rtcp(ssrc, index) {
                return bump(&c.replayed);
            }
            match remote.ctx.decrypt_rtcp(packet) {
                Ok(p) if remote.replay.accept_rtcp(ssrc, index) => p,
                Ok(_) => return bump(&c.replayed),
                Err(e) => return bump(failure_counter(c, &e)),
            }
        };
        // Checked before `rtcp` parses it: a feedback packet too short for its SSRCs made
        // `rtcp` 0.17 panic (found by the `rtcp` fuzz target).
        let Ok(packets) = ::media::parse_rtcp(&plain) else {
            return bump(&c.malformed);
        };
        bump(&c.rtcp_in);
        self.route_rtcp(packets);
    }

    /// Delivers each packet of a compound to every sender whose SSRC it is about (NACK, PLI,
    /// FIR, report blocks) and every receiver whose remote SSRC it names (SR, SDES, BYE).
    fn route_rtcp(&self, packets: RtcpPackets) {
        let c = &self.media.counters;
        let routes = self.media.routes();
        let mut out: Vec<(Target, RtcpPackets)> = Vec::new();
        for p in packets {
            let mut targets: Vec<Target> = Vec::new();
            for ssrc in p.destination_ssrc() {
                let t = if routes.senders.contains_key(&ssrc) {
                    Target::Sender(ssrc)
                } else if let Some(k) = routes.table.receiver_of(ssrc) {
                    Target::Receiver(k)
                } else {
                    continue;
                };
                if !targets.contains(&t) {
                    targets.push(t);
                }
            }
            if targets.is_empty() {
                bump(&c.unroutable);
                continue;
            }
            for t in targets {
                match out.iter_mut().find(|(o, _)| *o == t) {
                    Some((_, v)) => v.push(p.cloned()),
                    None => out.push((t, vec![p.cloned()])),
                }
            }
        }
        for (t, batch) in out {
            let tx = match t {
                Target::Sender(ssrc) => routes.senders.get(&ssrc),
                Target::Receiver(k) => routes.receivers.get(&k).map(|s| &s.rtcp),
            };
            // Overflow policy: drop the newest batch and count it.
            if tx.is_none_or(|tx| tx.try_send(batch).is_err()) {
                bump(&c.queue_dropped);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Sender(u32),
    Receiver(ReceiverKey),
}

/// The payload of an unprotected RTP packet, without its header and padding.
fn payload_of(plain: &Bytes, header: &rtp::header::Header) -> Option<Bytes> {
    let start = header.marshal_size();
    let mut end = plain.len();
    if start > end {
        return None;
    }
    if header.padding {
        let pad = usize::from(*plain.last()?);
        if pad == 0 || pad > end - start {
            return None;
        }
        end -= pad;
    }
    Some(plain.slice(start..end))
}

impl SrtpOut {
    /// Protects and writes one RTP packet on the promoted path.
    pub(crate) async fn write_rtp(&self, packet: &rtp::packet::Packet) -> Result<(), TrackError> {
        let protected = self.protect_rtp(packet)?;
        self.send(&protected).await?;
        bump(&self.media.counters.rtp_out);
        Ok(())
    }

    /// Marshals (on the stack when it fits an Ethernet MTU) and protects one RTP packet.
    fn protect_rtp(&self, packet: &rtp::packet::Packet) -> Result<Bytes, TrackError> {
        let size = packet.marshal_size();
        let mut stack = [0u8; STACK_PACKET];
        let mut heap = Vec::new();
        let raw: &mut [u8] = if size <= STACK_PACKET {
            &mut stack[..size]
        } else {
            heap.resize(size, 0);
            &mut heap
        };
        let n = packet
            .marshal_to(raw)
            .map_err(|e| TrackError::Marshal(e.to_string()))?;
        lock(&self.local)
            .encrypt_rtp_with_header(&raw[..n], &packet.header)
            .map_err(|e| TrackError::Protect(e.to_string()))
    }

    /// Protects and writes one compound RTCP packet on the promoted path.
    pub(crate) async fn write_rtcp(
        &self,
        packets: &[Box<dyn rtcp::packet::Packet + Send + Sync>],
    ) -> Result<(), TrackError> {
        let raw = rtcp::packet::marshal(packets).map_err(|e| TrackError::Marshal(e.to_string()))?;
        let protected = lock(&self.local)
            .encrypt_rtcp(&raw)
            .map_err(|e| TrackError::Protect(e.to_string()))?;
        self.send(&protected).await?;
        bump(&self.media.counters.rtcp_out);
        Ok(())
    }

    async fn send(&self, data: &[u8]) -> Result<(), TrackError> {
        // Not before the DTLS records that complete the peer's handshake.
        self.switch.media_writable().await;
        // The switchable connection drops (and counts) datagrams while no path is promoted;
        // it only fails once closed.
        self.switch
            .send(data)
            .await
            .map(|_| ())
            .map_err(|_| TrackError::Closed)
    }
}

/// The routing entry of a receiver, for [`RouteTable::rebuild`].
pub(crate) fn receiver_route(
    mid: &str,
    ssrcs: &[u32],
    codecs: &[session_core::sdp::Codec],
) -> ReceiverRoute {
    ReceiverRoute {
        mid: mid.to_owned(),
        ssrcs: ssrcs.to_vec(),
        payload_types: codecs.iter().map(|c| c.payload_type).collect(),
    }
}

mod replay;
#[cfg(test)]
mod tests;

use replay::Replay;
