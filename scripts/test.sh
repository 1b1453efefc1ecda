#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --workspace --all-targets
cargo nextest run --workspace --no-fail-fast "$@"
