#!/usr/bin/env bash
# compare.sh [DUMP [ADDR]]: dumpscope side by side with SOS (dotnet-dump analyze) and ClrMD on
# the same dump, whole processes, page cache warm. Opt-in (not part of the test suite): figures
# are printed, never asserted.
#
# Each operation is timed RUNS times (default 3), the tools alternating within a round and their
# order rotating between rounds; the table gives the median wall time, the median peak RSS
# (/usr/bin/time -v "Maximum resident set size") and the ratios to dumpscope. Before timing, the
# three histograms must agree (objects and bytes), or the script stops.
#
#   DUMP      default: the big fixture (build/fixtures/current/big-wks-heap.dmp)
#   ADDR      the object of the root-path rows; default: the big fixture's last node (its truth)
#   RUNS=N    rounds (default 3); SOS verifyheap runs VERIFY_RUNS times (default 1: it is slow)
#   BASELINE=PATH   another dumpscope binary (e.g. main's) timed beside this one on the index build
#                   and the first root path
#   ROWS=REGEX      time only the operations whose name matches (grep -E), e.g. ROWS='^first root
#
# Installs into build/bench: dotnet-dump 10.0.750501 (a dotnet tool from the NuGet feed) and
# tests/bench/ClrmdBench (ClrMD 4.1.745802, pinned as tests/oracle pins it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
runs="${RUNS:-3}"
verify_runs="${VERIFY_RUNS:-1}"
bench="$PWD/build/bench"
mkdir -p "$bench"

cmake --preset release >/dev/null
cmake --build --preset release --target dumpscope >/dev/null
cli="$PWD/build/release/server/dumpscope"

dump="${1:-$PWD/build/fixtures/current/big-wks-heap.dmp}"
if [ ! -f "$dump" ]; then
  bash tests/scenarios/make-fixtures.sh build/fixtures --big
fi
addr="${2:-}"
if [ -z "$addr" ]; then
  truth="$(dirname "$dump")/$(basename "$dump" | sed 's/-\(heap\|full\)\.dmp$//').truth.json"
  addr="$(python3 -c 'import json,sys; print(next(m["address"] for m in json.load(open(sys.argv[1]))["markers"] if m["name"] == "big.node.last"))' "$truth")"
fi

# the tools
if [ ! -x "$bench/tools/dotnet-dump" ]; then
  dotnet tool install dotnet-dump --version 10.0.750501 --tool-path "$bench/tools" >"$bench/tool-install.log" 2>&1 ||
    { echo "compare.sh: cannot install dotnet-dump (log: $bench/tool-install.log)" >&2; exit 1; }
fi
sos="$bench/tools/dotnet-dump"
proj="$PWD/tests/bench/ClrmdBench/ClrmdBench.csproj"
clrmd_dll="$bench/clrmd/bin/ClrmdBench/release/ClrmdBench.dll"
if [ ! -f "$clrmd_dll" ] || [ -n "$(find "$(dirname "$proj")" -newer "$clrmd_dll" -type f -name '*.cs*' -print -quit)" ]; then
  { dotnet restore "$proj" --artifacts-path "$bench/clrmd" && dotnet build "$proj" -c Release --no-restore \
      --artifacts-path "$bench/clrmd"; } >"$bench/clrmd-build.log" 2>&1 ||
    { echo "compare.sh: cannot build ClrmdBench (log: $bench/clrmd-build.log)" >&2; exit 1; }
fi
dac="$("$cli" info "$dump" --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["dac_path"])')"

work="$(mktemp -d "$bench/run.XXXXXX")"
trap 'rm -rf "$work"' EXIT
index="$work/bench.dsindex"
cat "$dump" >/dev/null # into the page cache

# the commands: ROW TOOL -> command line ("-" where a tool has no equivalent)
declare -A cmd
cmd[histogram,dumpscope]="$cli heapstat $dump"
cmd[histogram,sos]="$sos analyze $dump -c 'dumpheap -stat' -c exit"
cmd[histogram,clrmd]="dotnet $clrmd_dll histogram $dump $dac"
cmd[verify,dumpscope]="$cli verify $dump"
cmd[verify,sos]="$sos analyze $dump -c verifyheap -c exit"
cmd[verify,clrmd]="dotnet $clrmd_dll verify $dump $dac"
# ROW TOOL -> what runs untimed before each timed run: removing an index left by an earlier run.
# Unlinking an 832 MB file is the kernel freeing its page cache (about 0.25 s here), which is no
# part of building an index for a new dump nor of answering without one.
declare -A prep
cmd[index build,dumpscope]="$cli index $dump --index $index"
prep[index build,dumpscope]="rm -f $index"
cmd[first root path (no index),dumpscope]="$cli roots $dump $addr --index $index"
prep[first root path (no index),dumpscope]="rm -f $index"
cmd[first root path (no index),sos]="$sos analyze $dump -c 'gcroot $addr' -c exit"
cmd[first root path (no index),clrmd]="dotnet $clrmd_dll gcroot $dump $dac $addr"
cmd[root path (index built),dumpscope]="$cli roots $dump $addr --index $index"
cmd[roots --all (index built),dumpscope]="$cli roots $dump $addr --all --index $index"
cmd[roots --all (index built),clrmd]="dotnet $clrmd_dll roots-all $dump $dac $addr"
cmd[deadlocks (index built),dumpscope]="$cli deadlocks $dump --index $index"
cmd[deadlocks (index built),sos]="$sos analyze $dump -c syncblk -c exit"
cmd[deadlocks (index built),clrmd]="dotnet $clrmd_dll syncblk $dump $dac"
if [ -n "${BASELINE:-}" ]; then
  cmd[index build,baseline]="$BASELINE index $dump --index $work/baseline.dsindex"
  prep[index build,baseline]="rm -f $work/baseline.dsindex"
  cmd[first root path (no index),baseline]="$BASELINE roots $dump $addr --index $work/baseline-search.dsindex"
  prep[first root path (no index),baseline]="rm -f $work/baseline-search.dsindex"
fi
rows=("histogram" "verify" "index build" "first root path (no index)" "root path (index built)"
      "roots --all (index built)" "deadlocks (index built)")
tools=(dumpscope sos clrmd baseline)
if [ -n "${ROWS:-}" ]; then
  selected=()
  for row in "${rows[@]}"; do
    if grep -qE -- "$ROWS" <<<"$row"; then selected+=("$row"); fi
  done
  [ "${#selected[@]}" -gt 0 ] || { echo "compare.sh: no operation matches ROWS=$ROWS" >&2; exit 2; }
  rows=("${selected[@]}")
fi

# the histograms agree before anything is timed
totals() { grep -E '^Total' | tr -d ',' | sed -n 's/^Total \([0-9]*\) objects \([0-9]*\) bytes.*/\1 \2/p'; }
ours="$(eval "${cmd[histogram,dumpscope]}" 2>/dev/null | totals)"
theirs_sos="$(eval "${cmd[histogram,sos]}" 2>/dev/null | totals)"
theirs_clrmd="$(eval "${cmd[histogram,clrmd]}" 2>/dev/null | totals)"
echo "histograms (objects bytes): dumpscope $ours; SOS $theirs_sos; ClrMD $theirs_clrmd"
if [ -z "$ours" ] || [ "$ours" != "$theirs_sos" ] || [ "$ours" != "$theirs_clrmd" ]; then
  echo "compare.sh: the histograms disagree: not timing anything" >&2
  exit 1
fi
eval "${cmd[index build,dumpscope]}" >/dev/null 2>&1 # the rows "(index built)" need it

# one timed run: appends "ROW|TOOL|seconds|peak KB" to $work/times
time_one() {
  local row="$1" tool="$2"
  local out="$work/time.out"
  [ -z "${prep[$row,$tool]:-}" ] || eval "${prep[$row,$tool]}"
  if ! /usr/bin/time -v -o "$out" bash -c "${cmd[$row,$tool]}" >/dev/null 2>"$work/last.err"; then
    echo "compare.sh: $tool failed on '$row' (see below)" >&2
    tail -3 "$work/last.err" >&2
  fi
  local wall rss
  wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out" |
          awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')"
  rss="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out")"
  echo "$row|$tool|$wall|$rss" >>"$work/times"
  # the "(index built)" rows need the index again after a run that removed it
  [ -f "$index" ] || eval "${cmd[index build,dumpscope]}" >/dev/null 2>&1
}

: >"$work/times"
for round in $(seq 1 "$runs"); do
  echo "round $round of $runs ..." >&2
  for row in "${rows[@]}"; do
    order=("${tools[@]:$((round % 4))}" "${tools[@]:0:$((round % 4))}") # rotate the order
    for tool in "${order[@]}"; do
      [ -n "${cmd[$row,$tool]:-}" ] || continue
      if [ "$row,$tool" = "verify,sos" ] && [ "$round" -gt "$verify_runs" ]; then continue; fi
      time_one "$row" "$tool"
    done
  done
done

# medians and ratios
python3 - "$work/times" "$runs" "$(nproc)" "$(free -g | awk '/^Mem:/ {print $2}')" "$dump" <<'EOF'
import statistics, sys
times, runs, cores, mem_gb, dump = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
data = {}
for line in open(times):
    row, tool, wall, rss = line.rstrip("\n").split("|")
    data.setdefault(row, {}).setdefault(tool, []).append((float(wall), int(rss)))
names = {"dumpscope": "dumpscope", "baseline": "baseline", "sos": "SOS (dotnet-dump)", "clrmd": "ClrMD"}
print(f"\ndump {dump}; {cores} cores, {mem_gb} GB; medians of {runs} runs (wall s, peak RSS MB)\n")
print("| operation | dumpscope | SOS (dotnet-dump) | ClrMD | SOS / dumpscope | ClrMD / dumpscope |")
print("|---|---|---|---|---|---|")
for row, tools in data.items():
    def cell(tool):
        if tool not in tools:
            return "-", None
        wall = statistics.median(w for w, _ in tools[tool])
        rss = statistics.median(r for _, r in tools[tool]) / 1024
        n = len(tools[tool])
        return f"{wall:.2f} s, {rss:.0f} MB" + (f" ({n} run)" if n == 1 and int(runs) > 1 else ""), wall
    ours, ours_wall = cell("dumpscope")
    sos, sos_wall = cell("sos")
    clrmd, clrmd_wall = cell("clrmd")
    ratio = lambda x: f"{x / ours_wall:.1f}x" if x is not None and ours_wall else "-"
    print(f"| {row} | {ours} | {sos} | {clrmd} | {ratio(sos_wall)} | {ratio(clrmd_wall)} |")
    if "baseline" in tools:
        base, base_wall = cell("baseline")
        print(f"| {row}, baseline binary | {base} | | | | |")
EOF
