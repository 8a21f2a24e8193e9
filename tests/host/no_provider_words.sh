#!/usr/bin/env bash
# The host knows no provider (issue 17): no provider's name or wording in its sources, nor in
# its --help. What a page or the CLI says about a provider comes from the provider's documents.
#
#   no_provider_words.sh SOURCE_DIR HOST_STUB_BINARY
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 SOURCE_DIR HOST_STUB_BINARY" >&2; exit 2; }
src=$1 bin=$2
words='\b(microsoft|outlook|entra|azure|aadsts[0-9]*|graph|msal|office ?365|hotmail|myapps|live\.com|onmicrosoft)\b'

# The pattern itself must catch what it is for, or a typo would make this test pass forever.
for sample in 'Microsoft Entra admin center' 'AADSTS90095' 'Microsoft Graph' 'https://myapps.microsoft.com'; do
  grep -qiE "$words" <<<"$sample" || { echo "FAIL: the pattern misses \"$sample\"" >&2; exit 1; }
done

found=0
if grep -rnIiE "$words" "$src"; then
  echo "FAIL: provider words in $src (above): move them into the provider's documents" >&2
  found=1
fi
help=$("$bin" --help)
if grep -niE "$words" <<<"$help"; then
  echo "FAIL: provider words in host_stub --help (above)" >&2
  found=1
fi
[[ $found -eq 0 ]] && echo "no provider words in $src or in host_stub --help"
exit $found
