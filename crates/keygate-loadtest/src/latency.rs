//! Latency samples and their percentiles.

use std::time::Duration;

/// Every request's latency in a run, sorted.
///
/// ```
/// use std::time::Duration;
/// use keygate_loadtest::Latencies;
///
/// let latencies = Latencies::new((1..=100).map(Duration::from_micros).collect());
/// assert_eq!(latencies.percentile(50.0), Some(Duration::from_micros(50)));
/// assert_eq!(latencies.percentile(99.0), Some(Duration::from_micros(99)));
/// assert_eq!(Latencies::default().percentile(50.0), None);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Sorts `samples`.
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    /// How many samples.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The nearest-rank `p`th percentile (`p` in 0–100): the smallest sample
    /// that at least `p`% of the samples do not exceed.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.sorted.is_empty() {
            return None;
        }
        let p = p.clamp(0.0, 100.0);
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted.get(rank.saturating_sub(1)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_at_the_edges() {
        let one = Latencies::new(vec![Duration::from_millis(7)]);
        assert_eq!(one.percentile(0.0), Some(Duration::from_millis(7)));
        assert_eq!(one.percentile(100.0), Some(Duration::from_millis(7)));
        let ten = Latencies::new((1..=10).rev().map(Duration::from_millis).collect());
        assert_eq!(ten.percentile(99.0), Some(Duration::from_millis(10)));
        assert_eq!(ten.percentile(10.0), Some(Duration::from_millis(1)));
        assert_eq!(ten.percentile(11.0), Some(Duration::from_millis(2)));
    }

    proptest! {
        #[test]
        fn a_percentile_bounds_its_share_of_samples(
            samples in proptest::collection::vec(0u64..10_000, 1..300),
            p in 0.0f64..=100.0,
        ) {
            let latencies = Latencies::new(samples.iter().copied().map(Duration::from_micros).collect());
            let value = latencies.percentile(p).unwrap();
            let at_most = samples.iter().filter(|&&s| Duration::from_micros(s) <= value).count();
            let below = samples.iter().filter(|&&s| Duration::from_micros(s) < value).count();
            let n = samples.len() as f64;
            prop_assert!(at_most as f64 >= p / 100.0 * n - 1e-9);
            prop_assert!((below as f64) < (p / 100.0 * n).max(1.0));
        }
    }
}
