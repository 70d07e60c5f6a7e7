#!/usr/bin/env bash
# Runs every test: the Rust suite (unit, integration incl. the command line, doc-tests).
# Needs only cargo; the NumPy tables the tests check against are committed under tests/data/.
set -euo pipefail
cd "$(dirname "$0")"
cargo test --all-targets
cargo test --doc
