#!/usr/bin/env bash
# The whole test suite, as CI runs it (./run.sh test calls this after installing packages):
#
#   0. first, in seconds: every C/C++ file is formatted as .clang-format says (check-format.sh);
#   1. the normal build (dev preset) and every test: unit, integration against the Microsoft
#      stand-in, the fault matrix, crash consistency, security, the Chromium end-to-end test,
#      Microsoft's msal-node and graph-client and Google's google-auth-library and @googleapis/gmail
#      against their stand-ins (conformance), and a smoke
#      run of the load driver; then the whole run's output is searched for every
#      secret the stand-ins issued;
#   2. the Debian packages from that build, without compiling anything (scripts/package.sh: cpack
#      and lintian, which must report no error), extracted into a throw-away root in which the
#      installed host, finding the installed providers by search path, sends a nudge through the
#      installed Outlook provider to the Microsoft stand-in (tests/package/run.sh);
#   3. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (asan preset), but the
#      stand-ins' own unit tests, and with the stand-ins themselves built without the sanitizers
#      (EP_SANITIZE_STAND_INS: the product's side of every exchange stays instrumented);
#   4. the concurrent suites under ThreadSanitizer (tsan preset);
#   5. a short smoke run of every libFuzzer target (fuzz preset, clang).
#
# Every preset builds as a unity build (CMakePresets.json: CMAKE_UNITY_BUILD): a fresh build
# parses the Boost and GoogleTest headers once per batch of files instead of once per file, about
# half the compile time of the host and its tests. For quick incremental work on one file:
# cmake --preset dev -DCMAKE_UNITY_BUILD=OFF.
#
# STAGES="format dev package asan tsan fuzz" (default: all) runs a subset (package needs a built
# build/dev); JOBS sets build parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
stages="${STAGES:-format dev package asan tsan fuzz}"
start=$(date +%s)
timings=()

last_name="" last_at=0
stage() {
  local now=$(( $(date +%s) - start ))
  [[ -n "$last_name" ]] && timings+=("$(printf '%5ss  %s' "$(( now - last_at ))" "$last_name")")
  last_name="$1" last_at=$now
  printf '\n=== %s (%ss elapsed)\n' "$1" "$now"
}

# Runs ctest for a preset; every stand-in appends the secrets it issues to one file, which
# is then searched for in everything the tests printed.
run_tests() {
  local preset="$1"; shift
  local issued="build/$preset/issued-secrets.txt"
  rm -f "$issued"
  SANDBOX_ISSUED_FILE="$PWD/$issued" ctest --preset "$preset" -j "$jobs" --timeout 300 "$@"
  scripts/check-no-secrets.sh "$issued" "build/$preset" "build/$preset/Testing/Temporary" "build/$preset/e2e-artifacts"
  # A provider runner is a child process: a sanitizer report there ends the runner, which the
  # host survives by design, so the test passes. Its report is in the test's output all the same.
  # (Not a deliberate crash: the fault tests' providers segfault and abort on purpose.)
  local memory_bug='ERROR: AddressSanitizer: [a-z-]*(use-after|overflow|free|mismatch|param)|ERROR: LeakSanitizer'
  local race='WARNING: ThreadSanitizer: (data race|lock-order-inversion|heap-use-after-free)'
  if [[ "$preset" == asan || "$preset" == tsan ]] &&
     grep -l -E "$memory_bug|$race|runtime error:" "build/$preset/Testing/Temporary/LastTest.log"; then
    echo "test.sh: a sanitizer reported in a test's output (a provider runner?): see the file above" >&2
    exit 1
  fi
}

# The suites that exercise threads: the plugin's I/O thread, worker pool, single-flight
# refresh and send engine; the host's outbox worker and its store on both engines (the PostgreSQL
# test server starts as a CTest fixture); the mock's worker; the
# settings page's I/O threads and handler pool under a flood and slow callbacks (serve_test);
# the connection checks (the host's sweep thread and the plugin's forced refresh beside sends);
# isolated providers (the runner's reader and workers, the host's reader, pools and supervisor,
# and the channel between them, with faults injected).
concurrent_targets=(ep-provider-runner runner_test isolated_provider_test isolation_test outlook_send_test outlook_connect_test conformance_test host_test mock_provider_test serve_test keep_alive_test outlook_check_test gmail_provider_test outlook_pacing_test threading_test outlook_plugin gmail_plugin mock_provider host_stub manifests)
concurrent_tests='^(OutlookSend|OutlookSendMany|OutlookConnect|Conformance|BothStandInModes|OutboxTest|ReloadTest|Store/StoreTest|MockProviderTest|ServeFloodTest|ServeSlowCallbackTest|ConnectionCheckerTest|KeepAliveTest|OutlookCheck|AtTheStandIn/OutlookCheckRevoked|GmailProviderTest|GmailDailyLimitTest|PacingTest|OutboxPacingWithOutlook|ThreadingTest|RunnerTest|IsolatedProviderTest|IsolationTest|Faults/ChannelFaultTest)\.'

if [[ " $stages " == *" format "* ]]; then
  stage "format: every C/C++ file as .clang-format says"
  scripts/check-format.sh
fi

if [[ " $stages " == *" dev "* ]]; then
  stage "dev: build"
  cmake --preset dev >/dev/null
  cmake --build build/dev -j "$jobs"
  stage "dev: all tests"
  run_tests dev
fi

if [[ " $stages " == *" package "* ]]; then
  stage "package: .deb files from build/dev, lintian, a nudge through the packages in a throw-away root"
  scripts/package.sh build/dev
  tests/package/run.sh build/dev
fi

if [[ " $stages " == *" asan "* ]]; then
  stage "asan+ubsan: build"
  cmake --preset asan >/dev/null
  cmake --build build/asan -j "$jobs"
  stage "asan+ubsan: all tests (but the browser test, which runs no C++ of its own)"
  run_tests asan -LE e2e
fi

if [[ " $stages " == *" tsan "* ]]; then
  stage "tsan: build the concurrent suites"
  cmake --preset tsan >/dev/null
  cmake --build build/tsan -j "$jobs" --target "${concurrent_targets[@]}"
  stage "tsan: concurrent suites"
  # Not here: the JS suites (no concurrent C++ of their own), and the runner test that drives the
  # C example provider, whose C11 threads GCC 12's TSan cannot follow (glibc's thrd_create
  # bypasses the pthread_create it intercepts: the runner crashes inside TSan's runtime).
  run_tests tsan -R "$concurrent_tests" \
    -E "^(Conformance\.(MsalNodeAndGraphClient|GoogleAuthAndGmail)|RunnerTest\.EverySendsDoneFollowsItsResponse)$"
fi

if [[ " $stages " == *" fuzz "* ]]; then
  stage "fuzz: build and a 5 s smoke run of every target"
  scripts/fuzz.sh 5
fi

stage "done"
printf '\nStage durations (total %ss):\n' "$(( $(date +%s) - start ))"
printf '  %s\n' "${timings[@]}"
