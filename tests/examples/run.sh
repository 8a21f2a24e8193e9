#!/usr/bin/env bash
# The SDK as a third party gets it (examples/README.md): install this build to a temporary
# prefix, build the examples out of tree against it (the CMake package, and pkg-config for a
# plain C build), then load each example in the reference host and send through it, and run
# the Python host against each. Any failure fails the test.
#
#   run.sh <build dir> <source dir> <host_stub> <C compiler> <C++ compiler>
set -euo pipefail
build=$1 src=$2 host_stub=$3 cc=$4 cxx=$5
work="$build/examples-test"
prefix="$work/prefix"
rm -rf "$work"
mkdir -p "$work"

echo "== cmake --install $build --prefix $prefix --component dev"
cmake --install "$build" --prefix "$prefix" --component dev >/dev/null
# The build's libdir: lib/<triplet> when it was configured for /usr (the presets), else lib.
sdk_libdir="$(dirname "$(find "$prefix" -name email-provider.pc -path '*/pkgconfig/*')")/.."

for example in c_provider:C:$cc cpp_provider:CXX:$cxx; do
  IFS=: read -r example lang compiler <<<"$example"
  echo "== examples/$example: find_package(EmailProvider) from the prefix, build, install"
  cmake -S "$src/examples/$example" -B "$work/$example" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
        -DCMAKE_"$lang"_COMPILER="$compiler" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
  cmake --build "$work/$example"
  cmake --install "$work/$example" >/dev/null
done

echo "== examples/c_provider with pkg-config only (no CMake)"
export PKG_CONFIG_PATH="$sdk_libdir/pkgconfig"
# shellcheck disable=SC2046  # the flags are meant to split
"$cc" -std=c11 -pedantic -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden $(pkg-config --cflags email-provider) \
      "$src/examples/c_provider/c_provider.c" -o "$work/libc_provider_pkgconfig.so" \
      -Wl,--version-script="$(pkg-config --variable=plugin_exports_map email-provider)" -Wl,-z,defs

manifests="$prefix/share/email-provider/providers.d"
plugins="$prefix/lib/email-provider/providers"
for lib in "$plugins/libc_provider.so" "$plugins/libcpp_provider.so" "$work/libc_provider_pkgconfig.so"; do
  exported=$(nm -D --defined-only "$lib" | awk '{print $3}')
  [[ "$exported" == "ep_negotiate" ]] || { echo "FAIL: $lib exports: $exported"; exit 1; }
done

echo "== the reference host finds both by id in the installed providers.d and sends through each"
cat > "$work/host.json" <<JSON
{"store": {"path": "host.db"}, "log_level": "warn",
 "providers": [{"id": "c_example", "config": {}}, {"id": "cpp_example", "config": {}}]}
JSON
export EP_PROVIDER_PATH="$manifests"
for id in c_example cpp_example; do
  "$host_stub" --config "$work/host.json" connect --provider "$id" --account rita
  out=$("$host_stub" --config "$work/host.json" --json send --provider "$id" --account rita \
        --to bob@example.org --subject "From $id" --text "Hello.")
  echo "$out"
  grep -q '"outcome":"sent"' <<<"$out" || { echo "FAIL: $id did not send"; exit 1; }
done

echo "== the Python host (ctypes) loads each and sends"
for id in c_example cpp_example; do
  python3 "$src/examples/python_host/host.py" "$manifests/$id.json"
done
echo "PASS"
