#!/usr/bin/env bash
# The two commands of the README.
#
#   ./run.sh demo   installs what is missing, builds, and runs the sandbox demo
#                   (host + plugins + the local Microsoft and Google stand-ins)
#   ./run.sh test   installs what is missing, builds, and runs the whole test suite
#
# Options after the command are passed to the demo (e.g. ./run.sh demo --headless, or
# ./run.sh demo --postgres: a throw-away PostgreSQL cluster and two host processes).
set -euo pipefail
cd "$(dirname "$0")"

command="${1:-}"
shift || true
jobs="${JOBS:-$(nproc)}"

build() {  # build <preset> [targets...]
  local preset="$1"; shift
  cmake --preset "$preset" >/dev/null
  cmake --build "build/$preset" -j "$jobs" ${1:+--target "$@"}
}

case "$command" in
  demo)
    scripts/install-deps.sh
    build release
    exec scripts/demo.sh build/release "$@"
    ;;
  test)
    scripts/install-deps.sh --with-test-tools
    exec scripts/test.sh
    ;;
  *)
    echo "usage: ./run.sh demo [--headless] [--postgres] | ./run.sh test" >&2
    exit 2
    ;;
esac
