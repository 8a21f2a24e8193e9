#!/usr/bin/env bash
# Runs every browser test (*.test.mjs) in headless Chromium against a build directory.
#
#   tests/e2e/run.sh BUILD_DIR        e.g. tests/e2e/run.sh build/dev
#
# Needs node (>= 20), npm, the Debian chromium and the openssl CLI. A missing one is a FAILURE with
# a clear message, never a silent skip: CI installs them (scripts/install-deps.sh --with-test-tools).
# Screenshots go to $E2E_ARTIFACTS_DIR (default BUILD_DIR/e2e-artifacts).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
export E2E_BUILD_DIR="$(cd "$1" && pwd)"
export E2E_CHROMIUM="${E2E_CHROMIUM:-/usr/bin/chromium}"

source "$here/../support/node_test.sh"
missing=()
[[ -x "$E2E_CHROMIUM" ]] || missing+=("Chromium at $E2E_CHROMIUM (Debian package chromium, or set E2E_CHROMIUM)")
command -v openssl >/dev/null || missing+=("the openssl CLI (Debian package openssl)")
node_test_require E2E ${missing[@]+"${missing[@]}"}

# Dependencies: playwright-core only (it drives the Debian Chromium and downloads no browser).
node_test_install "$here"
cd "$here"
exec node --test --test-reporter=spec --test-concurrency=1 ./*.test.mjs
