#!/usr/bin/env bash
# Installs the Debian 12 packages this project builds, tests and demos with.
# Idempotent and silent when everything is already there; needs root or sudo otherwise.
set -euo pipefail

# Boost only under its 1.81 names: the unversioned libboost-*-dev packages pull in 1.74,
# which conflicts with libboost1.81-dev. libpq-dev: the host's PostgreSQL engine; postgresql:
# the server the tests and `./run.sh demo --postgres` start as throw-away clusters.
# prometheus-cpp-dev: the host's /metrics endpoint.
packages=(
  build-essential cmake ninja-build pkg-config ca-certificates openssl
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-program-options1.81-dev
  libcurl4-openssl-dev libssl-dev libsqlite3-dev
  libpq-dev postgresql
  prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libgmime-3.0-dev
  binutils curl python3
)
if [[ "${1:-}" == "--with-test-tools" ]]; then
  # Browser end-to-end test, fuzzing, the ABI guards (clang's AST for the layout guard,
  # abidw/abidiff for the baseline check), and the format check (scripts/check-format.sh).
  packages+=(chromium clang-14 libclang-rt-14-dev abigail-tools clang-format-14)
  # Node.js may already come from elsewhere (e.g. NodeSource, whose nodejs bundles npm and
  # conflicts with Debian's npm package): only install Debian's when the commands are missing.
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
