//! Statistics of how far a quant's next-token distributions drift from the reference's:
//! KL divergence, agreement on the top token, change of the top token's probability and
//! perplexity, accumulated one scored position at a time.

use crate::stats::percentile_sorted;

/// Natural-log probabilities of `logits` (a log-softmax), summed in `f64` so a 49k vocabulary
/// loses no precision.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&x| f64::from(x - max).exp()).sum();
    let log_sum = sum.ln() as f32;
    logits.iter().map(|&x| x - max - log_sum).collect()
}

/// KL divergence D(reference || candidate) in nats, both given as log-probabilities over the
/// same vocabulary.
pub fn kl_divergence(reference: &[f32], candidate: &[f32]) -> f64 {
    reference
        .iter()
        .zip(candidate)
        .map(|(&r, &c)| {
            let r = f64::from(r);
            r.exp() * (r - f64::from(c))
        })
        .sum()
}

/// Index of the largest value; the first one wins a tie.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = i;
        }
    }
    best
}

/// Per-position figures collected over an evaluation run.
#[derive(Debug, Default, Clone)]
pub struct DriftAccumulator {
    klds: Vec<f64>,
    same_top: usize,
    delta_p: Vec<f64>,
    nll_sum: f64,
}

/// The summary of a run of scored positions.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftSummary {
    pub n_positions: usize,
    pub mean_kld: f64,
    /// Standard error of the mean (sample standard deviation over the square root of n).
    pub mean_kld_stderr: f64,
    pub kld_p99: f64,
    pub kld_p95: f64,
    pub kld_p90: f64,
    pub kld_median: f64,
    pub same_top_p: f64,
    /// Binomial standard error of `same_top_p`.
    pub same_top_p_stderr: f64,
    pub mean_delta_p: f64,
    pub rms_delta_p: f64,
    /// exp of the mean negative log-likelihood of the text's next tokens under the candidate.
    pub ppl: f64,
}

impl DriftAccumulator {
    /// Adds one scored position: the reference's log-probabilities and top token, the
    /// candidate's log-probabilities, and the token that actually follows in the text.
    pub fn add(
        &mut self,
        reference: &[f32],
        reference_top: usize,
        candidate: &[f32],
        next_token: usize,
    ) {
        self.klds.push(kl_divergence(reference, candidate).max(0.0));
        if argmax(candidate) == reference_top {
            self.same_top += 1;
        }
        let p_reference = f64::from(reference[reference_top]).exp();
        let p_candidate = f64::from(candidate[reference_top]).exp();
        self.delta_p.push(p_candidate - p_reference);
        self.nll_sum -= f64::from(candidate[next_token]);
    }

    pub fn len(&self) -> usize {
        self.klds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.klds.is_empty()
    }

    /// Summarises the positions added so far, or `None` when there are none.
    pub fn summary(&self) -> Option<DriftSummary> {
        let n = self.klds.len();
        if n == 0 {
            return None;
        }
        let count = n as f64;
        let mean_kld = self.klds.iter().sum::<f64>() / count;
        let mut sorted = self.klds.clone();
        sorted.sort_by(f64::total_cmp);
        let same_top_p = self.same_top as f64 / count;
        let mean_delta_p = self.delta_p.iter().sum::<f64>() / count;
        let mean_square = self.delta_p.iter().map(|d| d * d).sum::<f64>() / count;

        Some(DriftSummary {
            n_positions: n,
            mean_kld,
            mean_kld_stderr: standard_error(&self.klds, mean_kld),
            kld_p99: percentile_sorted(&sorted, 99.0),
            kld_p95: percentile_sorted(&sorted, 95.0),
            kld_p90: percentile_sorted(&sorted, 90.0),
            kld_median: percentile_sorted(&sorted, 50.0),
            same_top_p,
            same_top_p_stderr: if n > 1 {
                (same_top_p * (1.0 - same_top_p) / (count - 1.0)).sqrt()
            } else {
                0.0
            },
            mean_delta_p,
            rms_delta_p: mean_square.sqrt(),
            ppl: (self.nll_sum / count).exp(),
        })
    }
}

/// Sample standard deviation (n - 1) over the square root of n; 0 for a single value.
fn standard_error(values: &[f64], mean: f64) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let squares: f64 = values.iter().map(|x| (x - mean).powi(2)).sum();
    (squares / (n - 1) as f64).sqrt() / (n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probabilities_to_log(p: &[f64]) -> Vec<f32> {
        p.iter().map(|x| x.ln() as f32).collect()
    }

    #[test]
    fn log_softmax_sums_to_one() {
        let log_p = log_softmax(&[1.0, 2.0, 3.0, -40.0]);
        let total: f64 = log_p.iter().map(|&x| f64::from(x).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert!(log_p.iter().all(|&x| x <= 0.0));
    }

    #[test]
    fn log_softmax_ignores_a_constant_shift() {
        let a = log_softmax(&[0.5, 1.5, -2.0]);
        let b = log_softmax(&[100.5, 101.5, 98.0]);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{a:?} {b:?}");
        }
    }

    #[test]
    fn kld_of_identical_distributions_is_zero() {
        let p = log_softmax(&[0.1, 2.0, -1.0, 0.7]);
        assert_eq!(kl_divergence(&p, &p), 0.0);
    }

    #[test]
    fn kld_matches_hand_computed_value() {
        // P = (0.5, 0.25, 0.25), Q = (0.25, 0.5, 0.25):
        // 0.5 ln 2 + 0.25 ln 0.5 + 0 = 0.25 ln 2 = 0.173287...
        let p = probabilities_to_log(&[0.5, 0.25, 0.25]);
        let q = probabilities_to_log(&[0.25, 0.5, 0.25]);
        let kld = kl_divergence(&p, &q);
        assert!((kld - 0.25 * 2f64.ln()).abs() < 1e-6, "{kld}");
        // KL divergence is not symmetric: D(Q || P) = 0.25 ln 0.5 + 0.5 ln 2 = 0.25 ln 2 too
        // here, so check an asymmetric pair as well.
        let r = probabilities_to_log(&[0.9, 0.05, 0.05]);
        let u = probabilities_to_log(&[1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0]);
        let expected = 0.9 * (0.9f64 * 3.0).ln() + 2.0 * 0.05 * (0.05f64 * 3.0).ln();
        assert!((kl_divergence(&r, &u) - expected).abs() < 1e-6);
        assert!((kl_divergence(&u, &r) - expected).abs() > 0.1);
    }

    #[test]
    fn identical_runs_agree_fully() {
        let mut accumulator = DriftAccumulator::default();
        for logits in [[1.0, 3.0, 0.0], [2.0, -1.0, 0.5], [0.0, 0.1, 4.0]] {
            let p = log_softmax(&logits);
            accumulator.add(&p, argmax(&p), &p, 0);
        }
        let summary = accumulator.summary().unwrap();
        assert_eq!(summary.n_positions, 3);
        assert_eq!(summary.mean_kld, 0.0);
        assert_eq!(summary.kld_p99, 0.0);
        assert_eq!(summary.same_top_p, 1.0);
        assert_eq!(summary.same_top_p_stderr, 0.0);
        assert_eq!(summary.mean_delta_p, 0.0);
        assert_eq!(summary.rms_delta_p, 0.0);
    }

    #[test]
    fn disagreeing_runs_are_counted() {
        let reference = probabilities_to_log(&[0.5, 0.25, 0.25]);
        let flipped = probabilities_to_log(&[0.25, 0.5, 0.25]);
        let mut accumulator = DriftAccumulator::default();
        accumulator.add(&reference, 0, &reference, 1);
        accumulator.add(&reference, 0, &flipped, 1);
        let summary = accumulator.summary().unwrap();
        assert_eq!(summary.same_top_p, 0.5);
        assert!((summary.mean_kld - 0.125 * 2f64.ln()).abs() < 1e-6);
        // The reference's top token lost 0.25 of probability at the second position.
        assert!((summary.mean_delta_p + 0.125).abs() < 1e-6);
        assert!((summary.rms_delta_p - (0.25f64 * 0.25 / 2.0).sqrt()).abs() < 1e-6);
        // Next token 1 has probability 0.25 then 0.5: ppl = exp(-(ln 0.25 + ln 0.5) / 2).
        let expected_ppl = (-(0.25f64.ln() + 0.5f64.ln()) / 2.0).exp();
        assert!((summary.ppl - expected_ppl).abs() < 1e-5, "{}", summary.ppl);
    }

    #[test]
    fn empty_accumulator_has_no_summary() {
        assert!(DriftAccumulator::default().summary().is_none());
    }

    #[test]
    fn argmax_takes_first_of_a_tie() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
        assert_eq!(argmax(&[-1.0]), 0);
    }
}
