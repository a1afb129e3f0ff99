//! Quants a repository does not publish, built locally from another of its quants with
//! llama.cpp's quantizer and kept under `HF_HOME/slm-quant/derived/`.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::{Context as _, Result};

use crate::engine::Engine;
use crate::fetch::config::HubConfig;
use crate::fetch::{integrity, HubOrigin, ResolvedQuant};
use crate::quant::QuantLabel;
use crate::quantize;
use crate::registry::DerivedFrom;

/// Builds `label` from the downloaded quant `parent`, or reuses an earlier build of the same
/// parent file.
pub fn derive(
    config: &HubConfig,
    parent: &ResolvedQuant,
    label: QuantLabel,
) -> Result<ResolvedQuant> {
    let origin = parent
        .hub
        .as_ref()
        .context("a derived quant needs a parent downloaded from the Hub")?;
    let target = derived_path(config, origin, label);

    let reusable = target.is_file()
        && integrity::verify(&target, &file_name(&target), &Default::default()).is_ok();
    if reusable {
        tracing::info!(quant = %label, file = %target.display(), "reusing derived quant");
    } else {
        tracing::info!(quant = %label, from = %parent.label, file = %target.display(), "deriving quant");
        // Threads 0 lets llama.cpp use every core. NOTE: a split parent is passed as shard 1
        // and llama.cpp's loader reads the other shards; no test covers that case.
        quantize::quantize(engine()?, &parent.path, &target, label, 0)
            .with_context(|| format!("cannot derive quant {label} from {}", parent.label))?;
    }

    Ok(ResolvedQuant {
        label,
        path: target.clone(),
        hub: Some(HubOrigin {
            repo: origin.repo.clone(),
            revision: origin.revision.clone(),
            files: vec![file_name(&target)],
            bytes: std::fs::metadata(&target)?.len(),
            sha256: integrity::sha256_of(&target)?,
            derived_from: Some(DerivedFrom {
                label: parent.label.as_str().to_string(),
                file: origin.files[0].clone(),
                sha256: origin.sha256.clone(),
            }),
        }),
    })
}

/// `HF_HOME/slm-quant/derived/<parent sha256>/<repo name>-<label>.gguf`: keyed by the parent's
/// content, so a new upload of the parent is derived again.
fn derived_path(config: &HubConfig, origin: &HubOrigin, label: QuantLabel) -> PathBuf {
    let repo_name = origin.repo.rsplit('/').next().unwrap_or(&origin.repo);
    let stem = repo_name
        .strip_suffix("-GGUF")
        .or_else(|| repo_name.strip_suffix("-gguf"))
        .unwrap_or(repo_name);
    config
        .hf_home
        .join("slm-quant")
        .join("derived")
        .join(&origin.sha256)
        .join(format!("{stem}-{label}.gguf"))
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Returns the process's llama.cpp backend, created on first use because llama.cpp allows one
/// per process.
fn engine() -> Result<&'static Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine);
    }
    let engine = Engine::init()?;
    Ok(ENGINE.get_or_init(|| engine))
}
