//! Shared helpers of the integration tests: where the demo model is and how to run the
//! binary on it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Folder of the demo model's GGUF files, prepared by scripts/fetch-demo-model.sh.
pub fn demo_dir() -> PathBuf {
    let dir = std::env::var_os("SLM_QUANT_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models/smollm2-135m-instruct"));
    assert!(
        dir.join("SmolLM2-135M-Instruct-Q4_K_M.gguf").is_file(),
        "the demo model is missing from {}; run scripts/fetch-demo-model.sh first",
        dir.display()
    );
    dir
}

pub fn demo_file(label: &str) -> PathBuf {
    demo_dir().join(format!("SmolLM2-135M-Instruct-{label}.gguf"))
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_profile() -> PathBuf {
    repo_root().join("quant-profiles/smollm2-135m-instruct.toml")
}

/// Runs the slm-quant binary with `args` in `cwd`.
pub fn slm_quant(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slm-quant"))
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_LOG")
        .output()
        .expect("slm-quant runs")
}

/// Writes a copy of the demo profile whose source is the demo model folder, so a test can
/// run from any working directory.
pub fn write_demo_profile(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(demo_profile()).unwrap();
    let text = text.replace(
        "path = \"../models/smollm2-135m-instruct\"",
        &format!("path = {:?}", demo_dir().display().to_string()),
    );
    let path = dir.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    path
}
