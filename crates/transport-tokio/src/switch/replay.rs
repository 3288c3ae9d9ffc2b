//! [`ReplayRing`]: the DTLS records a [`super::SwitchConn`] wrote recently, so that the ones the
//! peer may never have received can be sent again on a newly promoted path after an outage.
//!
//! The records are already protected (DTLS encrypts and numbers them before the write), so a
//! copy sent again is a duplicate the peer's DTLS replay window drops if it had arrived, and
//! the record itself if it had not; SCTP then acknowledges the chunks it carried at once
//! instead of after its retransmission timer (1 s minimum in `webrtc-sctp` 0.17).

use std::collections::VecDeque;

/// One datagram kept: when it was written and its bytes (the buffer is reused once evicted).
#[derive(Debug)]
struct Slot {
    at: u64,
    data: Vec<u8>,
}

/// A bounded ring of recently written datagrams, timestamped in microseconds on the caller's
/// clock. Bounded by count and by bytes; once warm it allocates nothing (evicted buffers are
/// reused for new datagrams).
#[derive(Debug)]
pub(crate) struct ReplayRing {
    slots: VecDeque<Slot>,
    /// Evicted buffers waiting to be reused.
    spare: Vec<Vec<u8>>,
    /// Bytes held in `slots`.
    bytes: usize,
    max_datagrams: usize,
    max_bytes: usize,
}

impl ReplayRing {
    /// An empty ring holding at most `max_datagrams` datagrams and `max_bytes` bytes.
    pub(crate) fn new(max_datagrams: usize, max_bytes: usize) -> Self {
        Self {
            slots: VecDeque::with_capacity(max_datagrams),
            spare: Vec::new(),
            bytes: 0,
            max_datagrams,
            max_bytes,
        }
    }

    /// Keeps `data`, written at `at`, evicting the oldest datagrams to stay within bounds. A
    /// datagram larger than the byte bound is not kept (and empties nothing).
    pub(crate) fn push(&mut self, at: u64, data: &[u8]) {
        if data.len() > self.max_bytes || self.max_datagrams == 0 {
            return;
        }
        while self.slots.len() >= self.max_datagrams || self.bytes + data.len() > self.max_bytes {
            let Some(old) = self.slots.pop_front() else {
                break;
            };
            self.bytes -= old.data.len();
            self.spare.push(old.data);
        }
        let mut buf = self.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        self.bytes += buf.len();
        self.slots.push_back(Slot { at, data: buf });
    }

    /// The datagrams written at or after `since`, oldest first.
    pub(crate) fn since(&self, since: u64) -> impl Iterator<Item = &[u8]> + '_ {
        // Timestamps are pushed in order (one clock, one lock), so the tail is contiguous.
        let first = self.slots.partition_point(|s| s.at < since);
        self.slots.range(first..).map(|s| s.data.as_slice())
    }

    /// Datagrams held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(ring: &ReplayRing, since: u64) -> Vec<Vec<u8>> {
        ring.since(since).map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn keeps_the_newest_within_the_count_bound() {
        let mut ring = ReplayRing::new(3, 1 << 20);
        for i in 0..5u8 {
            ring.push(u64::from(i) * 10, &[23, i]);
        }
        assert_eq!(ring.len(), 3);
        assert_eq!(ring.bytes(), 6);
        assert_eq!(
            collect(&ring, 0),
            vec![vec![23, 2], vec![23, 3], vec![23, 4]]
        );
    }

    #[test]
    fn keeps_the_newest_within_the_byte_bound() {
        let mut ring = ReplayRing::new(100, 10);
        ring.push(1, &[1; 4]);
        ring.push(2, &[2; 4]);
        ring.push(3, &[3; 4]); // 12 bytes: the first goes
        assert_eq!(collect(&ring, 0), vec![vec![2; 4], vec![3; 4]]);
        assert_eq!(ring.bytes(), 8);
        ring.push(4, &[4; 10]); // exactly the bound: everything else goes
        assert_eq!(collect(&ring, 0), vec![vec![4; 10]]);
        ring.push(5, &[5; 11]); // larger than the bound: not kept, nothing evicted
        assert_eq!(collect(&ring, 0), vec![vec![4; 10]]);
        assert_eq!(ring.bytes(), 10);
    }

    #[test]
    fn since_selects_by_time_inclusive() {
        let mut ring = ReplayRing::new(10, 1 << 20);
        for t in [100, 200, 200, 300] {
            ring.push(t, &[t as u8]);
        }
        assert_eq!(collect(&ring, 0).len(), 4);
        assert_eq!(collect(&ring, 200), vec![vec![200], vec![200], vec![44]]);
        assert_eq!(collect(&ring, 201), vec![vec![44]]);
        assert!(collect(&ring, 301).is_empty());
        assert!(collect(&ReplayRing::new(10, 100), 0).is_empty());
    }

    #[test]
    fn evicted_buffers_are_reused() {
        let mut ring = ReplayRing::new(2, 1 << 20);
        ring.push(1, &[0; 1000]);
        ring.push(2, &[0; 1000]);
        let first = ring.slots[0].data.as_ptr();
        ring.push(3, &[7; 500]); // evicts the first and writes into its buffer
        assert_eq!(ring.slots[1].data.as_ptr(), first);
        assert_eq!(collect(&ring, 3), vec![vec![7; 500]]);
        // A warm ring of equal-sized datagrams keeps cycling the same two buffers.
        for t in 4..100 {
            ring.push(t, &[t as u8; 900]);
            assert!(ring.spare.is_empty());
        }
        assert_eq!(ring.len(), 2);
    }

    #[test]
    fn a_zero_ring_keeps_nothing() {
        let mut ring = ReplayRing::new(0, 100);
        ring.push(1, &[1]);
        assert_eq!(ring.len(), 0);
    }
}
