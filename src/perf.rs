//! Speed measurements of one loaded quant: generation tokens/s at each output length, TTFT and
//! prefill tokens/s at each context length, and per-token latency percentiles.
//!
//! Method, as llama-bench does it where both measure the same thing: warm-up runs are
//! discarded, the KV cache is cleared before every run, generation produces exactly N tokens
//! (end-of-generation tokens are decoded like any other), and decoding is greedy.

use std::time::{Duration, Instant};

use anyhow::Result;
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use crate::engine::{Model, Session};
use crate::profile::BenchSettings;
use crate::stats::{self, Summary};
use crate::text::ProseGenerator;

/// Prompt tokens decoded before a generation run starts, so generation does not begin from
/// an empty cache.
const GENERATION_PROMPT_TOKENS: usize = 32;

/// Generation speed at one output length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationResult {
    /// Tokens generated per run.
    pub n_gen: u32,
    /// Prompt tokens in the cache when generation started.
    pub n_prompt: u32,
    pub tokens_per_sec: Summary,
}

/// Prompt processing speed at one context length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefillResult {
    /// Prompt tokens per run.
    pub n_prompt: u32,
    /// Time from the first `llama_decode` call of the prompt to the first sampled token.
    pub ttft_ms: Summary,
    pub prompt_tokens_per_sec: Summary,
}

/// Distribution of the time to produce one token (sample + decode) during generation, over
/// every timed token of every output length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLatency {
    pub n_tokens: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

/// Everything the speed runs of one quant produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedResult {
    pub generation: Vec<GenerationResult>,
    pub prefill: Vec<PrefillResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_latency: Option<TokenLatency>,
}

/// Context lengths to measure: the requested ones capped at the model's training context,
/// without duplicates, plus a warning for each one that was capped.
pub fn plan_context_lengths(requested: &[u32], n_ctx_train: u32) -> (Vec<u32>, Vec<String>) {
    let mut lengths = Vec::new();
    let mut warnings = Vec::new();
    for &length in requested {
        let capped = if n_ctx_train > 0 && length > n_ctx_train {
            warnings.push(format!(
                "context length {length} exceeds the model's training context {n_ctx_train}; \
                 measuring {n_ctx_train} instead"
            ));
            n_ctx_train
        } else {
            length
        };
        if !lengths.contains(&capped) {
            lengths.push(capped);
        }
    }
    (lengths, warnings)
}

/// Fails when the longest generation run (its prompt plus the generated tokens) would not
/// fit the model's training context, rather than measuring past it or overflowing.
pub fn check_output_lengths(settings: &BenchSettings, n_ctx_train: u32) -> Result<(), String> {
    let Some(&longest) = settings.output_lengths.iter().max() else {
        return Ok(());
    };
    let needed = u64::from(longest) + GENERATION_PROMPT_TOKENS as u64;
    if n_ctx_train > 0 && needed > u64::from(n_ctx_train) {
        return Err(format!(
            "output length {longest} needs {needed} context tokens ({GENERATION_PROMPT_TOKENS} \
             prompt + {longest} generated), more than the model's training context \
             {n_ctx_train}; use output lengths up to {}",
            u64::from(n_ctx_train) - GENERATION_PROMPT_TOKENS as u64
        ));
    }
    Ok(())
}

/// Context size a session needs for these measurements.
pub fn required_n_ctx(settings: &BenchSettings, context_lengths: &[u32]) -> u32 {
    let longest_generation = settings
        .output_lengths
        .iter()
        .max()
        .copied()
        .unwrap_or(0)
        .saturating_add(GENERATION_PROMPT_TOKENS as u32);
    let longest_prompt = context_lengths.iter().max().copied().unwrap_or(0);
    longest_generation.max(longest_prompt)
}

/// Runs every speed measurement that `settings` asks for.
pub fn measure(
    session: &mut Session<'_>,
    settings: &BenchSettings,
    context_lengths: &[u32],
    mut on_progress: impl FnMut(&str),
) -> Result<SpeedResult> {
    let mut latencies_ms = Vec::new();
    let mut generation = Vec::new();
    for &n_gen in &settings.output_lengths {
        on_progress(&format!("generating {n_gen} tokens"));
        generation.push(measure_generation(
            session,
            settings,
            n_gen,
            &mut latencies_ms,
        )?);
    }

    let mut prefill = Vec::new();
    for &n_prompt in context_lengths {
        on_progress(&format!("prompt of {n_prompt} tokens"));
        prefill.push(measure_prefill(session, settings, n_prompt)?);
    }

    Ok(SpeedResult {
        generation,
        prefill,
        token_latency: summarise_latency(&latencies_ms),
    })
}

fn measure_generation(
    session: &mut Session<'_>,
    settings: &BenchSettings,
    n_gen: u32,
    latencies_ms: &mut Vec<f64>,
) -> Result<GenerationResult> {
    let mut samples = Vec::new();
    let mut n_prompt = 0;
    for run in 0..settings.warmup_runs + settings.runs {
        let timed = run >= settings.warmup_runs;
        let seed = run_seed(settings.seed, "generation", n_gen, run);
        let prompt = prompt_tokens(session.model(), seed, GENERATION_PROMPT_TOKENS);
        n_prompt = prompt.len() as u32;

        session.clear();
        session.decode(&prompt)?;
        let token_times = generate_exactly(session, n_gen)?;

        if timed {
            let total: Duration = token_times.iter().sum();
            samples.push(f64::from(n_gen) / total.as_secs_f64());
            latencies_ms.extend(token_times.iter().map(|t| t.as_secs_f64() * 1000.0));
        }
    }
    let tokens_per_sec = Summary::of(&samples).expect("runs >= 1 is validated");
    tracing::debug!(n_gen, mean = tokens_per_sec.mean, "generation measured");
    Ok(GenerationResult {
        n_gen,
        n_prompt,
        tokens_per_sec,
    })
}

/// Generates exactly `n_gen` tokens greedily and returns the time of each (sample + decode).
fn generate_exactly(session: &mut Session<'_>, n_gen: u32) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n_gen as usize);
    for _ in 0..n_gen {
        let started = Instant::now();
        let token = session.greedy_token()?;
        session.decode(&[token])?;
        times.push(started.elapsed());
    }
    Ok(times)
}

fn measure_prefill(
    session: &mut Session<'_>,
    settings: &BenchSettings,
    n_prompt: u32,
) -> Result<PrefillResult> {
    let mut ttft_ms = Vec::new();
    let mut prompt_tps = Vec::new();
    for run in 0..settings.warmup_runs + settings.runs {
        let timed = run >= settings.warmup_runs;
        let seed = run_seed(settings.seed, "prefill", n_prompt, run);
        let prompt = prompt_tokens(session.model(), seed, n_prompt as usize);

        session.clear();
        let started = Instant::now();
        session.decode(&prompt)?;
        // Reading the logits waits for llama.cpp to finish the batch.
        let _ = session.logits()?;
        let prefill_time = started.elapsed();
        let _first = session.greedy_token()?;
        let ttft = started.elapsed();

        if timed {
            ttft_ms.push(ttft.as_secs_f64() * 1000.0);
            prompt_tps.push(prompt.len() as f64 / prefill_time.as_secs_f64());
        }
    }
    Ok(PrefillResult {
        n_prompt,
        ttft_ms: Summary::of(&ttft_ms).expect("runs >= 1 is validated"),
        prompt_tokens_per_sec: Summary::of(&prompt_tps).expect("runs >= 1 is validated"),
    })
}

/// A different seed for every (measurement, size, run), derived from the profile's seed.
fn run_seed(seed: u64, kind: &str, size: u32, run: u32) -> u64 {
    let kind_code = kind
        .bytes()
        .fold(0u64, |acc, b| acc.wrapping_mul(31).wrapping_add(b.into()));
    seed ^ kind_code.rotate_left(17) ^ (u64::from(size) << 20) ^ u64::from(run)
}

/// Exactly `n_tokens` tokens of generated prose, starting with BOS when the model uses one.
pub fn prompt_tokens(model: &Model, seed: u64, n_tokens: usize) -> Vec<LlamaToken> {
    let mut generator = ProseGenerator::new(seed);
    let mut chars = n_tokens * 6 + 64;
    loop {
        let text = generator.paragraph(chars);
        let mut tokens = Vec::with_capacity(n_tokens);
        tokens.extend(model.bos());
        tokens.extend(model.tokenize(&text, false));
        if tokens.len() >= n_tokens {
            tokens.truncate(n_tokens);
            return tokens;
        }
        chars *= 2;
    }
}

fn summarise_latency(latencies_ms: &[f64]) -> Option<TokenLatency> {
    if latencies_ms.is_empty() {
        return None;
    }
    Some(TokenLatency {
        n_tokens: latencies_ms.len(),
        p50_ms: stats::percentile(latencies_ms, 50.0)?,
        p95_ms: stats::percentile(latencies_ms, 95.0)?,
        p99_ms: stats::percentile(latencies_ms, 99.0)?,
        mean_ms: latencies_ms.iter().sum::<f64>() / latencies_ms.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_lengths_are_capped_and_deduplicated() {
        let (lengths, warnings) = plan_context_lengths(&[512, 2048, 8192, 16384], 8192);
        assert_eq!(lengths, vec![512, 2048, 8192]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("16384"), "{}", warnings[0]);
    }

    #[test]
    fn context_lengths_within_training_context_are_kept() {
        let (lengths, warnings) = plan_context_lengths(&[128, 256], 8192);
        assert_eq!(lengths, vec![128, 256]);
        assert!(warnings.is_empty());
    }

    #[test]
    fn required_context_fits_longest_run() {
        let settings = BenchSettings {
            output_lengths: vec![16, 1000],
            ..BenchSettings::default()
        };
        assert_eq!(
            required_n_ctx(&settings, &[512]),
            1000 + GENERATION_PROMPT_TOKENS as u32
        );
        assert_eq!(required_n_ctx(&settings, &[8192]), 8192);
    }

    #[test]
    fn output_lengths_must_fit_training_context() {
        let settings = |n: u32| BenchSettings {
            output_lengths: vec![8, n],
            ..BenchSettings::default()
        };
        assert!(check_output_lengths(&settings(8160), 8192).is_ok());
        let error = check_output_lengths(&settings(8161), 8192).unwrap_err();
        assert!(error.contains("output length 8161"), "{error}");
        assert!(error.contains("up to 8160"), "{error}");
        let error = check_output_lengths(&settings(u32::MAX), 8192).unwrap_err();
        assert!(error.contains("4294967327 context tokens"), "{error}");
        assert_eq!(required_n_ctx(&settings(u32::MAX), &[64]), u32::MAX);
    }

    #[test]
    fn run_seeds_differ_between_runs_and_kinds() {
        let a = run_seed(42, "prefill", 512, 0);
        assert_ne!(a, run_seed(42, "prefill", 512, 1));
        assert_ne!(a, run_seed(42, "generation", 512, 0));
        assert_ne!(a, run_seed(42, "prefill", 2048, 0));
        assert_eq!(a, run_seed(42, "prefill", 512, 0));
    }

    #[test]
    fn latency_percentiles_are_ordered() {
        let values: Vec<f64> = (1..=1000).map(|i| f64::from(i) / 10.0).collect();
        let latency = summarise_latency(&values).unwrap();
        assert_eq!(latency.n_tokens, 1000);
        assert!(latency.p50_ms < latency.p95_ms);
        assert!(latency.p95_ms < latency.p99_ms);
        assert!(summarise_latency(&[]).is_none());
    }
}
