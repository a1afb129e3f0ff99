//! The nightly sweep on the demo model with short settings: a sweep killed midway resumes with
//! only the remaining quants, and plan → one bench per job → merge yields the same registry
//! as one `bench --all-quants` run.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use slm_quant::plan::Matrix;

const SHORT: [&str; 13] = [
    "--output-lengths",
    "8",
    "--context-lengths",
    "64",
    "--runs",
    "1",
    "--warmup-runs",
    "0",
    "--no-quality",
    "--rag-families",
    "none",
    "--fc-categories",
    "none",
];

fn bench_args<'a>(profile: &'a str, registry: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--no-progress",
        "bench",
        "--profile",
        profile,
        "--registry",
        registry,
    ];
    args.extend(rest);
    args.extend(SHORT);
    args
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Quant labels in the registry, with their `measured_at`.
fn stored_quants(registry: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(registry) else {
        return BTreeMap::new();
    };
    let value: Value = serde_json::from_str(&text).unwrap();
    let quants = &value["models"]["smollm2-135m-instruct"]["performance"]["quantizations"];
    quants
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(quant, entry)| {
                    let time = entry["measured_at"].as_str().unwrap().to_string();
                    (quant.clone(), time)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killed_sweep_resumes_with_remaining_quants() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let profile = profile.to_str().unwrap();
    let registry_path = dir.path().join("registry.json");
    let registry = registry_path.to_str().unwrap();

    // The sweep runs in its own process group so the kill also ends the measuring child.
    let mut sweep = Command::new(env!("CARGO_BIN_EXE_slm-quant"))
        .args(bench_args(profile, registry, &["--all-quants"]))
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while stored_quants(&registry_path).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sweep wrote no quant within 10 minutes"
        );
        assert!(
            sweep.try_wait().unwrap().is_none(),
            "the sweep ended before writing a quant"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", sweep.id())])
        .status()
        .unwrap();
    assert!(killed.success());
    sweep.wait().unwrap();

    let before = stored_quants(&registry_path);
    assert!(
        !before.is_empty() && before.len() < 3,
        "kill left {before:?}"
    );

    let output = common::slm_quant(
        dir.path(),
        &bench_args(profile, registry, &["--all-quants", "--output", "json"]),
    );
    assert!(
        output.status.success(),
        "resumed sweep failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let with_status = |status: &str| -> BTreeSet<String> {
        rows.iter()
            .filter(|row| row["status"] == status)
            .map(|row| row["quant"].as_str().unwrap().to_string())
            .collect()
    };
    let all: BTreeSet<String> = ["F16", "Q8_0", "Q4_K_M"].map(String::from).into();
    let written_before: BTreeSet<String> = before.keys().cloned().collect();
    assert_eq!(with_status("skipped"), written_before);
    assert_eq!(
        with_status("measured"),
        all.difference(&written_before).cloned().collect()
    );

    let after = stored_quants(&registry_path);
    assert_eq!(after.keys().cloned().collect::<BTreeSet<_>>(), all);
    for (quant, time) in &before {
        assert_eq!(&after[quant], time, "{quant} was measured again");
    }

    // --force measures a stored quant again.
    let forced = common::slm_quant(
        dir.path(),
        &bench_args(
            profile,
            registry,
            &["--quant", "F16", "--force", "--output", "json"],
        ),
    );
    assert!(forced.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&forced.stdout).unwrap();
    assert_eq!(rows[0]["status"], "measured");
}

/// Runs the nightly's steps locally: plan, one bench per job into a fragment, merge.
fn simulate_nightly(dir: &Path, profiles: &Path, registry: &Path) -> Vec<PathBuf> {
    let output = common::slm_quant(
        dir,
        &["plan", "--profiles", profiles.to_str().unwrap(), "--json"],
    );
    assert!(output.status.success());
    let matrix: Matrix = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(matrix.include.len(), 3);

    let mut fragments = Vec::new();
    for job in &matrix.include {
        // Each job starts from an empty registry of its own, like a fresh runner.
        let job_registry = dir.join(format!("job-{}.json", job.artifact));
        let fragment = dir.join(format!("fragments/{}.json", job.artifact));
        let output = common::slm_quant(
            dir,
            &bench_args(
                &job.profile,
                job_registry.to_str().unwrap(),
                &[
                    "--quant",
                    &job.quant,
                    "--fragment",
                    fragment.to_str().unwrap(),
                ],
            ),
        );
        assert!(
            output.status.success(),
            "bench {} failed: {}",
            job.quant,
            String::from_utf8_lossy(&output.stderr)
        );
        fragments.push(fragment);
    }

    let mut args = vec![
        "registry",
        "merge",
        "--registry",
        registry.to_str().unwrap(),
    ];
    args.extend(fragments.iter().map(|f| f.to_str().unwrap()));
    let output = common::slm_quant(dir, &args);
    assert!(
        output.status.success(),
        "merge failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    fragments
}

/// Returns the JSON with every number replaced by 0 and every `measured_at` blanked, so two runs of
/// the same sweep compare equal in everything but measured values.
fn shape(value: &Value) -> Value {
    match value {
        Value::Number(_) => Value::from(0),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| {
                    let item = if key == "measured_at" {
                        Value::from("")
                    } else {
                        shape(item)
                    };
                    (key.clone(), item)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn simulated_nightly_matches_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = dir.path().join("profiles");
    std::fs::create_dir(&profiles).unwrap();
    let profile = common::write_demo_profile(&profiles);

    let nightly_registry = dir.path().join("nightly.json");
    let fragments = simulate_nightly(dir.path(), &profiles, &nightly_registry);

    let sweep_registry = dir.path().join("sweep.json");
    let output = common::slm_quant(
        dir.path(),
        &bench_args(
            profile.to_str().unwrap(),
            sweep_registry.to_str().unwrap(),
            &["--all-quants"],
        ),
    );
    assert!(output.status.success());

    let nightly = read_json(&nightly_registry);
    let sweep = read_json(&sweep_registry);
    assert_eq!(shape(&nightly), shape(&sweep));
    let quants = &nightly["models"]["smollm2-135m-instruct"]["performance"]["quantizations"];
    for quant in ["F16", "Q8_0", "Q4_K_M"] {
        let ours = &quants[quant];
        let theirs =
            &sweep["models"]["smollm2-135m-instruct"]["performance"]["quantizations"][quant];
        for field in ["file", "model", "settings"] {
            assert_eq!(ours[field], theirs[field], "{quant} {field}");
        }
        assert_eq!(
            ours["run"]["cpu_features"], theirs["run"]["cpu_features"],
            "{quant}"
        );
    }

    // Merging the same fragments again, in reverse order, changes nothing.
    let before = std::fs::read_to_string(&nightly_registry).unwrap();
    let mut args = vec![
        "registry",
        "merge",
        "--registry",
        nightly_registry.to_str().unwrap(),
    ];
    args.extend(fragments.iter().rev().map(|f| f.to_str().unwrap()));
    assert!(common::slm_quant(dir.path(), &args).status.success());
    assert_eq!(std::fs::read_to_string(&nightly_registry).unwrap(), before);

    // The two runs compare without error, and the summary counts every quant.
    let output = common::slm_quant(
        dir.path(),
        &[
            "compare",
            sweep_registry.to_str().unwrap(),
            nightly_registry.to_str().unwrap(),
        ],
    );
    assert!(output.status.success());
    let summary = String::from_utf8(output.stdout).unwrap();
    assert!(summary.contains("3 quant(s) compared"), "{summary}");
}

#[test]
fn corrupt_fragment_is_rejected_and_rest_merged() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let fragment = dir.path().join("q8.json");
    let output = common::slm_quant(
        dir.path(),
        &bench_args(
            profile.to_str().unwrap(),
            dir.path().join("job.json").to_str().unwrap(),
            &["--quant", "Q8_0", "--fragment", fragment.to_str().unwrap()],
        ),
    );
    assert!(output.status.success());
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, "{\"fragment_version\": 1").unwrap();

    let registry = dir.path().join("registry.json");
    let output = common::slm_quant(
        dir.path(),
        &[
            "registry",
            "merge",
            corrupt.to_str().unwrap(),
            fragment.to_str().unwrap(),
            "--registry",
            registry.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corrupt.json"), "{stderr}");
    assert!(stderr.contains("not valid JSON"), "{stderr}");
    assert_eq!(
        stored_quants(&registry).keys().collect::<Vec<_>>(),
        vec!["Q8_0"]
    );
}
