//! `slm-quant compare OLD NEW`: the change of every speed and memory metric between two
//! registries, per model × quant, and whether the change is larger than the runs' noise.
//!
//! A change is flagged (as a regression or an improvement) only when both hold:
//! - it is at least the minimum percentage of the old mean (5 % unless `--min-change-percent`);
//! - Welch's t-test on the recorded samples rejects equal means at the two-sided 95 % level,
//!   that is |new mean - old mean| > t(0.975, df) · sqrt(s_old²/n_old + s_new²/n_new), with
//!   sample standard deviations and Welch–Satterthwaite degrees of freedom rounded down.
//!
//! When only one side has two or more samples, its variance is used for the other side too, and
//! df = n - 1 of that side. When neither has (single runs, or peak memory, which is one
//! reading per quant), the spread is unknown and only the minimum percentage applies.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::ValueEnum;
use serde::Serialize;

use crate::registry::{QuantEntry, Registry};
use crate::stats::Summary;

/// Changes smaller than this percentage of the old mean are never flagged, by default.
pub const DEFAULT_MIN_CHANGE_PERCENT: f64 = 5.0;

/// Output formats of `compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    Md,
    Json,
}

/// Verdict of the comparison for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Regression,
    Improvement,
    /// At least the minimum percentage, but inside what the runs' spread allows.
    WithinNoise,
    /// Smaller than the minimum percentage.
    BelowMinimum,
}

/// The noise test of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NoiseTest {
    /// Standard error of the difference of the means.
    pub standard_error: f64,
    /// Degrees of freedom used for the critical value.
    pub degrees_of_freedom: u32,
    /// Largest change the noise explains: t(0.975, df) · standard error.
    pub noise_bound: f64,
}

/// One metric of one quant in both registries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricChange {
    pub model: String,
    pub quant: String,
    /// Stable metric key, e.g. `tokens_per_sec@n_gen=500`.
    pub metric: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub old: Summary,
    pub new: Summary,
    /// (new mean - old mean) / old mean · 100.
    pub change_percent: f64,
    /// Absent when neither side recorded two or more samples.
    pub noise: Option<NoiseTest>,
    pub verdict: Verdict,
}

/// Differences between two quant blocks that explain why their numbers may differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuantNotes {
    pub model: String,
    pub quant: String,
    pub notes: Vec<String>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub min_change_percent: f64,
    pub quants_compared: usize,
    pub changes: Vec<MetricChange>,
    pub notes: Vec<QuantNotes>,
    /// `model quant` slots present only in the old registry.
    pub only_old: Vec<String>,
    /// `model quant` slots present only in the new registry.
    pub only_new: Vec<String>,
}

impl Comparison {
    pub fn count(&self, verdict: Verdict) -> usize {
        self.changes.iter().filter(|c| c.verdict == verdict).count()
    }

    pub fn has_regression(&self) -> bool {
        self.count(Verdict::Regression) > 0
    }
}

/// Compares every quant present in both registries.
pub fn compare(old: &Registry, new: &Registry, min_change_percent: f64) -> Comparison {
    let old_slots = slots(old);
    let new_slots = slots(new);

    let mut comparison = Comparison {
        min_change_percent,
        quants_compared: 0,
        changes: Vec::new(),
        notes: Vec::new(),
        only_old: Vec::new(),
        only_new: Vec::new(),
    };
    for (key, old_entry) in &old_slots {
        let Some(new_entry) = new_slots.get(key) else {
            comparison.only_old.push(format!("{} {}", key.0, key.1));
            continue;
        };
        comparison.quants_compared += 1;
        let (model, quant) = key;
        comparison.changes.extend(compare_entries(
            model,
            quant,
            old_entry,
            new_entry,
            min_change_percent,
        ));
        let notes = entry_notes(old_entry, new_entry);
        if !notes.is_empty() {
            comparison.notes.push(QuantNotes {
                model: model.clone(),
                quant: quant.clone(),
                notes,
            });
        }
    }
    for key in new_slots.keys().filter(|key| !old_slots.contains_key(*key)) {
        comparison.only_new.push(format!("{} {}", key.0, key.1));
    }
    comparison
}

fn slots(registry: &Registry) -> BTreeMap<(String, String), &QuantEntry> {
    let mut slots = BTreeMap::new();
    for (model, entry) in &registry.models {
        for (quant, block) in &entry.performance.quantizations {
            slots.insert((model.clone(), quant.clone()), block);
        }
    }
    slots
}

/// One measured metric of a quant block.
struct Metric {
    key: String,
    unit: &'static str,
    higher_is_better: bool,
    summary: Summary,
}

const MIB: f64 = 1024.0 * 1024.0;

fn metrics(entry: &QuantEntry) -> Vec<Metric> {
    let mut metrics = Vec::new();
    for result in &entry.generation {
        metrics.push(Metric {
            key: format!("tokens_per_sec@n_gen={}", result.n_gen),
            unit: "tokens/s",
            higher_is_better: true,
            summary: result.tokens_per_sec.clone(),
        });
    }
    for result in &entry.prefill {
        metrics.push(Metric {
            key: format!("ttft_ms@n_prompt={}", result.n_prompt),
            unit: "ms",
            higher_is_better: false,
            summary: result.ttft_ms.clone(),
        });
        metrics.push(Metric {
            key: format!("prompt_tokens_per_sec@n_prompt={}", result.n_prompt),
            unit: "tokens/s",
            higher_is_better: true,
            summary: result.prompt_tokens_per_sec.clone(),
        });
    }
    let peak_mib = entry.memory.peak_rss_bytes as f64 / MIB;
    if let Some(summary) = Summary::of(&[peak_mib]) {
        metrics.push(Metric {
            key: "peak_rss_mib".into(),
            unit: "MiB",
            higher_is_better: false,
            summary,
        });
    }
    metrics
}

fn compare_entries(
    model: &str,
    quant: &str,
    old: &QuantEntry,
    new: &QuantEntry,
    min_change_percent: f64,
) -> Vec<MetricChange> {
    let new_metrics: BTreeMap<String, Metric> = metrics(new)
        .into_iter()
        .map(|metric| (metric.key.clone(), metric))
        .collect();
    let mut changes = Vec::new();
    for old_metric in metrics(old) {
        let Some(new_metric) = new_metrics.get(&old_metric.key) else {
            continue;
        };
        changes.push(judge_metric(
            model,
            quant,
            old_metric,
            new_metric.summary.clone(),
            min_change_percent,
        ));
    }
    changes
}

fn judge_metric(
    model: &str,
    quant: &str,
    old: Metric,
    new: Summary,
    min_change_percent: f64,
) -> MetricChange {
    let difference = new.mean - old.summary.mean;
    let change_percent = if old.summary.mean != 0.0 {
        difference / old.summary.mean.abs() * 100.0
    } else if difference == 0.0 {
        0.0
    } else {
        f64::INFINITY.copysign(difference)
    };
    let noise = noise_test(&old.summary, &new);
    let beyond_noise = noise.is_none_or(|test| difference.abs() > test.noise_bound);

    let verdict = if change_percent.abs() < min_change_percent {
        Verdict::BelowMinimum
    } else if !beyond_noise {
        Verdict::WithinNoise
    } else if (difference > 0.0) == old.higher_is_better {
        Verdict::Improvement
    } else {
        Verdict::Regression
    };
    MetricChange {
        model: model.into(),
        quant: quant.into(),
        metric: old.key,
        unit: old.unit,
        higher_is_better: old.higher_is_better,
        old: old.summary,
        new,
        change_percent,
        noise,
        verdict,
    }
}

/// Welch's test of the two means, or `None` when neither side has a spread.
pub fn noise_test(old: &Summary, new: &Summary) -> Option<NoiseTest> {
    let variance = |s: &Summary| (s.n >= 2).then_some(s.stddev * s.stddev);
    let (standard_error, degrees_of_freedom) = match (variance(old), variance(new)) {
        (Some(v_old), Some(v_new)) => {
            let a = v_old / old.n as f64;
            let b = v_new / new.n as f64;
            let df = if a + b > 0.0 {
                (a + b).powi(2) / (a * a / (old.n - 1) as f64 + b * b / (new.n - 1) as f64)
            } else {
                (old.n + new.n - 2) as f64
            };
            ((a + b).sqrt(), df)
        }
        (Some(v), None) => (
            (v / old.n as f64 + v / new.n as f64).sqrt(),
            (old.n - 1) as f64,
        ),
        (None, Some(v)) => (
            (v / old.n as f64 + v / new.n as f64).sqrt(),
            (new.n - 1) as f64,
        ),
        (None, None) => return None,
    };
    // Rounding df down makes the critical value larger, so fewer changes are flagged.
    let degrees_of_freedom = (degrees_of_freedom.floor() as u32).max(1);
    Some(NoiseTest {
        standard_error,
        degrees_of_freedom,
        noise_bound: t_critical_95(degrees_of_freedom) * standard_error,
    })
}

/// Two-sided 95 % critical values of Student's t for 1 to 30 degrees of freedom, from the
/// standard t table.
const T_CRITICAL_95: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// t(0.975, df). Above 30 df the table's next rows (40, 60, 120) are used, stepping down at
/// each, so the value is never smaller than the exact one.
pub fn t_critical_95(degrees_of_freedom: u32) -> f64 {
    match degrees_of_freedom {
        0 => T_CRITICAL_95[0],
        1..=30 => T_CRITICAL_95[degrees_of_freedom as usize - 1],
        31..=39 => T_CRITICAL_95[29],
        40..=59 => 2.021,
        60..=119 => 2.000,
        120..=999 => 1.980,
        _ => 1.960,
    }
}

/// Lists the differences that make two blocks of one quant unlike (file, settings, build,
/// CPU).
fn entry_notes(old: &QuantEntry, new: &QuantEntry) -> Vec<String> {
    let mut notes = Vec::new();
    if old.measured_at == new.measured_at && old == new {
        notes.push(format!("same measurement ({})", old.measured_at));
        return notes;
    }
    if old.file.sha256 != new.file.sha256 {
        notes.push(format!(
            "GGUF file changed (sha256 {} → {})",
            short(&old.file.sha256),
            short(&new.file.sha256)
        ));
    }
    if old.settings != new.settings {
        notes.push("bench settings changed".into());
    }
    let build = |e: &QuantEntry| {
        format!(
            "slm-quant {}, llama-cpp-2 {}, {}",
            e.run.slm_quant_version,
            e.run.llama_cpp_2_version,
            e.run.cpu_features.join("+")
        )
    };
    if build(old) != build(new) {
        notes.push(format!("build changed ({} → {})", build(old), build(new)));
    }
    if old.run.hardware.cpu_model != new.run.hardware.cpu_model {
        notes.push(format!(
            "CPU changed ({} → {})",
            old.run.hardware.cpu_model, new.run.hardware.cpu_model
        ));
    }
    notes
}

fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// Renders the comparison in `format`.
pub fn render(comparison: &Comparison, format: CompareFormat) -> String {
    match format {
        CompareFormat::Md => render_markdown(comparison),
        CompareFormat::Json => {
            let mut json = serde_json::to_string_pretty(comparison).expect("comparison serialises");
            json.push('\n');
            json
        }
    }
}

fn render_markdown(comparison: &Comparison) -> String {
    let mut out = String::from("## Registry comparison\n\n");
    let _ = writeln!(
        out,
        "{} quant(s) compared: {} regression(s), {} improvement(s), {} change(s) within noise, \
         {} below {}%.\n",
        comparison.quants_compared,
        comparison.count(Verdict::Regression),
        comparison.count(Verdict::Improvement),
        comparison.count(Verdict::WithinNoise),
        comparison.count(Verdict::BelowMinimum),
        comparison.min_change_percent,
    );
    let _ = writeln!(
        out,
        "A change is flagged when it is at least {}% of the old mean and Welch's t-test on the \
         recorded runs rejects equal means at the 95% level (two-sided).\n",
        comparison.min_change_percent
    );

    for (title, verdict) in [
        ("Regressions", Verdict::Regression),
        ("Improvements", Verdict::Improvement),
    ] {
        let flagged: Vec<&MetricChange> = comparison
            .changes
            .iter()
            .filter(|c| c.verdict == verdict)
            .collect();
        if !flagged.is_empty() {
            let _ = writeln!(out, "### {title}\n");
            out.push_str(&change_table(&flagged));
            out.push('\n');
        }
    }

    if !comparison.notes.is_empty() {
        out.push_str("### Notes\n\n");
        for quant in &comparison.notes {
            let _ = writeln!(
                out,
                "- {} {}: {}",
                quant.model,
                quant.quant,
                quant.notes.join("; ")
            );
        }
        out.push('\n');
    }
    for (title, slots) in [
        ("Only in the old registry", &comparison.only_old),
        ("Only in the new registry", &comparison.only_new),
    ] {
        if !slots.is_empty() {
            let _ = writeln!(out, "### {title}\n\n{}\n", slots.join(", "));
        }
    }

    if !comparison.changes.is_empty() {
        let all: Vec<&MetricChange> = comparison.changes.iter().collect();
        out.push_str("<details><summary>All metrics</summary>\n\n");
        out.push_str(&change_table(&all));
        out.push_str("\n</details>\n");
    }
    out
}

fn change_table(changes: &[&MetricChange]) -> String {
    let mut out = String::from(
        "| model | quant | metric | old (mean ± sd, n) | new (mean ± sd, n) | change \
         | noise bound | verdict |\n|---|---|---|---|---|---|---|---|\n",
    );
    for change in changes {
        let noise = change.noise.map_or_else(
            || "unknown".to_string(),
            |test| format!("± {}", figure(test.noise_bound)),
        );
        let _ = writeln!(
            out,
            "| {} | {} | {} ({}) | {} | {} | {:+.1}% | {} | {} |",
            change.model,
            change.quant,
            change.metric,
            change.unit,
            summary_cell(&change.old),
            summary_cell(&change.new),
            change.change_percent,
            noise,
            verdict_name(change.verdict),
        );
    }
    out
}

fn summary_cell(summary: &Summary) -> String {
    format!(
        "{} ± {}, {}",
        figure(summary.mean),
        figure(summary.stddev),
        summary.n
    )
}

/// Formats a number with three significant digits, enough to read a change of a few percent.
fn figure(value: f64) -> String {
    let magnitude = if value == 0.0 {
        0
    } else {
        value.abs().log10().floor() as i32
    };
    let decimals = (2 - magnitude).clamp(0, 6) as usize;
    format!("{value:.decimals$}")
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Regression => "regression",
        Verdict::Improvement => "improvement",
        Verdict::WithinNoise => "within noise",
        Verdict::BelowMinimum => "below minimum",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::GenerationResult;
    use crate::profile::Source;
    use crate::registry::tests::sample_entry;
    use crate::registry::ModelHeader;

    fn summary(samples: &[f64]) -> Summary {
        Summary::of(samples).unwrap()
    }

    fn tps_change(old: &[f64], new: &[f64]) -> MetricChange {
        let metric = Metric {
            key: "tokens_per_sec@n_gen=100".into(),
            unit: "tokens/s",
            higher_is_better: true,
            summary: summary(old),
        };
        judge_metric(
            "m",
            "Q8_0",
            metric,
            summary(new),
            DEFAULT_MIN_CHANGE_PERCENT,
        )
    }

    fn ttft_change(old: &[f64], new: &[f64]) -> MetricChange {
        let metric = Metric {
            key: "ttft_ms@n_prompt=512".into(),
            unit: "ms",
            higher_is_better: false,
            summary: summary(old),
        };
        judge_metric(
            "m",
            "Q8_0",
            metric,
            summary(new),
            DEFAULT_MIN_CHANGE_PERCENT,
        )
    }

    #[test]
    fn change_inside_noise_is_not_flagged() {
        // 10 % slower on average, but the runs scatter by more than that.
        let change = tps_change(&[100.0, 80.0, 120.0], &[90.0, 70.0, 110.0]);
        assert!(change.change_percent < -5.0, "{change:?}");
        assert_eq!(change.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn small_significant_change_is_below_minimum() {
        // Tight runs make a 2 % drop statistically real, but it is under 5 %.
        let change = tps_change(&[100.0, 100.1, 99.9], &[98.0, 98.1, 97.9]);
        assert!(change.noise.unwrap().noise_bound < 2.0, "{change:?}");
        assert_eq!(change.verdict, Verdict::BelowMinimum);
    }

    #[test]
    fn large_drop_in_speed_is_regression() {
        let change = tps_change(&[100.0, 101.0, 99.0], &[80.0, 81.0, 79.0]);
        assert_eq!(change.verdict, Verdict::Regression);
        assert!((change.change_percent + 20.0).abs() < 1e-9, "{change:?}");
    }

    #[test]
    fn large_rise_in_speed_is_improvement() {
        let change = tps_change(&[100.0, 101.0, 99.0], &[120.0, 121.0, 119.0]);
        assert_eq!(change.verdict, Verdict::Improvement);
    }

    #[test]
    fn lower_is_better_metrics_flip_direction() {
        let slower = ttft_change(&[50.0, 51.0, 49.0], &[70.0, 71.0, 69.0]);
        assert_eq!(slower.verdict, Verdict::Regression);
        let faster = ttft_change(&[50.0, 51.0, 49.0], &[30.0, 31.0, 29.0]);
        assert_eq!(faster.verdict, Verdict::Improvement);
    }

    #[test]
    fn single_runs_use_only_minimum_percent() {
        let change = tps_change(&[100.0], &[90.0]);
        assert!(change.noise.is_none());
        assert_eq!(change.verdict, Verdict::Regression);
        let small = tps_change(&[100.0], &[97.0]);
        assert_eq!(small.verdict, Verdict::BelowMinimum);
    }

    #[test]
    fn one_sided_spread_stands_in_for_other() {
        let test = noise_test(&summary(&[100.0, 110.0, 90.0]), &summary(&[50.0])).unwrap();
        // s = 10, so se = sqrt(100/3 + 100/1) and df = 2.
        assert_eq!(test.degrees_of_freedom, 2);
        let expected = (100.0f64 / 3.0 + 100.0).sqrt();
        assert!((test.standard_error - expected).abs() < 1e-9);
        assert!((test.noise_bound - 4.303 * expected).abs() < 1e-9);
    }

    #[test]
    fn welch_degrees_of_freedom_match_hand_computation() {
        // a = 4/2 = 2, b = 16/4 = 4, df = 36 / (4/1 + 16/3) = 3.857..., rounded down to 3.
        let old = Summary {
            n: 2,
            mean: 0.0,
            stddev: 2.0,
            median: 0.0,
            min: 0.0,
            max: 0.0,
            samples: vec![],
        };
        let new = Summary {
            n: 4,
            stddev: 4.0,
            ..old.clone()
        };
        let test = noise_test(&old, &new).unwrap();
        assert_eq!(test.degrees_of_freedom, 3);
        assert!((test.standard_error - 6.0f64.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn critical_values_shrink_with_df() {
        assert_eq!(t_critical_95(1), 12.706);
        assert_eq!(t_critical_95(4), 2.776);
        assert_eq!(t_critical_95(35), 2.042);
        assert_eq!(t_critical_95(100), 2.000);
        assert_eq!(t_critical_95(5000), 1.960);
    }

    fn registry_with(entries: &[(&str, &str, QuantEntry)]) -> Registry {
        let mut registry = Registry::default();
        for (model, quant, entry) in entries {
            let header = ModelHeader {
                id: model.to_string(),
                display_name: model.to_string(),
                notes: None,
                source: Source::Directory {
                    path: "models".into(),
                },
            };
            registry.upsert_quant(header, quant, entry.clone());
        }
        registry
    }

    fn entry_with_tps(samples: &[f64]) -> QuantEntry {
        let mut entry = sample_entry(100 << 20);
        entry.generation = vec![GenerationResult {
            n_gen: 100,
            n_prompt: 32,
            tokens_per_sec: summary(samples),
        }];
        entry
    }

    #[test]
    fn registries_compare_per_slot() {
        let old = registry_with(&[
            ("m", "Q8_0", entry_with_tps(&[100.0, 101.0, 99.0])),
            ("m", "F16", entry_with_tps(&[50.0, 51.0, 49.0])),
        ]);
        let mut slower = entry_with_tps(&[70.0, 71.0, 69.0]);
        slower.measured_at = "2026-01-02T00:00:00Z".into();
        let new = registry_with(&[
            ("m", "Q8_0", slower),
            ("m", "Q4_K_M", entry_with_tps(&[150.0])),
        ]);

        let comparison = compare(&old, &new, DEFAULT_MIN_CHANGE_PERCENT);
        assert_eq!(comparison.quants_compared, 1);
        assert_eq!(comparison.only_old, vec!["m F16"]);
        assert_eq!(comparison.only_new, vec!["m Q4_K_M"]);
        assert!(comparison.has_regression());
        let tps = comparison
            .changes
            .iter()
            .find(|c| c.metric == "tokens_per_sec@n_gen=100")
            .unwrap();
        assert_eq!(tps.verdict, Verdict::Regression);
        let memory = comparison
            .changes
            .iter()
            .find(|c| c.metric == "peak_rss_mib")
            .unwrap();
        assert_eq!(memory.verdict, Verdict::BelowMinimum);
    }

    #[test]
    fn identical_registries_flag_nothing() {
        let registry = registry_with(&[("m", "Q8_0", entry_with_tps(&[100.0, 90.0]))]);
        let comparison = compare(&registry, &registry, DEFAULT_MIN_CHANGE_PERCENT);
        assert!(!comparison.has_regression());
        assert_eq!(comparison.count(Verdict::Improvement), 0);
        assert!(comparison.notes[0].notes[0].starts_with("same measurement"));
    }

    #[test]
    fn markdown_lists_regressions_first() {
        let old = registry_with(&[("m", "Q8_0", entry_with_tps(&[100.0, 101.0, 99.0]))]);
        let mut slower = entry_with_tps(&[70.0, 71.0, 69.0]);
        slower.file.sha256 = "ff".repeat(32);
        let new = registry_with(&[("m", "Q8_0", slower)]);
        let text = render(
            &compare(&old, &new, DEFAULT_MIN_CHANGE_PERCENT),
            CompareFormat::Md,
        );
        assert!(
            text.contains("1 quant(s) compared: 1 regression(s), 0 improvement(s)"),
            "{text}"
        );
        let regressions = text.find("### Regressions").unwrap();
        let row = text
            .find(
                "| m | Q8_0 | tokens_per_sec@n_gen=100 (tokens/s) | 100 ± 1.00, 3 \
                 | 70.0 ± 1.00, 3 | -30.0% |",
            )
            .unwrap();
        assert!(regressions < row, "{text}");
        assert!(text.contains("GGUF file changed"), "{text}");
    }

    #[test]
    fn figures_keep_three_significant_digits() {
        assert_eq!(figure(1234.4), "1234");
        assert_eq!(figure(98.76), "98.8");
        assert_eq!(figure(0.012345), "0.0123");
        assert_eq!(figure(0.0), "0.00");
    }
}
