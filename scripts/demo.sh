#!/usr/bin/env bash
# The sandbox demo: the local Microsoft and Google stand-ins, and the reference host with three
# providers (Personal Outlook, Personal Gmail and the mock provider) serving its settings page.
#
#   scripts/demo.sh BUILD_DIR              interactive: open the printed URL; Ctrl-C stops all
#   scripts/demo.sh BUILD_DIR --headless   drive the whole story without a browser and summarise
#   scripts/demo.sh BUILD_DIR --postgres   (with or without --headless) the same on a throw-away
#                                          PostgreSQL cluster, served by two host processes
set -euo pipefail
build_dir="$(cd "$1" && pwd)"; shift
mode="" postgres=""
for arg in "$@"; do
  case "$arg" in
    --headless) mode="--headless" ;;
    --postgres) postgres=1 ;;
    *) echo "demo: unknown option '$arg' (known: --headless, --postgres)" >&2; exit 2 ;;
  esac
done
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ep-demo-XXXXXX")"
pg_dir="" pg_bindir=""
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "$pg_dir" ]] && bash "$here/../tests/support/pg_test_cluster.sh" stop "$pg_bindir" "$pg_dir"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_stand_in <name> <binary> [flags...]: starts a stand-in (HTTPS, with the test CA generated
# at build time) and sets stand_in_url to the address it listens on.
start_stand_in() {
  local name="$1" binary="$2"; shift 2
  "$build_dir/bin/$binary" --port 0 --tls-dir "$build_dir/sandbox-tls" --quiet "$@" \
    >"$work/$binary.out" 2>"$work/$binary.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^listening on ' "$work/$binary.out" 2>/dev/null && break; sleep 0.1; done
  stand_in_url="$(sed -n 's/^listening on //p' "$work/$binary.out")"
  [[ -n "$stand_in_url" ]] || { echo "demo: the $name stand-in did not start:" >&2; cat "$work/$binary.log" >&2; exit 1; }
}

# with_redirect_uris <stand-in> <clients key> <client id> <uri>...: writes $work/<stand-in>-scenario.json,
# a copy of the stand-in's default scenario in which that client also registers these redirect URIs.
with_redirect_uris() {
  python3 - "$here/../sandboxes/$1/scenarios/default.json" "$work/$1-scenario.json" "${@:2}" <<'PY'
import json
import sys

source, target, clients_key, client_id, *uris = sys.argv[1:]
with open(source) as f:
    scenario = json.load(f)
client = next(c for c in scenario[clients_key] if c["client_id"] == client_id)
client["redirect_uris"] += uris
with open(target, "w") as f:
    json.dump(scenario, f, indent=2)
PY
}

# 1. The hosts' ports come first: Google matches a web client's redirect URI exactly, port
#    included (https://developers.google.com/identity/protocols/oauth2/web-server#uri-validation),
#    so its stand-in must know each host's callback before it starts. Each provider comes back
#    to its own path (/callback/<provider id>), so that sign-ins started in two tabs each reach
#    their own provider.
host_port="$(free_port)"
host_ports=("$host_port")
if [[ -n "$postgres" ]]; then
  second_port="$(free_port)"
  host_ports+=("$second_port")
fi
gmail_callbacks=()
for port in "${host_ports[@]}"; do gmail_callbacks+=("http://127.0.0.1:$port/callback/gmail"); done

# 2. The stand-ins, each on a copy of its default scenario that registers the hosts' callbacks.
#    Microsoft ignores the port of a loopback redirect URI
#    (https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions).
with_redirect_uris microsoft apps 11111111-2222-4333-8444-555555555555 "http://127.0.0.1/callback/outlook"
start_stand_in Microsoft microsoft-sandbox --scenario "$work/microsoft-scenario.json"
microsoft_url="$stand_in_url"
with_redirect_uris google clients 1234567890-recruiting.apps.googleusercontent.com "${gmail_callbacks[@]}"
start_stand_in Google google-sandbox --scenario "$work/google-scenario.json"
google_url="$stand_in_url"

# 3. With --postgres: a throw-away cluster on a Unix socket only (as the postgres user when
#    run as root), removed on exit. The connection string holds no password (trust on a
#    private socket), so the config may name it.
store='{ "path": "host.db" }'
if [[ -n "$postgres" ]]; then
  pg_bindir="$(pg_config --bindir)"
  pg_dir="$(mktemp -u /tmp/ep-demo-pg-XXXXXX)"
  bash "$here/../tests/support/pg_test_cluster.sh" start "$pg_bindir" "$pg_dir" >/dev/null
  store='{ "engine": "postgresql", "outbox_lease_seconds": 30,
             "postgresql": { "conninfo": "host='"$pg_dir"' user=postgres dbname=postgres" } }'
fi

# 4. The host: a fresh token-encryption key (never committed) and a config naming the three
#    providers. Each host's own port is in its redirect URIs: the callback must reach the page
#    that started the sign-in.
openssl rand -hex 32 >"$work/token-key"
write_config() {  # write_config <file> <port>
cat >"$1" <<JSON
{
  "store": $store,
  "log_level": "info",
  "users": [
    { "id": "rita", "display_name": "Rita Recruiter" },
    { "id": "sam", "display_name": "Sam Sourcer" }
  ],
  "web": { "listen_address": "127.0.0.1", "port": $2, "debug_clock": true, "product_name": "Recruiting Nudges",
           "show_developer_providers": true },
  "providers": [
    { "manifest": "$build_dir/manifests/outlook.json",
      "config": {
        "client_id": "11111111-2222-4333-8444-555555555555",
        "authority": "common",
        "endpoints": { "login": "$microsoft_url", "graph": "$microsoft_url/v1.0" },
        "tls": { "ca_file": "$build_dir/sandbox-tls/ca.pem" },
        "redirect_uri": "http://127.0.0.1:$2/callback/outlook",
        "token_encryption": { "active_key": "demo", "keys": [ { "id": "demo", "file": "\${config_dir}/token-key" } ] }
      } },
    { "manifest": "$build_dir/manifests/gmail.json",
      "config": {
        "client_id": "1234567890-recruiting.apps.googleusercontent.com",
        "client_secret": { "file": "$build_dir/sandbox-tls/google-client-secret.txt" },
        "redirect_uri": "http://127.0.0.1:$2/callback/gmail",
        "publishing_status": "production",
        "endpoints": { "accounts": "$google_url", "oauth2": "$google_url", "openidconnect": "$google_url",
                       "googleapis": "$google_url", "gmail": "$google_url" },
        "tls": { "ca_file": "$build_dir/sandbox-tls/ca.pem" },
        "token_encryption": { "active_key": "demo", "keys": [ { "id": "demo", "file": "\${config_dir}/token-key" } ] }
      } },
    { "manifest": "$build_dir/manifests/mock.json",
      "config": { "outbox_dir": "\${config_dir}/mock-outbox", "address": "rita.recruiter@example.com",
                  "display_name": "Rita Recruiter" } }
  ]
}
JSON
}
write_config "$work/host.json" "$host_port"
"$build_dir/bin/host_stub" --config "$work/host.json" serve >"$work/host.out" 2>"$work/host.log" &
host_pid=$!
pids+=("$host_pid")
second_host=""
if [[ -n "$postgres" ]]; then
  # A second host on the same database: it shares the users, tokens and outbox (its page is
  # another door to the same data; sign-in sessions stay with the page that made them).
  mkdir -p "$work/second"
  cp "$work/token-key" "$work/second/token-key"
  write_config "$work/second/host.json" "$second_port"
  "$build_dir/bin/host_stub" --config "$work/second/host.json" serve >"$work/second/host.out" 2>"$work/second/host.log" &
  pids+=($!)
  for _ in $(seq 100); do grep -q '^Settings page: ' "$work/second/host.out" 2>/dev/null && break; sleep 0.1; done
  second_host="$(sed -n 's/^Settings page: //p' "$work/second/host.out")"
  [[ -n "$second_host" ]] || { echo "demo: the second host did not start:" >&2; cat "$work/second/host.log" >&2; exit 1; }
fi
for _ in $(seq 100); do grep -q '^Settings page: ' "$work/host.out" 2>/dev/null && break; sleep 0.1; done
settings_url="$(sed -n 's/^Settings page: //p' "$work/host.out")"
[[ -n "$settings_url" ]] || { echo "demo: the host did not start:" >&2; cat "$work/host.log" >&2; exit 1; }

if [[ "$mode" == "--headless" ]]; then
  [[ -n "$second_host" ]] && echo "demo: two hosts on one PostgreSQL database: $settings_url and $second_host"
  python3 "$here/demo_headless.py" --host "http://127.0.0.1:$host_port" --microsoft "$microsoft_url" \
    --google "$google_url" --ca "$build_dir/sandbox-tls/ca.pem"
  exit $?
fi

cat <<TEXT

  Microsoft stand-in : $microsoft_url
                       sign in as adele@contoso.example (password any); others to try:
                       ben@fabrikam.example (approval required), megan.personal@outlook.com (personal)
  Google stand-in    : $google_url
                       choose grace@gmail.example and Continue; others to try: alan@acme.example
                       (Workspace), bea@strict.example (the admin blocks unverified apps),
                       nomail@gmail.example (Gmail not enabled); untick the Gmail box to see the
                       missing permission
  Settings page      : $settings_url
  Host log           : $work/host.log
${second_host:+  Second host        : $second_host (same PostgreSQL database: $pg_dir)
}
  Open the settings page, sign in as Rita, click Connect on Microsoft Outlook (or on Gmail),
  sign in at the stand-in and accept, choose Email and "Personal Outlook" (or "Personal Gmail"),
  and send a test nudge; switch the email provider and send another. Ctrl-C stops everything.

TEXT
wait "$host_pid"
