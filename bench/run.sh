#!/usr/bin/env bash
# libila's benchmark suite, one command: builds ila_bench, runs every group with a progress
# display, and writes the report.
#
#   bash bench/run.sh            # full suite (under 15 minutes on 2 cores)
#   bash bench/run.sh --quick    # smaller tables and fewer iterations (under 2 minutes)
#
# Options: --out DIR (default build/bench-results, or build/bench-results-quick), --build DIR
# (default build/), --no-build (use the ila_bench already built), --groups "cost live ..." (a
# subset of: check cost live compare tcp scale control).
#
# Writes DIR/results.json (every figure, the ratios, the targets, the machine), DIR/report.md
# (the tables), DIR/performance.png (packets/s per method; cost against table size; needs
# python3-matplotlib) and DIR/raw/*.json (Google Benchmark's own output), DIR/run.log.
# Needs root (BPF, network namespaces): without it, says why and exits 0 having measured nothing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
OUT=""
QUICK=0
DO_BUILD=1
GROUPS_WANTED="check cost live compare tcp scale control"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --out) OUT="$2"; shift ;;
    --build) BUILD="$2"; shift ;;
    --no-build) DO_BUILD=0 ;;
    --groups) GROUPS_WANTED="$2"; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$OUT" ]; then
  if [ $QUICK = 1 ]; then OUT="$BUILD/bench-results-quick"; else OUT="$BUILD/bench-results"; fi
fi
QFLAG=()
[ $QUICK = 1 ] && QFLAG=(--quick)

START=$(date +%s)
# Ctrl-C reaches ila_bench too, which stops at its next iteration and tears its namespaces down;
# then stop here rather than start the next group.
INTERRUPTED=0
trap 'INTERRUPTED=1' INT TERM
elapsed() { echo "$(( $(date +%s) - START ))s"; }

if [ $DO_BUILD = 1 ]; then
  if [ "$(id -u)" = 0 ]; then bash "$ROOT/cmake/install-deps.sh"; fi
  echo "== building ila_bench ($(elapsed))"
  cmake -S "$ROOT" -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target ila_bench >/dev/null
fi
BIN="$BUILD/bench/ila_bench"
[ -x "$BIN" ] || { echo "run.sh: $BIN is missing (build it, or drop --no-build)" >&2; exit 1; }

probe="$("$BIN" "${QFLAG[@]}" --benchmark_list_tests=true 2>&1 || true)"
if grep -q '^ILA_SKIP: ' <<<"$probe"; then
  grep '^ILA_SKIP: ' <<<"$probe"
  exit 0
fi

rm -rf "$OUT/raw"
mkdir -p "$OUT/raw"
LOG="$OUT/run.log"
: >"$LOG"

# The runs, in order: "name filter repetitions". Repeated groups interleave their repetitions at
# random (--benchmark_enable_random_interleaving), so that a slow phase of a shared machine does not
# land on one benchmark; each scale size is its own process (its table is built once).
REPS=3
[ $QUICK = 1 ] && REPS=1
SIZES="1 1000 100000 1000000"
[ $QUICK = 1 ] && SIZES="1 1000 100000"
RUNS=()
for g in $GROUPS_WANTED; do
  case "$g" in
    check) RUNS+=("check ^check/ 1") ;;
    cost) RUNS+=("cost ^cost/ $REPS") ;;
    live) RUNS+=("live ^live/ 1") ;;  # interleaves its methods itself
    compare) RUNS+=("compare ^compare/ 1") ;;  # likewise
    tcp) RUNS+=("tcp ^tcp/ 1") ;;  # repeats and rotates its methods itself
    scale) for n in $SIZES; do RUNS+=("scale-$n ^scale/$n/ $REPS"); done ;;
    control) RUNS+=("control ^control/ 1") ;;
    *) echo "run.sh: unknown group $g" >&2; exit 2 ;;
  esac
done
TOTAL=0
for r in "${RUNS[@]}"; do
  read -r name filter reps <<<"$r"
  n=$("$BIN" "${QFLAG[@]}" --benchmark_list_tests=true --benchmark_filter="$filter" | grep -c . || true)
  TOTAL=$((TOTAL + n * reps))
done

echo "== libila benchmark suite ($([ $QUICK = 1 ] && echo quick || echo full)): $TOTAL runs -> $OUT"
DONE=0
STATUS=0
i=0
for r in "${RUNS[@]}"; do
  read -r name filter reps <<<"$r"
  i=$((i + 1))
  echo "== [$i/${#RUNS[@]}] $name ($(elapsed) elapsed)"
  extra=()
  if [ "$reps" -gt 1 ]; then
    extra=(--benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true)
  fi
  # Google Benchmark's console output goes to the log; ila_bench's own one line per finished run
  # (stderr) drives the progress display.
  set +e
  "$BIN" "${QFLAG[@]}" --benchmark_filter="$filter" "${extra[@]}" \
      --benchmark_out="$OUT/raw/$name.json" --benchmark_out_format=json 2>&1 >>"$LOG" \
    | tee -a "$LOG" \
    | awk -v done="$DONE" -v total="$TOTAL" -v start="$START" '
        /^ila_bench: done / {
          done++
          cmd = "date +%s"; cmd | getline now; close(cmd)
          line = $0; sub(/^ila_bench: done /, "", line)
          printf "  [%d/%d %4ds] %s\n", done, total, now - start, line
          fflush()
          next
        }
        /^ila_bench: |rror|ILA_SKIP/ { print "  " $0; fflush() }'
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" != 0 ]; then
    echo "run.sh: ila_bench failed in $name (exit $rc); see $LOG" >&2
    STATUS=1
  fi
  if [ -f "$OUT/raw/$name.json" ]; then
    grep -o '"error_message": "[^"]*"' "$OUT/raw/$name.json" | sort | uniq -c \
      | sed -e 's/^ *[0-9]* "error_message": "not measured here: /  NOT MEASURED HERE: /' \
            -e 's/^\( *[0-9]* "error_message"\)/  ERROR \1/' || true
  fi
  n=$(grep -c '"run_type": "iteration"' "$OUT/raw/$name.json" 2>/dev/null || true)
  DONE=$((DONE + ${n:-0}))
  if [ "$INTERRUPTED" = 1 ]; then
    echo "run.sh: interrupted" >&2
    exit 130
  fi
done

echo "== report ($(elapsed) elapsed)"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
"$PY" "$ROOT/bench/report.py" --raw "$OUT/raw" --out "$OUT" || STATUS=1
echo "== done in $(elapsed): $OUT/results.json $OUT/report.md $( [ -f "$OUT/performance.png" ] && echo "$OUT/performance.png")"
exit $STATUS
