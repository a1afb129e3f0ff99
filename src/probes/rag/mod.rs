//! RAG probes: how well a quant reads what is put in its context. Four families (needle in a
//! haystack, RULER-style long-context tasks, grounded answers, multi-hop questions) run over
//! seeded fictional texts, plus a closed-book control, and are summarised into the
//! `use_cases.rag` block of the quant's registry entry.

pub mod grounded;
pub mod haystack;
pub mod multi_hop;
pub mod names;
pub mod niah;
pub mod prompt;
pub mod record;
pub mod ruler;
pub mod score;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use self::prompt::{Asker, Question};
use self::record::{
    CaseResult, FamilySummary, NiahCell, RagBenchmarks, RagRecord, ResultLine, RECOMMENDED_SCORE,
};
use crate::engine::{Engine, Model, SessionSettings};
use crate::probes::EngineBackend;
use crate::probes::ProbeBackend;
use crate::profile::BenchSettings;

/// A family of RAG probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RagFamily {
    Niah,
    Ruler,
    Grounded,
    MultiHop,
}

impl RagFamily {
    pub const ALL: [RagFamily; 4] = [
        RagFamily::Niah,
        RagFamily::Ruler,
        RagFamily::Grounded,
        RagFamily::MultiHop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RagFamily::Niah => "niah",
            RagFamily::Ruler => "ruler",
            RagFamily::Grounded => "grounded",
            RagFamily::MultiHop => "multi_hop",
        }
    }
}

impl fmt::Display for RagFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RagFamily {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RagFamily::ALL
            .into_iter()
            .find(|family| family.as_str() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = RagFamily::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown RAG probe family `{text}`; valid families: {}, or none",
                    names.join(", ")
                )
            })
    }
}

/// Parses a comma-separated list of families; `none` selects no family.
pub fn parse_families(text: &str) -> Result<Vec<RagFamily>, String> {
    if text.trim() == "none" {
        return Ok(Vec::new());
    }
    let mut families = Vec::new();
    for name in text.split(',').map(str::trim) {
        let family: RagFamily = name.parse()?;
        if !families.contains(&family) {
            families.push(family);
        }
    }
    Ok(families)
}

/// The `[rag]` table of a profile: which families run and how large they are. Every field has
/// a default, so a profile may omit the table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RagSettings {
    /// Families to run; empty runs none.
    pub families: Vec<RagFamily>,
    /// Haystack lengths of the needle grid, in tokens, capped at what the context holds.
    pub niah_lengths: Vec<u32>,
    /// Needle depths in percent of the haystack (0 = start, 100 = end).
    pub niah_depths: Vec<u32>,
    /// Trials per grid cell, each with a fresh needle.
    pub niah_trials: u32,
    /// Context length of the long-context tasks, in tokens.
    pub ruler_length: u32,
    /// Rounds of the long-context tasks, each with fresh texts.
    pub ruler_trials: u32,
    /// Passages of the grounded-answer family.
    pub grounded_passages: u32,
    /// Contexts of the multi-hop family.
    pub multi_hop_contexts: u32,
    /// Seed of all generated texts and facts.
    pub seed: u64,
}

impl Default for RagSettings {
    fn default() -> Self {
        RagSettings {
            families: RagFamily::ALL.to_vec(),
            niah_lengths: vec![1024, 2048, 4096],
            niah_depths: vec![0, 25, 50, 75, 100],
            niah_trials: 1,
            ruler_length: 1024,
            ruler_trials: 1,
            grounded_passages: 6,
            multi_hop_contexts: 4,
            seed: 42,
        }
    }
}

impl RagSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.niah_depths.iter().any(|&depth| depth > 100) {
            return Err("rag.niah_depths must be percentages from 0 to 100".into());
        }
        if self.families.contains(&RagFamily::Niah)
            && (self.niah_lengths.is_empty() || self.niah_depths.is_empty())
        {
            return Err("rag.niah_lengths and rag.niah_depths must not be empty".into());
        }
        if self.niah_lengths.iter().any(|&length| length < 64) {
            return Err("rag.niah_lengths must be at least 64 tokens".into());
        }
        if self.ruler_length < 256 {
            return Err("rag.ruler_length must be at least 256 tokens".into());
        }
        Ok(())
    }

    /// Context size, in tokens, a session needs for the longest probe, before capping to the
    /// model's training context.
    pub fn required_n_ctx(&self) -> u32 {
        let mut longest = 1024;
        if self.families.contains(&RagFamily::Niah) {
            longest = longest.max(self.niah_lengths.iter().copied().max().unwrap_or(0));
        }
        if self.families.contains(&RagFamily::Ruler) {
            longest = longest.max(self.ruler_length);
        }
        longest + prompt::CONTEXT_RESERVE_TOKENS as u32
    }
}

/// Request to run the RAG probes of one quant in a measuring process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RagRequest {
    pub settings: RagSettings,
    /// Path of the per-case results file to write.
    pub results_file: PathBuf,
    /// `results_file` as recorded in the registry, relative to the registry's folder.
    pub results_file_label: String,
}

/// Cases and controls of one family.
#[derive(Debug, Default)]
pub struct FamilyRun {
    pub cases: Vec<CaseResult>,
    /// Questions to ask again without their context, as the closed-book control.
    pub controls: Vec<Question>,
}

/// Everything one quant's RAG probes produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RagRun {
    /// The registry block, without `results_file`.
    pub record: RagRecord,
    pub families: Vec<FamilySummary>,
    /// Every case, the closed-book control's included.
    pub cases: Vec<CaseResult>,
}

impl RagRun {
    /// Lists the results file's lines: each family's summary, then every case.
    pub fn result_lines(&self) -> Vec<ResultLine> {
        let summaries = self.families.iter().cloned().map(ResultLine::Family);
        let cases = self.cases.iter().cloned().map(ResultLine::Case);
        summaries.chain(cases).collect()
    }
}

/// Runs the RAG probes of `request` on a loaded model, in a session of its own sized for the
/// longest probe (capped at the training context), and writes the per-case results file.
pub fn run_on_model(
    engine: &Engine,
    model: &Model,
    bench: &BenchSettings,
    request: &RagRequest,
    on_progress: &mut dyn FnMut(&str),
) -> Result<RagRecord> {
    let n_ctx_train = model.info().n_ctx_train;
    let mut n_ctx = request.settings.required_n_ctx();
    if n_ctx_train > 0 {
        n_ctx = n_ctx.min(n_ctx_train);
    }
    let session_settings = SessionSettings {
        n_ctx,
        n_batch: bench.batch_size.min(n_ctx),
        threads: bench.threads,
    };
    let mut session = model.session(engine, &session_settings)?;
    tracing::debug!(n_ctx = session.n_ctx(), "RAG session created");
    let mut backend = EngineBackend::new(&mut session);
    let run = run(&mut backend, &request.settings, on_progress)?;

    record::write_results(&request.results_file, &run.result_lines())?;
    let mut record = run.record;
    record.results_file = Some(request.results_file_label.clone());
    Ok(record)
}

/// Runs the selected families on `backend`, then the closed-book control, and scores them.
pub fn run(
    backend: &mut dyn ProbeBackend,
    settings: &RagSettings,
    on_progress: &mut dyn FnMut(&str),
) -> Result<RagRun> {
    let started = Instant::now();
    let mut asker = Asker::new(backend);
    let mut families = Vec::new();
    let mut cases = Vec::new();
    let mut controls = Vec::new();

    for family in RagFamily::ALL {
        if !settings.families.contains(&family) {
            continue;
        }
        let family_started = Instant::now();
        let prefill_before = asker.prefill_tokens();
        let run = match family {
            RagFamily::Niah => niah::run(&mut asker, settings, on_progress)?,
            RagFamily::Ruler => ruler::run(&mut asker, settings, on_progress)?,
            RagFamily::Grounded => grounded::run(&mut asker, settings, on_progress)?,
            RagFamily::MultiHop => multi_hop::run(&mut asker, settings, on_progress)?,
        };
        let summary = FamilySummary {
            family,
            score: family_score(family, &run.cases),
            cases: run.cases.len(),
            wall_time_ms: family_started.elapsed().as_secs_f64() * 1000.0,
            prefill_tokens: asker.prefill_tokens() - prefill_before,
        };
        tracing::debug!(
            family = %family,
            score = summary.score,
            cases = summary.cases,
            wall_time_ms = summary.wall_time_ms,
            prefill_tokens = summary.prefill_tokens,
            "RAG family finished"
        );
        families.push(summary);
        cases.extend(run.cases);
        controls.extend(run.controls.into_iter().map(|question| (family, question)));
    }

    on_progress("RAG closed-book control");
    for (family, question) in &controls {
        cases.push(asker.ask(*family, None, question)?);
    }

    let record = summarise(
        settings.seed,
        &families,
        &cases,
        started,
        asker.prefill_tokens(),
    );
    Ok(RagRun {
        record,
        families,
        cases,
    })
}

/// Computes a family's score (0-100) from its cases, as `RagBenchmarks` documents it.
pub fn family_score(family: RagFamily, cases: &[CaseResult]) -> f64 {
    let cases: Vec<&CaseResult> = cases
        .iter()
        .filter(|case| case.family == family && !case.closed_book)
        .collect();
    let score = match family {
        RagFamily::Niah | RagFamily::MultiHop => mean(cases.iter().map(|c| c.score)),
        RagFamily::Ruler => mean(ruler::TASKS.iter().filter_map(|task| {
            let scores: Vec<f64> = cases
                .iter()
                .filter(|c| c.task == *task)
                .map(|c| c.score)
                .collect();
            (!scores.is_empty()).then(|| mean(scores.into_iter()))
        })),
        RagFamily::Grounded => {
            let of_task =
                |task: &str| mean(cases.iter().filter(|c| c.task == task).map(|c| c.score));
            (of_task("answerable") + of_task("unanswerable")) / 2.0
        }
    };
    100.0 * score
}

/// Mean of `values`, 0 when there are none.
fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(sum, count), v| (sum + v, count + 1));
    if count == 0 {
        0.0
    } else {
        sum / count as f64
    }
}

/// Builds the registry block from the family summaries and all cases.
fn summarise(
    seed: u64,
    families: &[FamilySummary],
    cases: &[CaseResult],
    started: Instant,
    prefill_tokens: u64,
) -> RagRecord {
    let score_of = |family: RagFamily| {
        families
            .iter()
            .find(|summary| summary.family == family)
            .map(|summary| summary.score)
    };
    let benchmarks = RagBenchmarks {
        niah: score_of(RagFamily::Niah),
        ruler: score_of(RagFamily::Ruler),
        ragtruth: score_of(RagFamily::Grounded),
        frames: score_of(RagFamily::MultiHop),
    };
    let score = mean(families.iter().map(|summary| summary.score));

    let unanswerable: Vec<&CaseResult> = cases
        .iter()
        .filter(|c| c.task == "unanswerable" && !c.closed_book)
        .collect();
    let hallucination_rate = (!unanswerable.is_empty()).then(|| {
        mean(
            unanswerable
                .iter()
                .map(|c| f64::from(u8::from(c.hallucinated == Some(true)))),
        )
    });
    let closed_book: Vec<&CaseResult> = cases.iter().filter(|c| c.closed_book).collect();
    let closed_book_accuracy = (!closed_book.is_empty())
        .then(|| mean(closed_book.iter().map(|c| f64::from(u8::from(c.pass)))));

    RagRecord {
        score,
        recommended: score >= RECOMMENDED_SCORE,
        seed,
        benchmarks,
        hallucination_rate,
        closed_book_accuracy,
        niah_grid: niah_grid(cases),
        wall_time_ms: started.elapsed().as_secs_f64() * 1000.0,
        prefill_tokens,
        results_file: None,
        extra: BTreeMap::new(),
    }
}

/// Accuracy per (haystack length, depth) cell of the needle cases.
pub fn niah_grid(cases: &[CaseResult]) -> Vec<NiahCell> {
    let mut cells: BTreeMap<(usize, u32), (usize, usize)> = BTreeMap::new();
    for case in cases {
        if case.family != RagFamily::Niah || case.closed_book {
            continue;
        }
        let (Some(length), Some(depth)) = (case.target_context_tokens, case.target_depth_percent)
        else {
            continue;
        };
        let cell = cells.entry((length, depth)).or_default();
        cell.0 += usize::from(case.pass);
        cell.1 += 1;
    }
    cells
        .into_iter()
        .map(
            |((context_tokens, depth_percent), (passed, trials))| NiahCell {
                context_tokens,
                depth_percent,
                accuracy: passed as f64 / trials as f64,
                trials,
            },
        )
        .collect()
}
