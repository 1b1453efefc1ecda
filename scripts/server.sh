#!/usr/bin/env bash
# Builds rkube and starts a server on this machine (as root). Extra arguments go to
# `rkube server`, e.g. `scripts/server.sh --data-dir /tmp/rkube`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release -p rkube
install -m 0755 target/release/rkube /usr/local/bin/rkube
exec /usr/local/bin/rkube server "$@"
