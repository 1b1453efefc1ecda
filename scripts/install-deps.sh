#!/usr/bin/env bash
# Installs what building, running and testing rkube needs on Debian 12. Safe to run again:
# it only calls apt-get when a package is missing.
set -euo pipefail

packages=(
  build-essential pkg-config
  libseccomp-dev      # container runtime (libcontainer)
  protobuf-compiler   # etcd client
  etcd-server         # etcd backend tests and HA setups
  nftables iproute2   # service proxy, pod network, test network namespaces
  busybox-static      # test images
  runc                # the reference runtime in the container benchmark
  util-linux          # nsenter (e2e harness)
  docker-registry     # local registry for image pull tests
  curl ca-certificates openssl   # openssl: token-auth test certificates and JWT signing
  wrk nginx-light     # ingress benchmark: load generator and the reference proxy
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these services on install; rkube's tests run their own instances.
for svc in etcd docker-registry nginx; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

# Debian's kubectl 1.20 (kubernetes-client) unpacked beside, not over, the machine's kubectl.
if [ ! -x /opt/rkube-test/kubectl-1.20/usr/bin/kubectl ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null 2>&1) || {
    apt-get update -qq && (cd "$tmp" && apt-get download -qq kubernetes-client >/dev/null)
  }
  mkdir -p /opt/rkube-test/kubectl-1.20
  dpkg -x "$tmp"/kubernetes-client_*.deb /opt/rkube-test/kubectl-1.20
  rm -rf "$tmp"
fi

# The Python `kubernetes` client for the client-library tests, in a venv of its own.
if [ ! -x /opt/rkube-test/venv/bin/python ] || ! /opt/rkube-test/venv/bin/python -c 'import kubernetes' 2>/dev/null; then
  python3 -m venv /opt/rkube-test/venv
  /opt/rkube-test/venv/bin/pip install -q kubernetes
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
