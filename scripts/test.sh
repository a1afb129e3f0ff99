#!/usr/bin/env bash
# Sets up a fresh machine and runs the whole test suite: formatting, lints, unit tests and the
# integration tests, which run the real binary on the real demo model.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$SLM_QUANT_ROOT"

scripts/setup.sh
scripts/fetch-demo-model.sh
log "checking formatting"
cargo fmt --check
log "running clippy"
cargo clippy --release --all-targets --quiet -- -D warnings
log "running the tests"
# Release mode: the tests run llama.cpp, and a debug build of it would be slow to build and run.
# One test at a time: each integration test runs llama.cpp on every core, and llama.cpp's
# OpenMP threads spin while they wait, so tests run side by side slow each other many times
# over.
cargo test --release -- --test-threads=1
