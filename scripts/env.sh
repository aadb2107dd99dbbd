# Sourced by the scripts: use sccache as the compiler wrapper when it works.
if [ -z "${RUSTC_WRAPPER:-}" ] && [ -x .venv/bin/sccache ] && .venv/bin/sccache --version >/dev/null 2>&1; then
    export RUSTC_WRAPPER="$PWD/.venv/bin/sccache"
fi
