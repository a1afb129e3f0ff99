//! Function-calling probes: each case offers tools and a conversation, the model answers
//! through its chat template, and the answer counts only when the calls parsed from it have
//! the right function names and arguments under BFCL's AST rules. Naming a function in prose
//! is not a call.

pub mod cases;
pub mod judge;
pub mod parser;
pub mod prompt;
pub mod schema;
pub mod score;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Model, SessionSettings};
use crate::probes::{EngineBackend, ProbeBackend};

pub use cases::{Case, Category, Suite};
pub use judge::{ErrorType, Failure};
pub use prompt::{PromptMode, PromptRenderer};
pub use score::{CaseResult, FunctionCallingRecord};

/// The `[function_calling]` table of a profile. Every field has a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FunctionCallingSettings {
    /// Categories to run; an empty list skips the probes.
    pub categories: Vec<Category>,
    /// Tokens generated at most per answer. By estimate, three short calls in `<tool_call>`
    /// blocks take about 90 tokens, so parallel answers fit.
    pub max_answer_tokens: u32,
    /// Context size of the probe session, capped at the model's training context.
    pub n_ctx: u32,
}

impl Default for FunctionCallingSettings {
    fn default() -> Self {
        FunctionCallingSettings {
            categories: Category::ALL.to_vec(),
            max_answer_tokens: 128,
            n_ctx: 4096,
        }
    }
}

impl FunctionCallingSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_answer_tokens == 0 {
            return Err("function_calling.max_answer_tokens must be at least 1".into());
        }
        if self.n_ctx < 256 {
            return Err("function_calling.n_ctx must be at least 256 tokens".into());
        }
        Ok(())
    }

    pub fn enabled(&self) -> bool {
        !self.categories.is_empty()
    }
}

/// What a measuring process needs to run the probes for one quant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCallingRequest {
    pub settings: FunctionCallingSettings,
    /// Where the per-case results are written.
    pub results_path: PathBuf,
    /// `results_path` as the registry records it, relative to the registry's folder.
    pub results_file: String,
}

/// The results of one run of the suite.
#[derive(Debug, Clone)]
pub struct SuiteRun {
    pub mode: PromptMode,
    pub results: Vec<CaseResult>,
    pub wall_time: Duration,
}

/// Runs the cases of `settings.categories` on `backend`, calling `on_case(done, total)`
/// before each case.
pub fn run_suite(
    backend: &mut dyn ProbeBackend,
    suite: &Suite,
    settings: &FunctionCallingSettings,
    mut on_case: impl FnMut(usize, usize),
) -> Result<SuiteRun> {
    let template = backend.chat_template().context(
        "the model has no chat template (tokenizer.chat_template), so its prompts cannot be \
         rendered",
    )?;
    let renderer = PromptRenderer::new(template);
    let mode = renderer.mode();
    tracing::debug!(mode = mode.as_str(), "function-calling prompt mode chosen");

    let cases = suite.select(&settings.categories);
    let started = Instant::now();
    let mut results = Vec::with_capacity(cases.len());
    for (index, case) in cases.iter().enumerate() {
        on_case(index, cases.len());
        let result = run_case(backend, suite, &renderer, case, settings.max_answer_tokens)
            .with_context(|| format!("function-calling case `{}` failed to run", case.id))?;
        tracing::debug!(
            case = %case.id,
            passed = result.passed,
            error_type = ?result.error_type,
            prefilled_tokens = result.prefilled_tokens,
            "case judged"
        );
        results.push(result);
    }
    Ok(SuiteRun {
        mode,
        results,
        wall_time: started.elapsed(),
    })
}

fn run_case(
    backend: &mut dyn ProbeBackend,
    suite: &Suite,
    renderer: &PromptRenderer,
    case: &Case,
    max_answer_tokens: u32,
) -> Result<CaseResult> {
    let tools = suite.tools_of(case);
    let prompt = renderer.render(case, &tools)?;
    let started = Instant::now();
    let completion = backend.complete(&prompt, max_answer_tokens as usize)?;
    let answer_ms = started.elapsed().as_secs_f64() * 1000.0;

    let parsed = parser::parse_calls(&completion.text);
    let verdict = judge::judge(suite, case, &parsed);
    let (error_type, detail) = match verdict {
        Ok(()) => (None, None),
        Err(failure) => (Some(failure.error_type), Some(failure.detail)),
    };
    Ok(CaseResult {
        id: case.id.clone(),
        category: case.category,
        passed: error_type.is_none(),
        error_type,
        detail,
        answer: completion.text,
        calls: parsed.ok(),
        prompt_tokens: completion.prompt_tokens,
        prefilled_tokens: completion.prefilled_tokens,
        answer_ms,
    })
}

/// Runs the built-in suite on a loaded quant in a session of its own, writes the per-case
/// results file and returns the registry block.
pub fn measure(
    engine: &Engine,
    model: &Model,
    request: &FunctionCallingRequest,
    threads: u32,
    mut on_progress: impl FnMut(&str),
) -> Result<FunctionCallingRecord> {
    let suite = Suite::builtin()?;
    let settings = &request.settings;
    let n_ctx = settings.n_ctx.min(model.info().n_ctx_train.max(256));
    let session_settings = SessionSettings {
        n_ctx,
        n_batch: n_ctx.min(2048),
        threads,
    };
    let mut session = model.session(engine, &session_settings)?;
    let mut backend = EngineBackend::new(&mut session);

    let run = run_suite(&mut backend, &suite, settings, |done, total| {
        on_progress(&format!("function calling {done}/{total}"));
    })?;
    score::write_results(&request.results_path, &run.results)?;
    let record = score::summarise(run.mode, &run.results, run.wall_time, &request.results_file);
    tracing::info!(
        score = record.score,
        cases = record.cases,
        mode = record.mode.as_str(),
        wall_time_ms = record.wall_time_ms,
        "function-calling probes done"
    );
    Ok(record)
}
