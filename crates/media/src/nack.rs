//! NACK generation (RFC 4585 generic NACK): which missing packets to ask for, and when.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Retry policy for NACKs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackConfig {
    /// Requests per missing packet before giving up.
    pub max_retries: u8,
    /// Time between requests for the same packet (about one round trip).
    pub retry_interval: Duration,
    /// Missing packets tracked at most (the oldest are given up first).
    pub max_tracked: usize,
}

impl Default for NackConfig {
    fn default() -> Self {
        Self {
            max_retries: 10,
            retry_interval: Duration::from_millis(40),
            max_tracked: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    retries: u8,
    /// When to request it (next).
    due: Instant,
}

/// Tracks missing sequence numbers (extended) and says which to request now (sans-IO).
///
/// Every call is O(log n) per packet it touches: the missing packets are also kept in order of
/// when they are due, so [`poll_timeout`](Self::poll_timeout) (which a driver calls after every
/// packet) does not walk all of them.
#[derive(Debug)]
pub struct NackGenerator {
    config: NackConfig,
    missing: BTreeMap<u64, Missing>,
    /// The same packets by when they are due: `(due, seq)`.
    queue: BTreeSet<(Instant, u64)>,
    gave_up: u64,
}

impl NackGenerator {
    /// A generator with this retry policy.
    pub fn new(config: NackConfig) -> Self {
        Self {
            config,
            missing: BTreeMap::new(),
            queue: BTreeSet::new(),
            gave_up: 0,
        }
    }

    /// Records packets found missing at `now` (requested at the next poll).
    pub fn add_missing(&mut self, range: std::ops::Range<u64>, now: Instant) {
        // A huge gap is not worth requesting packet by packet: keep only the newest.
        let start = range
            .start
            .max(range.end.saturating_sub(self.config.max_tracked as u64));
        self.gave_up += start - range.start;
        for seq in start..range.end {
            if let Entry::Vacant(v) = self.missing.entry(seq) {
                v.insert(Missing {
                    retries: 0,
                    due: now,
                });
                self.queue.insert((now, seq));
            }
        }
        while self.missing.len() > self.config.max_tracked {
            if let Some((seq, m)) = self.missing.pop_first() {
                self.queue.remove(&(m.due, seq));
            }
            self.gave_up += 1;
        }
    }

    /// A packet arrived: stop asking for it.
    pub fn received(&mut self, seq: u64) {
        if let Some(m) = self.missing.remove(&seq) {
            self.queue.remove(&(m.due, seq));
        }
    }

    /// The stream moved past `seq` (the jitter buffer skipped): stop asking for older ones.
    pub fn forget_below(&mut self, seq: u64) {
        let kept = self.missing.split_off(&seq);
        for (s, m) in std::mem::replace(&mut self.missing, kept) {
            self.queue.remove(&(m.due, s));
        }
    }

    /// Packets still missing.
    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// Missing packets given up on (retry limit or too many missing).
    pub fn gave_up(&self) -> u64 {
        self.gave_up
    }

    /// The sequence numbers to request now (each marked as requested), in sequence order.
    #[must_use]
    pub fn poll(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        while let Some(&(at, seq)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            let Some(m) = self.missing.get_mut(&seq) else {
                continue;
            };
            if m.retries >= self.config.max_retries {
                self.missing.remove(&seq);
                self.gave_up += 1;
                continue;
            }
            m.retries += 1;
            m.due = now + self.config.retry_interval;
            due.push(seq);
        }
        // Requeued after the loop: with a zero retry interval they would be due again at once.
        for &seq in &due {
            if let Some(m) = self.missing.get(&seq) {
                self.queue.insert((m.due, seq));
            }
        }
        due.sort_unstable();
        due
    }

    /// When [`NackGenerator::poll`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _)| at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_retries_and_gives_up() {
        let t = Instant::now();
        let cfg = NackConfig {
            max_retries: 2,
            retry_interval: Duration::from_millis(10),
            max_tracked: 100,
        };
        let mut n = NackGenerator::new(cfg);
        n.add_missing(5..8, t);
        assert_eq!(n.poll(t), vec![5, 6, 7]);
        assert!(n.poll(t + Duration::from_millis(5)).is_empty());
        n.received(6);
        assert_eq!(n.poll_timeout(), Some(t + Duration::from_millis(10)));
        assert_eq!(n.poll(t + Duration::from_millis(10)), vec![5, 7]);
        assert!(n.poll(t + Duration::from_millis(20)).is_empty());
        assert_eq!(n.gave_up(), 2);
        assert_eq!(n.missing_count(), 0);
        assert_eq!(n.poll_timeout(), None);
    }

    /// Found by the `jitter` fuzz target: `poll_timeout` walked every missing packet, and a
    /// driver asks for it after every packet, so a sender leaving many gaps cost up to
    /// `max_tracked` steps per packet. The due queue stays consistent through every call.
    #[test]
    fn due_queue_matches_the_missing_packets() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut n = NackGenerator::new(NackConfig {
            max_retries: 3,
            retry_interval: ms(10),
            max_tracked: 50,
        });
        n.add_missing(0..40, t);
        n.add_missing(30..60, t + ms(1)); // overlapping: 30..40 keep their first due time
        assert_eq!(n.missing_count(), 50);
        assert_eq!(n.poll_timeout(), Some(t));
        n.received(15);
        n.forget_below(12);
        assert_eq!(n.poll(t), (12..40).filter(|&s| s != 15).collect::<Vec<_>>());
        assert_eq!(n.poll_timeout(), Some(t + ms(1)));
        assert_eq!(n.poll(t + ms(1)), (40..60).collect::<Vec<_>>());
        assert_eq!(n.poll_timeout(), Some(t + ms(10)));
        assert_eq!(n.queue.len(), n.missing.len());
        // Zero retry interval: each poll requests once, never loops.
        let mut z = NackGenerator::new(NackConfig {
            max_retries: 2,
            retry_interval: Duration::ZERO,
            max_tracked: 10,
        });
        z.add_missing(0..3, t);
        assert_eq!(z.poll(t), vec![0, 1, 2]);
        assert_eq!(z.poll(t), vec![0, 1, 2]);
        assert!(z.poll(t).is_empty());
        assert_eq!(
            (z.missing_count(), z.gave_up(), z.poll_timeout()),
            (0, 3, None)
        );
    }

    #[test]
    fn bounded_and_forgets_skipped() {
        let t = Instant::now();
        let mut n = NackGenerator::new(NackConfig {
            max_tracked: 10,
            ..NackConfig::default()
        });
        n.add_missing(0..1000, t);
        assert_eq!(n.missing_count(), 10);
        assert_eq!(n.gave_up(), 990);
        n.forget_below(995);
        assert_eq!(n.poll(t), vec![995, 996, 997, 998, 999]);
    }
}
