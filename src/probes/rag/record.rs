//! What the RAG probes write: the `use_cases.rag` block of a quant's registry entry and the
//! per-case results file (JSON Lines) kept beside the registry.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RagFamily;

/// Score a quant needs for `recommended`.
pub const RECOMMENDED_SCORE: f64 = 70.0;

/// RAG results of one quant, stored as `use_cases.rag`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RagRecord {
    /// Mean of the benchmark scores of the families that ran (0-100).
    pub score: f64,
    /// Whether `score` reaches 70.
    pub recommended: bool,
    /// Seed of the generated texts and facts.
    pub seed: u64,
    pub benchmarks: RagBenchmarks,
    /// Share of unanswerable grounded questions answered with a value instead of a refusal
    /// (0-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hallucination_rate: Option<f64>,
    /// Share of the needle and multi-hop questions, and of the answerable grounded ones, that
    /// were answered right with no context at all (0-1). A probe a model passes closed-book
    /// measures its memory, not its reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_book_accuracy: Option<f64>,
    /// Needle accuracy per haystack length and depth: the heatmap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub niah_grid: Vec<NiahCell>,
    /// Wall time of all RAG probes of the quant, closed-book control included.
    pub wall_time_ms: f64,
    /// Prompt tokens decoded; tokens reused from the KV cache are not counted.
    pub prefill_tokens: u64,
    /// Per-case results, relative to the registry's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_file: Option<String>,
    /// Fields this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Score of each probe family (0-100), under the benchmark names whose kind of task it
/// probes; a family that did not run is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RagBenchmarks {
    /// Needle in a haystack: mean exact-match accuracy over the grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub niah: Option<f64>,
    /// RULER-style long-context tasks: mean of the task scores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ruler: Option<f64>,
    /// Grounded answers: mean of the answerable accuracy and the refusal rate on
    /// unanswerable questions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ragtruth: Option<f64>,
    /// Multi-hop questions over several passages: exact-match accuracy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<f64>,
}

/// One cell of the needle grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NiahCell {
    /// Requested haystack length in tokens, after capping to the context.
    pub context_tokens: usize,
    /// Requested needle depth.
    pub depth_percent: u32,
    /// Share of trials answered with the exact number (0-1).
    pub accuracy: f64,
    pub trials: usize,
}

/// One question put to the model and how its answer scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub family: RagFamily,
    /// Task within the family, such as `multi_key` or `unanswerable`.
    pub task: String,
    pub id: String,
    /// Asked without its context, as the closed-book control.
    pub closed_book: bool,
    /// SHA-256 of the rendered prompt.
    pub prompt_sha256: String,
    pub question: String,
    pub expected: Vec<String>,
    pub answer: String,
    /// 0 to 1; below 1 only for tasks scored in part.
    pub score: f64,
    pub pass: bool,
    /// For unanswerable questions: whether the answer offered a value instead of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hallucinated: Option<bool>,
    /// Tokens of the context as measured, without template and question.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_context_tokens: Option<usize>,
    /// Tokens before the needle as a percentage of the context, as measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_depth_percent: Option<u32>,
    pub prompt_tokens: usize,
    /// Prompt tokens decoded for this case; the rest came from the KV cache.
    pub prefilled_tokens: usize,
}

/// Cost and score of one family in one quant's run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilySummary {
    pub family: RagFamily,
    /// 0-100.
    pub score: f64,
    pub cases: usize,
    pub wall_time_ms: f64,
    pub prefill_tokens: u64,
}

/// One line of the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum ResultLine {
    Case(CaseResult),
    Family(FamilySummary),
}

/// Writes `lines` as JSON Lines to `path`, creating its folder, through a temporary file so
/// that a crash never leaves half a file.
pub fn write_results(path: &Path, lines: &[ResultLine]) -> Result<()> {
    let folder = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create results folder {}", folder.display()))?;
    let mut text = String::new();
    for line in lines {
        text.push_str(&serde_json::to_string(line)?);
        text.push('\n');
    }
    let mut temporary = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
    temporary.write_all(text.as_bytes())?;
    // The temporary file is private (0600), but the results are published beside the
    // registry, so they get the usual mode of a published file.
    temporary
        .as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    temporary
        .persist(path)
        .with_context(|| format!("cannot write RAG results {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_file_is_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results/rag.jsonl");
        write_results(&path, &[]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
