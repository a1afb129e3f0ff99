//! Runs a model over the evaluation text in fixed-size chunks: once for the reference quant,
//! writing its log-probabilities, and once per quant, comparing with them.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use llama_cpp_2::token::LlamaToken;
use serde::{Deserialize, Serialize};

use super::divergence::{log_softmax, DriftAccumulator};
use super::eval_text::EvalText;
use super::reference::{ReferenceHeader, ReferencePosition, ReferenceReader, ReferenceWriter};
use super::{EvalTextRecord, QualityRecord, QualityRequest};
use crate::engine::{Engine, Model, Session, SessionSettings};
use crate::quant::QuantLabel;

/// Request to the process that computes the reference file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceRequest {
    pub model_file: PathBuf,
    pub quant: QuantLabel,
    pub model_sha256: String,
    pub eval_text_file: PathBuf,
    pub eval_text_name: String,
    pub n_ctx: u32,
    pub n_chunks: u32,
    pub threads: u32,
    /// Path of the finished file, which is written beside it first and then renamed.
    pub output: PathBuf,
}

/// Positions scored in a chunk of `n_ctx` tokens: the logits after tokens `n_ctx / 2` to
/// `n_ctx - 2`, each predicting the token after it, as llama-perplexity scores a chunk.
pub fn scored_per_chunk(n_ctx: usize) -> usize {
    n_ctx - 1 - n_ctx / 2
}

/// Cuts `tokens` into `n_chunks` chunks of `n_ctx`, putting `bos` first in each chunk when
/// the model uses one, so every chunk starts like a fresh document.
pub fn chunk_tokens(
    tokens: &[i32],
    n_ctx: usize,
    n_chunks: usize,
    bos: Option<i32>,
) -> Result<Vec<i32>> {
    let available = tokens.len() / n_ctx;
    if available < n_chunks {
        bail!(
            "the evaluation text has {} tokens, enough for {available} chunks of {n_ctx}, but \
             {n_chunks} are requested; pass a longer --eval-text or lower quality.n_chunks",
            tokens.len()
        );
    }
    let mut chunks = tokens[..n_chunks * n_ctx].to_vec();
    if let Some(bos) = bos {
        for chunk in chunks.chunks_exact_mut(n_ctx) {
            chunk[0] = bos;
        }
    }
    Ok(chunks)
}

/// Computes the reference file of `request`, reporting progress through `on_progress`.
pub fn build_reference(
    request: &ReferenceRequest,
    mut on_progress: impl FnMut(&str),
) -> Result<ReferenceHeader> {
    let engine = Engine::init()?;
    on_progress("loading reference model");
    let model = engine.load(&request.model_file)?;
    let text = EvalText::from_file(&request.eval_text_file)?;

    let n_ctx = request.n_ctx as usize;
    let n_chunks = request.n_chunks as usize;
    let all_tokens: Vec<i32> = model
        .tokenize(&text.text, true)
        .iter()
        .map(|t| t.0)
        .collect();
    let bos = model.bos().map(|t| t.0);
    let tokens = chunk_tokens(&all_tokens, n_ctx, n_chunks, bos)?;
    let header = ReferenceHeader {
        quant: request.quant.to_string(),
        model_sha256: request.model_sha256.clone(),
        eval_text: EvalTextRecord {
            name: request.eval_text_name.clone(),
            sha256: text.sha256,
            n_tokens: all_tokens.len() as u64,
            n_ctx: request.n_ctx,
            n_chunks: request.n_chunks,
        },
        n_vocab: model.info().n_vocab as usize,
        scored_per_chunk: scored_per_chunk(n_ctx),
        ppl: None,
    };
    tracing::debug!(
        tokens = all_tokens.len(),
        n_ctx,
        n_chunks,
        file_bytes = header.file_bytes(),
        "computing reference log-probabilities"
    );

    let folder = request.output.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create cache folder {}", folder.display()))?;
    let partial = tempfile::NamedTempFile::new_in(folder)
        .with_context(|| format!("cannot create a file in {}", folder.display()))?;
    let mut writer = ReferenceWriter::create(partial.path(), header, &tokens)?;

    let mut session = quality_session(&engine, &model, request.n_ctx, request.threads)?;
    let mut nll_sum = 0.0;
    let mut positions = 0usize;
    score_chunks(
        &mut session,
        &tokens,
        n_ctx,
        &mut on_progress,
        |next, logits| {
            let log_probs = log_softmax(logits);
            nll_sum -= f64::from(log_probs[next]);
            positions += 1;
            writer.push(&log_probs)
        },
    )?;
    let header = writer.finish((nll_sum / positions as f64).exp())?;
    partial.persist(&request.output).with_context(|| {
        format!(
            "cannot move the reference file to {}",
            request.output.display()
        )
    })?;
    Ok(header)
}

/// Compares `model` with the reference file of `request` over the same tokens.
pub fn measure_drift(
    engine: &Engine,
    model: &Model,
    request: &QualityRequest,
    threads: u32,
    mut on_progress: impl FnMut(&str),
) -> Result<QualityRecord> {
    let started = Instant::now();
    let mut reader = ReferenceReader::open(&request.reference_file)?;
    let header = reader.header().clone();
    let n_vocab = model.info().n_vocab as usize;
    if n_vocab != header.n_vocab {
        bail!(
            "{} has a vocabulary of {n_vocab} tokens but the reference {} has {}; quants of \
             one model must share the tokenizer",
            model.path().display(),
            header.quant,
            header.n_vocab
        );
    }
    let tokens: Vec<i32> = reader.tokens().to_vec();
    let mut session = quality_session(engine, model, header.eval_text.n_ctx, threads)?;

    let mut drift = DriftAccumulator::default();
    let mut reference = ReferencePosition {
        top: 0,
        log_probs: Vec::with_capacity(n_vocab),
    };
    score_chunks(
        &mut session,
        &tokens,
        header.n_ctx(),
        &mut on_progress,
        |next, logits| {
            reader.read_next(&mut reference)?;
            let candidate = log_softmax(logits);
            drift.add(&reference.log_probs, reference.top, &candidate, next);
            Ok(())
        },
    )?;

    let summary = drift
        .summary()
        .context("the evaluation text gave no scored positions")?;
    let ppl_reference = header.ppl.context("the reference file has no perplexity")?;
    Ok(QualityRecord {
        reference_quant: request.reference_quant.to_string(),
        is_reference: request.is_reference,
        mean_kld: summary.mean_kld,
        mean_kld_stderr: summary.mean_kld_stderr,
        kld_p99: summary.kld_p99,
        kld_p95: summary.kld_p95,
        kld_p90: summary.kld_p90,
        kld_median: summary.kld_median,
        same_top_p: summary.same_top_p,
        same_top_p_stderr: summary.same_top_p_stderr,
        mean_delta_p: summary.mean_delta_p,
        rms_delta_p: summary.rms_delta_p,
        ppl: summary.ppl,
        ppl_reference,
        ppl_ratio: summary.ppl / ppl_reference,
        eval_text: header.eval_text,
        scored_positions: summary.n_positions as u64,
        wall_time_ms: started.elapsed().as_secs_f64() * 1000.0,
        pareto_front: None,
    })
}

/// Creates a session for one chunk, decoded in a single batch so every position's logits
/// are kept.
fn quality_session<'m>(
    engine: &Engine,
    model: &'m Model,
    n_ctx: u32,
    threads: u32,
) -> Result<Session<'m>> {
    let settings = SessionSettings {
        n_ctx,
        n_batch: n_ctx,
        threads,
    };
    model.session(engine, &settings)
}

/// Decodes each chunk from an empty KV cache and calls `on_position(next_token, logits)` for
/// every scored position, stopping at the first error it returns.
fn score_chunks(
    session: &mut Session<'_>,
    tokens: &[i32],
    n_ctx: usize,
    on_progress: &mut impl FnMut(&str),
    mut on_position: impl FnMut(usize, &[f32]) -> Result<()>,
) -> Result<()> {
    let first = n_ctx / 2;
    let n_chunks = tokens.len() / n_ctx;
    for (index, chunk) in tokens.chunks_exact(n_ctx).enumerate() {
        on_progress(&format!("quality chunk {}/{n_chunks}", index + 1));
        let chunk: Vec<LlamaToken> = chunk.iter().map(|&t| LlamaToken(t)).collect();
        session.clear();
        let mut failure = None;
        session.decode_with(&chunk, |i, logits| {
            if failure.is_some() || i < first || i + 1 >= n_ctx {
                return;
            }
            if let Err(error) = on_position(chunk[i + 1].0 as usize, logits) {
                failure = Some(error);
            }
        })?;
        if let Some(error) = failure {
            return Err(error);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_each_chunk_is_scored() {
        assert_eq!(scored_per_chunk(512), 255);
        assert_eq!(scored_per_chunk(4), 1);
    }

    #[test]
    fn chunks_start_with_bos() {
        let tokens: Vec<i32> = (10..20).collect();
        let chunks = chunk_tokens(&tokens, 4, 2, Some(1)).unwrap();
        assert_eq!(chunks, vec![1, 11, 12, 13, 1, 15, 16, 17]);
        let plain = chunk_tokens(&tokens, 4, 2, None).unwrap();
        assert_eq!(plain, (10..18).collect::<Vec<_>>());
    }

    #[test]
    fn short_text_is_rejected() {
        let tokens: Vec<i32> = (0..10).collect();
        let error = chunk_tokens(&tokens, 4, 3, None).unwrap_err().to_string();
        assert!(error.contains("enough for 2 chunks of 4"), "{error}");
    }
}
