#!/usr/bin/env bash
# Runs the settings-page test in headless Chromium against a build directory.
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

missing=()
command -v node >/dev/null || missing+=("node (Debian package nodejs, version 20 or later)")
command -v npm >/dev/null || missing+=("npm (Debian package npm)")
[[ -x "$E2E_CHROMIUM" ]] || missing+=("Chromium at $E2E_CHROMIUM (Debian package chromium, or set E2E_CHROMIUM)")
command -v openssl >/dev/null || missing+=("the openssl CLI (Debian package openssl)")
if (( ${#missing[@]} )); then
  echo "E2E FAILED: the settings-page test cannot run, missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  echo "Install them (scripts/install-deps.sh --with-test-tools) and run again." >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || { echo "E2E FAILED: node $(node --version) is too old, 20 or later is needed" >&2; exit 1; }

# Dependencies (playwright-core only: it drives the Debian Chromium and downloads no browser).
# Installed from the lock when missing or older than the lock; the lock file serialises
# concurrent runs (several presets' ctest at once share this node_modules).
cd "$here"
(
  flock 9
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "e2e: installing test dependencies (npm ci)"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  fi
) 9>"${TMPDIR:-/tmp}/ep-e2e-npm-$(printf %s "$here" | sha1sum | cut -c1-12).lock"

exec node --test --test-reporter=spec --test-concurrency=1 settings_flow.test.mjs
