//! The `demux` target: datagrams read on an ICE path.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use rtc_dtls::extension::extension_use_srtp::SrtpProtectionProfile;
use session_core::transport::{DtlsRole, TransportId};
use tokio::sync::mpsc;
use webrtc_util::marshal::{Marshal, MarshalSize};

use super::{t0, Input};
use crate::demux::PacketKind;
use crate::dtls::DtlsIdentity;
use crate::plane::Plane;
use crate::route::{self, ReceiverKey};
use crate::rtp_path::{self, MediaShared, ReceiverSink, RtcpPackets, SrtpIn};
use crate::srtp::{self, SrtpMaterial};
use crate::switch::SwitchConn;

/// The SSRCs the simulated remote SDP announces: receiver 0 (audio, mid "0") and receiver 1
/// (video and its RTX, mid "1"); receiver 2 (mid "2") announces none.
pub(crate) const AUDIO_SSRC: u32 = 0x1111_1111;
pub(crate) const VIDEO_SSRC: u32 = 0x2222_2222;
pub(crate) const RTX_SSRC: u32 = 0x2222_2223;
/// Our senders' SSRCs (feedback goes to them).
pub(crate) const SENDER_SSRCS: [u32; 2] = [0x3333_3333, 0x3333_3334];
/// The negotiated id of the MID header extension (unless the options byte turns it off).
pub(crate) const MID_EXT: u8 = 4;
/// The bounded queues of the receivers and senders (small: the overflow policy runs).
const QUEUE: usize = 4;

/// Options byte: the AES-CM/HMAC-SHA1-80 profile instead of AES-GCM.
pub(crate) const OPT_CM_PROFILE: u8 = 1;
/// Options byte: no MID header extension negotiated.
pub(crate) const OPT_NO_MID_EXT: u8 = 2;
/// Options byte: DTLS not started yet (datagrams wait in the early queue).
pub(crate) const OPT_DTLS_NOT_STARTED: u8 = 4;
/// Flags byte of a datagram: seal it with the peer's SRTP keys first (the input is the
/// plaintext RTP or RTCP), so that what follows authentication runs on fuzzed bytes.
pub(crate) const SEAL: u8 = 1;

/// A DTLS identity for the whole process (generating one per input would dominate).
pub(crate) fn identity() -> &'static DtlsIdentity {
    static ID: OnceLock<DtlsIdentity> = OnceLock::new();
    ID.get_or_init(|| DtlsIdentity::generate().expect("DTLS identity"))
}

/// The keying material both ends derive from (fixed: runs are reproducible).
fn material(profile: SrtpProtectionProfile, is_client: bool) -> SrtpMaterial {
    let len = srtp::material_len(profile).expect("an SRTP profile");
    SrtpMaterial {
        profile,
        material: (0..len).map(|i| i as u8 ^ 0x5a).collect(),
        is_client,
    }
}

/// Datagrams read on an ICE path: `[options] ([flags] [u16 length] [datagram])*` (a short
/// tail is one datagram; see the `OPT_*` and [`SEAL`] bits).
///
/// Each datagram goes where a generation's reader sends it ([`SwitchConn::read_path`]): its
/// RFC 7983 kind ([`PacketKind::of`]); DTLS to the transport's plane (a DTLS server waiting for
/// a ClientHello, or the early queue before DTLS starts); RTP/RTCP (RFC 5761 by payload type,
/// [`route::is_rtcp`]) to [`SrtpIn::on_datagram`]: unprotected with the transport's remote
/// context, parsed (`media::parse_rtcp` for RTCP), routed by SSRC, MID header extension or
/// payload type to bounded queues; anything else is dropped.
///
/// Invariants: each kind covers exactly its RFC 7983 first bytes; every SRTP/SRTCP datagram is
/// accounted for by a counter; an RTP packet reaches only the receiver its SSRC, MID or payload
/// type names, with version 2 and no more payload than the datagram carried; an RTCP packet
/// reaches only a sender or receiver it names; what the peer's keys sealed is never refused as
/// unauthentic (RTCP: at all; RTP: the first packet of an SSRC) nor as a replay (RTCP).
pub fn demux(data: &[u8]) {
    let mut input = Input::new(data);
    let options = input.u8();
    let mut path = Path::new(options);
    while !input.is_empty() {
        let flags = input.u8();
        let datagram = input.field();
        path.datagram(flags & SEAL != 0, datagram);
    }
}

/// One transport's receive path: its plane (DTLS) and its SRTP inbound half with the route
/// table of a peer connection with three receivers and two senders.
struct Path {
    options: u8,
    plane: Option<Plane>,
    /// The peer's keys: what it protects, our remote context unprotects.
    peer: Option<srtp::SrtpKeys>,
    srtp: Option<Arc<SrtpIn>>,
    media: Arc<MediaShared>,
    receivers: Vec<(
        ReceiverKey,
        mpsc::Receiver<rtp::packet::Packet>,
        mpsc::Receiver<RtcpPackets>,
    )>,
    senders: Vec<(u32, mpsc::Receiver<RtcpPackets>)>,
    /// SSRCs the peer's keys sealed RTP for so far.
    sealed_ssrcs: HashSet<u32>,
}

impl Path {
    fn new(options: u8) -> Self {
        let media = Arc::new(MediaShared::default());
        let mut receivers = Vec::new();
        let mut senders = Vec::new();
        {
            let mut r = media.routes_mut();
            let mut routes = [
                rtp_path::receiver_route("0", &[AUDIO_SSRC], &[]),
                rtp_path::receiver_route("1", &[VIDEO_SSRC, RTX_SSRC], &[]),
                rtp_path::receiver_route("2", &[], &[]),
            ];
            // Payload types: 111 is audio's alone, 97 and 102 video's, 96 ambiguous.
            routes[0].payload_types = vec![111];
            routes[1].payload_types = vec![96, 97, 102];
            routes[2].payload_types = vec![96, 98];
            let mid_ext = (options & OPT_NO_MID_EXT == 0).then_some(MID_EXT);
            r.table.rebuild(
                routes
                    .iter()
                    .enumerate()
                    .map(|(k, route)| (k as u32, route)),
                mid_ext,
            );
            for key in 0..routes.len() as ReceiverKey {
                let (rtp, rtp_rx) = mpsc::channel(QUEUE);
                let (rtcp, rtcp_rx) = mpsc::channel(QUEUE);
                r.receivers.insert(key, ReceiverSink { rtp, rtcp });
                receivers.push((key, rtp_rx, rtcp_rx));
            }
            for ssrc in SENDER_SSRCS {
                let (tx, rx) = mpsc::channel(QUEUE);
                r.senders.insert(ssrc, tx);
                senders.push((ssrc, rx));
            }
        }
        Self {
            options,
            plane: None,
            peer: None,
            srtp: None,
            media,
            receivers,
            senders,
            sealed_ssrcs: HashSet::new(),
        }
    }

    fn profile(&self) -> SrtpProtectionProfile {
        if self.options & OPT_CM_PROFILE != 0 {
            SrtpProtectionProfile::Srtp_Aes128_Cm_Hmac_Sha1_80
        } else {
            SrtpProtectionProfile::Srtp_Aead_Aes_128_Gcm
        }
    }

    /// The SRTP inbound half (made on the first SRTP datagram: the keys cost).
    fn srtp(&mut self) -> Arc<SrtpIn> {
        if let Some(s) = &self.srtp {
            return Arc::clone(s);
        }
        let profile = self.profile();
        let ours = srtp::derive(&material(profile, false))
            .expect("SRTP keys")
            .expect("an SRTP profile");
        let peer = srtp::derive(&material(profile, true))
            .expect("SRTP keys")
            .expect("an SRTP profile");
        let (inbound, _) = rtp_path::split(
            ours,
            SwitchConn::with_inbound(TransportId(0), mpsc::channel(1).0),
            Arc::clone(&self.media),
        );
        self.peer = Some(peer);
        self.srtp = Some(Arc::clone(&inbound));
        inbound
    }

    fn datagram(&mut self, seal: bool, datagram: &[u8]) {
        let kind = PacketKind::of(datagram);
        let first = datagram.first().copied();
        let want = match first {
            Some(0..=3) => PacketKind::Stun,
            Some(16..=19) => PacketKind::Zrtp,
            Some(20..=63) => PacketKind::Dtls,
            Some(64..=79) => PacketKind::TurnChannel,
            Some(128..=191) => PacketKind::Rtp,
            _ => PacketKind::Unknown,
        };
        assert_eq!(kind, want, "first byte {first:?}");
        match kind {
            PacketKind::Dtls => self.dtls(datagram),
            PacketKind::Rtp => self.srtp_datagram(seal, datagram),
            // STUN is the ICE agent's (webrtc-ice reads it before us); the rest is dropped.
            _ => {}
        }
    }

    fn dtls(&mut self, datagram: &[u8]) {
        let now = t0();
        let plane = self.plane.get_or_insert_with(|| {
            let mut plane = Plane::default();
            if self.options & OPT_DTLS_NOT_STARTED == 0 {
                let id = identity();
                plane
                    .start_dtls(id, DtlsRole::Server, vec![id.fingerprint()], now)
                    .expect("DTLS starts");
            }
            plane
        });
        plane.handle_datagram(now, datagram);
        let mut out = Vec::new();
        plane.poll_transmit(now, &mut out);
        while plane.poll_event().is_some() {}
        // Before DTLS starts, datagrams wait in a bounded queue.
        assert!(plane.dtls_started() || out.is_empty());
    }

    fn srtp_datagram(&mut self, seal: bool, plain: &[u8]) {
        let inbound = self.srtp();
        let is_rtcp = route::is_rtcp(plain);
        let peer = self.peer.as_mut().expect("peer keys");
        let sealed = if !seal {
            None
        } else if is_rtcp {
            peer.local.encrypt_rtcp(plain).ok()
        } else if ::media::parse_rtp_header(plain).is_ok() {
            // (`encrypt_rtp` parses the header with the `rtp` crate too.)
            peer.local.encrypt_rtp(plain).ok()
        } else {
            None
        };
        let datagram: &[u8] = sealed.as_deref().unwrap_or(plain);
        // Sealing keeps the first two bytes: the datagram is still RTP/RTCP of the same kind.
        assert_eq!(route::is_rtcp(datagram), is_rtcp);
        let c = &self.media.counters;
        let before = Counts::of(c);
        inbound.on_datagram(datagram);
        let after = Counts::of(c);
        assert!(
            after.total() > before.total(),
            "a datagram no counter accounts for: {before:?} -> {after:?}"
        );
        if sealed.is_some() {
            if is_rtcp {
                assert_eq!(
                    after.auth_failed, before.auth_failed,
                    "sealed SRTCP refused"
                );
                // Also after unauthentic packets of the same SSRC: they move no replay window
                // (webrtc-util 0.17's did, from the first index it checked).
                assert_eq!(after.replayed, before.replayed, "sealed SRTCP as a replay");
            } else if let Ok(header) = ::media::parse_rtp_header(plain) {
                // Only for a header that writes back as it was read: `webrtc-srtp` seals from
                // the parsed header's size, and a header the parser reads shorter (elements
                // after a reserved id, say) gets part of its extension block encrypted, which
                // the receiver then reads differently. Our sender never writes such headers.
                let canonical = header.marshal().is_ok_and(|h| plain.starts_with(&h));
                // The first packet the peer's keys sealed for this SSRC (whether or not we
                // decrypted one before: the sender's rollover state starts with it).
                let first = self.sealed_ssrcs.insert(header.ssrc);
                if canonical && first {
                    assert_eq!(
                        after.auth_failed, before.auth_failed,
                        "the first sealed SRTP packet of an SSRC refused"
                    );
                }
            }
        }
        self.drain(datagram.len());
    }

    /// Takes what reached the queues and checks it went where it belongs.
    fn drain(&mut self, datagram_len: usize) {
        let routes = self.media.routes.read().unwrap_or_else(|p| p.into_inner());
        for (key, rtp_rx, rtcp_rx) in &mut self.receivers {
            while let Ok(p) = rtp_rx.try_recv() {
                assert_eq!(p.header.version, 2);
                assert!(p.header.marshal_size() + p.payload.len() <= datagram_len);
                let by_ssrc = routes.table.receiver_of(p.header.ssrc) == Some(*key);
                let mid = routes
                    .table
                    .mid_ext()
                    .and_then(|id| p.header.get_extension(id));
                let by_other = routes
                    .table
                    .route_unknown(mid.as_deref(), p.header.payload_type)
                    .map(|r| r.key())
                    == Some(*key);
                assert!(by_ssrc || by_other, "RTP {:?} at receiver {key}", p.header);
            }
            while let Ok(batch) = rtcp_rx.try_recv() {
                assert!(!batch.is_empty());
                for p in &batch {
                    assert!(
                        p.destination_ssrc()
                            .iter()
                            .any(|s| routes.table.receiver_of(*s) == Some(*key)),
                        "RTCP {p:?} at receiver {key}"
                    );
                }
            }
        }
        for (ssrc, rx) in &mut self.senders {
            while let Ok(batch) = rx.try_recv() {
                assert!(!batch.is_empty());
                for p in &batch {
                    assert!(
                        p.destination_ssrc().contains(ssrc),
                        "RTCP {p:?} at sender {ssrc:#x}"
                    );
                }
            }
        }
    }
}

/// The media counters a received datagram moves.
#[derive(Debug, Clone, Copy)]
struct Counts {
    rtp_in: u64,
    rtcp_in: u64,
    auth_failed: u64,
    replayed: u64,
    malformed: u64,
    unroutable: u64,
}

impl Counts {
    fn of(c: &rtp_path::MediaCounters) -> Self {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Self {
            rtp_in: n(&c.rtp_in),
            rtcp_in: n(&c.rtcp_in),
            auth_failed: n(&c.auth_failed),
            replayed: n(&c.replayed),
            malformed: n(&c.malformed),
            unroutable: n(&c.unroutable),
        }
    }

    fn total(&self) -> u64 {
        self.rtp_in
            + self.rtcp_in
            + self.auth_failed
            + self.replayed
            + self.malformed
            + self.unroutable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_datagrams_reach_their_queues() {
        for options in [0, OPT_CM_PROFILE] {
            let mut path = Path::new(options);
            let mut audio = vec![0x80, 111, 0, 1, 0, 0, 0, 1];
            audio.extend_from_slice(&AUDIO_SSRC.to_be_bytes());
            audio.extend_from_slice(&[0xfc; 20]);
            path.datagram(true, &audio);
            let c = Counts::of(&path.media.counters);
            assert_eq!((c.rtp_in, c.total()), (1, 1), "options {options}");
            // An empty RR from the video SSRC: authenticated, names nobody.
            let mut rr = vec![0x80, 201, 0, 1];
            rr.extend_from_slice(&VIDEO_SSRC.to_be_bytes());
            path.datagram(true, &rr);
            let c = Counts::of(&path.media.counters);
            assert_eq!((c.rtcp_in, c.auth_failed), (1, 0), "options {options}");
        }
    }
}
