#!/usr/bin/env bash
# Sets up a fresh machine and runs the demo sweep: every quant of the demo profile, measured
# with the profile's settings and written into registry/models.json. Extra arguments go to
# `slm-quant bench`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$SLM_QUANT_ROOT"

scripts/setup.sh
scripts/fetch-demo-model.sh
cargo build --release --quiet
log "running the demo sweep: speed, quality and probes of three quants (docs/benchmarks.md gives its duration)"
"$SLM_QUANT_BIN" bench --all-quants "$@"
