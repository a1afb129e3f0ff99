//! Quality loss of each quant against the reference quant: how far its next-token
//! distributions drift (KL divergence, top-token agreement, perplexity) on one evaluation
//! text, and which quants are worth deploying given their speed and memory.
//!
//! The reference quant's log-probabilities are computed once per reference file, evaluation
//! text and chunk size, in their own process, and cached on disk ([`reference`]). Every
//! quant's measuring process then streams that file and compares ([`evaluate`]). The parent
//! marks the Pareto front and the per-target recommendations after each write ([`tradeoff`]).

pub mod divergence;
pub mod eval_text;
pub mod evaluate;
pub mod orchestrate;
pub mod reference;
pub mod tradeoff;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::quant::QuantLabel;

/// The `[quality]` table of a profile. Every field has a default, so the table may be omitted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySettings {
    /// Quant every other is compared with; by default the declared quant with the most bits
    /// per weight (F16 when declared).
    pub reference: Option<QuantLabel>,
    /// Tokens per chunk; the second half of each chunk is scored.
    pub n_ctx: u32,
    /// Chunks of the evaluation text scored.
    pub n_chunks: u32,
    /// A UTF-8 text file to score on, instead of the generated prose; a relative path is taken
    /// from the folder of the profile file.
    pub eval_text: Option<PathBuf>,
    /// Seed of the generated prose.
    pub seed: u64,
}

impl Default for QualitySettings {
    fn default() -> Self {
        QualitySettings {
            reference: None,
            n_ctx: 512,
            n_chunks: 8,
            eval_text: None,
            seed: 42,
        }
    }
}

impl QualitySettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.n_ctx < 4 {
            return Err("quality.n_ctx must be at least 4 tokens".into());
        }
        if self.n_chunks == 0 {
            return Err("quality.n_chunks must be at least 1".into());
        }
        Ok(())
    }
}

/// Inputs a measuring process needs to compare its quant with the reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityRequest {
    /// The reference file, as written by [`evaluate::build_reference`].
    pub reference_file: PathBuf,
    pub reference_quant: QuantLabel,
    /// Whether the quant being measured is the reference itself.
    pub is_reference: bool,
}

/// The evaluation text as the registry records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalTextRecord {
    pub name: String,
    pub sha256: String,
    /// Tokens of the whole text, BOS included when the model adds one.
    pub n_tokens: u64,
    pub n_ctx: u32,
    pub n_chunks: u32,
}

/// The `quality` block of a quant in the registry: drift from the reference quant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityRecord {
    pub reference_quant: String,
    pub is_reference: bool,
    /// Mean KL divergence D(reference || quant) per scored position, in nats.
    pub mean_kld: f64,
    pub mean_kld_stderr: f64,
    pub kld_p99: f64,
    pub kld_p95: f64,
    pub kld_p90: f64,
    pub kld_median: f64,
    /// Share of positions (0-1) where the quant's most likely token is the reference's.
    pub same_top_p: f64,
    pub same_top_p_stderr: f64,
    /// Mean change of the probability of the reference's top token (quant minus reference).
    pub mean_delta_p: f64,
    pub rms_delta_p: f64,
    pub ppl: f64,
    pub ppl_reference: f64,
    pub ppl_ratio: f64,
    pub eval_text: EvalTextRecord,
    pub scored_positions: u64,
    pub wall_time_ms: f64,
    /// Whether no other quant of the model is at least as good in every respect and better in
    /// one. The sweep sets it over all quants in the registry, so it is absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pareto_front: Option<bool>,
}
