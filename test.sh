#!/usr/bin/env bash
# Runs every test: the Rust suite (unit, integration, doc-tests).
set -euo pipefail
cd "$(dirname "$0")"
cargo test --all-targets
cargo test --doc
