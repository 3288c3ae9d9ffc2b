//! Sans-IO routing of RTP and RTCP on a BUNDLE path: RTP versus RTCP by payload type
//! (RFC 5761), and which receiver an RTP packet or which sender/receiver an RTCP packet
//! belongs to.
//!
//! RTP goes to a receiver by, in order: its SSRC (announced in the remote SDP, or learned
//! from an earlier packet), the `urn:ietf:params:rtp-hdrext:sdes:mid` header extension (RFC
//! 8843), or its payload type when exactly one receiver negotiated it. A packet routed by MID
//! or payload type teaches the table its SSRC (bounded: [`MAX_LEARNED`]).

use std::collections::HashMap;

/// Most SSRCs learned from packets (beyond the SDP's) kept in a table; beyond that, packets
/// still route by MID or payload type, they are just not remembered.
pub(crate) const MAX_LEARNED: usize = 256;

/// Is this datagram (already known to be RTP or RTCP by RFC 7983) RTCP? RFC 5761 section 4:
/// on a muxed path, RTCP packet types 192..=223 make the second byte's low 7 bits 64..=95.
pub(crate) fn is_rtcp(packet: &[u8]) -> bool {
    packet
        .get(1)
        .is_some_and(|b| (64..=95).contains(&(b & 0x7f)))
}

/// A receiver's key: its transceiver's index.
pub(crate) type ReceiverKey = u32;

/// What the table knows about one receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReceiverRoute {
    /// Its m-section's mid.
    pub(crate) mid: String,
    /// SSRCs the remote SDP announced for it (media and RTX).
    pub(crate) ssrcs: Vec<u32>,
    /// Payload types negotiated for it.
    pub(crate) payload_types: Vec<u8>,
}

/// How an RTP packet was routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routed {
    /// By a known SSRC.
    Ssrc(ReceiverKey),
    /// By the MID header extension (the SSRC should be learned).
    Mid(ReceiverKey),
    /// By an unambiguous payload type (the SSRC should be learned).
    PayloadType(ReceiverKey),
}

impl Routed {
    /// The receiver.
    pub(crate) fn key(self) -> ReceiverKey {
        match self {
            Routed::Ssrc(k) | Routed::Mid(k) | Routed::PayloadType(k) => k,
        }
    }
}

/// The routing table of one peer connection.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    by_ssrc: HashMap<u32, ReceiverKey>,
    learned: HashMap<u32, ReceiverKey>,
    by_mid: HashMap<String, ReceiverKey>,
    /// `None`: more than one receiver negotiated this payload type.
    by_pt: HashMap<u8, Option<ReceiverKey>>,
    /// Negotiated id of the MID header extension.
    mid_ext: Option<u8>,
}

impl RouteTable {
    /// Rebuilds the table from the receivers (after a negotiation). Learned SSRCs stay, unless
    /// their receiver is gone.
    pub(crate) fn rebuild<'a>(
        &mut self,
        receivers: impl IntoIterator<Item = (ReceiverKey, &'a ReceiverRoute)>,
        mid_ext: Option<u8>,
    ) {
        self.by_ssrc.clear();
        self.by_mid.clear();
        self.by_pt.clear();
        self.mid_ext = mid_ext;
        for (key, r) in receivers {
            for s in &r.ssrcs {
                self.by_ssrc.insert(*s, key);
            }
            if !r.mid.is_empty() {
                self.by_mid.insert(r.mid.clone(), key);
            }
            for pt in &r.payload_types {
                self.by_pt
                    .entry(*pt)
                    .and_modify(|k| {
                        if *k != Some(key) {
                            *k = None;
                        }
                    })
                    .or_insert(Some(key));
            }
        }
        let live: Vec<ReceiverKey> = self.by_mid.values().copied().collect();
        self.learned.retain(|_, k| live.contains(k));
    }

    /// The negotiated id of the MID header extension.
    pub(crate) fn mid_ext(&self) -> Option<u8> {
        self.mid_ext
    }

    /// Routes an RTP packet by its SSRC, MID extension value, or payload type.
    #[cfg(test)]
    pub(crate) fn route(&self, ssrc: u32, mid: Option<&[u8]>, pt: u8) -> Option<Routed> {
        self.route_ssrc(ssrc)
            .or_else(|| self.route_unknown(mid, pt))
    }

    /// Routes by a known (announced or learned) SSRC: the common case, no header extension
    /// needs to be looked at.
    pub(crate) fn route_ssrc(&self, ssrc: u32) -> Option<Routed> {
        self.receiver_of(ssrc).map(Routed::Ssrc)
    }

    /// Routes a packet of an unknown SSRC by its MID extension value, else its payload type.
    pub(crate) fn route_unknown(&self, mid: Option<&[u8]>, pt: u8) -> Option<Routed> {
        if let Some(k) = mid
            .and_then(|m| std::str::from_utf8(m).ok())
            .and_then(|m| self.by_mid.get(m))
        {
            return Some(Routed::Mid(*k));
        }
        self.by_pt
            .get(&pt)
            .copied()
            .flatten()
            .map(Routed::PayloadType)
    }

    /// Remembers that `ssrc` belongs to `key` (bounded). Returns whether it was stored.
    pub(crate) fn learn(&mut self, ssrc: u32, key: ReceiverKey) -> bool {
        if self.learned.len() >= MAX_LEARNED && !self.learned.contains_key(&ssrc) {
            return false;
        }
        self.learned.insert(ssrc, key);
        true
    }

    /// The receiver an SSRC belongs to (announced or learned), for RTCP.
    pub(crate) fn receiver_of(&self, ssrc: u32) -> Option<ReceiverKey> {
        self.by_ssrc
            .get(&ssrc)
            .or_else(|| self.learned.get(&ssrc))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(mid: &str, ssrcs: &[u32], pts: &[u8]) -> ReceiverRoute {
        ReceiverRoute {
            mid: mid.to_owned(),
            ssrcs: ssrcs.to_vec(),
            payload_types: pts.to_vec(),
        }
    }

    #[test]
    fn rtcp_by_payload_type_range() {
        // RTCP SR (200), RR (201), SDES (202), BYE (203), RTPFB (205), PSFB (206).
        for pt in [200u8, 201, 202, 203, 205, 206] {
            assert!(is_rtcp(&[0x80, pt, 0, 1]), "pt {pt}");
        }
        // RTP payload types 0..=63 and 96..=127, with and without the marker bit.
        for pt in (0u8..=63).chain(96..=127) {
            assert!(!is_rtcp(&[0x80, pt]), "pt {pt}");
            assert!(!is_rtcp(&[0x80, pt | 0x80]), "pt {pt} with marker");
        }
        // 64..=95 with the marker bit set reads as 192..=223: RTCP (RFC 5761 forbids these as RTP).
        assert!(is_rtcp(&[0x80, 64 | 0x80]));
        assert!(!is_rtcp(&[0x80]));
        assert!(!is_rtcp(&[]));
    }

    #[test]
    fn ssrc_then_mid_then_unambiguous_payload_type() {
        let audio = route("0", &[1111], &[111]);
        let video = route("1", &[2222, 2223], &[96, 97, 102]);
        let other_video = route("2", &[], &[96, 98]);
        let mut t = RouteTable::default();
        t.rebuild([(0, &audio), (1, &video), (2, &other_video)], Some(4));
        assert_eq!(t.mid_ext(), Some(4));

        assert_eq!(t.route(1111, None, 111), Some(Routed::Ssrc(0)));
        // The RTX SSRC of the video receiver.
        assert_eq!(t.route(2223, None, 97), Some(Routed::Ssrc(1)));
        // SSRC wins over a contradicting MID.
        assert_eq!(t.route(2222, Some(b"0"), 96), Some(Routed::Ssrc(1)));
        // Unknown SSRC: by MID.
        assert_eq!(t.route(9, Some(b"2"), 96), Some(Routed::Mid(2)));
        // Unknown MID value and ambiguous payload type 96: unroutable.
        assert_eq!(t.route(9, Some(b"7"), 96), None);
        assert_eq!(t.route(9, None, 96), None);
        // Non-UTF-8 MID falls back to the payload type.
        assert_eq!(t.route(9, Some(&[0xff]), 98), Some(Routed::PayloadType(2)));
        assert_eq!(t.route(9, None, 102), Some(Routed::PayloadType(1)));
        assert_eq!(t.route(9, None, 0), None);
    }

    #[test]
    fn learned_ssrcs_are_bounded_and_dropped_with_their_receiver() {
        let a = route("0", &[], &[111]);
        let b = route("1", &[], &[96]);
        let mut t = RouteTable::default();
        t.rebuild([(0, &a), (1, &b)], None);
        assert_eq!(t.route(5, None, 111), Some(Routed::PayloadType(0)));
        assert!(t.learn(5, 0));
        assert_eq!(t.route(5, None, 96), Some(Routed::Ssrc(0)));
        assert_eq!(t.receiver_of(5), Some(0));
        for s in 100..100 + MAX_LEARNED as u32 {
            t.learn(s, 1);
        }
        assert!(!t.learn(1, 1), "table is full");
        assert!(t.learn(5, 0), "an existing entry may be refreshed");
        // Receiver 1 goes away: its learned SSRCs go too; receiver 0 keeps SSRC 5.
        t.rebuild([(0, &a)], None);
        assert_eq!(t.receiver_of(100), None);
        assert_eq!(t.receiver_of(5), Some(0));
        assert!(t.learn(1, 0));
    }
}
