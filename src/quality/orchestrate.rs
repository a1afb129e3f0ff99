//! The parent's side of quality measurement: choosing the reference quant, preparing the
//! evaluation text and making sure the reference file exists (from the cache, or computed by
//! a child process) before any quant is compared with it.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use sha2::{Digest, Sha256};

use super::eval_text::EvalText;
use super::evaluate::ReferenceRequest;
use super::reference::{ReferenceHeader, ReferenceReader};
use super::{QualityRequest, QualitySettings};
use crate::fetch;
use crate::measure::{self, LLAMA_CPP_2_VERSION};
use crate::printer::Printer;
use crate::profile::Profile;
use crate::quant::QuantLabel;
use crate::sweep::PROGRESS_PREFIX;

/// Lines of a failed reference process's log shown in its error.
const LOG_TAIL_LINES: usize = 12;

/// Quality settings of one sweep, resolved from the profile and the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityPlan {
    pub settings: QualitySettings,
    /// Folder of cached reference files.
    pub cache_dir: PathBuf,
}

/// A reference file ready to be compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedReference {
    pub quant: QuantLabel,
    pub file: PathBuf,
    pub header: ReferenceHeader,
}

impl PreparedReference {
    /// Builds the request handed to the measuring process of `label`.
    pub fn request_for(&self, label: QuantLabel) -> QualityRequest {
        QualityRequest {
            reference_file: self.file.clone(),
            reference_quant: self.quant,
            is_reference: label == self.quant,
        }
    }
}

/// Folder of cached reference files: `$XDG_CACHE_HOME/slm-quant/quality`, else
/// `$HOME/.cache/slm-quant/quality`, else `.slm-quant-cache/quality` in the working directory.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    match base {
        Some(base) => base.join("slm-quant").join("quality"),
        None => PathBuf::from(".slm-quant-cache").join("quality"),
    }
}

/// Picks the reference quant: the one the settings name, else the declared quant with the most bits
/// per weight (the first declared wins a tie).
pub fn reference_label(profile: &Profile, settings: &QualitySettings) -> Result<QuantLabel> {
    if let Some(label) = settings.reference {
        profile.quant(label).map_err(|message| {
            anyhow::anyhow!("quality.reference: {message}; name a declared quant")
        })?;
        return Ok(label);
    }
    let mut best = profile
        .quants
        .first()
        .context("the profile declares no quant")?
        .label;
    for quant in &profile.quants {
        if quant.label.bits_per_weight() > best.bits_per_weight() {
            best = quant.label;
        }
    }
    Ok(best)
}

/// Loads or generates the evaluation text of `settings`: the user's file, or prose generated to fill every chunk.
pub fn eval_text(settings: &QualitySettings) -> Result<EvalText> {
    match &settings.eval_text {
        Some(path) => EvalText::from_file(path),
        None => Ok(EvalText::generated(
            settings.seed,
            (settings.n_chunks * settings.n_ctx) as usize,
        )),
    }
}

/// Finds the reference file of this profile and plan in the cache, or computes it in a child
/// process and stores it there.
pub fn prepare(
    profile: &Profile,
    plan: &QualityPlan,
    threads: u32,
    log_filter: &str,
    printer: &Printer,
) -> Result<PreparedReference> {
    let settings = &plan.settings;
    let quant = reference_label(profile, settings)?;
    let spec = profile.quant(quant).map_err(anyhow::Error::msg)?;
    let model_file = fetch::resolve(profile, spec)?.path;
    let model_sha256 = measure::file_record(&model_file)?.sha256;
    let text = eval_text(settings)?;

    let key = cache_key(&model_sha256, &text.sha256, settings);
    let file = plan
        .cache_dir
        .join(format!("{quant}-{}.slmqref", &key[..16]));
    if let Ok(reader) = ReferenceReader::open(&file) {
        tracing::debug!(file = %file.display(), "reference file found in the cache");
        return Ok(PreparedReference {
            quant,
            file,
            header: reader.header().clone(),
        });
    }

    std::fs::create_dir_all(&plan.cache_dir).with_context(|| {
        format!(
            "cannot create the quality cache folder {}",
            plan.cache_dir.display()
        )
    })?;
    let text_file = plan
        .cache_dir
        .join(format!("eval-text-{}.txt", &text.sha256[..16]));
    std::fs::write(&text_file, &text.text)
        .with_context(|| format!("cannot write {}", text_file.display()))?;

    let request = ReferenceRequest {
        model_file,
        quant,
        model_sha256,
        eval_text_file: text_file,
        eval_text_name: text.name,
        n_ctx: settings.n_ctx,
        n_chunks: settings.n_chunks,
        threads,
        output: file.clone(),
    };
    printer.status(&format!(
        "{quant}: computing reference log-probabilities ({} chunks of {} tokens) into {}",
        settings.n_chunks,
        settings.n_ctx,
        file.display()
    ));
    run_reference_child(&request, log_filter, printer)?;

    let reader = ReferenceReader::open(&file)?;
    Ok(PreparedReference {
        quant,
        file,
        header: reader.header().clone(),
    })
}

/// Hex SHA-256 naming one reference computation: the reference file, the text, the chunking
/// and the file format and engine that produced it.
fn cache_key(model_sha256: &str, text_sha256: &str, settings: &QualitySettings) -> String {
    let identity = format!(
        "SLMQREF1\nllama-cpp-2 {LLAMA_CPP_2_VERSION}\nmodel {model_sha256}\ntext {text_sha256}\n\
         n_ctx {}\nn_chunks {}\n",
        settings.n_ctx, settings.n_chunks
    );
    format!("{:x}", Sha256::digest(identity.as_bytes()))
}

/// Runs `slm-quant reference` for `request`, showing its progress on a spinner.
fn run_reference_child(
    request: &ReferenceRequest,
    log_filter: &str,
    printer: &Printer,
) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the slm-quant executable")?;
    let mut child = Command::new(exe)
        .arg("reference")
        .arg("--request-json")
        .arg(serde_json::to_string(request)?)
        .env("RUST_LOG", log_filter)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the reference process")?;

    let stderr = child.stderr.take().expect("stderr is piped");
    let stderr_thread = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    let bar = printer.quant_bar(request.quant.as_str());
    let stdout = child.stdout.take().expect("stdout is piped");
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(message) = line.strip_prefix(PROGRESS_PREFIX) {
            bar.set_message(format!("reference: {message}"));
        }
    }
    bar.finish_and_clear();
    let status = child.wait().context("lost the reference process")?;
    let log = stderr_thread.join().unwrap_or_default();

    if !status.success() {
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
        bail!(
            "computing the reference log-probabilities of {} failed ({status}); run with \
             --no-quality to measure speed and memory only. Last log lines:\n{tail}",
            request.quant
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(labels: &[&str]) -> Profile {
        let quants: String = labels
            .iter()
            .map(|label| format!("[[quant]]\nlabel = \"{label}\"\n"))
            .collect();
        let text = format!(
            "id = \"m\"\ndisplay_name = \"M\"\n[source]\nkind = \"directory\"\npath = \"m\"\n{quants}"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn reference_is_highest_precision() {
        let settings = QualitySettings::default();
        let chosen = reference_label(&profile(&["Q4_K_M", "F16", "Q8_0"]), &settings).unwrap();
        assert_eq!(chosen.as_str(), "F16");
        let chosen = reference_label(&profile(&["Q4_K_M", "Q8_0"]), &settings).unwrap();
        assert_eq!(chosen.as_str(), "Q8_0");
    }

    #[test]
    fn profile_may_name_the_reference() {
        let settings = QualitySettings {
            reference: Some("Q8_0".parse().unwrap()),
            ..QualitySettings::default()
        };
        let chosen = reference_label(&profile(&["F16", "Q8_0"]), &settings).unwrap();
        assert_eq!(chosen.as_str(), "Q8_0");
        let error = reference_label(&profile(&["F16"]), &settings)
            .unwrap_err()
            .to_string();
        assert!(error.contains("quality.reference"), "{error}");
        assert!(error.contains("declared quants: F16"), "{error}");
    }

    #[test]
    fn cache_key_changes_with_each_input() {
        let settings = QualitySettings::default();
        let base = cache_key("m", "t", &settings);
        assert_eq!(base, cache_key("m", "t", &settings));
        assert_ne!(base, cache_key("m2", "t", &settings));
        assert_ne!(base, cache_key("m", "t2", &settings));
        let longer = QualitySettings {
            n_ctx: 1024,
            ..QualitySettings::default()
        };
        assert_ne!(base, cache_key("m", "t", &longer));
    }
}
