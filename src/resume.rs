//! Resuming an interrupted sweep: deciding whether the registry already contains a quant's
//! result for the same GGUF file, settings and build, so `bench` can skip it instead of
//! measuring it again.
//!
//! A stored block is reused only when all of these match what the new run would use: the
//! file's SHA-256, the bench settings (context lengths capped at the model's training context,
//! as the measurement itself caps them), the slm-quant version, the llama-cpp-2 version and
//! the CPU features llama.cpp reports. The machine itself is not compared, so a result
//! measured on another computer with the same build and features counts as current.

use anyhow::Result;

use crate::engine::Engine;
use crate::fetch;
use crate::measure::{self, LLAMA_CPP_2_VERSION};
use crate::perf;
use crate::profile::BenchSettings;
use crate::quant::QuantLabel;
use crate::registry::{QuantEntry, Registry};
use crate::sweep::SweepPlan;

/// The build that produces a measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub slm_quant_version: String,
    pub llama_cpp_2_version: String,
    pub cpu_features: Vec<String>,
}

impl Build {
    /// Describes this executable's build, with the CPU features llama.cpp reports here.
    pub fn current(engine: &Engine) -> Build {
        Build {
            slm_quant_version: env!("CARGO_PKG_VERSION").to_string(),
            llama_cpp_2_version: LLAMA_CPP_2_VERSION.to_string(),
            cpu_features: engine.cpu_features(),
        }
    }

    fn of(entry: &QuantEntry) -> Build {
        Build {
            slm_quant_version: entry.run.slm_quant_version.clone(),
            llama_cpp_2_version: entry.run.llama_cpp_2_version.clone(),
            cpu_features: entry.run.cpu_features.clone(),
        }
    }
}

/// Inputs a new measurement of a quant would use.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    pub sha256: &'a str,
    pub settings: &'a BenchSettings,
    pub build: &'a Build,
}

/// Returns `Ok` when `stored` was measured from the same file, with the same settings and by
/// the same build as `planned`, or the first difference found.
pub fn check_reusable(stored: &QuantEntry, planned: &Planned<'_>) -> Result<(), String> {
    if stored.file.sha256 != planned.sha256 {
        return Err(format!(
            "the GGUF file changed (sha256 {} stored, {} now)",
            stored.file.sha256, planned.sha256
        ));
    }

    let mut expected = planned.settings.clone();
    expected.context_lengths =
        perf::plan_context_lengths(&planned.settings.context_lengths, stored.model.n_ctx_train).0;
    if stored.settings != expected {
        return Err(format!(
            "the settings changed (stored {}, now {})",
            describe_settings(&stored.settings),
            describe_settings(&expected)
        ));
    }

    let stored_build = Build::of(stored);
    if &stored_build != planned.build {
        return Err(format!(
            "the build changed (stored {}, now {})",
            describe_build(&stored_build),
            describe_build(planned.build)
        ));
    }
    Ok(())
}

fn describe_settings(settings: &BenchSettings) -> String {
    serde_json::to_string(settings).unwrap_or_default()
}

fn describe_build(build: &Build) -> String {
    format!(
        "slm-quant {}, llama-cpp-2 {}, CPU features {}",
        build.slm_quant_version,
        build.llama_cpp_2_version,
        build.cpu_features.join(",")
    )
}

/// The stored block of `label` when it can stand for a new measurement, or `None` when the
/// quant must be measured. `build` caches the current build between quants, because reading
/// the CPU features starts llama.cpp, which a process may do only once.
///
/// Anything that prevents the check (no stored block, file not found, registry unreadable)
/// means "measure", and the measurement then reports the problem in its own words.
pub fn find_reusable(
    plan: &SweepPlan,
    label: QuantLabel,
    build: &mut Option<Build>,
) -> Option<QuantEntry> {
    let registry = Registry::load(&plan.registry_path).ok()?;
    let stored = registry
        .models
        .get(&plan.profile.id)?
        .performance
        .quantizations
        .get(label.as_str())?
        .clone();

    let sha256 = match current_sha256(plan, label) {
        Ok(sha256) => sha256,
        Err(error) => {
            let error = format!("{error:#}");
            tracing::debug!(quant = %label, %error, "cannot check the stored result");
            return None;
        }
    };
    if build.is_none() {
        let engine = Engine::init().ok()?;
        *build = Some(Build::current(&engine));
    }
    let planned = Planned {
        sha256: &sha256,
        settings: &plan.settings,
        build: build.as_ref()?,
    };
    match check_reusable(&stored, &planned).and_then(|()| check_blocks(plan, &stored)) {
        Ok(()) => Some(stored),
        Err(reason) => {
            tracing::info!(quant = %label, "measuring again: {reason}");
            None
        }
    }
}

/// Returns `Ok` when `stored` has every block this run would measure: a stored speed-only
/// result does not stand for a run that also asks for quality or probes.
///
/// NOTE: only the presence of each block is checked, not the settings it was measured with,
/// so changing for example the RAG lengths alone needs `--force`.
fn check_blocks(plan: &SweepPlan, stored: &QuantEntry) -> Result<(), String> {
    let use_cases = stored.use_cases.as_ref();
    if plan.quality.is_some() && stored.quality.is_none() {
        return Err("the stored result has no quality block".into());
    }
    if !plan.rag.families.is_empty() && use_cases.and_then(|u| u.rag.as_ref()).is_none() {
        return Err("the stored result has no RAG block".into());
    }
    let function_calling = use_cases.and_then(|u| u.function_calling.as_ref());
    if plan.function_calling.enabled() && function_calling.is_none() {
        return Err("the stored result has no function-calling block".into());
    }
    Ok(())
}

fn current_sha256(plan: &SweepPlan, label: QuantLabel) -> Result<String> {
    let spec = plan.profile.quant(label).map_err(anyhow::Error::msg)?;
    let resolved = fetch::resolve(&plan.profile, spec)?;
    Ok(measure::file_record(&resolved.path)?.sha256)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::tests::sample_entry;

    fn stored() -> QuantEntry {
        let mut entry = sample_entry(1);
        entry.file.sha256 = "aa".repeat(32);
        entry.settings.context_lengths = vec![512, 4096];
        entry.model.n_ctx_train = 4096;
        entry
    }

    fn build_of(entry: &QuantEntry) -> Build {
        Build::of(entry)
    }

    #[test]
    fn same_file_settings_and_build_is_reusable() {
        let entry = stored();
        let build = build_of(&entry);
        // The run requests 8192, which the measurement capped at the training context.
        let settings = BenchSettings {
            context_lengths: vec![512, 8192],
            ..entry.settings.clone()
        };
        let sha256 = "aa".repeat(32);
        let planned = Planned {
            sha256: &sha256,
            settings: &settings,
            build: &build,
        };
        assert_eq!(check_reusable(&entry, &planned), Ok(()));
    }

    #[test]
    fn changed_file_is_measured_again() {
        let entry = stored();
        let build = build_of(&entry);
        let sha256 = "bb".repeat(32);
        let planned = Planned {
            sha256: &sha256,
            settings: &entry.settings,
            build: &build,
        };
        let reason = check_reusable(&entry, &planned).unwrap_err();
        assert!(reason.contains("GGUF file changed"), "{reason}");
    }

    #[test]
    fn changed_settings_are_measured_again() {
        let entry = stored();
        let build = build_of(&entry);
        let settings = BenchSettings {
            runs: entry.settings.runs + 1,
            ..entry.settings.clone()
        };
        let sha256 = "aa".repeat(32);
        let planned = Planned {
            sha256: &sha256,
            settings: &settings,
            build: &build,
        };
        let reason = check_reusable(&entry, &planned).unwrap_err();
        assert!(reason.contains("settings changed"), "{reason}");
    }

    #[test]
    fn changed_build_is_measured_again() {
        let entry = stored();
        let sha256 = "aa".repeat(32);
        let cases = [
            Build {
                slm_quant_version: "9.9.9".into(),
                ..build_of(&entry)
            },
            Build {
                llama_cpp_2_version: "0.2.0".into(),
                ..build_of(&entry)
            },
            Build {
                cpu_features: vec!["AVX2".into(), "AVX512".into()],
                ..build_of(&entry)
            },
        ];
        for build in &cases {
            let planned = Planned {
                sha256: &sha256,
                settings: &entry.settings,
                build,
            };
            let reason = check_reusable(&entry, &planned).unwrap_err();
            assert!(reason.contains("build changed"), "{reason}");
        }
    }
}
