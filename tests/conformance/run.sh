#!/usr/bin/env bash
# Runs a conformance test — a provider's own client libraries against its local stand-in — for
# a build directory (README.md):
#
#   tests/conformance/run.sh BUILD_DIR [microsoft|google]     e.g. tests/conformance/run.sh build/dev google
#
#   microsoft (default)  msal-node and graph-client against bin/microsoft-sandbox (msal_graph.test.mjs)
#   google               google-auth-library and @googleapis/gmail against bin/google-sandbox (google.test.mjs)
#
# Needs node (>= 20) and npm; a missing one is a FAILURE with a clear message, never a silent
# skip: CI installs them (scripts/install-deps.sh --with-test-tools).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[[ $# -ge 1 ]] || { echo "usage: $0 BUILD_DIR [microsoft|google]" >&2; exit 2; }
export CONFORMANCE_BUILD_DIR="$(cd "$1" && pwd)"
case "${2:-microsoft}" in
  microsoft) sandbox=microsoft-sandbox test_file=msal_graph.test.mjs ;;
  google) sandbox=google-sandbox test_file=google.test.mjs ;;
  *) echo "$0: unknown suite '$2' (microsoft or google)" >&2; exit 2 ;;
esac

source "$here/../support/node_test.sh"
missing=()
[[ -x "$CONFORMANCE_BUILD_DIR/bin/$sandbox" ]] || missing+=("$CONFORMANCE_BUILD_DIR/bin/$sandbox (build it)")
node_test_require CONFORMANCE ${missing[@]+"${missing[@]}"}

# Every library of both suites, pinned by the one lock file.
node_test_install "$here"
cd "$here"

# The libraries trust the stand-ins' test CA the way Node trusts any extra CA.
export NODE_EXTRA_CA_CERTS="$CONFORMANCE_BUILD_DIR/sandbox-tls/ca.pem"
exec node --test --test-reporter=spec --test-concurrency=1 "$test_file"
