//! Registry fragments: one quant's registry block as one `bench --fragment` job wrote it, with
//! the model's header and where the job ran, so a later step can merge many jobs into one
//! registry.
//!
//! A fragment is checked when it is read: a file that fails any check is rejected as a whole,
//! with the reason, and never half-merged.

use std::path::Path;

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::hardware::Hardware;
use crate::measure;
use crate::profile::{Profile, Source};
use crate::quant::QuantLabel;
use crate::registry::{ModelHeader, QuantEntry};

/// Version of the fragment format this build reads and writes.
pub const FRAGMENT_VERSION: u32 = 1;

/// One job's result: the quant's registry block plus what the merge needs around it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fragment {
    pub fragment_version: u32,
    pub model: FragmentModel,
    /// Quant label, spelled as llama.cpp names the type (`Q4_K_M`).
    pub quant: String,
    /// The block stored at `models.<id>.performance.quantizations.<quant>`.
    pub entry: QuantEntry,
    pub origin: Origin,
}

/// Model-level fields of the registry, as the job's profile declares them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FragmentModel {
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    pub source: Source,
}

/// Origin of the fragment: the job's profile, machine, time and CI run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Origin {
    /// Profile file the job read, as given on its command line.
    pub profile: String,
    /// RFC 3339 UTC time the fragment was written.
    pub written_at: String,
    /// True when the job skipped measuring because the registry already contained a result for
    /// the same file, settings and build, and the fragment carries that stored result.
    pub reused: bool,
    /// The machine that ran the job. For a reused entry it can differ from the machine in
    /// `entry.run.hardware`, which measured it.
    pub hardware: Hardware,
    /// The GitHub Actions run, when the job ran in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<CiRun>,
}

/// GitHub Actions identifiers of the job, read from the variables the runner sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CiRun {
    pub repository: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub job: Option<String>,
    pub commit: Option<String>,
    pub runner_name: Option<String>,
}

impl CiRun {
    /// Reads the run from the environment, or `None` outside GitHub Actions.
    pub fn from_env() -> Option<CiRun> {
        std::env::var_os("GITHUB_ACTIONS")?;
        let read = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        Some(CiRun {
            repository: read("GITHUB_REPOSITORY"),
            run_id: read("GITHUB_RUN_ID"),
            run_attempt: read("GITHUB_RUN_ATTEMPT"),
            job: read("GITHUB_JOB"),
            commit: read("GITHUB_SHA"),
            runner_name: read("RUNNER_NAME"),
        })
    }
}

impl Fragment {
    /// Builds the fragment of one quant of `profile`.
    pub fn new(
        profile: &Profile,
        profile_path: &Path,
        quant: QuantLabel,
        entry: QuantEntry,
        reused: bool,
    ) -> Fragment {
        Fragment {
            fragment_version: FRAGMENT_VERSION,
            model: FragmentModel {
                id: profile.id.clone(),
                display_name: profile.display_name.clone(),
                notes: profile.notes.clone(),
                source: profile.source.clone(),
            },
            quant: quant.as_str().to_string(),
            entry,
            origin: Origin {
                profile: profile_path.display().to_string(),
                written_at: measure::now_rfc3339(),
                reused,
                hardware: Hardware::detect(),
                ci: CiRun::from_env(),
            },
        }
    }

    /// Returns the model fields the registry stores beside every quant.
    pub fn header(&self) -> ModelHeader {
        ModelHeader {
            id: self.model.id.clone(),
            display_name: self.model.display_name.clone(),
            notes: self.model.notes.clone(),
            source: self.model.source.clone(),
        }
    }

    /// Time the entry was measured, parsed from its RFC 3339 `measured_at`.
    pub fn measured_at(&self) -> OffsetDateTime {
        // `parse` rejects a fragment whose time does not parse, so the epoch fallback is
        // reached only by a fragment built in code with an invalid time.
        parse_measured_at(&self.entry.measured_at).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Parses and checks a fragment file's text.
    pub fn parse(text: &str) -> Result<Fragment> {
        let raw: Value = serde_json::from_str(text).context("not valid JSON")?;
        match raw.get("fragment_version").and_then(Value::as_u64) {
            None => bail!("`fragment_version` is missing; this is not a registry fragment"),
            Some(v) if v > u64::from(FRAGMENT_VERSION) => bail!(
                "fragment_version {v} is newer than this slm-quant understands \
                 ({FRAGMENT_VERSION}); upgrade slm-quant"
            ),
            Some(_) => {}
        }
        let mut fragment: Fragment =
            serde_json::from_value(raw).context("does not match the fragment format")?;
        fragment.check()?;
        Ok(fragment)
    }

    /// Reads and checks the fragment at `path`.
    pub fn load(path: &Path) -> Result<Fragment> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read fragment {}", path.display()))?;
        Fragment::parse(&text).with_context(|| format!("invalid fragment {}", path.display()))
    }

    /// Writes the fragment to `path` as pretty JSON, creating its folder.
    pub fn save(&self, path: &Path) -> Result<()> {
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create folder {}", folder.display()))?;
        }
        let mut json = serde_json::to_string_pretty(self).context("cannot serialise fragment")?;
        json.push('\n');
        std::fs::write(path, json)
            .with_context(|| format!("cannot write fragment {}", path.display()))
    }

    /// Checks what the JSON types alone cannot, and spells the quant label canonically.
    fn check(&mut self) -> Result<()> {
        if !is_valid_model_id(&self.model.id) {
            bail!(
                "model id `{}` must be non-empty lowercase letters, digits, `-`, `_` or `.`",
                self.model.id
            );
        }
        let label: QuantLabel = self
            .quant
            .parse()
            .map_err(|error: crate::quant::UnknownQuantLabel| anyhow::anyhow!("{error}"))?;
        self.quant = label.as_str().to_string();

        if parse_measured_at(&self.entry.measured_at).is_none() {
            bail!(
                "entry.measured_at `{}` is not an RFC 3339 time such as 2026-01-31T02:00:00Z",
                self.entry.measured_at
            );
        }
        let sha256 = &self.entry.file.sha256;
        let is_sha256 = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_sha256 {
            bail!("entry.file.sha256 `{sha256}` is not a SHA-256 digest (64 hex digits)");
        }
        Ok(())
    }
}

/// Parses an RFC 3339 time, or returns `None` when the text is not one.
pub fn parse_measured_at(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Checks a model id by the rule profiles apply to their `id`, so a fragment cannot create a
/// model key that no profile could.
fn is_valid_model_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::registry::tests::sample_entry;

    /// Builds a valid fragment of `model` × `quant` measured at `measured_at`.
    pub(crate) fn sample_fragment(model: &str, quant: &str, measured_at: &str) -> Fragment {
        let mut entry = sample_entry(1 << 28);
        entry.measured_at = measured_at.into();
        entry.file.sha256 = "ab".repeat(32);
        Fragment {
            fragment_version: FRAGMENT_VERSION,
            model: FragmentModel {
                id: model.into(),
                display_name: model.to_uppercase(),
                notes: None,
                source: Source::Directory {
                    path: "models".into(),
                },
            },
            quant: quant.into(),
            entry,
            origin: Origin {
                profile: "quant-profiles/x.toml".into(),
                written_at: measured_at.into(),
                reused: false,
                hardware: Hardware::detect(),
                ci: None,
            },
        }
    }

    fn reparse(fragment: &Fragment) -> Result<Fragment> {
        Fragment::parse(&serde_json::to_string(fragment).unwrap())
    }

    #[test]
    fn fragment_round_trips() {
        let fragment = sample_fragment("tiny", "Q8_0", "2026-01-01T02:00:00Z");
        assert_eq!(reparse(&fragment).unwrap(), fragment);
    }

    #[test]
    fn quant_label_is_made_canonical() {
        let fragment = sample_fragment("tiny", "q4_k_m", "2026-01-01T02:00:00Z");
        assert_eq!(reparse(&fragment).unwrap().quant, "Q4_K_M");
    }

    #[test]
    fn unknown_quant_is_rejected() {
        let fragment = sample_fragment("tiny", "Q4_K_XL", "2026-01-01T02:00:00Z");
        let error = format!("{:#}", reparse(&fragment).unwrap_err());
        assert!(error.contains("Q4_K_XL"), "{error}");
    }

    #[test]
    fn bad_time_is_rejected() {
        let fragment = sample_fragment("tiny", "Q8_0", "yesterday");
        let error = format!("{:#}", reparse(&fragment).unwrap_err());
        assert!(error.contains("`yesterday`"), "{error}");
    }

    #[test]
    fn bad_digest_is_rejected() {
        let mut fragment = sample_fragment("tiny", "Q8_0", "2026-01-01T02:00:00Z");
        fragment.entry.file.sha256 = "00".into();
        let error = format!("{:#}", reparse(&fragment).unwrap_err());
        assert!(error.contains("SHA-256"), "{error}");
    }

    #[test]
    fn bad_model_id_is_rejected() {
        let fragment = sample_fragment("Tiny Model", "Q8_0", "2026-01-01T02:00:00Z");
        let error = format!("{:#}", reparse(&fragment).unwrap_err());
        assert!(error.contains("`Tiny Model`"), "{error}");
    }

    #[test]
    fn missing_version_is_rejected() {
        let error = format!(
            "{:#}",
            Fragment::parse("{\"quant\": \"Q8_0\"}").unwrap_err()
        );
        assert!(error.contains("not a registry fragment"), "{error}");
    }

    #[test]
    fn newer_version_is_rejected() {
        let mut value =
            serde_json::to_value(sample_fragment("tiny", "Q8_0", "2026-01-01T02:00:00Z")).unwrap();
        value["fragment_version"] = 9.into();
        let error = format!("{:#}", Fragment::parse(&value.to_string()).unwrap_err());
        assert!(error.contains("fragment_version 9"), "{error}");
    }

    #[test]
    fn offsets_are_compared_as_instants() {
        let utc = parse_measured_at("2026-01-01T02:00:00Z").unwrap();
        let paris = parse_measured_at("2026-01-01T03:00:00+01:00").unwrap();
        assert_eq!(utc, paris);
    }
}
