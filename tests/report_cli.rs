//! The `report` command run as a user would: on the fixture registry, on an unknown model and
//! on a missing registry.

mod common;

fn fixture() -> String {
    common::repo_root()
        .join("tests/fixtures/registry-site.json")
        .display()
        .to_string()
}

#[test]
fn report_prints_one_table_per_model() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::slm_quant(dir.path(), &["report", "--registry", &fixture()]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("## SmolLM2 135M Instruct (smollm2-135m-instruct)"),
        "{text}"
    );
    assert!(
        text.contains("## <script>alert(1)</script> (xss-check)"),
        "{text}"
    );
    assert!(text.contains("| Q4_K_M "), "{text}");
    assert!(text.contains("not measured"), "{text}");
}

#[test]
fn report_csv_for_one_model() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "report",
        "--registry",
        &fixture(),
        "--model",
        "xss-check",
        "--output",
        "csv",
    ];
    let output = common::slm_quant(dir.path(), &args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[1].starts_with("xss-check,Q8_0,Q8_0,"), "{text}");
}

#[test]
fn report_rejects_unknown_model() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::slm_quant(
        dir.path(),
        &["report", "--registry", &fixture(), "--model", "nope"],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "model `nope` is not in the registry; models it has: smollm2-135m-instruct, xss-check"
        ),
        "{stderr}"
    );
}

#[test]
fn report_needs_existing_registry() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::slm_quant(dir.path(), &["report", "--registry", "missing.json"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("registry missing.json not found"),
        "{stderr}"
    );
}
