#!/usr/bin/env bash
# Installs what slm-quant needs on a fresh Debian or Ubuntu machine: the Debian packages in
# scripts/apt-packages.txt, the Python packages in scripts/pip-packages.txt, and a Rust
# toolchain check. Packages already present are left alone.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$SLM_QUANT_ROOT"

missing=()
for package in $(package_list scripts/apt-packages.txt); do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

for package in $(package_list scripts/pip-packages.txt); do
    if ! python3 -m pip show "$package" >/dev/null 2>&1; then
        log "installing Python package: $package"
        python3 -m pip install --quiet "$package"
    fi
done

if ! command -v cargo >/dev/null 2>&1; then
    log "cargo not found: install Rust (https://rustup.rs) and run this script again"
    exit 2
fi
