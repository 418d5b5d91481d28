//! A latency histogram with fixed buckets, as Prometheus exposes one: the same bucket bounds
//! everywhere, so histograms from every shard and isolate add up bucket by bucket.

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets, in seconds (the last, `+Inf`, is implied).
pub const BUCKET_BOUNDS_SECONDS: [f64; 13] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Observations of one duration: how many fell in each bucket (not cumulative; the exposition
/// makes them so), their sum and their count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// One count per bound of [`BUCKET_BOUNDS_SECONDS`], then the `+Inf` bucket. Empty until the
    /// first observation, so an unused histogram costs nothing to store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<u64>,
    /// The sum of the observations, in seconds.
    #[serde(default)]
    pub sum_seconds: f64,
    /// How many observations.
    #[serde(default)]
    pub count: u64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe_ms(&mut self, duration_ms: f64) {
        let seconds = duration_ms.max(0.0) / 1000.0;
        if self.buckets.len() != BUCKET_BOUNDS_SECONDS.len() + 1 {
            self.buckets = vec![0; BUCKET_BOUNDS_SECONDS.len() + 1];
        }
        let bucket =
            BUCKET_BOUNDS_SECONDS.iter().position(|&bound| seconds <= bound).unwrap_or(BUCKET_BOUNDS_SECONDS.len());
        self.buckets[bucket] += 1;
        self.sum_seconds += seconds;
        self.count += 1;
    }

    /// Adds another histogram's observations to these.
    pub fn merge(&mut self, other: &Histogram) {
        if other.count == 0 {
            return;
        }
        if self.buckets.len() != other.buckets.len() {
            self.buckets.resize(other.buckets.len().max(self.buckets.len()), 0);
        }
        for (mine, theirs) in self.buckets.iter_mut().zip(&other.buckets) {
            *mine += theirs;
        }
        self.sum_seconds += other.sum_seconds;
        self.count += other.count;
    }

    /// The cumulative count at each bound and at `+Inf`, as the exposition's `_bucket` lines.
    pub fn cumulative(&self) -> Vec<(Option<f64>, u64)> {
        let mut running = 0;
        let bounds = BUCKET_BOUNDS_SECONDS.iter().map(|&b| Some(b)).chain(std::iter::once(None));
        bounds
            .enumerate()
            .map(|(index, bound)| {
                running += self.buckets.get(index).copied().unwrap_or(0);
                (bound, running)
            })
            .collect()
    }

    /// The `q` quantile (0 to 1) estimated as Prometheus' `histogram_quantile` does: linear within
    /// the bucket it falls in; the highest finite bound when it falls in `+Inf`. `None` when empty.
    pub fn quantile_seconds(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        let mut lower = 0.0;
        for (bound, cumulative) in self.cumulative() {
            let upper = bound.unwrap_or(BUCKET_BOUNDS_SECONDS[BUCKET_BOUNDS_SECONDS.len() - 1]);
            if cumulative as f64 >= rank && cumulative > below {
                let Some(upper_bound) = bound else { return Some(upper) };
                let within = (rank - below as f64) / (cumulative - below) as f64;
                return Some(lower + (upper_bound - lower) * within);
            }
            below = cumulative;
            lower = upper;
        }
        Some(BUCKET_BOUNDS_SECONDS[BUCKET_BOUNDS_SECONDS.len() - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_lands_in_the_first_bucket_whose_bound_holds_it() {
        let mut histogram = Histogram::default();
        histogram.observe_ms(1.0);
        histogram.observe_ms(7.0);
        histogram.observe_ms(60_000.0);
        let cumulative = histogram.cumulative();
        assert_eq!(cumulative[0], (Some(0.001), 1), "1 ms is <= 0.001 s");
        assert_eq!(cumulative[3], (Some(0.01), 2));
        assert_eq!(cumulative.last(), Some(&(None, 3)));
        assert_eq!(cumulative[cumulative.len() - 2].1, 2, "a minute is past every finite bound");
        assert!((histogram.sum_seconds - 60.008).abs() < 1e-9);
    }

    #[test]
    fn histograms_add_up_bucket_by_bucket() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        a.observe_ms(3.0);
        b.observe_ms(3.0);
        b.observe_ms(300.0);
        a.merge(&b);
        a.merge(&Histogram::default());
        assert_eq!(a.count, 3);
        assert_eq!(a.cumulative()[2].1, 2);
        let mut empty = Histogram::default();
        empty.merge(&a);
        assert_eq!(empty, a);
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let mut histogram = Histogram::default();
        assert_eq!(histogram.quantile_seconds(0.5), None);
        for _ in 0..10 {
            histogram.observe_ms(20.0); // the (0.01, 0.025] bucket
        }
        let median = histogram.quantile_seconds(0.5).unwrap();
        assert!((median - 0.0175).abs() < 1e-9, "{median}");
        histogram.observe_ms(20_000.0);
        assert_eq!(histogram.quantile_seconds(1.0), Some(10.0));
    }
}
