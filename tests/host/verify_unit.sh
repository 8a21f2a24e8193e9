#!/usr/bin/env bash
# The service unit as systemd reads it: `systemd-analyze verify` accepts it (with ExecStart=
# pointed at this build's host_stub, since verify checks that the program exists), and
# `systemd-analyze security --offline` rates its exposure at most 1.5 of 10 (README.md,
# "Running as a service"). Needs no running systemd.
#   verify_unit.sh <systemd-analyze> <unit file> <host_stub>
set -euo pipefail
analyze=$1 unit=$2 host_stub=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
command -v "$analyze" >/dev/null || { echo "FAIL: $analyze not found (package systemd; scripts/install-deps.sh --with-test-tools)"; exit 1; }
copy="$dir/$(basename "$unit")"
sed "s#^ExecStart=/usr/bin/host_stub #ExecStart=$host_stub #" "$unit" >"$copy"
grep -q "^ExecStart=$host_stub " "$copy" || { echo "FAIL: the unit's ExecStart= is not /usr/bin/host_stub ..."; exit 1; }
if ! out=$("$analyze" verify "$copy" 2>&1) || [[ -n "$out" ]]; then
  echo "FAIL: systemd-analyze verify: $out"
  exit 1
fi
# --threshold is on a 0-100 scale: 15 is the 1.5 the README promises.
if ! "$analyze" security --offline=yes --threshold=15 "$copy" >"$dir/security.txt" 2>&1; then
  cat "$dir/security.txt"
  echo "FAIL: the unit's exposure is above 1.5"
  exit 1
fi
grep "Overall exposure level" "$dir/security.txt"
