//! Read-only typed views of the optional registry blocks that the RAG, function-calling and
//! quality measurements write: `use_cases`, `quality` and the model's `recommendations`.
//!
//! The views read an entry through its JSON form rather than through Rust fields, so they
//! work whether a block is a typed field of `QuantEntry` or still an unknown key kept in its
//! `extra` map. A block that does not match the expected shape is logged and treated as not
//! measured, because a report should still show everything else.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::registry::{Performance, QuantEntry};

/// RAG benchmark keys in the order pages and tables show them.
pub const RAG_BENCHMARKS: &[(&str, &str)] = &[
    ("niah", "NIAH"),
    ("ruler", "RULER"),
    ("ragtruth", "RAGTruth"),
    ("frames", "FRAMES"),
];

/// Function-calling categories in the order pages and tables show them.
pub const FUNCTION_CALLING_CATEGORIES: &[(&str, &str)] = &[
    ("bfcl_v2", "BFCL v2"),
    ("single_function", "single"),
    ("multiple_functions", "multiple"),
    ("parallel_functions", "parallel"),
    ("parallel_multiple", "parallel multiple"),
    ("irrelevance", "irrelevance"),
    ("multi_turn", "multi-turn"),
];

/// Result of the RAG probes for one quant (`use_cases.rag`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RagBlock {
    /// Aggregate score, 0-100.
    pub score: Option<f64>,
    pub recommended: Option<bool>,
    pub seed: Option<u64>,
    /// Score per benchmark (`niah`, `ruler`, `ragtruth`, `frames`), 0-100 each.
    pub benchmarks: BTreeMap<String, f64>,
    /// Share of answers with claims absent from the context, 0-1.
    pub hallucination_rate: Option<f64>,
    /// Accuracy without the context, 0-1.
    pub closed_book_accuracy: Option<f64>,
    pub niah_grid: Vec<NiahCell>,
    pub wall_time_ms: Option<f64>,
    pub prefill_tokens: Option<u64>,
    pub results_file: Option<String>,
}

/// Needle-in-a-haystack accuracy at one context length and needle depth.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct NiahCell {
    pub context_tokens: u64,
    pub depth_percent: f64,
    /// Share of trials that found the needle, 0-1.
    pub accuracy: f64,
    #[serde(default)]
    pub trials: Option<u64>,
}

/// Result of the function-calling probes for one quant (`use_cases.function_calling`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct FunctionCallingBlock {
    /// Aggregate score, 0-100.
    pub score: Option<f64>,
    pub recommended: Option<bool>,
    /// `template` when the model's chat template declares tools, else `fallback_prompt`.
    pub mode: Option<String>,
    /// Score per category, 0-100 each.
    pub benchmarks: BTreeMap<String, f64>,
    /// Failed cases per error type.
    pub error_counts: BTreeMap<String, u64>,
    pub cases: Option<u64>,
    pub wall_time_ms: Option<f64>,
    pub results_file: Option<String>,
}

/// A use case this build has no dedicated view for (coding, reasoning): its score and
/// per-benchmark scores, when a later measurement writes them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct OtherUseCaseBlock {
    pub score: Option<f64>,
    pub recommended: Option<bool>,
    pub benchmarks: BTreeMap<String, f64>,
}

/// Drift of one quant's next-token distribution from the reference quant (`quality`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct QualityBlock {
    pub reference_quant: Option<String>,
    pub is_reference: Option<bool>,
    /// Mean KL divergence from the reference distribution, in nats per token.
    pub mean_kld: Option<f64>,
    pub mean_kld_stderr: Option<f64>,
    pub kld_p99: Option<f64>,
    pub kld_p95: Option<f64>,
    pub kld_p90: Option<f64>,
    pub kld_median: Option<f64>,
    /// Share of positions where the top token matches the reference, 0-1.
    pub same_top_p: Option<f64>,
    pub same_top_p_stderr: Option<f64>,
    pub mean_delta_p: Option<f64>,
    pub rms_delta_p: Option<f64>,
    pub ppl: Option<f64>,
    pub ppl_reference: Option<f64>,
    pub ppl_ratio: Option<f64>,
    pub eval_text: Option<EvalText>,
    /// True when no other quant is both smaller and closer to the reference.
    pub pareto_front: Option<bool>,
}

/// The text the quality measurement evaluated.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct EvalText {
    pub name: Option<String>,
    pub sha256: Option<String>,
    pub n_tokens: Option<u64>,
    pub n_ctx: Option<u64>,
    pub n_chunks: Option<u64>,
}

/// The optional blocks of one quant entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuantBlocks {
    pub rag: Option<RagBlock>,
    pub function_calling: Option<FunctionCallingBlock>,
    /// Other use cases by key, e.g. `coding`, `reasoning`.
    pub other_use_cases: BTreeMap<String, OtherUseCaseBlock>,
    pub quality: Option<QualityBlock>,
}

impl QuantBlocks {
    /// Reads the optional blocks of `entry`; `quant` only names it in log lines.
    pub fn of(quant: &str, entry: &QuantEntry) -> QuantBlocks {
        let value = match serde_json::to_value(entry) {
            Ok(value) => value,
            Err(error) => {
                tracing::warn!(quant, %error, "cannot read the optional blocks of a quant");
                return QuantBlocks::default();
            }
        };
        let use_cases = value.get("use_cases");
        let mut blocks = QuantBlocks {
            rag: read_block(quant, "use_cases.rag", use_cases.and_then(|v| v.get("rag"))),
            function_calling: read_block(
                quant,
                "use_cases.function_calling",
                use_cases.and_then(|v| v.get("function_calling")),
            ),
            other_use_cases: BTreeMap::new(),
            quality: read_block(quant, "quality", value.get("quality")),
        };
        if let Some(Value::Object(cases)) = use_cases {
            for (name, case) in cases {
                if name == "rag" || name == "function_calling" {
                    continue;
                }
                let path = format!("use_cases.{name}");
                if let Some(block) = read_block(quant, &path, Some(case)) {
                    blocks.other_use_cases.insert(name.clone(), block);
                }
            }
        }
        blocks
    }
}

/// Reads the recommended quant per deployment target (`performance.recommendations`); the
/// map is empty when none was recorded.
pub fn recommendations(model: &str, performance: &Performance) -> BTreeMap<String, String> {
    let value = performance
        .extra
        .get("recommendations")
        .cloned()
        .or_else(|| {
            serde_json::to_value(performance)
                .ok()
                .and_then(|v| v.get("recommendations").cloned())
        });
    let targets: BTreeMap<String, Value> =
        read_block(model, "performance.recommendations", value.as_ref()).unwrap_or_default();
    // A target maps to a quant label. An object with a `quant` key is read the same way, so
    // a richer recommendation record still shows its label.
    targets
        .into_iter()
        .filter_map(|(target, choice)| {
            let label = match &choice {
                Value::String(label) => Some(label.clone()),
                Value::Object(fields) => {
                    fields.get("quant").and_then(Value::as_str).map(Into::into)
                }
                _ => None,
            };
            label.map(|label| (target, label))
        })
        .collect()
}

fn read_block<T: DeserializeOwned>(owner: &str, path: &str, value: Option<&Value>) -> Option<T> {
    let value = value.filter(|v| !v.is_null())?;
    match T::deserialize(value) {
        Ok(block) => Some(block),
        Err(error) => {
            tracing::warn!(
                owner,
                block = path,
                %error,
                "ignoring a registry block that does not match the expected shape"
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::sample_entry;
    use serde_json::json;

    #[test]
    fn absent_blocks_read_as_none() {
        let blocks = QuantBlocks::of("Q8_0", &sample_entry(1));
        assert_eq!(blocks, QuantBlocks::default());
    }

    #[test]
    fn blocks_are_read_from_unknown_keys() {
        let mut entry = sample_entry(1);
        entry.extra.insert(
            "use_cases".into(),
            json!({
                "rag": {"score": 71.5, "benchmarks": {"niah": 90.0},
                        "niah_grid": [{"context_tokens": 512, "depth_percent": 50,
                                       "accuracy": 0.75, "trials": 4}]},
                "function_calling": {"score": 40, "mode": "fallback_prompt",
                                     "error_counts": {"wrong_name": 3}},
                "coding": {"score": 12.0}
            }),
        );
        entry.extra.insert(
            "quality".into(),
            json!({"mean_kld": 0.02, "pareto_front": true}),
        );

        let blocks = QuantBlocks::of("Q8_0", &entry);
        let rag = blocks.rag.unwrap();
        assert_eq!(rag.score, Some(71.5));
        assert_eq!(rag.benchmarks["niah"], 90.0);
        assert_eq!(rag.niah_grid[0].accuracy, 0.75);
        let calling = blocks.function_calling.unwrap();
        assert_eq!(calling.mode.as_deref(), Some("fallback_prompt"));
        assert_eq!(calling.error_counts["wrong_name"], 3);
        assert_eq!(blocks.other_use_cases["coding"].score, Some(12.0));
        let quality = blocks.quality.unwrap();
        assert_eq!(quality.mean_kld, Some(0.02));
        assert_eq!(quality.pareto_front, Some(true));
    }

    #[test]
    fn misshapen_block_is_skipped_alone() {
        let mut entry = sample_entry(1);
        entry.extra.insert(
            "use_cases".into(),
            json!({"rag": {"score": "high"}, "function_calling": {"score": 55}}),
        );
        let blocks = QuantBlocks::of("Q8_0", &entry);
        assert!(blocks.rag.is_none());
        assert_eq!(blocks.function_calling.unwrap().score, Some(55.0));
    }

    #[test]
    fn recommendations_read_from_performance() {
        let mut performance = Performance::default();
        assert!(recommendations("m", &performance).is_empty());
        performance.extra.insert(
            "recommendations".into(),
            json!({"raspberry_pi_5": "Q4_K_M", "jetson_orin": "Q8_0"}),
        );
        let found = recommendations("m", &performance);
        assert_eq!(found["raspberry_pi_5"], "Q4_K_M");
        assert_eq!(found.len(), 2);
    }
}
