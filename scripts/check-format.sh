#!/usr/bin/env bash
# Refuses C and C++ files that clang-format would change (.clang-format: 4 spaces, 120 columns).
#
#   scripts/check-format.sh            every tracked C/C++ file (what CI runs)
#   scripts/check-format.sh --fix      rewrites them in place instead
#
# Left as they are, on purpose: the released ABI header and the frozen copies of earlier
# releases (tests/abi/frozen/), whose text is their identity (plugin_api/abi.sha256 records the
# header's hash; the frozen copies stay byte-for-byte what was released); and the layout guard
# that plugin_api/tools/abi_layout.py generates and compares as text (tests/abi/ep_abi_layout.h).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format="${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}"
if [[ -z "$clang_format" ]]; then
  echo "check-format: clang-format-14 is missing (scripts/install-deps.sh --with-test-tools installs it)" >&2
  exit 1
fi

mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' |
                     grep -v -e '^tests/abi/frozen/' -e '^plugin_api/include/email_provider/ep_abi\.h$' \
                           -e '^tests/abi/ep_abi_layout\.h$')

if [[ "${1:-}" == "--fix" ]]; then
  "$clang_format" -i "${files[@]}"
  exit 0
fi

# One clang-format run for every file; --Werror names each file that would change.
mapfile -t unformatted < <("$clang_format" --dry-run --Werror "${files[@]}" 2>&1 |
                           sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u)
if (( ${#unformatted[@]} > 0 )); then
  echo "check-format: ${#unformatted[@]} file(s) are not formatted as .clang-format says:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  echo "check-format: run scripts/check-format.sh --fix (clang-format 14), then commit" >&2
  exit 1
fi
# One header-guard style: #pragma once (the released C header keeps its #ifndef guard, above).
mapfile -t unguarded < <(printf '%s\n' "${files[@]}" | grep -E '\.(h|hpp)$' | xargs grep -L '^#pragma once$' || true)
if (( ${#unguarded[@]} > 0 )); then
  echo "check-format: header(s) without '#pragma once':" >&2
  printf '  %s\n' "${unguarded[@]}" >&2
  exit 1
fi
echo "check-format: ${#files[@]} C/C++ files formatted, every header guarded by #pragma once"
