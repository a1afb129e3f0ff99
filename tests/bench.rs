//! `slm-quant bench` end to end: the real binary on the real demo model with short settings.

mod common;

use std::path::Path;

use serde_json::Value;

const SHORT: &[&str] = &[
    "--output-lengths",
    "16",
    "--context-lengths",
    "128",
    "--runs",
    "2",
    "--no-quality",
    "--rag-families",
    "none",
    "--fc-categories",
    "none",
];

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn schema_errors(registry: &Value) -> Vec<String> {
    let schema = read_json(&common::repo_root().join("registry/schema.json"));
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    validator
        .iter_errors(registry)
        .map(|error| format!("{error} at {}", error.instance_path))
        .collect()
}

/// A registry that already contains another model, copied into `dir`.
fn earlier_registry(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("models.json");
    std::fs::copy(
        common::repo_root().join("tests/fixtures/registry-earlier.json"),
        &path,
    )
    .unwrap();
    path
}

fn bench_args<'a>(profile: &'a str, registry: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["bench", "--profile", profile, "--registry", registry];
    args.extend_from_slice(SHORT);
    args.extend_from_slice(extra);
    args
}

#[test]
fn all_quants_land_in_registry() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let registry = earlier_registry(dir.path());
    let earlier = read_json(&registry)["models"]["earlier-model"].clone();

    let (profile_arg, registry_arg) = (profile.to_str().unwrap(), registry.to_str().unwrap());
    let output = common::slm_quant(
        dir.path(),
        &bench_args(
            profile_arg,
            registry_arg,
            &["--all-quants", "--output", "json"],
        ),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "stderr: {stderr}");

    let rows: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|row| row["status"] == "measured"));

    let saved = read_json(&registry);
    assert_eq!(
        saved["models"]["earlier-model"], earlier,
        "an earlier entry changed"
    );
    assert_eq!(schema_errors(&saved), Vec::<String>::new());

    let quants = &saved["models"]["smollm2-135m-instruct"]["performance"]["quantizations"];
    let labels: Vec<&String> = quants.as_object().unwrap().keys().collect();
    assert_eq!(labels, ["F16", "Q4_K_M", "Q8_0"]);
    for (label, quant) in quants.as_object().unwrap() {
        let tps = quant["generation"][0]["tokens_per_sec"]["mean"]
            .as_f64()
            .unwrap();
        let ttft = quant["prefill"][0]["ttft_ms"]["mean"].as_f64().unwrap();
        let samples = quant["generation"][0]["tokens_per_sec"]["samples"]
            .as_array()
            .unwrap();
        assert!(tps > 0.0, "{label} tokens/s {tps}");
        assert!(ttft > 0.0, "{label} TTFT {ttft}");
        assert_eq!(samples.len(), 2, "{label} keeps one sample per timed run");
        assert!(quant["ram_gb"].as_f64().unwrap() > 0.0, "{label}");
        assert!(
            quant["token_latency"]["p99_ms"].as_f64().unwrap() > 0.0,
            "{label}"
        );
        assert!(
            quant["memory"]["kv_cache_bytes"].as_u64().unwrap() > 0,
            "{label}"
        );
        assert!(
            quant.get("tps_output").is_none(),
            "{label}: 500 tokens were not measured"
        );
    }

    let bytes = |label: &str| quants[label]["file"]["bytes"].as_u64().unwrap();
    assert!(bytes("F16") > bytes("Q8_0"));
    assert!(bytes("Q8_0") > bytes("Q4_K_M"));
    let peak = |label: &str| quants[label]["memory"]["peak_rss_bytes"].as_u64().unwrap();
    assert!(
        peak("F16") > peak("Q4_K_M"),
        "F16 {} vs Q4_K_M {}",
        peak("F16"),
        peak("Q4_K_M")
    );

    let source = &saved["models"]["smollm2-135m-instruct"]["source"];
    assert_eq!(source["kind"], "directory");
}

#[test]
fn one_quant_measures_and_markdown_table_prints() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let registry = dir.path().join("models.json");

    let (profile_arg, registry_arg) = (profile.to_str().unwrap(), registry.to_str().unwrap());
    let output = common::slm_quant(
        dir.path(),
        &bench_args(
            profile_arg,
            registry_arg,
            &["--quant", "q8_0", "--context-lengths", "64,128"],
        ),
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table.lines().next().unwrap().contains("TTFT ms @64"),
        "{table}"
    );
    assert!(table.contains("| Q8_0 "), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    let saved = read_json(&registry);
    let quants = saved["models"]["smollm2-135m-instruct"]["performance"]["quantizations"]
        .as_object()
        .unwrap();
    assert_eq!(quants.keys().collect::<Vec<_>>(), ["Q8_0"]);
    assert_eq!(quants["Q8_0"]["prefill"].as_array().unwrap().len(), 2);
}

#[test]
fn broken_quant_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    std::os::unix::fs::symlink(common::demo_file("Q8_0"), models.join("tiny-Q8_0.gguf")).unwrap();
    std::fs::write(
        models.join("tiny-F16.gguf"),
        "<!DOCTYPE html><html>Not found</html>",
    )
    .unwrap();
    let real = std::fs::read(common::demo_file("Q4_K_M")).unwrap();
    std::fs::write(models.join("tiny-Q4_K_M.gguf"), &real[..real.len() / 3]).unwrap();

    let profile = dir.path().join("tiny.toml");
    std::fs::write(
        &profile,
        "id = \"tiny\"\ndisplay_name = \"Tiny\"\n[source]\nkind = \"directory\"\npath = \"models\"\n\
         [[quant]]\nlabel = \"F16\"\n[[quant]]\nlabel = \"Q4_K_M\"\n[[quant]]\nlabel = \"Q8_0\"\n",
    )
    .unwrap();
    let registry = earlier_registry(dir.path());
    let earlier = read_json(&registry)["models"]["earlier-model"].clone();

    let (profile_arg, registry_arg) = (profile.to_str().unwrap(), registry.to_str().unwrap());
    let output = common::slm_quant(
        dir.path(),
        &bench_args(
            profile_arg,
            registry_arg,
            &["--all-quants", "--output", "jsonl"],
        ),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("not a GGUF file: starts with `<!DO`"),
        "{stderr}"
    );

    let rows: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let status = |quant: &str| rows.iter().find(|r| r["quant"] == quant).unwrap()["status"].clone();
    assert_eq!(status("F16"), "failed");
    assert_eq!(status("Q4_K_M"), "failed");
    assert_eq!(status("Q8_0"), "measured");

    let saved = read_json(&registry);
    assert_eq!(saved["models"]["earlier-model"], earlier);
    let quants = saved["models"]["tiny"]["performance"]["quantizations"]
        .as_object()
        .unwrap();
    assert_eq!(quants.keys().collect::<Vec<_>>(), ["Q8_0"]);
}

#[test]
fn bad_profile_is_usage_error_and_registry_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let text = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("[bench]", "[bench]\nthread = 4");
    std::fs::write(&profile, text).unwrap();
    let registry = earlier_registry(dir.path());
    let before = std::fs::read(&registry).unwrap();

    let (profile_arg, registry_arg) = (profile.to_str().unwrap(), registry.to_str().unwrap());
    let output = common::slm_quant(
        dir.path(),
        &bench_args(profile_arg, registry_arg, &["--all-quants"]),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `thread`"), "{stderr}");
    assert!(stderr.contains("threads"), "{stderr}");
    assert_eq!(std::fs::read(&registry).unwrap(), before);
}

#[test]
fn corrupt_registry_is_never_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let registry = dir.path().join("models.json");
    std::fs::write(&registry, "{\"schema_version\": 1, \"models\": ").unwrap();

    let (profile_arg, registry_arg) = (profile.to_str().unwrap(), registry.to_str().unwrap());
    let output = common::slm_quant(
        dir.path(),
        &bench_args(profile_arg, registry_arg, &["--quant", "Q8_0"]),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("invalid registry"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&registry).unwrap(),
        "{\"schema_version\": 1, \"models\": "
    );
}

#[test]
fn quant_selection_errors_list_choices() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let profile_arg = profile.to_str().unwrap();

    let none = common::slm_quant(dir.path(), &["bench", "--profile", profile_arg]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--all-quants or --quant"));

    let unknown = common::slm_quant(
        dir.path(),
        &["bench", "--profile", profile_arg, "--quant", "Q9_9"],
    );
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(unknown.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("`Q9_9`") && stderr.contains("Q4_K_M"),
        "{stderr}"
    );

    let undeclared = common::slm_quant(
        dir.path(),
        &["bench", "--profile", profile_arg, "--quant", "Q6_K"],
    );
    let stderr = String::from_utf8_lossy(&undeclared.stderr);
    assert_eq!(undeclared.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("declared quants: F16, Q8_0, Q4_K_M"),
        "{stderr}"
    );

    let missing = common::slm_quant(
        dir.path(),
        &["bench", "--profile", "nope.toml", "--all-quants"],
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("nope.toml"), "{stderr}");
}

#[test]
fn quantize_derives_a_loadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let output_file = dir.path().join("out/derived-Q4_0.gguf");
    let source = common::demo_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let output = common::slm_quant(
        dir.path(),
        &[
            "quantize",
            source.to_str().unwrap(),
            output_file.to_str().unwrap(),
            "--type",
            "Q4_0",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(&output_file).unwrap();
    assert_eq!(&bytes[..4], b"GGUF");
    assert!(!dir.path().join("out/derived-Q4_0.gguf.partial").exists());

    let engine = slm_quant::engine::Engine::init().unwrap();
    let model = engine.load(&output_file).unwrap();
    assert_eq!(
        model.metadata("general.file_type").as_deref(),
        Some("2"),
        "Q4_0 is ftype 2"
    );
}

#[test]
fn quantize_rejects_a_non_gguf_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("page.gguf");
    std::fs::write(&input, "<html>").unwrap();
    let output = common::slm_quant(
        dir.path(),
        &[
            "quantize",
            input.to_str().unwrap(),
            "out.gguf",
            "--type",
            "Q8_0",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a GGUF file"), "{stderr}");
    assert!(!dir.path().join("out.gguf").exists());
}

/// Pids of the processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let ppid: u32 = after_name.split(' ').nth(1).unwrap().parse().unwrap();
        if ppid == parent {
            children.push(pid);
        }
    }
    children
}

#[test]
fn killed_sweep_leaves_no_child() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let registry = dir.path().join("models.json");
    let mut parent = std::process::Command::new(env!("CARGO_BIN_EXE_slm-quant"))
        .args([
            "bench",
            "--quant",
            "Q8_0",
            "--output-lengths",
            "4000",
            "--runs",
            "1",
        ])
        .args([
            "--no-quality",
            "--rag-families",
            "none",
            "--fc-categories",
            "none",
        ])
        .args([
            "--context-lengths",
            "64",
            "--profile",
            profile.to_str().unwrap(),
        ])
        .args(["--registry", registry.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let child = loop {
        if let Some(&pid) = children_of(parent.id()).first() {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no measuring process started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    parent.kill().unwrap();
    parent.wait().unwrap();

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while Path::new(&format!("/proc/{child}")).exists() {
        let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
        if state.contains(") Z ") {
            break; // exited, waiting to be reaped by init
        }
        assert!(
            std::time::Instant::now() < deadline,
            "measuring process {child} outlived its parent"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(
        !registry.exists(),
        "nothing was measured, so nothing was written"
    );
}
