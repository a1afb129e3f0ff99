//! Quality measurement on the real demo model: the reference compared with itself, the
//! reference computed first when only another quant is selected, and a sweep of all quants.

mod common;

use std::path::Path;

use serde_json::Value;

/// Short settings: tiny speed runs and two quality chunks of 128 tokens.
const SHORT: &[&str] = &[
    "--output-lengths",
    "8",
    "--context-lengths",
    "32",
    "--runs",
    "1",
    "--warmup-runs",
    "0",
    "--quality-ctx",
    "128",
    "--quality-chunks",
    "2",
    "--rag-families",
    "none",
    "--fc-categories",
    "none",
    "--no-progress",
];

fn bench(dir: &Path, registry: &str, quants: &[&str]) -> (String, Value) {
    let profile = common::write_demo_profile(dir);
    let cache = dir.join("cache");
    let mut args = vec![
        "bench",
        "--profile",
        profile.to_str().unwrap(),
        "--registry",
        registry,
        "--quality-cache",
        cache.to_str().unwrap(),
    ];
    args.extend_from_slice(quants);
    args.extend_from_slice(SHORT);
    let output = common::slm_quant(dir, &args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "bench failed:\n{stderr}");
    let text = std::fs::read_to_string(dir.join(registry)).unwrap();
    let registry: Value = serde_json::from_str(&text).unwrap();
    (
        stderr,
        registry["models"]["smollm2-135m-instruct"]["performance"].clone(),
    )
}

#[test]
fn quality_of_demo_quants_against_f16() {
    let dir = tempfile::tempdir().unwrap();

    // Only Q4_K_M is selected, yet the F16 reference is computed first.
    let (stderr, performance) = bench(dir.path(), "single.json", &["--quant", "Q4_K_M"]);
    assert!(
        stderr.contains("F16: computing reference log-probabilities"),
        "{stderr}"
    );
    let quants = performance["quantizations"].as_object().unwrap();
    assert_eq!(quants.keys().collect::<Vec<_>>(), vec!["Q4_K_M"]);
    let q4 = &quants["Q4_K_M"]["quality"];
    assert_eq!(q4["reference_quant"], "F16");
    assert_eq!(q4["is_reference"], false);
    assert_eq!(q4["eval_text"]["n_ctx"], 128);
    assert_eq!(q4["eval_text"]["n_chunks"], 2);
    assert_eq!(q4["scored_positions"], 2 * 63);

    // The sweep of all quants finds the reference in the cache.
    let (stderr, performance) = bench(dir.path(), "all.json", &["--all-quants"]);
    assert!(!stderr.contains("computing reference"), "{stderr}");
    let quants = &performance["quantizations"];
    for label in ["F16", "Q8_0", "Q4_K_M"] {
        let quality = &quants[label]["quality"];
        assert!(quality.is_object(), "{label} has no quality block");
        assert!(quality["pareto_front"].is_boolean(), "{label}: {quality}");
        assert!(quality["ppl"].as_f64().unwrap() > 1.0, "{label}: {quality}");
    }

    // The reference compared with itself: no drift beyond the 16-bit storage rounding.
    let f16 = &quants["F16"]["quality"];
    assert_eq!(f16["is_reference"], true);
    assert!(f16["mean_kld"].as_f64().unwrap() < 1e-6, "{f16}");
    assert!(f16["kld_p99"].as_f64().unwrap() < 1e-5, "{f16}");
    assert_eq!(f16["same_top_p"].as_f64().unwrap(), 1.0);
    let ratio = f16["ppl_ratio"].as_f64().unwrap();
    assert!((ratio - 1.0).abs() < 1e-3, "{f16}");

    let kld = |label: &str| quants[label]["quality"]["mean_kld"].as_f64().unwrap();
    assert!(kld("Q8_0") > kld("F16"), "{quants}");
    assert!(kld("Q4_K_M") > kld("Q8_0"), "{quants}");
    let same_top = |label: &str| quants[label]["quality"]["same_top_p"].as_f64().unwrap();
    assert!(same_top("Q4_K_M") < 1.0, "{quants}");

    // A 135M model fits every target, so each recommends the most faithful quant.
    let recommendations = performance["recommendations"].as_object().unwrap();
    assert_eq!(recommendations.len(), 4, "{recommendations:?}");
    for quant in recommendations.values() {
        assert_eq!(quant, "F16");
    }
}
