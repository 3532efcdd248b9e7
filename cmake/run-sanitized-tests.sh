#!/usr/bin/env bash
# The second CI build: the library, ilactl and the unit, packet, tools and fuzz tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer (-DILA_SANITIZE=address,undefined), then run.
# Any report fails the run (-fno-sanitize-recover, halt_on_error). The e2e tests and the
# benchmarks are left to the plain build: they measure real traffic and time, which the
# sanitizers' slowdown would only blur. Build directory: $ILA_SANITIZE_BUILD_DIR (default
# build-sanitize/); $ILA_SANITIZE_JOBS compiles and tests run at once (default: the CPUs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ILA_SANITIZE_BUILD_DIR:-$root/build-sanitize}
jobs=${ILA_SANITIZE_JOBS:-$(nproc)}
start=$(date +%s)
# -O1, as the sanitizers' documentation advises: under them GCC takes about twice as long at -O2
# (ilactl_test.cc: 100 s against 60), and the build is most of this run's time.
# Warnings are the plain build's business: GCC's flow analysis under the sanitizers reports
# "maybe uninitialized" inside libstdc++ itself (std::regex, std::function), so not -Werror here.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DILA_SANITIZE=address,undefined -DILA_WERROR=OFF >/dev/null
cmake --build "$build" -j"$jobs" --target sanitized_tests
built=$(date +%s)
# exitcode=66: a sanitized child process (ilactl under ilactl_test) that dies of a report is not
# taken for one that exits 1 on bad input. Stack use after return and initialization order are
# checked too (ASan leaves them off by default).
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=66:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=66
cd "$build"
set +e
ctest --output-on-failure --timeout 600 -j"$jobs" -L '^(unit|packet|tools|fuzz)$' 2>&1 |
  tee ctest-sanitized-output.txt
rc=${PIPESTATUS[0]}
set -e
# Every report in the tests' whole output, also one from a process whose failure a test let pass.
reports=$(grep -cE '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' \
  Testing/Temporary/LastTest.log || true)
if [ "$reports" -gt 0 ]; then
  echo "sanitizer reports (Testing/Temporary/LastTest.log):"
  grep -E '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' Testing/Temporary/LastTest.log
  [ "$rc" -ne 0 ] || rc=1
fi
echo "sanitized tests (address, undefined): $(tail -n 30 ctest-sanitized-output.txt |
  sed -n 's/^\(.*tests passed.*\)$/\1/p') in $(($(date +%s) - start)) s" \
  "(build $((built - start)) s, tests $(($(date +%s) - built)) s)"
exit "$rc"
