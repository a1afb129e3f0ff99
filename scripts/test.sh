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
cargo test --release
