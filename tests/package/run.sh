#!/usr/bin/env bash
# The CI packaging stage's end-to-end test (scripts/test.sh, stage "package"): every .deb of
# BUILD_DIR/packages (scripts/package.sh) extracted into a throw-away root with dpkg-deb -x, then
# installed_packages_test.py sends a nudge through the host and provider from that root.
#
#   tests/package/run.sh BUILD_DIR
set -euo pipefail
build_dir="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(mktemp -d "${TMPDIR:-/tmp}/ep-package-root-XXXXXX")"
trap 'rm -rf "$root"' EXIT
debs=("$build_dir"/packages/*.deb)
[[ -e "${debs[0]}" ]] || { echo "package test: no .deb in $build_dir/packages (run scripts/package.sh first)" >&2; exit 2; }
for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$root"; done
python3 "$here/installed_packages_test.py" --root "$root" --build "$build_dir"
