#!/usr/bin/env bash
# The second CI build: the library, ilactl and the unit, packet, tools and fuzz tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer (-DILA_SANITIZE=address,undefined), then run.
# Any report fails the run (-fno-sanitize-recover, halt_on_error). The e2e tests and the
# benchmarks are left to the plain build: they measure real traffic and time, which the
# sanitizers' slowdown would only blur. Build directory: $ILA_SANITIZE_BUILD_DIR (default
# build-sanitize/).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ILA_SANITIZE_BUILD_DIR:-$root/build-sanitize}
start=$(date +%s)
# Warnings are the plain build's business: GCC's flow analysis under the sanitizers reports
# "maybe uninitialized" inside libstdc++ itself (std::regex, std::function), so not -Werror here.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DILA_SANITIZE=address,undefined \
  -DILA_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target sanitized_tests
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd "$build"
set +e
ctest --output-on-failure --timeout 600 -j"$(nproc)" -L '^(unit|packet|tools|fuzz)$' 2>&1 |
  tee ctest-sanitized-output.txt
rc=${PIPESTATUS[0]}
set -e
echo "sanitized tests (address, undefined): $(tail -n 30 ctest-sanitized-output.txt |
  sed -n 's/^\(.*tests passed.*\)$/\1/p') in $(($(date +%s) - start)) s"
exit "$rc"
