//! The open-loop send schedule: when each client sends, fixed in advance by the clock.
//!
//! Client `i` of `n` sends its `k`-th message at `start + offset(i) + k * period`, where
//! `period = 1 / rate` and `offset(i) = i * period / n`: the clients' sends are spread evenly
//! over every period, so the aggregate load is `n * rate` messages per second with no bursts.
//! Nothing here depends on replies: a client that falls behind sends its overdue messages at
//! once (and each message carries its scheduled time, so the lateness is in the latency).

use std::time::Duration;

/// The schedule of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Schedule {
    clients: usize,
    period: Duration,
    per_client: u64,
}

impl Schedule {
    /// `clients` clients, each sending `rate` messages per second for `seconds` seconds.
    pub(crate) fn new(clients: usize, rate: f64, seconds: f64) -> Result<Self, String> {
        if clients == 0 || rate.is_nan() || rate <= 0.0 || seconds.is_nan() || seconds <= 0.0 {
            return Err(format!(
                "schedule needs clients > 0, rate > 0, seconds > 0 (got {clients}, {rate}, {seconds})"
            ));
        }
        let period = Duration::from_secs_f64(1.0 / rate);
        if period.is_zero() {
            return Err(format!("rate {rate}/s is too high"));
        }
        Ok(Self {
            clients,
            period,
            per_client: (seconds * rate).floor().max(1.0) as u64,
        })
    }

    /// Messages each client sends.
    pub(crate) fn per_client(&self) -> u64 {
        self.per_client
    }

    /// Messages all clients send together.
    pub(crate) fn total(&self) -> u64 {
        self.per_client * self.clients as u64
    }

    /// The time from the start at which client `i` sends its `k`-th message (from 0).
    pub(crate) fn at(&self, i: usize, k: u64) -> Duration {
        let offset = self.period.mul_f64(i as f64 / self.clients as f64);
        offset + self.period.mul_f64(k as f64)
    }

    /// How long sending lasts: from the start to just after the last scheduled message.
    pub(crate) fn sending_time(&self) -> Duration {
        self.period.mul_f64(self.per_client as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spread_evenly_over_each_period() {
        let s = Schedule::new(4, 2.0, 3.0).unwrap();
        assert_eq!((s.per_client(), s.total()), (6, 24));
        let mut times: Vec<Duration> = (0..4)
            .flat_map(|i| (0..s.per_client()).map(move |k| s.at(i, k)))
            .collect();
        times.sort();
        // 8 messages per second in total, one every 125 ms, the first at the start.
        for (j, t) in times.iter().enumerate() {
            let want = Duration::from_millis(125 * j as u64);
            let diff = t.abs_diff(want);
            assert!(diff < Duration::from_micros(1), "{j}: {t:?} vs {want:?}");
        }
        assert_eq!(s.sending_time(), Duration::from_secs(3));
    }

    #[test]
    fn one_client_sends_at_the_period_and_bad_input_is_refused() {
        let s = Schedule::new(1, 10.0, 1.0).unwrap();
        assert_eq!(s.at(0, 0), Duration::ZERO);
        assert_eq!(s.at(0, 3), Duration::from_millis(300));
        assert_eq!(s.per_client(), 10);
        // A run shorter than one period still sends one message.
        assert_eq!(Schedule::new(3, 1.0, 0.5).unwrap().per_client(), 1);
        assert!(Schedule::new(0, 1.0, 1.0).is_err());
        assert!(Schedule::new(2, 0.0, 1.0).is_err());
        assert!(Schedule::new(2, f64::NAN, 1.0).is_err());
        assert!(Schedule::new(2, 1.0, -1.0).is_err());
    }
}
