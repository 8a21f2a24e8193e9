#!/usr/bin/env bash
# The sandbox demo: the local Microsoft stand-in, and the reference host with both providers
# (Personal Outlook and the mock provider) serving its settings page.
#
#   scripts/demo.sh BUILD_DIR              interactive: open the printed URL; Ctrl-C stops all
#   scripts/demo.sh BUILD_DIR --headless   drive the whole story without a browser and summarise
set -euo pipefail
build_dir="$(cd "$1" && pwd)"; shift
mode="${1:-}"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ep-demo-XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 1. The Microsoft stand-in (HTTPS, with the test CA generated at build time).
"$build_dir/bin/microsoft-sandbox" --port 0 --tls-dir "$build_dir/sandbox-tls" --quiet >"$work/sandbox.out" 2>"$work/sandbox.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on ' "$work/sandbox.out" 2>/dev/null && break; sleep 0.1; done
sandbox_url="$(sed -n 's/^listening on //p' "$work/sandbox.out")"
[[ -n "$sandbox_url" ]] || { echo "demo: the Microsoft stand-in did not start:" >&2; cat "$work/sandbox.log" >&2; exit 1; }

# 2. The host: a fresh token-encryption key (never committed) and a config naming both providers.
openssl rand -hex 32 >"$work/token-key"
host_port="$(free_port)"
cat >"$work/host.json" <<JSON
{
  "store": { "path": "host.db" },
  "log_level": "info",
  "users": [
    { "id": "rita", "display_name": "Rita Recruiter" },
    { "id": "sam", "display_name": "Sam Sourcer" }
  ],
  "web": { "listen_address": "127.0.0.1", "port": $host_port, "debug_clock": true },
  "providers": [
    { "manifest": "$build_dir/manifests/outlook.json",
      "config": {
        "client_id": "11111111-2222-4333-8444-555555555555",
        "authority": "common",
        "endpoints": { "login": "$sandbox_url", "graph": "$sandbox_url/v1.0" },
        "tls": { "ca_file": "$build_dir/sandbox-tls/ca.pem" },
        "redirect_uri": "http://127.0.0.1:$host_port/callback",
        "token_encryption": { "active_key": "demo", "keys": [ { "id": "demo", "file": "\${config_dir}/token-key" } ] }
      } },
    { "manifest": "$build_dir/manifests/mock.json",
      "config": { "outbox_dir": "\${config_dir}/mock-outbox", "address": "rita.recruiter@example.com",
                  "display_name": "Rita Recruiter" } }
  ]
}
JSON
"$build_dir/bin/host_stub" --config "$work/host.json" serve >"$work/host.out" 2>"$work/host.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '^Settings page: ' "$work/host.out" 2>/dev/null && break; sleep 0.1; done
settings_url="$(sed -n 's/^Settings page: //p' "$work/host.out")"
[[ -n "$settings_url" ]] || { echo "demo: the host did not start:" >&2; cat "$work/host.log" >&2; exit 1; }

if [[ "$mode" == "--headless" ]]; then
  python3 "$here/demo_headless.py" --host "http://127.0.0.1:$host_port" --sandbox "$sandbox_url" \
    --ca "$build_dir/sandbox-tls/ca.pem"
  exit $?
fi

cat <<TEXT

  Microsoft stand-in : $sandbox_url   (sign in as adele@contoso.example; password any)
  Settings page      : $settings_url
  Host log           : $work/host.log

  Open the settings page, sign in as Rita, click Connect on Microsoft Outlook, sign in at the
  stand-in and Accept, choose Email and "Personal Outlook", and send a test nudge.
  Other users to try at the stand-in: ben@fabrikam.example (approval required),
  megan.personal@outlook.com (personal account). Ctrl-C stops everything.

TEXT
wait "${pids[1]}"
