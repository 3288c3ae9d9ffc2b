//! The SRTP packet path of a DTLS transport.
//!
//! Inbound ([`SrtpIn`]): the reader task of every live ICE generation hands SRTP/SRTCP
//! datagrams to [`SrtpIn::on_datagram`] in place (no extra task hop). It unprotects them with
//! the transport's remote context (shared by the generations, so replay protection spans an
//! ICE restart), parses them, and routes them through the peer's [`MediaShared`] table to the
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
use webrtc_util::marshal::{Marshal, MarshalSize, Unmarshal};
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

fn lock(ctx: &Mutex<Context>) -> std::sync::MutexGuard<'_, Context> {
    ctx.lock().unwrap_or_else(|p| p.into_inner())
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
    remote: Mutex<Context>,
    media: Arc<MediaShared>,
    budget: SsrcBudget,
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
    let inbound = SrtpIn {
        profile: keys.profile,
        remote: Mutex::new(keys.remote),
        media: Arc::clone(&media),
        budget: SsrcBudget::default(),
    };
    let outbound = SrtpOut {
        local: Mutex::new(keys.local),
        switch,
        media,
    };
    (Arc::new(inbound), Arc::new(outbound))
}

impl SrtpIn {
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
        let mut buf = packet;
        let Ok(header) = rtp::header::Header::unmarshal(&mut buf) else {
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
        let plain = match lock(&self.remote).decrypt_rtp_with_header(packet, &header) {
            Ok(p) => p,
            Err(e) => return bump(failure_counter(c, &e)),
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
        let plain = match lock(&self.remote).decrypt_rtcp(packet) {
            Ok(p) => p,
            Err(e) => return bump(failure_counter(c, &e)),
        };
        let mut buf = plain;
        let Ok(packets) = rtcp::packet::unmarshal(&mut buf) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use webrtc_srtp::option::{srtcp_replay_protection, srtp_replay_protection};

    const KEY: [u8; 16] = [7; 16];
    const SALT: [u8; 12] = [9; 12];

    fn contexts() -> (Context, Context) {
        let p = ProtectionProfile::AeadAes128Gcm;
        let tx = Context::new(&KEY, &SALT, p, None, None).unwrap();
        let rx = Context::new(
            &KEY,
            &SALT,
            p,
            Some(srtp_replay_protection(64)),
            Some(srtcp_replay_protection(64)),
        )
        .unwrap();
        (tx, rx)
    }

    fn inbound(rx: Context, media: &Arc<MediaShared>) -> SrtpIn {
        SrtpIn {
            profile: ProtectionProfile::AeadAes128Gcm,
            remote: Mutex::new(rx),
            media: Arc::clone(media),
            budget: SsrcBudget::default(),
        }
    }

    fn packet(ssrc: u32, seq: u16, pt: u8, mid: Option<&str>) -> rtp::packet::Packet {
        let mut header = rtp::header::Header {
            version: 2,
            payload_type: pt,
            sequence_number: seq,
            timestamp: u32::from(seq) * 960,
            ssrc,
            ..Default::default()
        };
        if let Some(m) = mid {
            header
                .set_extension(4, Bytes::copy_from_slice(m.as_bytes()))
                .unwrap();
        }
        rtp::packet::Packet {
            header,
            payload: Bytes::from(vec![seq as u8; 100]),
        }
    }

    fn protect(tx: &mut Context, p: &rtp::packet::Packet) -> Vec<u8> {
        tx.encrypt_rtp_with_header(&p.marshal().unwrap(), &p.header)
            .unwrap()
            .to_vec()
    }

    fn count(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    #[test]
    fn unprotects_routes_and_counts_failures() {
        let (mut tx, rx) = contexts();
        let media = Arc::new(MediaShared::default());
        let (rtp_tx, mut rtp_rx) = mpsc::channel(2);
        let (rtcp_tx, _rtcp_rx) = mpsc::channel(2);
        {
            let mut r = media.routes_mut();
            let route = receiver_route("1", &[], &[]);
            r.table.rebuild([(3, &route)], Some(4));
            r.receivers.insert(
                3,
                ReceiverSink {
                    rtp: rtp_tx,
                    rtcp: rtcp_tx,
                },
            );
        }
        let path = inbound(rx, &media);
        let c = &media.counters;

        // Unknown SSRC, routed by MID and learned.
        let p1 = packet(42, 1, 96, Some("1"));
        path.on_datagram(&protect(&mut tx, &p1));
        let got = rtp_rx.try_recv().unwrap();
        assert_eq!(got.payload, p1.payload);
        assert_eq!(got.header.sequence_number, 1);
        // Now by SSRC alone.
        let p2 = packet(42, 2, 96, None);
        let raw2 = protect(&mut tx, &p2);
        path.on_datagram(&raw2);
        assert_eq!(rtp_rx.try_recv().unwrap().payload, p2.payload);
        // Replay of packet 2.
        path.on_datagram(&raw2);
        assert_eq!(count(&c.replayed), 1);
        // A flipped bit in the auth tag.
        let mut bad = protect(&mut tx, &packet(42, 3, 96, None));
        *bad.last_mut().unwrap() ^= 1;
        path.on_datagram(&bad);
        assert_eq!(count(&c.auth_failed), 1);
        // Garbage and truncations never panic.
        for len in 0..40 {
            path.on_datagram(&vec![0x80; len]);
            path.on_datagram(&raw2[..len.min(raw2.len())]);
        }
        path.on_datagram(&[0x80, 200, 0, 1, 0, 0, 0, 1]);
        // Shorter than an RTP header (12 + 12) or an SRTCP packet (1): malformed. Longer
        // truncations of packet 2 name a sequence number already accepted: replays (28).
        // Garbage with an unknown SSRC and payload type: unroutable, never decrypted.
        assert_eq!(count(&c.malformed), 25);
        assert_eq!(count(&c.replayed), 1 + 28);
        assert_eq!(count(&c.auth_failed), 1);
        assert_eq!(count(&c.unroutable), 28);
        // An unknown SSRC without a MID: unroutable, and never decrypted.
        let unroutable = count(&c.unroutable);
        path.on_datagram(&protect(&mut tx, &packet(99, 1, 96, None)));
        assert_eq!(count(&c.unroutable), unroutable + 1);
        // Queue of 2: the third packet is dropped (newest) and counted.
        for seq in 10..13 {
            path.on_datagram(&protect(&mut tx, &packet(42, seq, 96, None)));
        }
        assert_eq!(count(&c.queue_dropped), 1);
        assert_eq!(rtp_rx.try_recv().unwrap().header.sequence_number, 10);
        assert_eq!(rtp_rx.try_recv().unwrap().header.sequence_number, 11);
        assert!(rtp_rx.try_recv().is_err());
        assert_eq!(count(&c.rtp_in), 2 + 3);
    }

    #[test]
    fn rtcp_feedback_reaches_the_sender_of_its_media_ssrc() {
        use rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
        use rtcp::receiver_report::ReceiverReport;
        let (mut tx, rx) = contexts();
        let media = Arc::new(MediaShared::default());
        let (fb_tx, mut fb_rx) = mpsc::channel(4);
        media.routes_mut().senders.insert(1234, fb_tx);
        let path = inbound(rx, &media);
        let compound: RtcpPackets = vec![
            Box::new(ReceiverReport {
                ssrc: 1,
                ..Default::default()
            }),
            Box::new(PictureLossIndication {
                sender_ssrc: 1,
                media_ssrc: 1234,
            }),
        ];
        let raw = rtcp::packet::marshal(&compound).unwrap();
        let protected = tx.encrypt_rtcp(&raw).unwrap();
        path.on_datagram(&protected);
        let got = fb_rx.try_recv().unwrap();
        // The empty RR names nobody; the PLI names our SSRC.
        assert_eq!(got.len(), 1);
        assert!(got[0].as_any().is::<PictureLossIndication>());
        assert_eq!(count(&media.counters.unroutable), 1);
        // Replayed SRTCP is refused.
        path.on_datagram(&protected);
        assert_eq!(count(&media.counters.replayed), 1);
    }

    #[test]
    fn both_offered_profiles_round_trip_rtp_and_rtcp() {
        use rtcp::receiver_report::ReceiverReport;
        for (profile, salt) in [
            (ProtectionProfile::AeadAes128Gcm, 12),
            (ProtectionProfile::Aes128CmHmacSha1_80, 14),
        ] {
            let salt = vec![3u8; salt];
            let mut tx = Context::new(&KEY, &salt, profile, None, None).unwrap();
            let rx = Context::new(
                &KEY,
                &salt,
                profile,
                Some(srtp_replay_protection(64)),
                Some(srtcp_replay_protection(64)),
            )
            .unwrap();
            let media = Arc::new(MediaShared::default());
            let (rtp_tx, mut rtp_rx) = mpsc::channel(4);
            let (rtcp_tx, mut rtcp_rx) = mpsc::channel(4);
            {
                let mut r = media.routes_mut();
                let route = receiver_route("0", &[77], &[]);
                r.table.rebuild([(0, &route)], None);
                r.receivers.insert(
                    0,
                    ReceiverSink {
                        rtp: rtp_tx,
                        rtcp: rtcp_tx,
                    },
                );
            }
            let path = SrtpIn {
                profile,
                remote: Mutex::new(rx),
                media: Arc::clone(&media),
                budget: SsrcBudget::default(),
            };
            let p = packet(77, 1, 111, None);
            path.on_datagram(&protect(&mut tx, &p));
            assert_eq!(rtp_rx.try_recv().unwrap().payload, p.payload, "{profile:?}");
            // An empty RR from SSRC 77 names nobody; an SR from 77 names its receiver.
            let sr: RtcpPackets = vec![Box::new(rtcp::sender_report::SenderReport {
                ssrc: 77,
                ..Default::default()
            })];
            let raw = tx
                .encrypt_rtcp(&rtcp::packet::marshal(&sr).unwrap())
                .unwrap();
            assert!(raw.len() >= srtp::min_srtcp_len(profile));
            path.on_datagram(&raw);
            assert_eq!(rtcp_rx.try_recv().unwrap().len(), 1, "{profile:?}");
            let rr: RtcpPackets = vec![Box::new(ReceiverReport::default())];
            let raw = tx
                .encrypt_rtcp(&rtcp::packet::marshal(&rr).unwrap())
                .unwrap();
            path.on_datagram(&raw);
            assert_eq!(count(&media.counters.rtcp_in), 2);
            assert_eq!(count(&media.counters.unroutable), 1);
            assert_eq!(count(&media.counters.auth_failed), 0);
        }
    }

    /// A rough rate of the packet path on one core (protect; unprotect + route + queue), 1,200
    /// byte payloads, for orientation only (the criterion bench is the measurement):
    /// `cargo test -p tether-transport-tokio --lib packet_path_rate -- --ignored --nocapture`
    #[test]
    #[ignore = "timing, run by hand"]
    fn packet_path_rate() {
        const N: u16 = 50_000;
        for (profile, salt) in [
            (ProtectionProfile::AeadAes128Gcm, 12),
            (ProtectionProfile::Aes128CmHmacSha1_80, 14),
        ] {
            let salt = vec![3u8; salt];
            let ctx = |replay: bool| {
                let (a, b) = if replay {
                    (
                        Some(srtp_replay_protection(512)),
                        Some(srtcp_replay_protection(128)),
                    )
                } else {
                    (None, None)
                };
                Context::new(&KEY, &salt, profile, a, b).unwrap()
            };
            let media = Arc::new(MediaShared::default());
            let out = SrtpOut {
                local: Mutex::new(ctx(false)),
                switch: SwitchConn::new(),
                media: Arc::clone(&media),
            };
            let (rtp_tx, mut rtp_rx) = mpsc::channel(16);
            let (rtcp_tx, _rtcp_rx) = mpsc::channel(1);
            {
                let mut r = media.routes_mut();
                let route = receiver_route("0", &[77], &[]);
                r.table.rebuild([(0, &route)], None);
                r.receivers.insert(
                    0,
                    ReceiverSink {
                        rtp: rtp_tx,
                        rtcp: rtcp_tx,
                    },
                );
            }
            let path = SrtpIn {
                profile,
                remote: Mutex::new(ctx(true)),
                media: Arc::clone(&media),
                budget: SsrcBudget::default(),
            };
            let packets: Vec<_> = (0..N).map(|s| packet(77, s, 111, None)).collect();
            let start = std::time::Instant::now();
            let protected: Vec<Bytes> = packets
                .iter()
                .map(|p| out.protect_rtp(p).unwrap())
                .collect();
            let protect = start.elapsed();
            let start = std::time::Instant::now();
            for raw in &protected {
                path.on_datagram(raw);
                assert!(rtp_rx.try_recv().is_ok());
            }
            let unprotect = start.elapsed();
            let rate = |d: std::time::Duration| f64::from(N) / d.as_secs_f64();
            println!(
                "{profile:?}: protect {:.0} packets/s, unprotect+route {:.0} packets/s",
                rate(protect),
                rate(unprotect)
            );
        }
    }

    #[test]
    fn sequence_numbers_roll_over() {
        let (mut tx, rx) = contexts();
        let media = Arc::new(MediaShared::default());
        let (rtp_tx, mut rtp_rx) = mpsc::channel(8);
        let (rtcp_tx, _rtcp_rx) = mpsc::channel(1);
        {
            let mut r = media.routes_mut();
            let route = receiver_route("0", &[5], &[]);
            r.table.rebuild([(0, &route)], None);
            r.receivers.insert(
                0,
                ReceiverSink {
                    rtp: rtp_tx,
                    rtcp: rtcp_tx,
                },
            );
        }
        let path = inbound(rx, &media);
        // Across the 16-bit wrap: the rollover counter advances on both sides.
        for seq in (65_000u16..=u16::MAX).chain(0..1_000) {
            let p = packet(5, seq, 96, None);
            path.on_datagram(&protect(&mut tx, &p));
            let got = rtp_rx
                .try_recv()
                .unwrap_or_else(|_| panic!("seq {seq} dropped"));
            assert_eq!(got.payload, p.payload);
        }
        assert_eq!(count(&media.counters.auth_failed), 0);
    }

    #[test]
    fn unknown_ssrcs_are_admitted_up_to_the_budget() {
        let b = SsrcBudget::default();
        for s in 0..MAX_UNKNOWN_SSRCS as u32 {
            assert!(b.admit(s));
        }
        assert!(!b.admit(u32::MAX), "a new SSRC beyond the budget");
        assert!(b.admit(7), "a known one still passes");
    }

    #[test]
    fn padding_is_stripped_and_checked() {
        let header = rtp::header::Header {
            version: 2,
            padding: true,
            ..Default::default()
        };
        let mut raw = vec![0u8; 12];
        raw.extend_from_slice(&[1, 2, 3, 0, 0, 3]);
        assert_eq!(
            payload_of(&Bytes::from(raw.clone()), &header).unwrap(),
            &[1, 2, 3][..]
        );
        *raw.last_mut().unwrap() = 0;
        assert!(payload_of(&Bytes::from(raw.clone()), &header).is_none());
        *raw.last_mut().unwrap() = 7;
        assert!(payload_of(&Bytes::from(raw), &header).is_none());
    }
}
