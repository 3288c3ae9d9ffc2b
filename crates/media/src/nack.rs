//! NACK generation (RFC 4585 generic NACK): which missing packets to ask for, and when.

use std::collections::BTreeMap;
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
#[derive(Debug)]
pub struct NackGenerator {
    config: NackConfig,
    missing: BTreeMap<u64, Missing>,
    gave_up: u64,
}

impl NackGenerator {
    /// A generator with this retry policy.
    pub fn new(config: NackConfig) -> Self {
        Self {
            config,
            missing: BTreeMap::new(),
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
            self.missing.entry(seq).or_insert(Missing {
                retries: 0,
                due: now,
            });
        }
        while self.missing.len() > self.config.max_tracked {
            self.missing.pop_first();
            self.gave_up += 1;
        }
    }

    /// A packet arrived: stop asking for it.
    pub fn received(&mut self, seq: u64) {
        self.missing.remove(&seq);
    }

    /// The stream moved past `seq` (the jitter buffer skipped): stop asking for older ones.
    pub fn forget_below(&mut self, seq: u64) {
        self.missing = self.missing.split_off(&seq);
    }

    /// Packets still missing.
    pub fn missing_count(&self) -> usize {
        self.missing.len()
    }

    /// Missing packets given up on (retry limit or too many missing).
    pub fn gave_up(&self) -> u64 {
        self.gave_up
    }

    /// The sequence numbers to request now (each marked as requested).
    #[must_use]
    pub fn poll(&mut self, now: Instant) -> Vec<u64> {
        let mut due = Vec::new();
        let mut exhausted = Vec::new();
        for (&seq, m) in self.missing.iter_mut() {
            if m.due > now {
                continue;
            }
            if m.retries >= self.config.max_retries {
                exhausted.push(seq);
                continue;
            }
            m.retries += 1;
            m.due = now + self.config.retry_interval;
            due.push(seq);
        }
        for seq in exhausted {
            self.missing.remove(&seq);
            self.gave_up += 1;
        }
        due
    }

    /// When [`NackGenerator::poll`] next has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.missing.values().map(|m| m.due).min()
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
