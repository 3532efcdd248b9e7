#!/usr/bin/env bash
# The README's demo command: installs missing dependencies, builds, and runs the demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ILA_BUILD_DIR:-$root/build}
bash "$root/cmake/install-deps.sh"
if [ "$(id -u)" != 0 ]; then
  echo "run-demo: the demo loads XDP programs and creates network namespaces: run it as root" >&2
  exit 1
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target ila_demo
exec "$build/examples/ila_demo" "$@"
