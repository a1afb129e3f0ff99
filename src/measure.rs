//! Measures one quant inside its own process: load the GGUF, run the speed measurements,
//! read this process's memory, and build the quant's registry block.
//!
//! `slm-quant bench` starts one such process per quant (the hidden `measure` subcommand), so
//! each quant's peak memory is its own and a llama.cpp abort on one file does not stop the
//! sweep.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::engine::{Engine, SessionSettings};
use crate::fetch::{integrity, split};
use crate::hardware::Hardware;
use crate::memory::{self, AnonPeakSampler};
use crate::perf;
use crate::probes::function_calling::{self, FunctionCallingRequest};
use crate::probes::rag::{self, RagRequest};
use crate::profile::BenchSettings;
use crate::quality::{evaluate, QualityRequest};
use crate::registry::{
    self, FileRecord, MemoryRecord, ModelRecord, QuantEntry, RunRecord, UseCases,
};

/// Everything a measuring process is asked to do for one quant. `bench` builds it from the
/// profile and the command line and hands it to the child as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureRequest {
    pub model_file: PathBuf,
    pub settings: BenchSettings,
    /// Reference to compare with; without it no quality block is measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityRequest>,
    /// RAG probes to run after the speed runs; absent runs none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<RagRequest>,
    /// Function-calling probes to run after the speed runs; absent to skip them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_calling: Option<FunctionCallingRequest>,
}

/// Version of the llama-cpp-2 crate this build links, as pinned in Cargo.toml.
pub const LLAMA_CPP_2_VERSION: &str = "0.1.160";

/// Measures the GGUF of `request`, reporting progress through `on_progress`.
pub fn measure_quant(
    request: &MeasureRequest,
    mut on_progress: impl FnMut(&str),
) -> Result<QuantEntry> {
    let model_file = request.model_file.as_path();
    let settings = &request.settings;
    let sampler = AnonPeakSampler::start();
    let engine = Engine::init()?;

    on_progress("hashing file");
    let file = file_record(model_file)?;

    on_progress("loading model");
    let model = engine.load(model_file)?;
    let rss_after_load = memory::read_self().map(|m| m.rss_bytes).unwrap_or(0);
    let info = model.info();
    perf::check_output_lengths(settings, info.n_ctx_train).map_err(anyhow::Error::msg)?;

    let (context_lengths, mut warnings) =
        perf::plan_context_lengths(&settings.context_lengths, info.n_ctx_train);
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let n_ctx = perf::required_n_ctx(settings, &context_lengths);
    let session_settings = SessionSettings {
        n_ctx,
        n_batch: settings.batch_size,
        threads: settings.threads,
    };
    let mut session = model.session(&engine, &session_settings)?;
    tracing::debug!(
        n_ctx = session.n_ctx(),
        threads = settings.threads,
        "session created"
    );

    let speed = perf::measure(&mut session, settings, &context_lengths, &mut on_progress)?;
    let allocated_n_ctx = session.n_ctx();
    let allocated_n_batch = session.n_batch();
    drop(session);

    let peak_rss_anon = sampler.finish();
    let reading = memory::read_self().context("cannot read /proc/self/status")?;
    let kv_cache_n_ctx = context_lengths.iter().max().copied().unwrap_or(n_ctx);

    // The probes run after the memory readings, in a session of their own, so they do not
    // change the speed and memory figures.
    let function_calling = request
        .function_calling
        .as_ref()
        .filter(|fc| fc.settings.enabled())
        .and_then(|fc| {
            match function_calling::measure(&engine, &model, fc, settings.threads, &mut on_progress)
            {
                Ok(record) => Some(record),
                Err(error) => {
                    let warning = format!("function-calling probes failed: {error:#}");
                    tracing::warn!("{warning}");
                    warnings.push(warning);
                    None
                }
            }
        });

    let memory = MemoryRecord {
        peak_rss_bytes: reading.peak_rss_bytes,
        rss_after_load_bytes: rss_after_load,
        peak_rss_anon_bytes: peak_rss_anon,
        model_file_bytes: file.bytes,
        kv_cache_bytes: model.kv_cache_bytes(kv_cache_n_ctx),
        kv_cache_n_ctx,
        weights_mmapped: model.mmapped(),
    };
    // Measured after the memory readings, so the reference file's buffers do not count in the
    // quant's peak RAM.
    let quality = match &request.quality {
        Some(quality) => Some(evaluate::measure_drift(
            &engine,
            &model,
            quality,
            settings.threads,
            &mut on_progress,
        )?),
        None => None,
    };
    let mut measured_settings = settings.clone();
    measured_settings.context_lengths = context_lengths;

    // The RAG probes run after memory was read, so their larger KV cache does not count
    // toward the quant's memory figures.
    let mut rag = None;
    if let Some(rag_request) = request
        .rag
        .as_ref()
        .filter(|r| !r.settings.families.is_empty())
    {
        match rag::run_on_model(&engine, &model, settings, rag_request, &mut on_progress) {
            Ok(record) => rag = Some(record),
            Err(error) => {
                tracing::error!("RAG probes failed: {error:#}");
                warnings.push(format!("RAG probes failed: {error:#}"));
            }
        }
    }

    let use_cases = (rag.is_some() || function_calling.is_some()).then(|| UseCases {
        rag,
        function_calling,
        ..UseCases::default()
    });

    Ok(QuantEntry {
        tps_output: registry::headline_tps(&speed.generation),
        ttft_ms: registry::headline_ttft(&speed.prefill),
        ram_gb: registry::ram_gb(memory.peak_rss_bytes),
        deployment_targets: registry::deployment_targets(memory.peak_rss_bytes),
        measured_at: now_rfc3339(),
        file,
        model: ModelRecord {
            architecture: info.architecture,
            n_params: info.n_params,
            tensor_bytes: info.tensor_bytes,
            n_ctx_train: info.n_ctx_train,
            n_vocab: info.n_vocab,
            n_layer: info.n_layer,
        },
        load_ms: model.load_time().as_secs_f64() * 1000.0,
        memory,
        generation: speed.generation,
        prefill: speed.prefill,
        token_latency: speed.token_latency,
        settings: measured_settings,
        run: RunRecord {
            slm_quant_version: env!("CARGO_PKG_VERSION").to_string(),
            llama_cpp_2_version: LLAMA_CPP_2_VERSION.to_string(),
            cpu_features: engine.cpu_features(),
            threads: settings.threads,
            n_ctx: allocated_n_ctx,
            n_batch: allocated_n_batch,
            hardware: Hardware::detect(),
            warnings,
        },
        quality,
        use_cases,
        extra: BTreeMap::new(),
    })
}

/// Name, size and SHA-256 of a model file. For shard 1 of a split GGUF, size and hash cover
/// every shard, concatenated in shard order.
pub fn file_record(path: &Path) -> Result<FileRecord> {
    let paths = split::shard_paths(path);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    for shard in &paths {
        bytes += integrity::hash_into(shard, &mut hasher)
            .with_context(|| format!("cannot hash model file {}", shard.display()))?;
    }
    let name_of = |path: &Path| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    Ok(FileRecord {
        name: name_of(path),
        bytes,
        sha256: format!("{:x}", hasher.finalize()),
        repo: None,
        revision: None,
        shards: (paths.len() > 1).then(|| paths.iter().map(|p| name_of(p)).collect()),
        derived_from: None,
    })
}

/// Current time as RFC 3339 UTC, to the second.
pub fn now_rfc3339() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_record_hashes_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gguf");
        std::fs::write(&path, b"abc").unwrap();
        let record = file_record(&path).unwrap();
        assert_eq!(record.name, "a.gguf");
        assert_eq!(record.bytes, 3);
        assert_eq!(
            record.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let stamp = now_rfc3339();
        assert_eq!(stamp.len(), 20, "{stamp}");
        assert!(stamp.ends_with('Z'));
        assert_eq!(&stamp[10..11], "T");
    }
}
