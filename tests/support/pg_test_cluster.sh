#!/usr/bin/env bash
# The PostgreSQL server the test suites share (a CTest fixture, tests/CMakeLists.txt):
#   pg_test_cluster.sh start <bindir> <dir>   initdb into <dir>/data, listen on a Unix socket in <dir> only
#   pg_test_cluster.sh stop  <bindir> <dir>   stop it and remove <dir>
# As root (CI), initdb and the server run as the `postgres` user: initdb refuses root.
# Settings as in support/pg_cluster.cpp, which starts the same kind of server for a test run by hand.
set -euo pipefail
action="$1" bindir="$2" dir="$3"
as_server_user=()
[[ $(id -u) -eq 0 ]] && as_server_user=(runuser -u postgres --)

case "$action" in
  start)
    [[ -x "$bindir/initdb" ]] || { echo "pg_test_cluster: no initdb in '$bindir': scripts/install-deps.sh installs postgresql" >&2; exit 1; }
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      "${as_server_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 700 "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    "${as_server_user[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
    "${as_server_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-k $dir -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=300" start >/dev/null
    echo "pg_test_cluster: PostgreSQL test server on the socket in $dir"
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      "${as_server_user[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: pg_test_cluster.sh start|stop <bindir> <dir>" >&2
    exit 2
    ;;
esac
