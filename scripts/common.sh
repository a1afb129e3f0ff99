# Shared settings of the project's scripts; sourced, not run.

# llama.cpp's C++ build takes minutes on a small machine, so every clone of the project shares
# one Cargo target folder outside the work tree unless the caller chose another.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/slm-quant/target}"

SLM_QUANT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SLM_QUANT_BIN="$CARGO_TARGET_DIR/release/slm-quant"

log() {
    printf '==> %s\n' "$*" >&2
}

# Runs a command as root, through sudo when the caller is not root.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo "$@"
    fi
}

# Prints the non-comment, non-empty lines of a package list.
package_list() {
    [ -f "$1" ] || return 0
    sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | grep -v '^$' || true
}
