# Shared by the Node.js tests' run.sh scripts (tests/e2e, tests/conformance); sourced, not run.
#
#   node_test_require NAME "missing thing" ...   fail clearly (never skip) unless node >= 20, npm
#                                                and the listed extra requirements are there
#   node_test_install DIR                        npm ci from DIR's lock file when node_modules is
#                                                missing or older than the lock

# Each extra argument is a description of something the caller found missing.
node_test_require() {
  local name="$1"; shift
  local missing=("$@")
  command -v node >/dev/null || missing+=("node (Debian package nodejs, version 20 or later)")
  command -v npm >/dev/null || missing+=("npm (Debian package npm)")
  if (( ${#missing[@]} )); then
    echo "$name FAILED: the test cannot run, missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    echo "Install them (scripts/install-deps.sh --with-test-tools) and run again." >&2
    exit 1
  fi
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  (( node_major >= 20 )) || { echo "$name FAILED: node $(node --version) is too old, 20 or later is needed" >&2; exit 1; }
}

# The flock serialises several presets' ctest runs that share one node_modules.
node_test_install() {
  local dir="$1"
  (
    cd "$dir"
    flock 9
    if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
      echo "$(basename "$dir"): installing test dependencies (npm ci)"
      npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
    fi
  ) 9>"${TMPDIR:-/tmp}/ep-npm-$(printf %s "$dir" | sha1sum | cut -c1-12).lock"
}
