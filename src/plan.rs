//! `slm-quant plan`: the jobs of a nightly sweep, one per (profile, quant), in the shape of a
//! GitHub Actions matrix (`{"include": [...]}`) so a workflow can read it with `fromJSON`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::profile::Profile;

/// Folder of profiles read when `--profiles` is not given, relative to the working directory.
pub const DEFAULT_PROFILES_DIR: &str = "quant-profiles";

/// GitHub Actions runs at most this many jobs from one matrix.
pub const MAX_MATRIX_JOBS: usize = 256;

/// One job: measure one quant of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// Path of the profile file, as found under the profiles folder.
    pub profile: String,
    /// The profile's model id.
    pub model: String,
    /// Quant label, e.g. `Q4_K_M`.
    pub quant: String,
    /// Name of the job's fragment artifact, unique within the matrix.
    pub artifact: String,
}

/// The matrix: every job of the sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matrix {
    pub include: Vec<Job>,
}

/// Builds the matrix from every `*.toml` profile in `dir`, in file-name order.
pub fn plan(dir: &Path) -> Result<Matrix> {
    let paths = profile_files(dir)?;
    if paths.is_empty() {
        bail!(
            "no profiles (*.toml) in {}; pass the folder of profiles with --profiles",
            dir.display()
        );
    }

    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut include = Vec::new();
    for path in paths {
        let profile = Profile::load(&path)?;
        if let Some(first) = seen.insert(profile.id.clone(), path.clone()) {
            bail!(
                "profiles {} and {} both declare model id `{}`; give each model its own id",
                first.display(),
                path.display(),
                profile.id
            );
        }
        for quant in &profile.quants {
            include.push(Job {
                profile: path.display().to_string(),
                model: profile.id.clone(),
                quant: quant.label.as_str().to_string(),
                artifact: format!("fragment-{}-{}", profile.id, quant.label),
            });
        }
    }

    if include.len() > MAX_MATRIX_JOBS {
        bail!(
            "the plan has {} jobs but a GitHub Actions matrix runs at most {MAX_MATRIX_JOBS}; \
             split the profiles into several folders and run one workflow per folder",
            include.len()
        );
    }
    Ok(Matrix { include })
}

fn profile_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "cannot read profiles folder {}; pass an existing folder with --profiles",
            dir.display()
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Renders one line per job: model, quant and profile, separated by spaces.
pub fn render_text(matrix: &Matrix) -> String {
    let mut out = String::new();
    for job in &matrix.include {
        let _ = writeln!(out, "{} {} {}", job.model, job.quant, job.profile);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_profile(dir: &Path, file: &str, id: &str, labels: &[&str]) {
        let mut text = format!(
            "id = \"{id}\"\ndisplay_name = \"{id}\"\n[source]\nkind = \"directory\"\n\
             path = \"models\"\n"
        );
        for label in labels {
            let _ = write!(text, "[[quant]]\nlabel = \"{label}\"\n");
        }
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn one_job_per_profile_and_quant() {
        let dir = tempfile::tempdir().unwrap();
        write_profile(dir.path(), "b.toml", "beta", &["q8_0"]);
        write_profile(dir.path(), "a.toml", "alpha", &["F16", "Q4_K_M"]);
        std::fs::write(dir.path().join("README.md"), "not a profile").unwrap();

        let matrix = plan(dir.path()).unwrap();
        let jobs: Vec<(&str, &str)> = matrix
            .include
            .iter()
            .map(|job| (job.model.as_str(), job.quant.as_str()))
            .collect();
        assert_eq!(
            jobs,
            vec![("alpha", "F16"), ("alpha", "Q4_K_M"), ("beta", "Q8_0")]
        );
        assert_eq!(matrix.include[2].artifact, "fragment-beta-Q8_0");
        assert!(matrix.include[2].profile.ends_with("b.toml"));
    }

    #[test]
    fn duplicate_model_id_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        write_profile(dir.path(), "a.toml", "same", &["F16"]);
        write_profile(dir.path(), "b.toml", "same", &["Q8_0"]);
        let error = plan(dir.path()).unwrap_err().to_string();
        assert!(error.contains("both declare model id `same`"), "{error}");
    }

    #[test]
    fn empty_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = plan(dir.path()).unwrap_err().to_string();
        assert!(error.contains("no profiles"), "{error}");
    }

    #[test]
    fn invalid_profile_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.toml"), "id = 3").unwrap();
        let error = format!("{:#}", plan(dir.path()).unwrap_err());
        assert!(error.contains("bad.toml"), "{error}");
    }

    #[test]
    fn oversized_matrix_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let labels = [
            "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K",
        ];
        for i in 0..33 {
            write_profile(
                dir.path(),
                &format!("m{i:02}.toml"),
                &format!("m{i}"),
                &labels,
            );
        }
        let error = plan(dir.path()).unwrap_err().to_string();
        assert!(error.contains("264 jobs"), "{error}");
    }

    #[test]
    fn text_lists_one_job_per_line() {
        let matrix = Matrix {
            include: vec![Job {
                profile: "p.toml".into(),
                model: "m".into(),
                quant: "Q8_0".into(),
                artifact: "fragment-m-Q8_0".into(),
            }],
        };
        assert_eq!(render_text(&matrix), "m Q8_0 p.toml\n");
    }
}
