#!/usr/bin/env bash
# Checks that every C and C++ file the repository tracks is formatted as .clang-format says
# (clang-format from Debian 12; `clang-format -i FILE` fixes one). Exit 1 naming the files.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v clang-format >/dev/null || { echo "check-format: clang-format is missing (apt-get install clang-format)" >&2; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.cc' '*.h' | grep -v '^tests/data/')
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: not formatted as .clang-format says (fix with clang-format -i):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "check-format: $(git ls-files '*.c' '*.cc' '*.h' | grep -vc '^tests/data/') files formatted"
