#!/usr/bin/env bash
# Searches test output for every secret the stand-ins (Microsoft's and Google's) issued during
# the run (written one per line to SANDBOX_ISSUED_FILE by the stand-ins) and for the build's
# generated client secrets. Prints counts and file names only, never a secret.
#
#   scripts/check-no-secrets.sh ISSUED_FILE BUILD_DIR FILE_OR_DIR...
set -euo pipefail
issued="$1"; build_dir="$2"; shift 2

patterns="$(mktemp)"
trap 'rm -f "$patterns"' EXIT
[[ -f "$issued" ]] && grep -v '^$' "$issued" | sort -u >"$patterns" || true
for f in "$build_dir"/sandbox-tls/{client-secret,expired-client-secret,google-client-secret}.txt; do
  [[ -f "$f" ]] && head -n1 "$f" >>"$patterns"
done
count=$(wc -l <"$patterns")
if [[ "$count" -lt 10 ]]; then
  echo "check-no-secrets: only $count secrets recorded: the stand-ins did not write $issued" >&2
  exit 1
fi

files=()
for target in "$@"; do
  [[ -e "$target" ]] || continue
  if [[ -d "$target" ]]; then
    while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$target" -type f \( -name '*.log' -o -name '*.txt' -o -name '*.out' -o -name '*.json' -o -name '*.db' -o -name '*.db-wal' \) -print0)
  else
    files+=("$target")
  fi
done

leaks=0
for f in "${files[@]}"; do
  [[ "$f" == "$issued" ]] && continue
  if hits=$(grep -c -F -f "$patterns" -- "$f" 2>/dev/null) && [[ "$hits" -gt 0 ]]; then
    echo "check-no-secrets: $hits line(s) of $f contain an issued secret" >&2
    leaks=$((leaks + hits))
  fi
done
echo "check-no-secrets: $count secrets searched for in ${#files[@]} files: $leaks found"
[[ "$leaks" -eq 0 ]]
