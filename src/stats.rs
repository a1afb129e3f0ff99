//! Summary statistics over repeated timed runs.

use serde::{Deserialize, Serialize};

/// Mean, spread and order statistics of a set of samples, with the samples themselves so a
/// later comparison can judge noise. `stddev` is the sample standard deviation (n - 1), and is
/// 0 for a single sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub stddev: f64,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: Vec<f64>,
}

impl Summary {
    /// Summarises `samples`, or returns `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let n = samples.len();
        let mean = samples.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            let squares: f64 = samples.iter().map(|x| (x - mean).powi(2)).sum();
            (squares / (n - 1) as f64).sqrt()
        } else {
            0.0
        };

        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            n,
            mean,
            stddev,
            median: percentile_sorted(&sorted, 50.0),
            min: sorted[0],
            max: sorted[n - 1],
            samples: samples.to_vec(),
        })
    }
}

/// The `p`-th percentile (0..=100) of already sorted values, interpolating linearly between
/// the two nearest ranks (the method numpy calls "linear").
///
/// Panics on an empty slice.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of no values");
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let weight = rank - low as f64;
    sorted[low] + (sorted[high] - sorted[low]) * weight
}

/// The `p`-th percentile of unsorted values, or `None` when there are none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(percentile_sorted(&sorted, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn summary_uses_sample_stddev() {
        let summary = Summary::of(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(summary.n, 8);
        assert!(close(summary.mean, 5.0));
        // Population stddev of this set is 2.0; the sample one is sqrt(32 / 7).
        assert!(close(summary.stddev, (32.0f64 / 7.0).sqrt()));
        assert!(close(summary.median, 4.5));
        assert!(close(summary.min, 2.0));
        assert!(close(summary.max, 9.0));
    }

    #[test]
    fn summary_keeps_samples_in_run_order() {
        let summary = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!(summary.samples, vec![3.0, 1.0, 2.0]);
        assert!(close(summary.median, 2.0));
    }

    #[test]
    fn single_sample_has_zero_stddev() {
        let summary = Summary::of(&[7.5]).unwrap();
        assert!(close(summary.stddev, 0.0));
        assert!(close(summary.median, 7.5));
    }

    #[test]
    fn empty_samples_have_no_summary() {
        assert!(Summary::of(&[]).is_none());
        assert!(percentile(&[], 50.0).is_none());
    }

    #[test]
    fn percentile_interpolates_between_ranks() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!(close(percentile(&values, 50.0).unwrap(), 50.5));
        assert!(close(percentile(&values, 99.0).unwrap(), 99.01));
        assert!(close(percentile(&values, 0.0).unwrap(), 1.0));
        assert!(close(percentile(&values, 100.0).unwrap(), 100.0));
    }
}
