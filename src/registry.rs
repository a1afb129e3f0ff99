//! The model registry: one JSON file with a block per model and, inside it, one block per
//! quantization. Keys are kept in sorted order so nightly diffs stay small, and the file is
//! rewritten atomically (temporary file, then rename) so a crash never leaves half a registry.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::hardware::Hardware;
use crate::perf::{GenerationResult, PrefillResult, TokenLatency};
use crate::probes::function_calling::FunctionCallingRecord;
use crate::probes::rag::record::RagRecord;
use crate::profile::{BenchSettings, Source};
use crate::quality::QualityRecord;

/// Registry written when `--registry` is not given, relative to the working directory.
pub const DEFAULT_REGISTRY: &str = "registry/models.json";

/// Version of the registry format this build reads and writes. Files with a higher version
/// are rejected rather than rewritten, so an older slm-quant never drops newer fields.
pub const SCHEMA_VERSION: u32 = 1;

/// Output length whose mean tokens/s is the headline `tps_output`.
pub const HEADLINE_OUTPUT_LENGTH: u32 = 500;
/// Context length whose mean TTFT is the headline `ttft_ms`.
pub const HEADLINE_CONTEXT_LENGTH: u32 = 2048;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Deployment targets and the peak RAM, in GiB, a quant may use to fit each.
pub const DEPLOYMENT_TARGETS: &[(&str, f64)] = &[
    ("raspberry_pi_5", 2.0),
    ("jetson_orin", 4.0),
    ("16gb_laptop", 8.0),
    ("mobile_high_end", 16.0),
];

/// The whole registry file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub schema_version: u32,
    #[serde(default)]
    pub models: BTreeMap<String, ModelEntry>,
    /// Top-level keys this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// One model: what its profile declares and what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub source: Source,
    #[serde(default)]
    pub performance: Performance,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Speed and memory of a model's quants, and the machine of the latest measurement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
    #[serde(default)]
    pub quantizations: BTreeMap<String, QuantEntry>,
    /// Recommended quant per deployment target, from the quants' quality and peak RAM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Everything measured for one quant in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantEntry {
    /// Mean generation tokens/s at 500 output tokens; absent when that length was not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tps_output: Option<f64>,
    /// Mean TTFT in ms at a 2048-token prompt; absent when that length was not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Peak resident memory of the quant's process, in GiB.
    pub ram_gb: f64,
    /// Targets whose RAM budget the peak fits, smallest first.
    pub deployment_targets: Vec<String>,
    /// RFC 3339 UTC time the measurement finished.
    pub measured_at: String,
    pub file: FileRecord,
    pub model: ModelRecord,
    pub load_ms: f64,
    pub memory: MemoryRecord,
    pub generation: Vec<GenerationResult>,
    pub prefill: Vec<PrefillResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_latency: Option<TokenLatency>,
    pub settings: BenchSettings,
    pub run: RunRecord,
    /// Drift of this quant's next-token distributions from the reference quant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualityRecord>,
    /// Results of use-case probes, absent when none ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cases: Option<UseCases>,
    /// Blocks this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Use-case probe results of one quant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UseCases {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rag: Option<RagRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_calling: Option<FunctionCallingRecord>,
    /// Use cases this version does not know, kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The GGUF file a quant was measured from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// File name; for a Hub source, the path inside the repository (shard 1 of a split).
    pub name: String,
    /// Bytes of the file, or of all shards of a split.
    pub bytes: u64,
    /// SHA-256 of the file, or of all shards of a split concatenated in shard order.
    pub sha256: String,
    /// Hub repository the file came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Commit the profile's revision pointed to when the file was fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Every shard of a split GGUF, in shard order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<Vec<String>>,
    /// Set when the repository lacked the quant and slm-quant built it from another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub derived_from: Option<DerivedFrom>,
}

/// The quant and file a derived quant was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DerivedFrom {
    pub label: String,
    pub file: String,
    pub sha256: String,
}

/// Model shape and size from the GGUF header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    pub n_params: u64,
    /// Bytes of all tensors as llama.cpp counts them (`llama_model_size`).
    pub tensor_bytes: u64,
    pub n_ctx_train: u32,
    pub n_vocab: i32,
    pub n_layer: u32,
}

/// Memory of the quant's own process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryRecord {
    /// Peak resident set over the whole run (`VmHWM`).
    pub peak_rss_bytes: u64,
    /// Resident set right after the model was loaded.
    pub rss_after_load_bytes: u64,
    /// Peak of the anonymous part of the resident set, sampled every 10 ms.
    pub peak_rss_anon_bytes: u64,
    pub model_file_bytes: u64,
    /// F16 KV cache at the largest context measured.
    pub kv_cache_bytes: u64,
    pub kv_cache_n_ctx: u32,
    pub weights_mmapped: bool,
}

/// Build, settings and machine that produced the numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub slm_quant_version: String,
    pub llama_cpp_2_version: String,
    /// CPU features of the llama.cpp build that were active (`llama_print_system_info`).
    pub cpu_features: Vec<String>,
    pub threads: u32,
    pub n_ctx: u32,
    pub n_batch: u32,
    pub hardware: Hardware,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            schema_version: SCHEMA_VERSION,
            models: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }
}

impl Registry {
    /// Reads the registry at `path`; a missing file is an empty registry.
    pub fn load(path: &Path) -> Result<Registry> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Registry::default())
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("cannot read registry {}", path.display()))
            }
        };
        Registry::parse(&text).with_context(|| {
            format!(
                "invalid registry {}; fix or move the file (nothing was written to it)",
                path.display()
            )
        })
    }

    pub fn parse(text: &str) -> Result<Registry> {
        let raw: Value = serde_json::from_str(text).context("not valid JSON")?;
        let version = match raw.get("schema_version") {
            None => bail!("`schema_version` is missing"),
            Some(value) => value.as_u64(),
        };
        match version {
            None => bail!("`schema_version` must be a non-negative integer"),
            Some(v) if v > u64::from(SCHEMA_VERSION) => bail!(
                "schema_version {v} is newer than this slm-quant understands ({SCHEMA_VERSION}); \
                 upgrade slm-quant"
            ),
            Some(_) => {}
        }
        serde_json::from_value(raw).context("does not match the registry format")
    }

    /// Stores `entry` as the block of `quant` under `model`, replacing only that block.
    pub fn upsert_quant(&mut self, model: ModelHeader, quant: &str, entry: QuantEntry) {
        let hardware = entry.run.hardware.clone();
        let slot = self
            .models
            .entry(model.id.clone())
            .or_insert_with(|| ModelEntry {
                id: model.id.clone(),
                display_name: model.display_name.clone(),
                notes: None,
                source: model.source.clone(),
                performance: Performance::default(),
                extra: BTreeMap::new(),
            });
        slot.display_name = model.display_name;
        slot.notes = model.notes;
        slot.source = model.source;
        slot.performance.hardware = Some(hardware);
        let mut entry = entry;
        // Blocks of the old entry this version does not know (written by a newer slm-quant or
        // another tool) stay, as the registry promises for unknown fields.
        if let Some(old) = slot.performance.quantizations.remove(quant) {
            for (key, value) in old.extra {
                entry.extra.entry(key).or_insert(value);
            }
        }
        slot.performance
            .quantizations
            .insert(quant.to_string(), entry);
    }

    /// Fails unless the registry's folder can be created and written, so a sweep stops before
    /// measuring anything it could not store.
    pub fn check_writable(path: &Path) -> Result<()> {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create registry folder {}", folder.display()))?;
        tempfile::NamedTempFile::new_in(&folder).with_context(|| {
            format!(
                "cannot write registry {}: its folder {} is not writable; pass another --registry",
                path.display(),
                folder.display()
            )
        })?;
        Ok(())
    }

    /// Writes the registry to `path` atomically: a temporary file in the same folder is
    /// written, flushed to disk and renamed over the old file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create registry folder {}", folder.display()))?;

        let mut json = serde_json::to_string_pretty(self).context("cannot serialise registry")?;
        json.push('\n');
        let mut temporary = tempfile::NamedTempFile::new_in(&folder)
            .with_context(|| format!("cannot create a temporary file in {}", folder.display()))?;
        // The temporary file is private (0600). The registry keeps the mode it had, or gets the
        // usual 0644 of a published file, so a web server rendering it can still read it.
        let permissions = std::fs::metadata(path)
            .map(|old| old.permissions())
            .unwrap_or_else(|_| std::fs::Permissions::from_mode(0o644));
        temporary
            .as_file()
            .set_permissions(permissions)
            .with_context(|| format!("cannot set the permissions of {}", path.display()))?;
        temporary.write_all(json.as_bytes())?;
        temporary.as_file().sync_all()?;
        temporary
            .persist(path)
            .with_context(|| format!("cannot replace registry {}", path.display()))?;
        Ok(())
    }
}

/// Model-level fields written with every quant.
#[derive(Debug, Clone)]
pub struct ModelHeader {
    pub id: String,
    pub display_name: String,
    pub notes: Option<String>,
    pub source: Source,
}

/// Peak RAM in GiB, rounded to 3 decimals for the headline field.
pub fn ram_gb(peak_rss_bytes: u64) -> f64 {
    (peak_rss_bytes as f64 / GIB * 1000.0).round() / 1000.0
}

/// Targets whose RAM budget `peak_rss_bytes` fits.
pub fn deployment_targets(peak_rss_bytes: u64) -> Vec<String> {
    let gib = peak_rss_bytes as f64 / GIB;
    DEPLOYMENT_TARGETS
        .iter()
        .filter(|(_, budget)| gib <= *budget)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Mean tokens/s at the headline output length, if it was measured.
pub fn headline_tps(generation: &[GenerationResult]) -> Option<f64> {
    generation
        .iter()
        .find(|result| result.n_gen == HEADLINE_OUTPUT_LENGTH)
        .map(|result| result.tokens_per_sec.mean)
}

/// Mean TTFT at the headline context length, if it was measured.
pub fn headline_ttft(prefill: &[PrefillResult]) -> Option<f64> {
    prefill
        .iter()
        .find(|result| result.n_prompt == HEADLINE_CONTEXT_LENGTH)
        .map(|result| result.ttft_ms.mean)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stats::Summary;

    pub(crate) fn sample_entry(peak_rss_bytes: u64) -> QuantEntry {
        let summary = Summary::of(&[10.0, 12.0]).unwrap();
        QuantEntry {
            tps_output: None,
            ttft_ms: None,
            ram_gb: ram_gb(peak_rss_bytes),
            deployment_targets: deployment_targets(peak_rss_bytes),
            measured_at: "2026-01-01T00:00:00Z".into(),
            file: FileRecord {
                name: "m.gguf".into(),
                bytes: 10,
                sha256: "00".into(),
                repo: None,
                revision: None,
                shards: None,
                derived_from: None,
            },
            model: ModelRecord {
                architecture: Some("llama".into()),
                n_params: 1,
                tensor_bytes: 1,
                n_ctx_train: 8192,
                n_vocab: 10,
                n_layer: 1,
            },
            load_ms: 1.0,
            memory: MemoryRecord {
                peak_rss_bytes,
                rss_after_load_bytes: 1,
                peak_rss_anon_bytes: 1,
                model_file_bytes: 10,
                kv_cache_bytes: 1,
                kv_cache_n_ctx: 512,
                weights_mmapped: true,
            },
            generation: vec![GenerationResult {
                n_gen: 16,
                n_prompt: 32,
                tokens_per_sec: summary.clone(),
            }],
            prefill: vec![PrefillResult {
                n_prompt: 128,
                ttft_ms: summary.clone(),
                prompt_tokens_per_sec: summary,
            }],
            token_latency: None,
            settings: BenchSettings::default(),
            run: RunRecord {
                slm_quant_version: "0".into(),
                llama_cpp_2_version: "0".into(),
                cpu_features: vec!["AVX2".into()],
                threads: 2,
                n_ctx: 512,
                n_batch: 512,
                hardware: Hardware::detect(),
                warnings: vec![],
            },
            quality: None,
            use_cases: None,
            extra: BTreeMap::new(),
        }
    }

    fn header(id: &str) -> ModelHeader {
        ModelHeader {
            id: id.into(),
            display_name: id.to_uppercase(),
            notes: None,
            source: Source::Directory {
                path: "models".into(),
            },
        }
    }

    #[test]
    fn deployment_targets_follow_ram_budgets() {
        let gib = 1024 * 1024 * 1024;
        assert_eq!(
            deployment_targets(gib),
            vec![
                "raspberry_pi_5",
                "jetson_orin",
                "16gb_laptop",
                "mobile_high_end"
            ]
        );
        assert_eq!(
            deployment_targets(3 * gib),
            vec!["jetson_orin", "16gb_laptop", "mobile_high_end"]
        );
        assert_eq!(
            deployment_targets(2 * gib),
            vec![
                "raspberry_pi_5",
                "jetson_orin",
                "16gb_laptop",
                "mobile_high_end"
            ]
        );
        assert!(deployment_targets(17 * gib).is_empty());
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry/models.json");
        let mut registry = Registry::default();
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(1 << 28));
        registry.save(&path).unwrap();
        assert_eq!(Registry::load(&path).unwrap(), registry);
    }

    #[test]
    fn upsert_keeps_other_models_and_quants() {
        let mut registry = Registry::default();
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(1));
        registry.upsert_quant(header("b"), "F16", sample_entry(2));
        registry.upsert_quant(header("a"), "Q4_K_M", sample_entry(3));
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(4));
        let a = &registry.models["a"].performance.quantizations;
        assert_eq!(a.len(), 2);
        assert_eq!(a["Q8_0"].memory.peak_rss_bytes, 4);
        assert_eq!(
            registry.models["b"].performance.quantizations["F16"]
                .memory
                .peak_rss_bytes,
            2
        );
    }

    #[test]
    fn unknown_fields_survive_a_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        let mut registry = Registry::default();
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(1));
        let mut value = serde_json::to_value(&registry).unwrap();
        value["generated_by"] = "another tool".into();
        value["models"]["a"]["use_cases"] = serde_json::json!({"coding": {"score": 50}});
        value["models"]["a"]["performance"]["quantizations"]["Q8_0"]["energy"] =
            serde_json::json!({"joules": 0.01});
        std::fs::write(&path, value.to_string()).unwrap();

        let mut loaded = Registry::load(&path).unwrap();
        loaded.upsert_quant(header("a"), "F16", sample_entry(2));
        loaded.save(&path).unwrap();
        let saved: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(saved["generated_by"], "another tool");
        assert_eq!(saved["models"]["a"]["use_cases"]["coding"]["score"], 50);
        assert_eq!(
            saved["models"]["a"]["performance"]["quantizations"]["Q8_0"]["energy"]["joules"],
            0.01
        );
    }

    #[test]
    fn unknown_blocks_of_a_remeasured_quant_survive() {
        let mut registry = Registry::default();
        let mut first = sample_entry(1);
        first
            .extra
            .insert("quality".into(), serde_json::json!({"kld": 0.01}));
        registry.upsert_quant(header("a"), "Q8_0", first);
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(2));
        let entry = &registry.models["a"].performance.quantizations["Q8_0"];
        assert_eq!(entry.memory.peak_rss_bytes, 2);
        assert_eq!(entry.extra["quality"]["kld"], 0.01);
    }

    #[test]
    fn saved_registry_is_world_readable_or_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        let mut registry = Registry::default();
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(1));
        registry.save(&path).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        registry.save(&path).unwrap();
        assert_eq!(mode(&path), 0o640);
    }

    #[test]
    fn unwritable_registry_folder_is_reported_before_measuring() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, "x").unwrap();
        let error = format!(
            "{:#}",
            Registry::check_writable(&file.join("models.json")).unwrap_err()
        );
        assert!(error.contains("plain-file"), "{error}");

        let path = dir.path().join("new/models.json");
        Registry::check_writable(&path).unwrap();
        assert!(!path.exists(), "checking must not create the registry");
        assert_eq!(
            std::fs::read_dir(dir.path().join("new")).unwrap().count(),
            0
        );
    }

    #[test]
    fn function_calling_block_keeps_other_use_cases() {
        let text = r#"{"score": 50.0, "recommended": false, "mode": "fallback_prompt",
            "benchmarks": {"single_function": 50.0}, "error_counts": {"no_call": 3},
            "cases": 6, "wall_time_ms": 10.0, "results_file": "results/a/Q8_0/fc.jsonl"}"#;
        let mut entry = sample_entry(1);
        entry.use_cases = Some(UseCases {
            function_calling: Some(serde_json::from_str(text).unwrap()),
            ..UseCases::default()
        });
        let mut value = serde_json::to_value(&entry).unwrap();
        assert_eq!(
            value["use_cases"]["function_calling"]["mode"],
            "fallback_prompt"
        );
        assert_eq!(
            value["use_cases"]["function_calling"]["error_counts"]["no_call"],
            3
        );

        value["use_cases"]["coding"] = serde_json::json!({"score": 80});
        let read: QuantEntry = serde_json::from_value(value).unwrap();
        let written = serde_json::to_value(&read).unwrap();
        assert_eq!(written["use_cases"]["coding"]["score"], 80);
        assert_eq!(written["use_cases"]["function_calling"]["cases"], 6);
    }

    #[test]
    fn missing_file_is_empty_registry() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::load(&dir.path().join("none.json")).unwrap();
        assert!(registry.models.is_empty());
        assert_eq!(registry.schema_version, SCHEMA_VERSION);
    }

    #[test]
    fn corrupt_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        std::fs::write(&path, "{\"schema_version\": 1, \"models\": {").unwrap();
        let error = format!("{:#}", Registry::load(&path).unwrap_err());
        assert!(error.contains("invalid registry"), "{error}");
        assert!(error.contains("not valid JSON"), "{error}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"schema_version\": 1, \"models\": {"
        );
    }

    #[test]
    fn newer_schema_version_is_rejected() {
        let error = format!(
            "{:#}",
            Registry::parse("{\"schema_version\": 99, \"models\": {}}").unwrap_err()
        );
        assert!(error.contains("schema_version 99"), "{error}");
    }

    #[test]
    fn atomic_save_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        let mut registry = Registry::default();
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(1));
        registry.save(&path).unwrap();
        registry.upsert_quant(header("a"), "F16", sample_entry(1));
        registry.save(&path).unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("models.json")]);
    }

    #[test]
    fn save_into_unwritable_folder_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("models.json");
        let mut registry = Registry::default();
        registry.upsert_quant(header("a"), "Q8_0", sample_entry(1));
        registry.save(&path).unwrap();
        let before = std::fs::read_to_string(&path).unwrap();

        // A registry path whose folder is a file cannot be written; the old file is untouched.
        let blocked = path.join("nested.json");
        assert!(registry.save(&blocked).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn headline_figures_pick_their_lengths() {
        let entry = sample_entry(1);
        assert_eq!(headline_tps(&entry.generation), None);
        let mut generation = entry.generation.clone();
        generation[0].n_gen = HEADLINE_OUTPUT_LENGTH;
        assert_eq!(headline_tps(&generation), Some(11.0));
    }
}
