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

source "$here/../support/node_test.sh"
missing=()
[[ -x "$CONFORMANCE_BUILD_DIR/bin/microsoft-sandbox" ]] || missing+=("$CONFORMANCE_BUILD_DIR/bin/microsoft-sandbox (build it)")
node_test_require CONFORMANCE ${missing[@]+"${missing[@]}"}

# @azure/msal-node and @microsoft/microsoft-graph-client, pinned by the lock file.
node_test_install "$here"
cd "$here"

# msal-node and graph-client trust the stand-in's test CA the way Node trusts any extra CA.
export NODE_EXTRA_CA_CERTS="$CONFORMANCE_BUILD_DIR/sandbox-tls/ca.pem"
exec node --test --test-reporter=spec --test-concurrency=1 msal_graph.test.mjs
