#!/usr/bin/env bash
# Runs every test: the Rust suite (unit, integration incl. the command line, doc-tests), then the
# Python package (python/): built into a fresh venv with pip (maturin, release profile) and
# tested with pytest against NumPy 2 (and numexpr, for cross-checks; Dask's distributed scheduler
# for ndexpr.dask, on a local cluster of two worker processes).
# Needs cargo, python3 (>= 3.9, with venv) and the package registries (crates.io, PyPI).
# SKIP_PYTHON=1 runs the Rust suite only.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --all-targets
cargo test --doc

if [[ "${SKIP_PYTHON:-0}" == "1" ]]; then
    echo "SKIP_PYTHON=1: Python tests skipped"
    exit 0
fi

PY="${PYTHON:-python3}"
command -v "$PY" >/dev/null || { echo "error: $PY not found (needed for the Python tests)" >&2; exit 1; }
VENV="target/py-venv"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV" || { echo "error: '$PY -m venv' failed (install python3-venv)" >&2; exit 1; }
fi
VPY="$VENV/bin/python"
"$VPY" -m pip install --quiet --upgrade pip
"$VPY" -m pip install --quiet "numpy>=2" pytest "maturin>=1.16,<2" numexpr "dask[array,distributed]>=2024.1"
# Build the wheel (cargo, release profile, shared target/) and install it; the venv's maturin
# is the build backend (no isolated build env to download again).
PATH="$PWD/$VENV/bin:$PATH" "$VPY" -m pip install --no-build-isolation --force-reinstall --no-deps ./python
"$VPY" -c 'import numpy, ndexpr; assert int(numpy.__version__.split(".")[0]) >= 2; print("ndexpr", ndexpr.__version__, "isa", ndexpr.isa(), "numpy", numpy.__version__)'
# From the tests' folder, so that `import ndexpr` is the installed package, not python/ndexpr.
cd python/tests
"../../$VPY" -m pytest -q --import-mode=importlib -p no:cacheprovider
