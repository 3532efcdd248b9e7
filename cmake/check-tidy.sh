#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy; Debian 12's clang-tidy 14) on the C++ files a change touches, or on
# all of them. Exit 1 naming the files and their findings.
#
#   bash cmake/check-tidy.sh             the files changed since the base (below)
#   bash cmake/check-tidy.sh BASE        ... since BASE, a commit (or ILA_TIDY_BASE=BASE)
#   bash cmake/check-tidy.sh --all       every C++ file of the build
#
# The base: the merge-base with origin/main; when that is HEAD itself (CI's fresh clone of main) or
# there is no origin/main, HEAD~1: the last commit's files. Uncommitted and untracked files count.
# Which files: each changed .cc the build compiles, and for each changed .h of the folders
# .clang-tidy's HeaderFilterRegex names, one .cc that includes it (directly, or through other
# headers): its own foo.cc when the build has one, else the first such .cc in path order. clang-tidy
# reports a header's findings through that .cc. xdp/ and *.bpf.c are BPF C and not checked.
# clang-tidy needs compile_commands.json and the generated headers (the BPF skeletons, etcd's gRPC
# API): this configures the build directory cmake/run-tests.sh uses (ILA_BUILD_DIR, default
# build/) and builds only those. ILA_TIDY_JOBS clang-tidy processes run at once (default: the number of CPUs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${ILA_BUILD_DIR:-$root/build}
jobs=${ILA_TIDY_JOBS:-$(nproc)}
cd "$root"
if ! command -v clang-tidy >/dev/null; then
  echo "check-tidy: clang-tidy is missing (apt-get install clang-tidy)" >&2
  exit 1
fi

all=0
base=${ILA_TIDY_BASE:-}
case "${1:-}" in
  --all) all=1 ;;
  -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
  -*) echo "check-tidy: unknown option $1 (--all, or a base commit)" >&2; exit 2 ;;
  ?*) base=$1 ;;
esac
start=$SECONDS

if [ "$all" = 0 ]; then
  if [ -z "$base" ] && git rev-parse -q --verify origin/main >/dev/null; then
    base=$(git merge-base HEAD origin/main || true)
  fi
  if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
    # A shallow clone (git clone --depth 1) lacks HEAD's parent: fetch it, once.
    if ! git rev-parse -q --verify HEAD~1 >/dev/null &&
       [ "$(git rev-parse --is-shallow-repository)" = true ]; then
      git fetch -q --deepen=1 origin 2>/dev/null || true
    fi
    base=$(git rev-parse -q --verify HEAD~1 || true)
  fi
  if [ -z "$base" ]; then
    echo "check-tidy: HEAD has no parent to compare with; checking every file"
    all=1
  fi
fi
if [ "$all" = 0 ]; then
  if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    echo "check-tidy: no commit $base" >&2
    exit 2
  fi
  changed=$( { git diff --name-only --diff-filter=ACMR "$base" -- '*.cc' '*.h'
               git ls-files --others --exclude-standard -- '*.cc' '*.h'; } | sort -u)
  label="changed since $(git rev-parse --short "$base")"
  if [ -z "$changed" ]; then
    echo "check-tidy: no C++ files $label"
    exit 0
  fi
else
  changed=
  label="in the tree"
fi

# compile_commands.json and the skeleton headers the sources include.
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
if ! { cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
         -DCMAKE_EXPORT_COMPILE_COMMANDS=ON &&
       cmake --build "$build" --target bpf_skeletons ila_etcd_generated -j"$jobs"; } \
       >"$log/setup" 2>&1; then
  cat "$log/setup" >&2
  echo "check-tidy: configuring $build or generating the headers failed" >&2
  exit 1
fi
setup=$((SECONDS - start))

# The files to check (paths relative to the root), chosen as the header says.
files=$(ALL=$all CHANGED=$changed python3 - "$build/compile_commands.json" <<'EOF'
import json, os, re, sys
root = os.path.realpath(os.getcwd())
units = {os.path.relpath(os.path.realpath(e["file"]), root)
         for e in json.load(open(sys.argv[1]))}
units = sorted(u for u in units
               if u.endswith(".cc") and not u.startswith("../") and os.path.exists(u))
if os.environ["ALL"] == "1":
    print("\n".join(units)); sys.exit()
header_dirs = re.compile(r"^(include/ila|lib|tools|examples|bench|testbed|tests)/[^.]*\.h$")
include = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
sources = [f for f in os.popen("git ls-files '*.cc' '*.h'").read().split() if os.path.exists(f)]
quoted = {f: include.findall(open(f, errors="replace").read()) for f in sources}
def includes(f, h):  # does f #include the header h, by its path under an include dir or beside f?
    return any(s == h or ("/" in s and h.endswith("/" + s)) or
               os.path.normpath(os.path.join(os.path.dirname(f), s)) == h for s in quoted[f])
picked, unchecked = [], []
for f in os.environ["CHANGED"].split():
    if f.endswith(".cc"):
        (picked if f in units else unchecked).append(f)
    elif header_dirs.match(f):
        own = f[:-2] + ".cc"
        seen, frontier, unit = {f}, [f], own if own in units else None
        while frontier and not unit:  # breadth first up the include graph to a .cc
            users = [s for s in sources if s not in seen and any(includes(s, h) for h in frontier)]
            unit = next((s for s in users if s in units), None)
            seen.update(users)
            frontier = [s for s in users if s.endswith(".h")]
        if unit:
            picked.append(unit)
            print(f"check-tidy: {f} through {unit}", file=sys.stderr)
        else:
            unchecked.append(f)
for f in unchecked:
    print(f"check-tidy: {f}: not checked (the build does not compile it, nor a file including it)",
          file=sys.stderr)
print("\n".join(sorted(set(picked))))
EOF
)
if [ -z "$files" ]; then
  echo "check-tidy: no C++ files to check $label"
  exit 0
fi
count=$(wc -l <<<"$files")
echo "check-tidy: clang-tidy on $count files $label ($jobs at a time)"
[ "$all" = 1 ] || sed 's/^/  /' <<<"$files"

# One log per file; a file whose clang-tidy fails (a finding, or a compile error) goes in failed.
tr '\n' '\0' <<<"$files" | xargs -0 -P "$jobs" -I{} sh -c '
  out="$2/$(printf %s "$1" | tr / _).log"
  clang-tidy -p "$3" --quiet "$1" >"$out" 2>&1 || echo "$1" >>"$2/failed"' _ {} "$log" "$build"

elapsed=$((SECONDS - start))
if [ -s "$log/failed" ]; then
  sort -o "$log/failed" "$log/failed"
  while IFS= read -r f; do
    echo "---- $f"
    grep -Ev '^[0-9]+ (warnings? (and [0-9]+ errors? )?|errors? )generated\.$' \
      "$log/$(printf %s "$f" | tr / _).log" || true
  done <"$log/failed" >&2
  findings=$(cat "$log"/*.log | grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error): ' | sort -u |
             wc -l)
  echo "check-tidy: $findings findings; clang-tidy failed on" \
       "(run it with: clang-tidy -p $build FILE):" >&2
  sed 's/^/  /' "$log/failed" >&2
  echo "check-tidy: $count files checked in ${elapsed}s (setup ${setup}s)" >&2
  exit 1
fi
echo "check-tidy: $count files clean in ${elapsed}s (setup ${setup}s)"
