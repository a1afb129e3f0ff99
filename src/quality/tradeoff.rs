//! The trade-off view over a model's quants: which are on the Pareto front of speed, peak RAM,
//! KL divergence and probe scores, and which quant each deployment target should run.
//!
//! Quant A dominates quant B when A is at least as fast, uses at most as much peak RAM, has at
//! most B's mean KL divergence and at least B's probe scores, and is strictly better in one of
//! them. Speed is the headline tokens/s when both quants have it, else the mean tokens/s at the
//! longest output length both measured. A metric one of the two lacks is not compared. Only
//! quants measured against the same reference and evaluation text are compared with each other.
//! A deployment target's recommendation is the quant with the lowest mean KL divergence among
//! those whose peak RAM fits its budget (the smaller peak RAM breaks a tie).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::registry::{Performance, QuantEntry, DEPLOYMENT_TARGETS};

/// Probe scores (0-100) that take part in the comparison, as paths in a quant's block.
const PROBE_SCORES: &[(&str, &str)] = &[("rag", "score"), ("function_calling", "score")];

/// Figures a quant is judged on.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeOff {
    pub label: String,
    pub headline_tps: Option<f64>,
    /// Mean tokens/s by output length.
    pub tps_by_length: BTreeMap<u32, f64>,
    pub peak_rss_bytes: u64,
    pub mean_kld: f64,
    pub probe_scores: BTreeMap<String, f64>,
    pub deployment_targets: Vec<String>,
}

impl TradeOff {
    /// Collects the figures of `entry`, or returns `None` when it has no quality block.
    pub fn of(label: &str, entry: &QuantEntry) -> Option<TradeOff> {
        let quality = entry.quality.as_ref()?;
        Some(TradeOff {
            label: label.to_string(),
            headline_tps: entry.tps_output,
            tps_by_length: entry
                .generation
                .iter()
                .map(|run| (run.n_gen, run.tokens_per_sec.mean))
                .collect(),
            peak_rss_bytes: entry.memory.peak_rss_bytes,
            mean_kld: quality.mean_kld,
            probe_scores: probe_scores(entry),
            deployment_targets: entry.deployment_targets.clone(),
        })
    }

    /// Speed compared with `other`, or `None` when they share no measured figure.
    fn speed_cmp(&self, other: &TradeOff) -> Option<Ordering> {
        if let (Some(a), Some(b)) = (self.headline_tps, other.headline_tps) {
            return a.partial_cmp(&b);
        }
        let length = self
            .tps_by_length
            .keys()
            .rev()
            .find(|n| other.tps_by_length.contains_key(n))?;
        self.tps_by_length[length].partial_cmp(&other.tps_by_length[length])
    }

    /// Tells whether `self` dominates `other`. Each comparison is oriented so that `Greater`
    /// means `self` is better.
    pub fn dominates(&self, other: &TradeOff) -> bool {
        let mut better = Vec::new();
        better.push(self.speed_cmp(other));
        better.push(Some(other.peak_rss_bytes.cmp(&self.peak_rss_bytes)));
        better.push(other.mean_kld.partial_cmp(&self.mean_kld));
        for (probe, score) in &self.probe_scores {
            if let Some(theirs) = other.probe_scores.get(probe) {
                better.push(score.partial_cmp(theirs));
            }
        }
        let compared: Vec<Ordering> = better.into_iter().flatten().collect();
        compared.iter().all(|o| *o != Ordering::Less) && compared.contains(&Ordering::Greater)
    }
}

/// Probe scores of `entry`. They are read from its JSON form so the blocks of the probe
/// suites are found whichever registry type holds them.
fn probe_scores(entry: &QuantEntry) -> BTreeMap<String, f64> {
    let Ok(json) = serde_json::to_value(entry) else {
        return BTreeMap::new();
    };
    PROBE_SCORES
        .iter()
        .filter_map(|(suite, field)| {
            let score = json.get("use_cases")?.get(suite)?.get(field)?.as_f64()?;
            Some((suite.to_string(), score))
        })
        .collect()
}

/// Labels of the quants in `candidates` that no other candidate dominates.
pub fn pareto_front(candidates: &[TradeOff]) -> Vec<String> {
    candidates
        .iter()
        .filter(|quant| !candidates.iter().any(|other| other.dominates(quant)))
        .map(|quant| quant.label.clone())
        .collect()
}

/// Picks the recommended quant per deployment target, for the targets a candidate fits.
pub fn recommendations(candidates: &[TradeOff]) -> BTreeMap<String, String> {
    let mut chosen = BTreeMap::new();
    for (target, _) in DEPLOYMENT_TARGETS {
        let best = candidates
            .iter()
            .filter(|quant| quant.deployment_targets.iter().any(|t| t == target))
            .min_by(|a, b| {
                a.mean_kld
                    .total_cmp(&b.mean_kld)
                    .then(a.peak_rss_bytes.cmp(&b.peak_rss_bytes))
            });
        if let Some(best) = best {
            chosen.insert(target.to_string(), best.label.clone());
        }
    }
    chosen
}

/// Rewrites the Pareto marks and recommendations of one model's quants. The quants compared
/// are those measured against the same reference and evaluation text as the most recently
/// measured quant with a quality block. The others lose their mark.
pub fn update(performance: &mut Performance) {
    let latest = performance
        .quantizations
        .values()
        .filter(|entry| entry.quality.is_some())
        .max_by(|a, b| a.measured_at.cmp(&b.measured_at))
        .and_then(|entry| entry.quality.as_ref())
        .map(|quality| (quality.reference_quant.clone(), quality.eval_text.clone()));
    let Some((reference, eval_text)) = latest else {
        performance.recommendations = None;
        return;
    };

    let comparable = |entry: &QuantEntry| {
        entry.quality.as_ref().is_some_and(|quality| {
            quality.reference_quant == reference && quality.eval_text == eval_text
        })
    };
    let candidates: Vec<TradeOff> = performance
        .quantizations
        .iter()
        .filter(|(_, entry)| comparable(entry))
        .filter_map(|(label, entry)| TradeOff::of(label, entry))
        .collect();
    let front = pareto_front(&candidates);

    for (label, entry) in performance.quantizations.iter_mut() {
        let on_front = comparable(entry).then(|| front.contains(label));
        if let Some(quality) = entry.quality.as_mut() {
            quality.pareto_front = on_front;
        }
    }
    performance.recommendations = Some(recommendations(&candidates));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quant(label: &str, tps: f64, peak_gib: f64, kld: f64) -> TradeOff {
        let peak_rss_bytes = (peak_gib * 1024.0 * 1024.0 * 1024.0) as u64;
        TradeOff {
            label: label.into(),
            headline_tps: Some(tps),
            tps_by_length: BTreeMap::new(),
            peak_rss_bytes,
            mean_kld: kld,
            probe_scores: BTreeMap::new(),
            deployment_targets: crate::registry::deployment_targets(peak_rss_bytes),
        }
    }

    #[test]
    fn better_in_everything_dominates() {
        let a = quant("A", 100.0, 1.0, 0.01);
        let b = quant("B", 90.0, 1.5, 0.02);
        assert!(a.dominates(&b));
        assert!(!b.dominates(&a));
    }

    #[test]
    fn equal_quants_do_not_dominate() {
        let a = quant("A", 100.0, 1.0, 0.01);
        let b = quant("B", 100.0, 1.0, 0.01);
        assert!(!a.dominates(&b));
        assert_eq!(pareto_front(&[a, b]), vec!["A", "B"]);
    }

    #[test]
    fn trade_off_keeps_both_on_front() {
        // The usual case: the small quant is faster and smaller, the large one more faithful.
        let f16 = quant("F16", 50.0, 1.0, 0.0);
        let q4 = quant("Q4_K_M", 120.0, 0.5, 0.05);
        let worse = quant("Q4_0", 110.0, 0.6, 0.08);
        assert_eq!(pareto_front(&[f16, q4, worse]), vec!["F16", "Q4_K_M"]);
    }

    #[test]
    fn probe_scores_take_part() {
        let mut a = quant("A", 100.0, 1.0, 0.01);
        let mut b = quant("B", 100.0, 1.0, 0.02);
        assert!(a.dominates(&b));
        a.probe_scores.insert("rag".into(), 60.0);
        b.probe_scores.insert("rag".into(), 70.0);
        assert!(!a.dominates(&b));
        assert!(!b.dominates(&a));
    }

    #[test]
    fn speed_falls_back_to_shared_length() {
        let mut a = quant("A", 0.0, 1.0, 0.01);
        let mut b = quant("B", 0.0, 1.0, 0.01);
        a.headline_tps = None;
        b.headline_tps = None;
        a.tps_by_length = BTreeMap::from([(16, 200.0), (64, 150.0)]);
        b.tps_by_length = BTreeMap::from([(16, 100.0), (64, 160.0)]);
        // Compared at 64 tokens, the longest both ran: B is faster.
        assert!(b.dominates(&a));
        assert!(!a.dominates(&b));
    }

    #[test]
    fn recommendation_is_best_quality_that_fits() {
        let f16 = quant("F16", 50.0, 3.0, 0.0);
        let q8 = quant("Q8_0", 80.0, 1.8, 0.002);
        let q4 = quant("Q4_K_M", 120.0, 1.0, 0.05);
        let chosen = recommendations(&[f16, q8, q4]);
        assert_eq!(chosen["raspberry_pi_5"], "Q8_0");
        assert_eq!(chosen["jetson_orin"], "F16");
        assert_eq!(chosen["mobile_high_end"], "F16");
    }

    fn entry_with_kld(peak_rss_bytes: u64, kld: f64, text_sha256: &str) -> QuantEntry {
        let mut entry = crate::registry::tests::sample_entry(peak_rss_bytes);
        entry.quality = Some(crate::quality::QualityRecord {
            reference_quant: "F16".into(),
            is_reference: kld == 0.0,
            mean_kld: kld,
            mean_kld_stderr: 0.0,
            kld_p99: kld,
            kld_p95: kld,
            kld_p90: kld,
            kld_median: kld,
            same_top_p: 1.0,
            same_top_p_stderr: 0.0,
            mean_delta_p: 0.0,
            rms_delta_p: 0.0,
            ppl: 10.0,
            ppl_reference: 10.0,
            ppl_ratio: 1.0,
            eval_text: crate::quality::EvalTextRecord {
                name: "text".into(),
                sha256: text_sha256.into(),
                n_tokens: 1024,
                n_ctx: 512,
                n_chunks: 2,
            },
            scored_positions: 510,
            wall_time_ms: 1.0,
            pareto_front: None,
        });
        entry
    }

    #[test]
    fn update_marks_comparable_quants_only() {
        let mut performance = Performance::default();
        let quants = &mut performance.quantizations;
        quants.insert("F16".into(), entry_with_kld(300 << 20, 0.0, "a"));
        quants.insert("Q4_K_M".into(), entry_with_kld(100 << 20, 0.07, "a"));
        // Same peak RAM and speed as Q4_K_M but worse KL divergence: dominated.
        quants.insert("Q4_0".into(), entry_with_kld(100 << 20, 0.09, "a"));
        // Measured on another text, so not comparable.
        quants.insert("Q8_0".into(), entry_with_kld(150 << 20, 0.01, "b"));
        quants.get_mut("Q8_0").unwrap().measured_at = "2025-01-01T00:00:00Z".into();
        quants.insert(
            "Q6_K".into(),
            crate::registry::tests::sample_entry(120 << 20),
        );

        update(&mut performance);
        let mark = |label: &str| {
            performance.quantizations[label]
                .quality
                .as_ref()
                .and_then(|quality| quality.pareto_front)
        };
        assert_eq!(mark("F16"), Some(true));
        assert_eq!(mark("Q4_K_M"), Some(true));
        assert_eq!(mark("Q4_0"), Some(false));
        assert_eq!(mark("Q8_0"), None);
        assert_eq!(mark("Q6_K"), None);
        let recommendations = performance.recommendations.as_ref().unwrap();
        assert_eq!(recommendations["raspberry_pi_5"], "F16");
    }

    #[test]
    fn probe_scores_are_read_from_use_cases() {
        let mut entry = entry_with_kld(1, 0.01, "a");
        entry.extra.insert(
            "use_cases".into(),
            serde_json::json!({"rag": {"score": 80.0}, "coding": {"score": 10.0}}),
        );
        let trade_off = TradeOff::of("Q8_0", &entry).unwrap();
        assert_eq!(trade_off.probe_scores.len(), 1);
        assert_eq!(trade_off.probe_scores["rag"], 80.0);
    }

    #[test]
    fn update_without_quality_clears_recommendations() {
        let mut performance = Performance {
            recommendations: Some(BTreeMap::new()),
            ..Performance::default()
        };
        performance
            .quantizations
            .insert("Q8_0".into(), crate::registry::tests::sample_entry(1));
        update(&mut performance);
        assert_eq!(performance.recommendations, None);
    }

    #[test]
    fn target_nothing_fits_is_left_out() {
        let big = quant("F16", 50.0, 3.0, 0.0);
        let chosen = recommendations(&[big]);
        assert!(!chosen.contains_key("raspberry_pi_5"));
        assert_eq!(chosen["jetson_orin"], "F16");
    }
}
