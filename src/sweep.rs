//! `slm-quant bench`: measures each selected quant of a profile in its own child process and
//! writes each result into the registry as soon as that quant finishes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _, Result};
use indicatif::ProgressBar;

use crate::fetch;
use crate::measure::MeasureRequest;
use crate::printer::Printer;
use crate::probes::function_calling::{FunctionCallingRequest, FunctionCallingSettings};
use crate::probes::rag::{RagRequest, RagSettings};
use crate::profile::{BenchSettings, Profile};
use crate::quality::orchestrate::{PreparedReference, QualityPlan};
use crate::quality::{self, tradeoff, QualityRequest};
use crate::quant::QuantLabel;
use crate::registry::{ModelHeader, QuantEntry, Registry};
use crate::report::SweepRow;
use crate::resume;

/// Prefix of the progress lines a measuring process prints on stdout.
pub const PROGRESS_PREFIX: &str = "progress: ";

/// Lines of a failed child's log kept for its error message.
const LOG_TAIL_LINES: usize = 12;

/// Selection of the profile's quants to measure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantSelection {
    All,
    Only(Vec<QuantLabel>),
}

/// A resolved `bench` request.
#[derive(Debug, Clone)]
pub struct SweepPlan {
    pub profile_path: PathBuf,
    pub profile: Profile,
    pub quants: Vec<QuantLabel>,
    pub settings: BenchSettings,
    /// RAG probes run on each quant; no families runs none.
    pub rag: RagSettings,
    /// Function-calling probes run on each quant; no categories skips them.
    pub function_calling: FunctionCallingSettings,
    pub registry_path: PathBuf,
    /// `tracing` filter handed to each measuring process.
    pub log_filter: String,
    /// Measure every selected quant, even one whose stored result is still current.
    pub force: bool,
    /// Quality settings of the sweep. `None` measures speed and memory only.
    pub quality: Option<QualityPlan>,
}

impl SweepPlan {
    /// Loads the profile and checks the selection against it.
    pub fn new(
        profile_path: &Path,
        selection: &QuantSelection,
        overrides: impl FnOnce(&mut BenchSettings),
        registry_path: &Path,
        log_filter: String,
    ) -> Result<SweepPlan> {
        let profile = Profile::load(profile_path)?;
        let quants = match selection {
            QuantSelection::All => profile.quants.iter().map(|q| q.label).collect(),
            QuantSelection::Only(labels) => {
                let mut unique = Vec::new();
                for label in labels {
                    profile.quant(*label).map_err(anyhow::Error::msg)?;
                    // `--quant q8_0 --quant Q8_0` names one quant; measure it once.
                    if !unique.contains(label) {
                        unique.push(*label);
                    }
                }
                unique
            }
        };
        let mut settings = profile.bench.clone();
        overrides(&mut settings);
        settings
            .validate()
            .map_err(|message| anyhow::anyhow!("invalid settings: {message}"))?;

        let rag = profile.rag.clone();
        let function_calling = profile.function_calling.clone();
        Ok(SweepPlan {
            profile_path: profile_path.to_path_buf(),
            quants,
            settings,
            rag,
            function_calling,
            registry_path: registry_path.to_path_buf(),
            log_filter,
            force: false,
            quality: Some(QualityPlan {
                settings: profile.quality.clone(),
                cache_dir: quality::orchestrate::default_cache_dir(),
            }),
            profile,
        })
    }

    /// The function-calling part of a quant's request, with its results file at
    /// `results/<model>/<quant>/function_calling.jsonl` beside the registry.
    fn function_calling_request(&self, label: QuantLabel) -> Option<FunctionCallingRequest> {
        if !self.function_calling.enabled() {
            return None;
        }
        let results_file = format!(
            "results/{}/{}/function_calling.jsonl",
            self.profile.id,
            label.as_str()
        );
        let folder = match self.registry_path.parent() {
            Some(parent) => parent.to_path_buf(),
            None => PathBuf::new(),
        };
        Some(FunctionCallingRequest {
            settings: self.function_calling.clone(),
            results_path: folder.join(&results_file),
            results_file,
        })
    }

    fn header(&self) -> ModelHeader {
        ModelHeader {
            id: self.profile.id.clone(),
            display_name: self.profile.display_name.clone(),
            notes: self.profile.notes.clone(),
            source: self
                .profile
                .declared_source
                .clone()
                .unwrap_or(self.profile.source.clone()),
        }
    }

    /// Builds the RAG part of a quant's measure request, with its results file beside the registry
    /// at `results/<model>/<quant>/rag.jsonl`; `None` when no family is selected.
    pub fn rag_request(&self, label: QuantLabel) -> Option<RagRequest> {
        if self.rag.families.is_empty() {
            return None;
        }
        let label_path = format!("results/{}/{}/rag.jsonl", self.profile.id, label.as_str());
        let folder = match self.registry_path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(RagRequest {
            settings: self.rag.clone(),
            results_file: folder.join(&label_path),
            results_file_label: label_path,
        })
    }
}

/// Runs the sweep and returns one row per quant, measured or failed.
pub fn run(plan: &SweepPlan, printer: &Printer) -> Result<Vec<SweepRow>> {
    // A registry that cannot be read stops the sweep before any measuring starts, so it is
    // never overwritten and no measurement is wasted.
    Registry::load(&plan.registry_path)?;
    Registry::check_writable(&plan.registry_path)?;

    // The reference's log-probabilities exist before any quant is compared with them, even
    // when the reference quant itself is not selected.
    // A reference that cannot be computed costs the quality blocks of this sweep, not the speed
    // and memory figures of the other quants.
    let reference = match &plan.quality {
        Some(quality) => match quality::orchestrate::prepare(
            &plan.profile,
            quality,
            plan.settings.threads,
            &plan.log_filter,
            printer,
        ) {
            Ok(reference) => Some(reference),
            Err(error) => {
                printer.line(&format!(
                    "error: the quality reference could not be computed, so no quant gets a \
                     quality block in this sweep: {error:#}"
                ));
                None
            }
        },
        None => None,
    };

    let mut rows = Vec::new();
    let mut build = None;
    for &label in &plan.quants {
        if !plan.force {
            if let Some(entry) = resume::find_reusable(plan, label, &mut build) {
                printer.status(&format!(
                    "{label}: skipped, the registry already contains its result for the same file, \
                     settings and build (pass --force to measure it again)"
                ));
                rows.push(SweepRow::skipped(&plan.profile.id, label.as_str(), entry));
                continue;
            }
        }

        let bar = printer.quant_bar(label.as_str());
        let outcome = measure_one(plan, label, reference.as_ref(), &bar, printer);
        bar.finish_and_clear();

        let row = match outcome {
            Ok(entry) => {
                record(plan, label, entry.clone())?;
                printer.status(&format!(
                    "{label}: measured, registry {} updated",
                    plan.registry_path.display()
                ));
                SweepRow::measured(&plan.profile.id, label.as_str(), entry)
            }
            Err(error) => {
                let message = format!("{error:#}");
                printer.line(&format!("error: quant {label} failed: {message}"));
                SweepRow::failed(&plan.profile.id, label.as_str(), message)
            }
        };
        rows.push(row);
    }
    Ok(rows)
}

/// Stores one quant's block, re-reading the registry first so that entries written by
/// anyone else since the sweep started are kept.
fn record(plan: &SweepPlan, label: QuantLabel, entry: QuantEntry) -> Result<()> {
    let mut registry = Registry::load(&plan.registry_path)?;
    registry.upsert_quant(plan.header(), label.as_str(), entry);
    if let Some(model) = registry.models.get_mut(&plan.profile.id) {
        tradeoff::update(&mut model.performance);
    }
    registry.save(&plan.registry_path)
}

fn measure_one(
    plan: &SweepPlan,
    label: QuantLabel,
    reference: Option<&PreparedReference>,
    bar: &ProgressBar,
    printer: &Printer,
) -> Result<QuantEntry> {
    let spec = plan.profile.quant(label).map_err(anyhow::Error::msg)?;
    bar.set_message("locating file");
    let resolved = fetch::resolve_with_progress(&plan.profile, spec, &mut |message| {
        bar.set_message(message.to_string())
    })?;
    tracing::debug!(quant = %label, file = %resolved.path.display(), "file chosen");
    let quality = reference.map(|reference| reference.request_for(label));
    let mut entry = run_child(
        plan,
        label,
        &resolved.path,
        quality,
        plan.rag_request(label),
        bar,
        printer,
    )?;
    resolved.annotate(&mut entry.file);
    Ok(entry)
}

/// Starts `slm-quant measure` for one file and reads back its result.
fn run_child(
    plan: &SweepPlan,
    label: QuantLabel,
    model_file: &Path,
    quality: Option<QualityRequest>,
    rag: Option<RagRequest>,
    bar: &ProgressBar,
    printer: &Printer,
) -> Result<QuantEntry> {
    let exe = std::env::current_exe().context("cannot find the slm-quant executable")?;
    let result_file = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
    let request = MeasureRequest {
        model_file: model_file.to_path_buf(),
        settings: plan.settings.clone(),
        quality,
        rag,
        function_calling: plan.function_calling_request(label),
    };
    let request_json = serde_json::to_string(&request)?;

    let mut command = Command::new(exe);
    command
        .arg("measure")
        .arg("--request-json")
        .arg(&request_json)
        .arg("--result")
        .arg(result_file.path())
        .env("RUST_LOG", &plan.log_filter)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the hook runs in the forked child before exec and only calls prctl, which is
    // async-signal-safe and changes nothing but the child's own death signal.
    unsafe {
        command.pre_exec(die_with_parent);
    }
    let mut child = command
        .spawn()
        .context("cannot start the measuring process")?;

    let tail = Arc::new(Mutex::new(VecDeque::new()));
    let stderr_thread = {
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail = Arc::clone(&tail);
        let printer = printer.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                printer.line(&line);
                let mut tail = tail.lock().expect("log tail lock");
                if tail.len() == LOG_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        })
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(message) = line.strip_prefix(PROGRESS_PREFIX) {
            bar.set_message(message.to_string());
        }
    }
    let status = child.wait().context("lost the measuring process")?;
    let _ = stderr_thread.join();

    if !status.success() {
        let tail: Vec<String> = tail
            .lock()
            .expect("log tail lock")
            .iter()
            .cloned()
            .collect();
        bail!("{}", describe_failure(status, &tail));
    }
    let text = std::fs::read_to_string(result_file.path())
        .context("the measuring process wrote no result")?;
    serde_json::from_str(&text).context("the measuring process wrote an unreadable result")
}

/// Makes the measuring process die with its parent, so an interrupted or killed `bench` leaves
/// no orphan measuring on in the background.
fn die_with_parent() -> std::io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and touches no memory.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn describe_failure(status: ExitStatus, tail: &[String]) -> String {
    let how = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(6)) => "was aborted (SIGABRT, which llama.cpp raises on a damaged file)".into(),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => "ended abnormally".into(),
    };
    let last_error = tail
        .iter()
        .rev()
        .find(|line| line.contains("error"))
        .or(tail.last());
    match last_error {
        Some(line) => format!(
            "the measuring process {how}; last log line: {}",
            line.trim()
        ),
        None => format!("the measuring process {how}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quant_named_twice_is_measured_once() {
        let dir = tempfile::tempdir().unwrap();
        let profile = dir.path().join("tiny.toml");
        std::fs::write(
            &profile,
            "id = \"tiny\"\ndisplay_name = \"Tiny\"\n[source]\nkind = \"directory\"\n\
             path = \"m\"\n[[quant]]\nlabel = \"Q8_0\"\n[[quant]]\nlabel = \"F16\"\n",
        )
        .unwrap();
        let labels = ["q8_0", "F16", "Q8_0"].map(|text| text.parse().unwrap());
        let plan = SweepPlan::new(
            &profile,
            &QuantSelection::Only(labels.to_vec()),
            |_| {},
            &dir.path().join("models.json"),
            String::new(),
        )
        .unwrap();
        let names: Vec<&str> = plan.quants.iter().map(|label| label.as_str()).collect();
        assert_eq!(names, ["Q8_0", "F16"]);
    }

    #[test]
    fn abort_is_described() {
        let status = ExitStatus::from_raw(6);
        let text = describe_failure(status, &["llama.cpp: error: bad tensor".into()]);
        assert!(text.contains("SIGABRT"), "{text}");
        assert!(text.contains("bad tensor"), "{text}");
    }

    #[test]
    fn exit_code_is_described() {
        let status = ExitStatus::from_raw(2 << 8);
        let text = describe_failure(status, &[]);
        assert_eq!(text, "the measuring process exited with code 2");
    }
}
