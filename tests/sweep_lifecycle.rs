//! How a `bench` run starts and ends around its measuring processes: what it checks before
//! measuring, what it prints when its stderr is not a terminal, and what a killed run leaves.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Writes a profile with one quant whose file is an HTML page, so its measurement fails at once.
fn html_quant_profile(dir: &Path) -> PathBuf {
    let models = dir.join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("page-Q8_0.gguf"), "<!DOCTYPE html>").unwrap();
    let profile = dir.join("page.toml");
    std::fs::write(
        &profile,
        "id = \"page\"\ndisplay_name = \"Page\"\n[source]\nkind = \"directory\"\n\
         path = \"models\"\n[[quant]]\nlabel = \"Q8_0\"\n",
    )
    .unwrap();
    profile
}

#[test]
fn unwritable_registry_stops_sweep_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let profile = html_quant_profile(dir.path());
    // No process may create folders in /proc/sys, root included.
    let registry = "/proc/sys/slm-quant-test/models.json";
    let output = common::slm_quant(
        dir.path(),
        &[
            "bench",
            "--profile",
            profile.to_str().unwrap(),
            "--registry",
            registry,
            "--all-quants",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("/proc/sys/slm-quant-test"), "{stderr}");
    assert!(!stderr.contains("quant Q8_0 failed"), "{stderr}");
}

#[test]
fn log_lines_carry_no_colour_codes_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let profile = html_quant_profile(dir.path());
    let output = common::slm_quant(
        dir.path(),
        &[
            "-v",
            "bench",
            "--profile",
            profile.to_str().unwrap(),
            "--registry",
            "models.json",
            "--all-quants",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("file chosen"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

/// Process ids whose parent is `parent`, read from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command name: state, then the parent's pid.
            let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            after_name.split_whitespace().nth(1) == Some(&parent.to_string())
        })
        .collect()
}

/// Tells whether `pid` still runs (a zombie waiting to be reaped does not).
fn is_running(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest.trim_start());
    !stat.is_empty() && !state.starts_with('Z') && !state.starts_with('X')
}

#[test]
fn killed_sweep_leaves_no_measuring_process() {
    let dir = tempfile::tempdir().unwrap();
    let profile = common::write_demo_profile(dir.path());
    let mut bench = Command::new(env!("CARGO_BIN_EXE_slm-quant"))
        .args(["bench", "--profile", profile.to_str().unwrap()])
        .args(["--registry", "models.json", "--quant", "Q4_K_M"])
        .args(["--output-lengths", "64", "--context-lengths", "512"])
        .args(["--runs", "3", "--no-quality", "--rag-families", "none"])
        .args(["--fc-categories", "none"])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let started = Instant::now();
    let measuring = loop {
        if let Some(&pid) = children_of(bench.id()).first() {
            break pid;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no measuring process started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    bench.kill().unwrap();
    bench.wait().unwrap();

    let killed = Instant::now();
    while is_running(measuring) {
        if killed.elapsed() > Duration::from_secs(10) {
            // Do not leave the orphan behind when the test fails.
            let _ = Command::new("kill")
                .args(["-9", &measuring.to_string()])
                .status();
            panic!("measuring process {measuring} outlived its killed parent");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
