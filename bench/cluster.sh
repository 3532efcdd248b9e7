#!/usr/bin/env bash
# The cluster benchmarks: builds ila_bench_cluster (bench/cluster_bench.cc), ila-agent and
# ila_bench_cluster_fanout (bench/cluster_fanout_bench.cc), runs them, and writes DIR/cluster.json
# and DIR/cluster_fanout.json (default DIR: build/bench-results).
#
#   bash bench/cluster.sh [--quick] [--out DIR] [--build DIR] [--no-build]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
OUT=""
QUICK=()
DO_BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=(--quick) ;;
    --out) OUT="$2"; shift ;;
    --build) BUILD="$2"; shift ;;
    --no-build) DO_BUILD=0 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
OUT=${OUT:-$BUILD/bench-results}
if [ "$(id -u)" != 0 ]; then
  echo "ILA_SKIP: the cluster benchmarks load XDP programs and create namespaces: run as root"
  exit 0
fi
if [ $DO_BUILD = 1 ]; then
  bash "$ROOT/cmake/install-deps.sh"
  cmake -S "$ROOT" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target ila_bench_cluster ila_bench_cluster_fanout >/dev/null
fi
mkdir -p "$OUT"
"$BUILD/bench/ila_bench_cluster" "${QUICK[@]}" --out "$OUT/cluster.json"
exec "$BUILD/bench/ila_bench_cluster_fanout" "${QUICK[@]}" --out "$OUT/cluster_fanout.json"
