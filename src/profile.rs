//! Model profiles: the TOML files in `quant-profiles/` that declare a model, where its GGUF
//! files come from, which quants to measure and how.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::probes::function_calling::FunctionCallingSettings;
use crate::probes::rag::RagSettings;
use crate::quality::QualitySettings;
use crate::quant::QuantLabel;

/// Profile measured when `--profile` is not given, relative to the working directory.
pub const DEFAULT_PROFILE: &str = "quant-profiles/smollm2-135m-instruct.toml";

/// One model as declared in its profile file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Registry key of the model: lowercase letters, digits, `-`, `_` and `.`.
    pub id: String,
    pub display_name: String,
    /// Free text shown on the model page, such as where the weights came from.
    #[serde(default)]
    pub notes: Option<String>,
    pub source: Source,
    #[serde(rename = "quant")]
    pub quants: Vec<QuantSpec>,
    #[serde(default)]
    pub bench: BenchSettings,
    /// The source as written in the file, before a relative folder was resolved; this is what
    /// the registry records, so it contains no path of the measuring machine.
    #[serde(skip)]
    pub declared_source: Option<Source>,
    #[serde(default)]
    pub quality: QualitySettings,
    /// RAG probes run on each quant after its speed runs.
    #[serde(default)]
    pub rag: RagSettings,
    #[serde(default)]
    pub function_calling: FunctionCallingSettings,
}

/// Origin of a profile's GGUF files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A local folder; a relative path is taken from the folder of the profile file.
    Directory { path: PathBuf },
    /// A Hugging Face Hub repository at a revision (branch, tag or commit).
    Hub {
        repo: String,
        #[serde(default = "default_revision")]
        revision: String,
    },
}

fn default_revision() -> String {
    "main".to_string()
}

/// One declared quantization.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QuantSpec {
    pub label: QuantLabel,
    /// Exact file name inside the source; when absent the file is found by its label.
    #[serde(default)]
    pub file: Option<String>,
    /// Quant to build this one from with `slm-quant quantize` when a Hub repository does
    /// not publish it.
    #[serde(default)]
    pub derive_from: Option<QuantLabel>,
}

/// Settings of the speed runs. Every field has a default, so a profile may omit the table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchSettings {
    /// CPU threads for generation and prompt processing (`n_threads`, `n_threads_batch`).
    pub threads: u32,
    /// Generated tokens per generation run; each length is measured separately.
    pub output_lengths: Vec<u32>,
    /// Prompt lengths in tokens for the TTFT and prefill runs, capped at the model's
    /// training context.
    pub context_lengths: Vec<u32>,
    /// Timed runs per measurement.
    pub runs: u32,
    /// Untimed runs before the timed ones, discarded.
    pub warmup_runs: u32,
    /// Seed for generated prompt text.
    pub seed: u64,
    /// Tokens per `llama_decode` call while processing a prompt (`n_batch`).
    pub batch_size: u32,
}

impl Default for BenchSettings {
    fn default() -> Self {
        BenchSettings {
            threads: 2,
            output_lengths: vec![100, 500, 1000],
            context_lengths: vec![512, 2048, 8192],
            runs: 3,
            warmup_runs: 1,
            seed: 42,
            batch_size: 2048,
        }
    }
}

/// A profile file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read profile {path}: {source}\n\nhint: profiles live in quant-profiles/; pass one with --profile")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid profile {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Profile {
    /// Reads and validates the profile at `path`.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| ProfileError::Invalid {
            path: path.to_path_buf(),
            message,
        };

        let mut profile: Profile =
            toml::from_str(&text).map_err(|error| invalid(error.to_string()))?;
        profile.validate().map_err(invalid)?;

        profile.declared_source = Some(profile.source.clone());
        if let Some(text) = &mut profile.quality.eval_text {
            if text.is_relative() {
                *text = path.parent().unwrap_or(Path::new(".")).join(&*text);
            }
        }
        if let Source::Directory { path: dir } = &mut profile.source {
            if dir.is_relative() {
                let base = path.parent().unwrap_or(Path::new("."));
                *dir = base.join(&*dir);
            }
        }
        Ok(profile)
    }

    /// Checks what TOML types alone cannot express.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            });
        if !id_ok {
            return Err(format!(
                "id `{}` must be non-empty lowercase letters, digits, `-`, `_` or `.`",
                self.id
            ));
        }
        if self.quants.is_empty() {
            return Err("no quants declared; add at least one [[quant]] table with a label".into());
        }

        let mut seen = BTreeSet::new();
        for quant in &self.quants {
            if !seen.insert(quant.label) {
                return Err(format!("quant {} is declared twice", quant.label));
            }
            if let Some(file) = &quant.file {
                check_file_name(file)?;
            }
            if let Some(from) = quant.derive_from {
                check_derive_from(self, quant.label, from)?;
            }
        }
        self.bench.validate()?;
        self.quality.validate()?;
        self.rag.validate()?;

        self.function_calling.validate()
    }

    /// Returns the declared quant with this label, or an error listing the declared ones.
    pub fn quant(&self, label: QuantLabel) -> Result<&QuantSpec, String> {
        self.quants
            .iter()
            .find(|quant| quant.label == label)
            .ok_or_else(|| {
                let declared: Vec<&str> = self.quants.iter().map(|q| q.label.as_str()).collect();
                format!(
                    "quant {label} is not declared in profile `{}`; declared quants: {}",
                    self.id,
                    declared.join(", ")
                )
            })
    }
}

impl BenchSettings {
    pub fn validate(&self) -> Result<(), String> {
        if self.threads == 0 {
            return Err("bench.threads must be at least 1".into());
        }
        if self.runs == 0 {
            return Err("bench.runs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return Err("bench.batch_size must be at least 1".into());
        }
        if self.output_lengths.contains(&0) {
            return Err("bench.output_lengths must be positive token counts".into());
        }
        if self.context_lengths.iter().any(|&n| n < 2) {
            return Err("bench.context_lengths must be at least 2 tokens".into());
        }
        Ok(())
    }
}

/// Rejects a `derive_from` that a source cannot honour.
fn check_derive_from(profile: &Profile, label: QuantLabel, from: QuantLabel) -> Result<(), String> {
    if from == label {
        return Err(format!("quant {label} cannot be derived from itself"));
    }
    if !matches!(profile.source, Source::Hub { .. }) {
        return Err(format!(
            "quant {label} has `derive_from`, which only a `hub` source supports; for a \
             directory, build the file with `slm-quant quantize` and name it with `file`"
        ));
    }
    Ok(())
}

/// Rejects file names that could point outside the model's folder.
fn check_file_name(file: &str) -> Result<(), String> {
    let path = Path::new(file);
    let escapes = path.is_absolute()
        || file.contains('\\')
        || path
            .components()
            .any(|part| matches!(part, std::path::Component::ParentDir));
    if escapes || file.is_empty() {
        return Err(format!(
            "quant file `{file}` must be a relative path inside the model's source, without `..`"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
id = "tiny"
display_name = "Tiny"

[source]
kind = "directory"
path = "models/tiny"

[[quant]]
label = "Q8_0"

[[quant]]
label = "f16"
file = "tiny-f16.gguf"
"#;

    fn parse(text: &str) -> Result<Profile, String> {
        let profile: Profile = toml::from_str(text).map_err(|e| e.to_string())?;
        profile.validate()?;
        Ok(profile)
    }

    #[test]
    fn minimal_profile_gets_default_settings() {
        let profile = parse(MINIMAL).unwrap();
        assert_eq!(profile.quants.len(), 2);
        assert_eq!(profile.quants[1].label.as_str(), "F16");
        assert_eq!(profile.bench, BenchSettings::default());
        assert_eq!(profile.bench.context_lengths, vec![512, 2048, 8192]);
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let error = parse(&format!("colour = \"red\"\n{MINIMAL}")).unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
        assert!(error.contains("display_name"), "{error}");
    }

    #[test]
    fn unknown_bench_key_lists_valid_keys() {
        let error = parse(&format!("{MINIMAL}\n[bench]\nthread = 4\n")).unwrap_err();
        assert!(error.contains("unknown field `thread`"), "{error}");
        assert!(error.contains("threads"), "{error}");
    }

    #[test]
    fn unknown_quant_label_lists_valid_labels() {
        let text = MINIMAL.replace("\"Q8_0\"", "\"Q4_K_XL\"");
        let error = parse(&text).unwrap_err();
        assert!(error.contains("`Q4_K_XL`"), "{error}");
        assert!(error.contains("Q4_K_M"), "{error}");
    }

    #[test]
    fn unknown_source_kind_is_rejected() {
        let text = MINIMAL.replace("kind = \"directory\"", "kind = \"ftp\"");
        let error = parse(&text).unwrap_err();
        assert!(error.contains("ftp"), "{error}");
        assert!(error.contains("directory"), "{error}");
    }

    #[test]
    fn hub_source_defaults_to_main() {
        let text = MINIMAL.replace(
            "kind = \"directory\"\npath = \"models/tiny\"",
            "kind = \"hub\"\nrepo = \"org/tiny-GGUF\"",
        );
        let profile = parse(&text).unwrap();
        assert_eq!(
            profile.source,
            Source::Hub {
                repo: "org/tiny-GGUF".into(),
                revision: "main".into()
            }
        );
    }

    #[test]
    fn derive_from_needs_hub_source_and_another_label() {
        let hub = MINIMAL.replace(
            "kind = \"directory\"\npath = \"models/tiny\"",
            "kind = \"hub\"\nrepo = \"org/tiny-GGUF\"",
        );
        let derived = "\n[[quant]]\nlabel = \"Q4_K_M\"\nderive_from = \"F16\"\n";
        let profile = parse(&format!("{hub}{derived}")).unwrap();
        assert_eq!(profile.quants[2].derive_from, Some("F16".parse().unwrap()));

        let error = parse(&format!("{MINIMAL}{derived}")).unwrap_err();
        assert!(error.contains("only a `hub` source supports"), "{error}");

        let itself = derived.replace("\"F16\"", "\"Q4_K_M\"");
        let error = parse(&format!("{hub}{itself}")).unwrap_err();
        assert!(error.contains("cannot be derived from itself"), "{error}");
    }

    #[test]
    fn duplicate_quant_is_rejected() {
        let text = MINIMAL.replace("\"f16\"", "\"q8_0\"");
        let error = parse(&text).unwrap_err();
        assert!(error.contains("Q8_0 is declared twice"), "{error}");
    }

    #[test]
    fn escaping_file_name_is_rejected() {
        let text = MINIMAL.replace("tiny-f16.gguf", "../../etc/passwd");
        let error = parse(&text).unwrap_err();
        assert!(error.contains("without `..`"), "{error}");
    }

    #[test]
    fn quality_table_is_read() {
        let text = format!("{MINIMAL}\n[quality]\nreference = \"Q8_0\"\nn_chunks = 2\n");
        let profile = parse(&text).unwrap();
        assert_eq!(profile.quality.reference.unwrap().as_str(), "Q8_0");
        assert_eq!(profile.quality.n_chunks, 2);
        assert_eq!(profile.quality.n_ctx, 512);
    }

    #[test]
    fn unknown_quality_key_is_rejected() {
        let error = parse(&format!("{MINIMAL}\n[quality]\nctx = 5\n")).unwrap_err();
        assert!(error.contains("unknown field `ctx`"), "{error}");
        assert!(error.contains("n_ctx"), "{error}");
    }

    #[test]
    fn zero_quality_chunks_is_rejected() {
        let error = parse(&format!("{MINIMAL}\n[quality]\nn_chunks = 0\n")).unwrap_err();
        assert!(error.contains("quality.n_chunks"), "{error}");
    }

    #[test]
    fn rag_table_is_read_and_checked() {
        let profile = parse(&format!("{MINIMAL}\n[rag]\nfamilies = [\"niah\"]\n")).unwrap();
        assert_eq!(
            profile.rag.families,
            vec![crate::probes::rag::RagFamily::Niah]
        );
        let error = parse(&format!("{MINIMAL}\n[rag]\ndepths = [50]\n")).unwrap_err();
        assert!(error.contains("unknown field `depths`"), "{error}");
        let error = parse(&format!("{MINIMAL}\n[rag]\nniah_depths = [120]\n")).unwrap_err();
        assert!(error.contains("rag.niah_depths"), "{error}");
    }

    #[test]
    fn zero_runs_is_rejected() {
        let error = parse(&format!("{MINIMAL}\n[bench]\nruns = 0\n")).unwrap_err();
        assert!(error.contains("bench.runs"), "{error}");
    }

    #[test]
    fn function_calling_table_is_read() {
        let text = format!(
            "{MINIMAL}\n[function_calling]\ncategories = [\"simple\", \"multi_turn\"]\n\
             max_answer_tokens = 64\n"
        );
        let profile = parse(&text).unwrap();
        assert_eq!(profile.function_calling.max_answer_tokens, 64);
        assert_eq!(profile.function_calling.categories.len(), 2);
        assert_eq!(
            parse(MINIMAL).unwrap().function_calling,
            FunctionCallingSettings::default()
        );
    }

    #[test]
    fn unknown_function_calling_key_is_named() {
        let text = format!("{MINIMAL}\n[function_calling]\nmax_tokens = 64\n");
        let error = parse(&text).unwrap_err();
        assert!(error.contains("unknown field `max_tokens`"), "{error}");
        assert!(error.contains("max_answer_tokens"), "{error}");
    }

    #[test]
    fn bad_id_is_rejected() {
        let error = parse(&MINIMAL.replace("\"tiny\"", "\"Tiny Model\"")).unwrap_err();
        assert!(error.contains("`Tiny Model`"), "{error}");
    }

    #[test]
    fn relative_directory_is_taken_from_profile_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.toml");
        std::fs::write(&path, MINIMAL).unwrap();
        let profile = Profile::load(&path).unwrap();
        assert_eq!(
            profile.source,
            Source::Directory {
                path: dir.path().join("models/tiny")
            }
        );
    }

    #[test]
    fn undeclared_quant_lists_declared_ones() {
        let profile = parse(MINIMAL).unwrap();
        let error = profile.quant("Q4_K_M".parse().unwrap()).unwrap_err();
        assert!(error.contains("declared quants: Q8_0, F16"), "{error}");
    }
}
