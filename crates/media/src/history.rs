//! The retransmission history: the last packets sent, by sequence number, bounded.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rtp::packet::Packet;

/// Keeps the last `capacity` packets sent so that NACKed ones can be resent.
#[derive(Debug)]
pub struct RetransmissionHistory {
    /// Oldest first, with when each was last resent; sequence numbers are consecutive
    /// (mod 2^16) from the front's.
    packets: VecDeque<(Packet, Option<Instant>)>,
    capacity: usize,
}

impl RetransmissionHistory {
    /// A history holding at most `capacity` packets (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            packets: VecDeque::with_capacity(capacity.max(1)),
            capacity: capacity.max(1),
        }
    }

    /// Records a packet just sent. Packets must be recorded in sequence order; a gap (a
    /// packetizer reset) clears the history.
    pub fn insert(&mut self, packet: Packet) {
        if let Some((last, _)) = self.packets.back() {
            if last.header.sequence_number.wrapping_add(1) != packet.header.sequence_number {
                self.packets.clear();
            }
        }
        if self.packets.len() == self.capacity {
            self.packets.pop_front();
        }
        self.packets.push_back((packet, None));
    }

    fn index(&self, seq: u16) -> Option<usize> {
        let first = self.packets.front()?.0.header.sequence_number;
        let index = usize::from(seq.wrapping_sub(first));
        (index < self.packets.len()).then_some(index)
    }

    /// The packet with this sequence number, if still held.
    pub fn get(&self, seq: u16) -> Option<&Packet> {
        self.index(seq).map(|i| &self.packets[i].0)
    }

    /// The packet to resend for a NACK at `now`, unless it was resent less than
    /// `min_interval` ago (a repeated request within a round trip would only duplicate it).
    pub fn resend(&mut self, seq: u16, now: Instant, min_interval: Duration) -> Resend<'_> {
        let Some(i) = self.index(seq) else {
            return Resend::Missing;
        };
        let (packet, last) = &mut self.packets[i];
        if last.is_some_and(|t| now.saturating_duration_since(t) < min_interval) {
            return Resend::TooSoon;
        }
        *last = Some(now);
        Resend::Packet(packet)
    }

    /// Number of packets held.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.packets.is_empty()
    }
}

/// What [`RetransmissionHistory::resend`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resend<'a> {
    /// Resend this.
    Packet(&'a Packet),
    /// Resent too recently.
    TooSoon,
    /// No longer (or never) held.
    Missing,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u16) -> Packet {
        let mut p = Packet::default();
        p.header.sequence_number = seq;
        p
    }

    #[test]
    fn bounded_and_wraps() {
        let mut h = RetransmissionHistory::new(4);
        for seq in 65_533..=65_535 {
            h.insert(pkt(seq));
        }
        for seq in 0..3 {
            h.insert(pkt(seq));
        }
        assert_eq!(h.len(), 4);
        assert!(h.get(65_534).is_none());
        assert_eq!(
            h.get(65_535).map(|p| p.header.sequence_number),
            Some(65_535)
        );
        assert_eq!(h.get(2).map(|p| p.header.sequence_number), Some(2));
        assert!(h.get(3).is_none());
        assert!(h.get(40_000).is_none());
        h.insert(pkt(10));
        assert_eq!(h.len(), 1);
        assert!(h.get(2).is_none());
    }

    #[test]
    fn resends_are_spaced() {
        let t = Instant::now();
        let gap = Duration::from_millis(20);
        let mut h = RetransmissionHistory::new(8);
        h.insert(pkt(1));
        assert!(matches!(h.resend(1, t, gap), Resend::Packet(p) if p.header.sequence_number == 1));
        assert_eq!(
            h.resend(1, t + Duration::from_millis(19), gap),
            Resend::TooSoon
        );
        assert!(matches!(h.resend(1, t + gap, gap), Resend::Packet(_)));
        assert_eq!(h.resend(2, t, gap), Resend::Missing);
    }
}
