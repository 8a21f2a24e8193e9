#!/usr/bin/env bash
# Runs the conformance test — Microsoft's own msal-node and graph-client against the local
# Microsoft stand-in — for a build directory (README.md).
#
#   tests/conformance/run.sh BUILD_DIR        e.g. tests/conformance/run.sh build/dev
#
# Needs node (>= 20) and npm; a missing one is a FAILURE with a clear message, never a silent
# skip: CI installs them (scripts/install-deps.sh --with-test-tools).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
export CONFORMANCE_BUILD_DIR="$(cd "$1" && pwd)"

missing=()
command -v node >/dev/null || missing+=("node (Debian package nodejs, version 20 or later)")
command -v npm >/dev/null || missing+=("npm (Debian package npm)")
[[ -x "$CONFORMANCE_BUILD_DIR/bin/microsoft-sandbox" ]] || missing+=("$CONFORMANCE_BUILD_DIR/bin/microsoft-sandbox (build it)")
if (( ${#missing[@]} )); then
  echo "CONFORMANCE FAILED: the test cannot run, missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
(( node_major >= 20 )) || { echo "CONFORMANCE FAILED: node $(node --version) is too old, 20 or later is needed" >&2; exit 1; }

# Installed from the lock when missing or older than it; the flock serialises several presets'
# ctest runs sharing this node_modules.
cd "$here"
(
  flock 9
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "conformance: installing @azure/msal-node and @microsoft/microsoft-graph-client (npm ci)"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  fi
) 9>"${TMPDIR:-/tmp}/ep-conformance-npm-$(printf %s "$here" | sha1sum | cut -c1-12).lock"

# msal-node and graph-client trust the stand-in's test CA the way Node trusts any extra CA.
export NODE_EXTRA_CA_CERTS="$CONFORMANCE_BUILD_DIR/sandbox-tls/ca.pem"
exec node --test --test-reporter=spec --test-concurrency=1 msal_graph.test.mjs
