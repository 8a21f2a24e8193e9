#!/usr/bin/env bash
# Builds the Debian packages (packaging/Packaging.cmake) from an existing build tree and checks
# them with lintian: fails on any error, prints the warnings (README.md, "Operators").
#
#   scripts/package.sh [BUILD_DIR]     default build/release; the .deb files go to BUILD_DIR/packages
#
# The tree must have been configured with CMAKE_INSTALL_PREFIX=/usr (every preset is) and built:
# cpack installs it, it does not compile.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build/release}"
[[ -f "$build_dir/CPackConfig.cmake" ]] ||
  { echo "package: $build_dir is not a configured build tree (cmake --preset release && cmake --build build/release)" >&2; exit 2; }
prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build_dir/CMakeCache.txt")"
[[ "$prefix" == /usr ]] ||
  { echo "package: $build_dir was configured with CMAKE_INSTALL_PREFIX=$prefix; Debian packages need /usr" >&2; exit 2; }

out="$build_dir/packages"
rm -rf "$out"
cpack --config "$build_dir/CPackConfig.cmake" -B "$out" >"$build_dir/cpack.log" 2>&1 ||
  { cat "$build_dir/cpack.log" >&2; echo "package: cpack failed" >&2; exit 1; }
rm -rf "$out/_CPack_Packages"  # cpack's staging trees
debs=("$out"/*.deb)
for deb in "${debs[@]}"; do printf '%8s  %s\n' "$(du -k "$deb" | cut -f1)K" "$deb"; done

# lintian (Debian's default profile) exits non-zero on errors (its default --fail-on=error) and
# prints errors and warnings; README.md ("Operators") explains each warning these packages draw.
echo "lintian:"
if ! lintian "${debs[@]}"; then
  echo "package: lintian reported errors" >&2
  exit 1
fi
echo "package: ${#debs[@]} packages in $out"
