//! Comparison of a model's quants against its reference quant: the figures the terminal
//! report and the model page show side by side, and their ratios to the reference.

pub mod table;

use serde::Serialize;

use crate::registry::{
    ModelEntry, QuantEntry, Registry, HEADLINE_CONTEXT_LENGTH, HEADLINE_OUTPUT_LENGTH,
};
use crate::registry_blocks::QuantBlocks;

/// One model's quants, each with its figures and its ratios to the reference quant.
#[derive(Debug, Clone, Serialize)]
pub struct ModelComparison {
    pub model: String,
    pub display_name: String,
    /// Quant the ratios are taken against; `None` only for a model without quants.
    pub reference_quant: Option<String>,
    /// Output length whose tokens/s is compared, when every quant measured a common one.
    pub output_length: Option<u32>,
    /// Prompt length whose TTFT is compared, when every quant measured a common one.
    pub context_length: Option<u32>,
    /// Quants from the largest file to the smallest.
    pub quants: Vec<QuantComparison>,
}

/// Figures of one quant; `None` means not measured.
#[derive(Debug, Clone, Serialize)]
pub struct QuantComparison {
    pub quant: String,
    pub file_bytes: u64,
    pub tokens_per_sec: Option<f64>,
    pub ttft_ms: Option<f64>,
    pub peak_rss_bytes: u64,
    pub rag_score: Option<f64>,
    pub function_calling_score: Option<f64>,
    pub mean_kld: Option<f64>,
    pub ppl_ratio: Option<f64>,
    pub same_top_p: Option<f64>,
    pub measured_at: String,
    /// Ratios to the reference quant; `None` for the reference itself.
    pub vs_reference: Option<VsReference>,
}

/// This quant's figures relative to the reference: ratios for speed and memory, differences
/// in points for scores. A field is `None` when either side was not measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VsReference {
    pub tokens_per_sec_ratio: Option<f64>,
    pub ttft_ratio: Option<f64>,
    pub peak_rss_ratio: Option<f64>,
    pub file_size_ratio: Option<f64>,
    pub rag_points: Option<f64>,
    pub function_calling_points: Option<f64>,
}

/// Compares the quants of every model in `registry`, or only of `only_model`.
pub fn compare_registry(
    registry: &Registry,
    only_model: Option<&str>,
) -> anyhow::Result<Vec<ModelComparison>> {
    if let Some(id) = only_model {
        let Some(model) = registry.models.get(id) else {
            let known: Vec<&str> = registry.models.keys().map(String::as_str).collect();
            anyhow::bail!(
                "model `{id}` is not in the registry; models it has: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            );
        };
        return Ok(vec![compare_model(model)]);
    }
    Ok(registry.models.values().map(compare_model).collect())
}

/// Compares the quants of one model.
pub fn compare_model(model: &ModelEntry) -> ModelComparison {
    let entries = &model.performance.quantizations;
    let blocks: Vec<(&String, &QuantEntry, QuantBlocks)> = entries
        .iter()
        .map(|(quant, entry)| (quant, entry, QuantBlocks::of(quant, entry)))
        .collect();

    let output_length = common_length(
        entries
            .values()
            .map(|e| e.generation.iter().map(|g| g.n_gen).collect()),
        HEADLINE_OUTPUT_LENGTH,
    );
    let context_length = common_length(
        entries
            .values()
            .map(|e| e.prefill.iter().map(|p| p.n_prompt).collect()),
        HEADLINE_CONTEXT_LENGTH,
    );

    let mut quants: Vec<QuantComparison> = blocks
        .iter()
        .map(|(quant, entry, blocks)| figures(quant, entry, blocks, output_length, context_length))
        .collect();
    quants.sort_by(|a, b| b.file_bytes.cmp(&a.file_bytes).then(a.quant.cmp(&b.quant)));

    let reference_quant = reference_quant(&blocks, &quants);
    if let Some(reference) = reference_quant
        .as_ref()
        .and_then(|name| quants.iter().find(|q| &q.quant == name))
        .cloned()
    {
        for quant in quants.iter_mut().filter(|q| q.quant != reference.quant) {
            quant.vs_reference = Some(vs_reference(quant, &reference));
        }
    }

    ModelComparison {
        model: model.id.clone(),
        display_name: model.display_name.clone(),
        reference_quant,
        output_length,
        context_length,
        quants,
    }
}

/// The length every quant measured: the headline length when all have it, otherwise the
/// largest length they share, otherwise `None`.
fn common_length(per_quant: impl Iterator<Item = Vec<u32>>, headline: u32) -> Option<u32> {
    let mut shared: Option<Vec<u32>> = None;
    for lengths in per_quant {
        shared = Some(match shared {
            None => lengths,
            Some(previous) => previous
                .into_iter()
                .filter(|n| lengths.contains(n))
                .collect(),
        });
    }
    let shared = shared?;
    if shared.contains(&headline) {
        return Some(headline);
    }
    shared.into_iter().max()
}

/// The quant the quality measurement used as its reference; without one, the quant with the
/// largest file, which is the least quantized.
fn reference_quant(
    blocks: &[(&String, &QuantEntry, QuantBlocks)],
    quants: &[QuantComparison],
) -> Option<String> {
    let present = |name: &str| quants.iter().any(|q| q.quant == name);
    let named = blocks.iter().find_map(|(_, _, b)| {
        b.quality
            .as_ref()
            .and_then(|q| q.reference_quant.clone())
            .filter(|name| present(name))
    });
    let flagged = || {
        blocks
            .iter()
            .find(|(_, _, b)| b.quality.as_ref().and_then(|q| q.is_reference) == Some(true))
            .map(|(quant, _, _)| quant.to_string())
    };
    named
        .or_else(flagged)
        .or_else(|| quants.first().map(|q| q.quant.clone()))
}

fn figures(
    quant: &str,
    entry: &QuantEntry,
    blocks: &QuantBlocks,
    output_length: Option<u32>,
    context_length: Option<u32>,
) -> QuantComparison {
    let tokens_per_sec = output_length.and_then(|n| {
        entry
            .generation
            .iter()
            .find(|g| g.n_gen == n)
            .map(|g| g.tokens_per_sec.mean)
    });
    let ttft_ms = context_length.and_then(|n| {
        entry
            .prefill
            .iter()
            .find(|p| p.n_prompt == n)
            .map(|p| p.ttft_ms.mean)
    });
    let quality = blocks.quality.as_ref();
    QuantComparison {
        quant: quant.to_string(),
        file_bytes: entry.file.bytes,
        tokens_per_sec,
        ttft_ms,
        peak_rss_bytes: entry.memory.peak_rss_bytes,
        rag_score: blocks.rag.as_ref().and_then(|b| b.score),
        function_calling_score: blocks.function_calling.as_ref().and_then(|b| b.score),
        mean_kld: quality.and_then(|q| q.mean_kld),
        ppl_ratio: quality.and_then(|q| q.ppl_ratio),
        same_top_p: quality.and_then(|q| q.same_top_p),
        measured_at: entry.measured_at.clone(),
        vs_reference: None,
    }
}

fn vs_reference(quant: &QuantComparison, reference: &QuantComparison) -> VsReference {
    let ratio = |value: Option<f64>, base: Option<f64>| match (value, base) {
        (Some(value), Some(base)) if base > 0.0 => Some(value / base),
        _ => None,
    };
    let points = |value: Option<f64>, base: Option<f64>| Some(value? - base?);
    VsReference {
        tokens_per_sec_ratio: ratio(quant.tokens_per_sec, reference.tokens_per_sec),
        ttft_ratio: ratio(quant.ttft_ms, reference.ttft_ms),
        peak_rss_ratio: ratio(
            Some(quant.peak_rss_bytes as f64),
            Some(reference.peak_rss_bytes as f64),
        ),
        file_size_ratio: ratio(
            Some(quant.file_bytes as f64),
            Some(reference.file_bytes as f64),
        ),
        rag_points: points(quant.rag_score, reference.rag_score),
        function_calling_points: points(
            quant.function_calling_score,
            reference.function_calling_score,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::sample_entry;
    use crate::registry::ModelHeader;
    use crate::stats::Summary;
    use serde_json::json;

    fn entry(file_bytes: u64, tps: f64, ram: u64) -> QuantEntry {
        let mut entry = sample_entry(ram);
        entry.file.bytes = file_bytes;
        entry.generation[0].tokens_per_sec = Summary::of(&[tps]).unwrap();
        entry
    }

    fn registry() -> Registry {
        let header = ModelHeader {
            id: "m".into(),
            display_name: "M".into(),
            notes: None,
            source: crate::profile::Source::Directory {
                path: "models".into(),
            },
        };
        let mut registry = Registry::default();
        registry.upsert_quant(header.clone(), "F16", entry(400, 10.0, 1000));
        let mut small = entry(100, 19.0, 400);
        small
            .extra
            .insert("use_cases".into(), json!({"rag": {"score": 60.0}}));
        registry.upsert_quant(header.clone(), "Q4_K_M", small);
        registry.upsert_quant(header, "Q8_0", entry(200, 15.0, 600));
        let f16 = registry
            .models
            .get_mut("m")
            .unwrap()
            .performance
            .quantizations
            .get_mut("F16")
            .unwrap();
        f16.extra
            .insert("use_cases".into(), json!({"rag": {"score": 63.0}}));
        registry
    }

    #[test]
    fn quants_sorted_largest_first() {
        let comparison = compare_registry(&registry(), None).unwrap();
        let order: Vec<&str> = comparison[0]
            .quants
            .iter()
            .map(|q| q.quant.as_str())
            .collect();
        assert_eq!(order, ["F16", "Q8_0", "Q4_K_M"]);
    }

    #[test]
    fn ratios_against_largest_file() {
        let comparison = &compare_registry(&registry(), Some("m")).unwrap()[0];
        assert_eq!(comparison.reference_quant.as_deref(), Some("F16"));
        assert!(comparison.quants[0].vs_reference.is_none());
        let small = comparison.quants[2].vs_reference.as_ref().unwrap();
        assert_eq!(small.tokens_per_sec_ratio, Some(1.9));
        assert_eq!(small.peak_rss_ratio, Some(0.4));
        assert_eq!(small.file_size_ratio, Some(0.25));
        assert_eq!(small.rag_points, Some(-3.0));
        assert_eq!(small.function_calling_points, None);
        let middle = comparison.quants[1].vs_reference.as_ref().unwrap();
        assert_eq!(middle.rag_points, None);
    }

    #[test]
    fn quality_reference_wins() {
        let mut registry = registry();
        let quants = &mut registry
            .models
            .get_mut("m")
            .unwrap()
            .performance
            .quantizations;
        quants
            .get_mut("Q4_K_M")
            .unwrap()
            .extra
            .insert("quality".into(), json!({"reference_quant": "Q8_0"}));
        let comparison = compare_model(&registry.models["m"]);
        assert_eq!(comparison.reference_quant.as_deref(), Some("Q8_0"));
        assert!(comparison.quants[1].vs_reference.is_none());
        assert!(comparison.quants[0].vs_reference.is_some());
    }

    #[test]
    fn unknown_model_lists_known_ones() {
        let error = compare_registry(&registry(), Some("x")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "model `x` is not in the registry; models it has: m"
        );
    }

    #[test]
    fn common_length_prefers_headline() {
        let lengths = || vec![vec![16, 500, 1000], vec![500, 16]].into_iter();
        assert_eq!(common_length(lengths(), 500), Some(500));
        assert_eq!(common_length(lengths(), 100), Some(500));
        let disjoint = vec![vec![16], vec![32]].into_iter();
        assert_eq!(common_length(disjoint, 500), None);
        assert_eq!(common_length(std::iter::empty(), 500), None);
    }
}
