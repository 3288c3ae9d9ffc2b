//! The demo's data check: the messages it sends, and the tally of what arrived.
//!
//! Every transfer message carries its sequence number and bytes derived from it
//! ([`payload`]), so the receiver can tell, for each one, whether it arrived, arrived once,
//! arrived in order and arrived intact. [`Tally`] counts each way a message can go wrong; the
//! demo reports the counts ([`DataLoss`]) and fails when any is non-zero.

use std::collections::HashSet;
use std::time::Instant;

use bytes::Bytes;

/// Message `seq` of the transfer: its sequence number, then bytes derived from it.
pub(crate) fn payload(seq: u64, len: usize) -> Bytes {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    Bytes::from(v)
}

/// The end marker the sender puts after the last transfer message: how many it sent, and
/// their bytes.
pub(crate) fn end_marker(count: u64, bytes: u64) -> String {
    format!("end {count} {bytes}")
}

/// Reads an [`end_marker`]; `None` when `text` is not one.
pub(crate) fn parse_end_marker(text: &str) -> Option<(u64, u64)> {
    let mut parts = text.strip_prefix("end ")?.split(' ');
    let count = parts.next()?.parse().ok()?;
    let bytes = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((count, bytes))
}

/// What went wrong with the transfer messages, counted by how (all 0 on a good run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataLoss {
    /// Messages sent that never arrived intact.
    pub missing: u64,
    /// Their bytes.
    pub missing_bytes: u64,
    /// Messages that arrived after one sent later (on an ordered channel: must be 0).
    pub out_of_order: u64,
    /// Messages that arrived again.
    pub duplicated: u64,
    /// Messages whose bytes were not the ones sent, or too short to carry a sequence number.
    pub corrupted: u64,
}

impl DataLoss {
    /// Messages lost, out of order, duplicated or corrupted.
    pub fn total(&self) -> u64 {
        self.missing + self.out_of_order + self.duplicated + self.corrupted
    }
}

/// The receiver's tally of the transfer messages.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    seen: HashSet<u64>,
    highest: Option<u64>,
    intact_bytes: u64,
    loss: DataLoss,
    /// Sequence number and arrival time of each intact message, in arrival order.
    pub(crate) arrivals: Vec<(u64, Instant)>,
}

impl Tally {
    /// Checks one binary message that arrived at `at`.
    pub(crate) fn add(&mut self, data: &[u8], at: Instant) {
        let Some(seq) = data
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
        else {
            self.loss.corrupted += 1;
            return;
        };
        if data != payload(seq, data.len()) {
            self.loss.corrupted += 1;
            return;
        }
        if !self.seen.insert(seq) {
            self.loss.duplicated += 1;
            return;
        }
        if self.highest.is_some_and(|h| seq < h) {
            self.loss.out_of_order += 1;
        }
        self.highest = Some(self.highest.map_or(seq, |h| h.max(seq)));
        self.intact_bytes += data.len() as u64;
        self.arrivals.push((seq, at));
    }

    /// The counts, once the sender said it sent `count` messages of `bytes` in all
    /// (sequence numbers `0..count`).
    pub(crate) fn finish(&self, count: u64, bytes: u64) -> DataLoss {
        let arrived = self.seen.iter().filter(|&&s| s < count).count() as u64;
        DataLoss {
            missing: count.saturating_sub(arrived),
            missing_bytes: bytes.saturating_sub(self.intact_bytes),
            ..self.loss
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 64;

    fn tally(seqs: &[u64]) -> Tally {
        let mut t = Tally::default();
        for &s in seqs {
            t.add(&payload(s, LEN), Instant::now());
        }
        t
    }

    #[test]
    fn in_order_and_complete_is_no_loss() {
        let t = tally(&[0, 1, 2, 3]);
        assert_eq!(t.finish(4, 4 * LEN as u64), DataLoss::default());
        assert_eq!(t.arrivals.len(), 4);
    }

    #[test]
    fn a_message_that_never_came_is_missing_with_its_bytes() {
        let loss = tally(&[0, 1, 3]).finish(4, 4 * LEN as u64);
        assert_eq!(loss.missing, 1);
        assert_eq!(loss.missing_bytes, LEN as u64);
        assert_eq!(loss.total(), 1);
        // The tail never came either.
        assert_eq!(tally(&[0]).finish(3, 3 * LEN as u64).missing, 2);
    }

    #[test]
    fn reordered_duplicated_and_corrupted_messages_are_counted() {
        let mut t = tally(&[0, 2, 1, 2]);
        let mut bad = payload(3, LEN).to_vec();
        bad[LEN - 1] ^= 1;
        t.add(&bad, Instant::now());
        t.add(&[1, 2, 3], Instant::now());
        let loss = t.finish(4, 4 * LEN as u64);
        assert_eq!(loss.out_of_order, 1, "{loss:?}");
        assert_eq!(loss.duplicated, 1, "{loss:?}");
        assert_eq!(loss.corrupted, 2, "{loss:?}");
        assert_eq!(loss.missing, 1, "message 3 never arrived intact: {loss:?}");
        assert_eq!(loss.total(), 5);
    }

    #[test]
    fn end_markers_round_trip() {
        assert_eq!(
            parse_end_marker(&end_marker(190, 6_225_920)),
            Some((190, 6_225_920))
        );
        assert_eq!(parse_end_marker("end 3"), None);
        assert_eq!(parse_end_marker("end 3 4 5"), None);
        assert_eq!(parse_end_marker("hello"), None);
    }
}
