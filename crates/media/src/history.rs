//! The retransmission history: the last packets sent, by sequence number, bounded.

use std::collections::VecDeque;

use rtp::packet::Packet;

/// Keeps the last `capacity` packets sent so that NACKed ones can be resent.
#[derive(Debug)]
pub struct RetransmissionHistory {
    /// Oldest first; sequence numbers are consecutive (mod 2^16) from `first_seq`.
    packets: VecDeque<Packet>,
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
        if let Some(last) = self.packets.back() {
            if last.header.sequence_number.wrapping_add(1) != packet.header.sequence_number {
                self.packets.clear();
            }
        }
        if self.packets.len() == self.capacity {
            self.packets.pop_front();
        }
        self.packets.push_back(packet);
    }

    /// The packet with this sequence number, if still held.
    pub fn get(&self, seq: u16) -> Option<&Packet> {
        let first = self.packets.front()?.header.sequence_number;
        let index = usize::from(seq.wrapping_sub(first));
        self.packets.get(index)
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
}
