//! Latency statistics: nearest-rank percentiles over all samples of a run.

/// Percentiles of a set of samples (microseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Percentiles {
    pub(crate) count: usize,
    pub(crate) p50: u64,
    pub(crate) p90: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) max: u64,
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of sorted samples: the smallest sample
/// that at least `p` % of the samples are less than or equal to. 0 for no samples.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // The epsilon keeps 99.9 % of 1000 at rank 999 despite binary rounding.
    let rank = (p / 100.0 * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Percentiles {
    /// Sorts `samples` and takes p50, p90, p99, p99.9 and the maximum.
    pub(crate) fn of(samples: &mut [u64]) -> Self {
        samples.sort_unstable();
        Self {
            count: samples.len(),
            p50: percentile(samples, 50.0),
            p90: percentile(samples, 90.0),
            p99: percentile(samples, 99.0),
            p999: percentile(samples, 99.9),
            max: samples.last().copied().unwrap_or(0),
        }
    }
}

/// Microseconds as milliseconds with two decimals, for `RESULT` lines.
pub(crate) fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut v: Vec<u64> = (1..=1000).rev().collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(
            (p.count, p.p50, p.p90, p.p99, p.p999, p.max),
            (1000, 500, 900, 990, 999, 1000)
        );
        // Ten samples: p99 and p99.9 are the largest; p50 the fifth.
        let mut v: Vec<u64> = vec![7, 1, 9, 3, 5, 2, 8, 4, 6, 10];
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50, p.p90, p.p99, p.p999, p.max), (5, 9, 10, 10, 10));
        // One sample is every percentile; none gives zeros.
        assert_eq!(percentile(&[42], 0.1), 42);
        assert_eq!(percentile(&[42], 100.0), 42);
        assert_eq!(Percentiles::of(&mut []).max, 0);
        assert_eq!(ms(1234), "1.23");
    }
}
