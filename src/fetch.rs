//! Finds the GGUF file of each declared quant in the profile's source, downloading it first
//! when the source is a Hugging Face Hub repository.

pub mod choice;
pub mod config;
mod derive;
pub mod hub;
pub mod hub_quant;
pub mod integrity;
pub mod split;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use crate::profile::{Profile, QuantSpec, Source};
use crate::quant::QuantLabel;
use crate::registry::{DerivedFrom, FileRecord};

/// The local file a quant will be measured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedQuant {
    pub label: QuantLabel,
    /// The file llama.cpp is given: shard 1 of a split model.
    pub path: PathBuf,
    /// Hub origin of the file; absent for a directory source.
    pub hub: Option<HubOrigin>,
}

/// Provenance of a quant fetched from (or derived from a file of) a Hub repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubOrigin {
    pub repo: String,
    /// The commit the profile's revision pointed to.
    pub revision: String,
    /// Repository paths of the quant's files in shard order, or the derived file's name.
    pub files: Vec<String>,
    /// Bytes of all files together.
    pub bytes: u64,
    /// SHA-256 of the file, or of a split's shards concatenated in order.
    pub sha256: String,
    pub derived_from: Option<DerivedFrom>,
}

impl ResolvedQuant {
    /// Adds where the file came from to the registry record the measuring process wrote.
    pub fn annotate(&self, record: &mut FileRecord) {
        let Some(origin) = &self.hub else {
            return;
        };
        record.repo = Some(origin.repo.clone());
        record.revision = Some(origin.revision.clone());
        record.name = origin.files[0].clone();
        record.shards = (origin.files.len() > 1).then(|| origin.files.clone());
        record.derived_from = origin.derived_from.clone();
    }
}

/// Locates the file of `quant` in the profile's source. A Hub source is read with the
/// settings of the `HF_*` environment variables.
pub fn resolve(profile: &Profile, quant: &QuantSpec) -> Result<ResolvedQuant> {
    resolve_with_progress(profile, quant, &mut |_| {})
}

/// Like [`resolve`], reporting download progress as short messages through `report`.
pub fn resolve_with_progress(
    profile: &Profile,
    quant: &QuantSpec,
    report: &mut dyn FnMut(&str),
) -> Result<ResolvedQuant> {
    match &profile.source {
        Source::Directory { path } => resolve_in_directory(path, quant),
        Source::Hub { repo, revision } => {
            let source = hub_quant::HubSource { repo, revision };
            let config = config::HubConfig::from_env();
            hub_quant::resolve_with_progress(&config, source, profile, quant, report)
        }
    }
}

fn resolve_in_directory(dir: &Path, quant: &QuantSpec) -> Result<ResolvedQuant> {
    if let Some(file) = &quant.file {
        let path = dir.join(file);
        if !path.is_file() {
            bail!(
                "file `{file}` of quant {} not found in {}; create it or fix `file` in the profile",
                quant.label,
                dir.display()
            );
        }
        return Ok(ResolvedQuant {
            label: quant.label,
            path,
            hub: None,
        });
    }

    let names = gguf_files(dir)?;
    let matches: Vec<&String> = names
        .iter()
        .filter(|name| file_matches_label(name, quant.label))
        .collect();
    match matches.as_slice() {
        [one] => Ok(ResolvedQuant {
            label: quant.label,
            path: dir.join(one),
            hub: None,
        }),
        [] => bail!(
            "no GGUF file for quant {} in {}; files there: {}",
            quant.label,
            dir.display(),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ),
        several => bail!(
            "several files match quant {} in {}: {}; name one with `file` in the profile",
            quant.label,
            dir.display(),
            several
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn gguf_files(dir: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read model folder {}; create it or fix the profile's source",
            dir.display()
        )
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.to_ascii_lowercase().ends_with(".gguf"))
        .collect();
    names.sort();
    Ok(names)
}

/// Whether a GGUF file name carries `label` as a whole word: case-insensitive, bounded by
/// the start, the end or one of `-`, `.`, `_`, `/`. So `Q4_K_M` matches `model-q4_k_m.gguf`
/// but not `model-UD-Q4_K_XL.gguf`, and `F16` does not match `BF16`. Vision projector files
/// (`mmproj`) never match.
pub fn file_matches_label(name: &str, label: QuantLabel) -> bool {
    let name = name.to_ascii_lowercase();
    if name.contains("mmproj") {
        return false;
    }
    let stem = name.strip_suffix(".gguf").unwrap_or(&name);
    let wanted = label.as_str().to_ascii_lowercase();
    let is_boundary = |c: Option<char>| c.is_none_or(|c| matches!(c, '-' | '.' | '_' | '/'));

    stem.match_indices(&wanted).any(|(start, found)| {
        let before = stem[..start].chars().next_back();
        let after = stem[start + found.len()..].chars().next();
        is_boundary(before) && is_boundary(after)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(text: &str) -> QuantLabel {
        text.parse().unwrap()
    }

    #[test]
    fn label_matches_usual_spellings() {
        assert!(file_matches_label("Model-Q4_K_M.gguf", label("Q4_K_M")));
        assert!(file_matches_label("model.q4_k_m.gguf", label("Q4_K_M")));
        assert!(file_matches_label(
            "Q4_K_M/model-00001-of-00002.gguf",
            label("Q4_K_M")
        ));
        assert!(file_matches_label("model-f16.gguf", label("F16")));
    }

    #[test]
    fn label_does_not_match_neighbours() {
        assert!(!file_matches_label(
            "model-UD-Q4_K_XL.gguf",
            label("Q4_K_M")
        ));
        assert!(!file_matches_label("model-Q4_K_S.gguf", label("Q4_K_M")));
        assert!(!file_matches_label("model-BF16.gguf", label("F16")));
        assert!(!file_matches_label("mmproj-model-F16.gguf", label("F16")));
        assert!(!file_matches_label("model-Q8_0.gguf", label("Q4_0")));
    }

    fn quant(text: &str, file: Option<&str>) -> QuantSpec {
        QuantSpec {
            label: label(text),
            file: file.map(String::from),
            derive_from: None,
        }
    }

    #[test]
    fn directory_resolution_finds_one_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["m-F16.gguf", "m-Q8_0.gguf", "m-BF16.gguf", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"GGUF").unwrap();
        }
        let found = resolve_in_directory(dir.path(), &quant("F16", None)).unwrap();
        assert_eq!(found.path, dir.path().join("m-F16.gguf"));
    }

    #[test]
    fn missing_quant_lists_files_present() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("m-Q8_0.gguf"), b"GGUF").unwrap();
        let error = resolve_in_directory(dir.path(), &quant("Q4_K_M", None)).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("no GGUF file for quant Q4_K_M"), "{text}");
        assert!(text.contains("m-Q8_0.gguf"), "{text}");
    }

    #[test]
    fn ambiguous_quant_lists_both_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a-Q8_0.gguf"), b"GGUF").unwrap();
        std::fs::write(dir.path().join("b.q8_0.gguf"), b"GGUF").unwrap();
        let text = resolve_in_directory(dir.path(), &quant("Q8_0", None))
            .unwrap_err()
            .to_string();
        assert!(text.contains("a-Q8_0.gguf, b.q8_0.gguf"), "{text}");
    }

    #[test]
    fn explicit_file_wins_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("custom.gguf"), b"GGUF").unwrap();
        let found = resolve_in_directory(dir.path(), &quant("Q8_0", Some("custom.gguf"))).unwrap();
        assert_eq!(found.path, dir.path().join("custom.gguf"));
        let text = resolve_in_directory(dir.path(), &quant("Q8_0", Some("gone.gguf")))
            .unwrap_err()
            .to_string();
        assert!(text.contains("`gone.gguf`"), "{text}");
    }

    #[test]
    fn annotate_adds_hub_origin() {
        let mut record = FileRecord {
            name: "m-00001-of-00002.gguf".into(),
            bytes: 20,
            sha256: "ab".into(),
            repo: None,
            revision: None,
            shards: Some(vec![
                "m-00001-of-00002.gguf".into(),
                "m-00002-of-00002.gguf".into(),
            ]),
            derived_from: None,
        };
        let directory = ResolvedQuant {
            label: label("Q8_0"),
            path: "/m/m-00001-of-00002.gguf".into(),
            hub: None,
        };
        let before = record.clone();
        directory.annotate(&mut record);
        assert_eq!(record, before);

        let files = vec![
            "Q8_0/m-00001-of-00002.gguf".to_string(),
            "Q8_0/m-00002-of-00002.gguf".to_string(),
        ];
        let hub = ResolvedQuant {
            hub: Some(HubOrigin {
                repo: "org/m-GGUF".into(),
                revision: "c".repeat(40),
                files: files.clone(),
                bytes: 20,
                sha256: "ab".into(),
                derived_from: None,
            }),
            ..directory
        };
        hub.annotate(&mut record);
        assert_eq!(record.name, "Q8_0/m-00001-of-00002.gguf");
        assert_eq!(record.shards, Some(files));
        assert_eq!(record.repo.as_deref(), Some("org/m-GGUF"));
        assert_eq!(record.revision, Some("c".repeat(40)));
    }

    #[test]
    fn file_record_without_hub_fields_parses() {
        let record: FileRecord =
            serde_json::from_str(r#"{"name": "m.gguf", "bytes": 3, "sha256": "ab"}"#).unwrap();
        assert_eq!(record.repo, None);
        assert_eq!(record.shards, None);
        assert_eq!(record.derived_from, None);
    }

    #[test]
    fn missing_folder_is_named() {
        let text = resolve_in_directory(Path::new("/nonexistent/models"), &quant("F16", None))
            .unwrap_err()
            .to_string();
        assert!(text.contains("/nonexistent/models"), "{text}");
    }
}
