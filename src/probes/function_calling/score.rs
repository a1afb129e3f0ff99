//! Per-case results of a function-calling run, the per-quant summary written to the registry,
//! and the results file of one JSON line per case.
//!
//! Scores are percentages of cases passed. `score` is the unweighted mean of the accuracies
//! of the categories run, so each category counts the same whatever its number of cases.
//! `bfcl_v2` is the unweighted mean of the four AST categories (simple, multiple, parallel,
//! parallel_multiple), as BFCL summarises its non-live AST group.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use super::cases::Category;
use super::judge::ErrorType;
use super::parser::ToolCall;
use super::prompt::PromptMode;

/// Score at or above which a quant is recommended for function calling.
pub const RECOMMENDED_SCORE: f64 = 70.0;

/// Outcome of one case, written as one line of the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub id: String,
    pub category: Category,
    pub passed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<ErrorType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The model's answer as generated.
    pub answer: String,
    /// Calls read from the answer; absent when it did not parse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<Vec<ToolCall>>,
    pub prompt_tokens: usize,
    /// Prompt tokens decoded for this case; the rest came from the KV cache.
    pub prefilled_tokens: usize,
    /// Prompt processing plus generation time of this case.
    pub answer_ms: f64,
}

/// Accuracy per category, 0-100; a category that was not run is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Benchmarks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfcl_v2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_function: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple_functions: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_functions: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_multiple: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irrelevance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_turn: Option<f64>,
}

/// The registry block `use_cases.function_calling` of one quant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallingRecord {
    /// Unweighted mean of the category accuracies run, 0-100.
    pub score: f64,
    /// Whether `score` is at least 70.
    pub recommended: bool,
    pub mode: PromptMode,
    pub benchmarks: Benchmarks,
    /// Failed cases per error type.
    pub error_counts: BTreeMap<ErrorType, u32>,
    /// Cases run.
    pub cases: u32,
    /// Wall time of the whole suite, prompts and answers, in ms.
    pub wall_time_ms: f64,
    /// Per-case results, relative to the registry's folder.
    pub results_file: String,
}

/// Percentage of passed cases per category run.
pub fn category_accuracy(results: &[CaseResult]) -> BTreeMap<Category, f64> {
    let mut counts: BTreeMap<Category, (u32, u32)> = BTreeMap::new();
    for result in results {
        let entry = counts.entry(result.category).or_default();
        entry.0 += u32::from(result.passed);
        entry.1 += 1;
    }
    counts
        .into_iter()
        .map(|(category, (passed, total))| (category, percent(passed, total)))
        .collect()
}

fn percent(passed: u32, total: u32) -> f64 {
    round2(100.0 * f64::from(passed) / f64::from(total))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| round2(values.iter().sum::<f64>() / values.len() as f64))
}

/// Builds the registry block from a run's results.
pub fn summarise(
    mode: PromptMode,
    results: &[CaseResult],
    wall_time: Duration,
    results_file: &str,
) -> FunctionCallingRecord {
    let accuracy = category_accuracy(results);
    let get = |category| accuracy.get(&category).copied();
    let ast: Vec<f64> = [
        Category::Simple,
        Category::Multiple,
        Category::Parallel,
        Category::ParallelMultiple,
    ]
    .into_iter()
    .filter_map(get)
    .collect();
    let all: Vec<f64> = accuracy.values().copied().collect();
    let score = mean(&all).unwrap_or(0.0);

    let mut error_counts = BTreeMap::new();
    for error_type in results.iter().filter_map(|r| r.error_type) {
        *error_counts.entry(error_type).or_insert(0) += 1;
    }

    FunctionCallingRecord {
        score,
        recommended: score >= RECOMMENDED_SCORE,
        mode,
        benchmarks: Benchmarks {
            bfcl_v2: mean(&ast),
            single_function: get(Category::Simple),
            multiple_functions: get(Category::Multiple),
            parallel_functions: get(Category::Parallel),
            parallel_multiple: get(Category::ParallelMultiple),
            irrelevance: get(Category::Irrelevance),
            multi_turn: get(Category::MultiTurn),
        },
        error_counts,
        cases: results.len() as u32,
        wall_time_ms: round2(wall_time.as_secs_f64() * 1000.0),
        results_file: results_file.to_string(),
    }
}

/// Writes one JSON line per case to `path`, creating its folder.
pub fn write_results(path: &Path, results: &[CaseResult]) -> Result<()> {
    if let Some(folder) = path.parent() {
        std::fs::create_dir_all(folder)
            .with_context(|| format!("cannot create results folder {}", folder.display()))?;
    }
    let mut lines = Vec::new();
    for result in results {
        serde_json::to_writer(&mut lines, result)?;
        lines.push(b'\n');
    }
    let mut file = std::fs::File::create(path)
        .with_context(|| format!("cannot create results file {}", path.display()))?;
    file.write_all(&lines)
        .with_context(|| format!("cannot write results file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(category: Category, error_type: Option<ErrorType>) -> CaseResult {
        CaseResult {
            id: "x".into(),
            category,
            passed: error_type.is_none(),
            error_type,
            detail: None,
            answer: String::new(),
            calls: None,
            prompt_tokens: 1,
            prefilled_tokens: 1,
            answer_ms: 1.0,
        }
    }

    #[test]
    fn score_is_unweighted_mean_of_categories() {
        let results = vec![
            result(Category::Simple, None),
            result(Category::Simple, None),
            result(Category::Simple, None),
            result(Category::Simple, Some(ErrorType::WrongValue)),
            result(Category::Irrelevance, Some(ErrorType::UnexpectedCall)),
        ];
        let record = summarise(
            PromptMode::FallbackPrompt,
            &results,
            Duration::ZERO,
            "r.jsonl",
        );
        assert_eq!(record.benchmarks.single_function, Some(75.0));
        assert_eq!(record.benchmarks.irrelevance, Some(0.0));
        assert_eq!(record.benchmarks.bfcl_v2, Some(75.0));
        assert_eq!(record.benchmarks.multi_turn, None);
        assert_eq!(record.score, 37.5);
        assert!(!record.recommended);
        assert_eq!(record.error_counts[&ErrorType::WrongValue], 1);
        assert_eq!(record.cases, 5);
    }

    #[test]
    fn record_serialises_contract_names() {
        let results = vec![result(Category::ParallelMultiple, Some(ErrorType::NoCall))];
        let record = summarise(
            PromptMode::Template,
            &results,
            Duration::from_millis(5),
            "r",
        );
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["mode"], "template");
        assert_eq!(json["benchmarks"]["parallel_multiple"], 0.0);
        assert_eq!(json["error_counts"]["no_call"], 1);
        assert_eq!(json["wall_time_ms"], 5.0);
    }
}
