#!/usr/bin/env bash
# The README's test command: installs missing dependencies, builds everything, runs every test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ILA_BUILD_DIR:-$root/build}
bash "$root/cmake/install-deps.sh"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
set +e
ctest --output-on-failure --timeout 600 "$@" 2>&1 | tee ctest-output.txt
rc=${PIPESTATUS[0]}
set -e
# What could not be tested on this kernel, and why (skipping tests print "ILA_SKIP: <reason>").
awk '/^[0-9]+\/[0-9]+ Testing: / { sub(/^[0-9]+\/[0-9]+ Testing: /, ""); name = $0 }
     /^ILA_SKIP: / {
       sub(/^ILA_SKIP: /, "")
       if (!header++) print "\nSkipped here (`ilactl probe` lists what this kernel has):"
       if (!seen[name]++) print "  " name "\n    because " $0
     }' Testing/Temporary/LastTest.log 2>/dev/null || true
# The totals last, as one plain line.
total=$(sed -n 's/.* tests failed out of \([0-9]*\)$/\1/p' ctest-output.txt | tail -1 || true)
failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of .*/\1/p' ctest-output.txt | tail -1 || true)
skipped=$(grep -c '\*\*\*Skipped' ctest-output.txt || true)
if [ -n "$total" ] && [ -n "$failed" ]; then
  echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$rc"
