#!/usr/bin/env bash
# make-fixtures.sh OUTDIR [--big]
#
# Builds the C# scenario program (tests/scenarios/app), runs each scenario process in each GC
# variant, waits for its "READY <truth>" line, dumps it with the runtime's own createdump (next to
# the libcoreclr.so the truth names) as a full dump (-u) and/or a heap dump (-h), then kills it.
# The contract (files, fields) is tests/scenarios/FIXTURES.md.
#
# Output: OUTDIR/<key>/{fixtures.json, *.dmp, *.truth.json}, OUTDIR/current -> <key>.
# <key> hashes the scenario sources, this script and the installed .NET SDK/runtimes; when
# OUTDIR/<key>/fixtures.json already holds what was asked for, the script exits at once.
#
# Default set: process "main" in variants wks, svr, seg, and process "locks" in variant wks;
# full + heap dump each (main-wks and locks-wks also a gdb `gcore` core dump, kind "core", taken
# first: every MethodTable in it is then in the full dump taken after it); processes "report",
# "growth1" and "growth2" in variant wks, heap dump only; process "midgc" in variant wks, a heap dump
# taken during a garbage collection (dumped until one is: see dump_mid_gc); the real applications of realapps.sh
# ("vbcs" idle, "aspnet" under load), heap dump only. Older runtimes: the same program
# published self-contained for net8.0 and net9.0 (the runtime, its DAC and createdump in the publish
# folder), main in wks (full), svr and seg (heap), locks in wks (heap) for each.
# With --big or DS_FIXTURES_BIG=1: also process "big" (variant wks, heap dump only).
#
# Environment: DS_FIXTURES_BIG=1, DS_FIXTURES_TIMEOUT (seconds to wait for READY, default 120;
# "big" gets 3x), DUMPSCOPE_CLI (our CLI, which tells whether a "midgc" dump caught a GC; else
# build/{debug,release,asan}/server/dumpscope, the first there is).  Exit codes: 0 ok, 1 failure, 2 usage.
set -euo pipefail

die() { echo "make-fixtures: ERROR: $*" >&2; exit 1; }

usage() { echo "usage: $0 OUTDIR [--big]" >&2; exit 2; }

outdir=""
big="${DS_FIXTURES_BIG:-0}"
for a in "$@"; do
    case "$a" in
        --big) big=1 ;;
        -h|--help) usage ;;
        -*) echo "make-fixtures: unknown option $a" >&2; usage ;;
        *) [ -z "$outdir" ] || usage; outdir="$a" ;;
    esac
done
[ -n "$outdir" ] || usage
[ "$big" = 1 ] || big=0

if ! command -v dotnet >/dev/null 2>&1; then
    die "dotnet SDK not found: install the .NET SDK (10.0, with its runtime; 'dotnet' must be on PATH) to build the scenario program and make the dump fixtures"
fi
for tool in sha256sum flock; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (coreutils / util-linux)"
done

# A clean GC configuration for the SDK and the scenario processes: nothing from the caller.
for var in gcServer GCHeapCount GCName GCPath gcConcurrent GCgen0size GCHeapHardLimit \
           GCHeapAffinitizeMask DbgEnableMiniDump; do
    unset "DOTNET_$var" "COMPlus_$var"
done
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE=1 DOTNET_GENERATE_ASPNET_CERTIFICATE=false

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
app="$here/app"
# shellcheck source=realapps.sh
. "$here/realapps.sh"
timeout_s="${DS_FIXTURES_TIMEOUT:-120}"
t_start=$(date +%s.%N)

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
human() { awk -v b="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1; while (b >= 1024 && i < 5) { b /= 1024; i++ } printf (i == 1 ? "%d %s" : "%.1f %s"), b, u[i] }'; }

mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"

# ---- cache key -------------------------------------------------------------------------------
sdk_version="$(dotnet --version 2>/dev/null)" || die "'dotnet --version' failed: is the .NET SDK installed (not only a runtime)?"
runtimes="$(dotnet --list-runtimes 2>/dev/null)" || die "'dotnet --list-runtimes' failed"
echo "$runtimes" | grep -q '^Microsoft.NETCore.App ' || die "no Microsoft.NETCore.App runtime installed (dotnet --list-runtimes)"
key="$(
    {
        echo "sdk $sdk_version"
        echo "$runtimes"
        echo "uname-m $(uname -m)"
        # sources: every file of the app except build output, in a stable order
        (cd "$app" && find . -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' -o -name '*.json' \) \
            -not -path './bin/*' -not -path './obj/*' | LC_ALL=C sort | while read -r f; do
                echo "file $f $(sha256sum < "$f" | cut -c1-64)"
            done)
        echo "script $(sha256sum < "$here/make-fixtures.sh" | cut -c1-64)"
        realapps_key
    } | sha256sum | cut -c1-64
)"
set_dir="$outdir/$key"

# Which units (one process run each) and which dumps of them make the requested set. A unit is
# PROCESS:VARIANT:KINDS[:FRAMEWORK]; without FRAMEWORK it runs on the SDK's runtime with `dotnet`,
# with one (net8.0, net9.0) it is that runtime's self-contained publish of the same program.
units=("main:wks:core full heap" "main:svr:full heap" "main:seg:full heap" "locks:wks:core full heap" "report:wks:heap"
       "growth1:wks:heap" "growth2:wks:heap" "midgc:wks:heap")
units+=("${realapps_units[@]}")
[ "$big" = 1 ] && units+=("big:wks:heap")
# Older runtimes: every GC variant, both dump kinds and the locks scenario on each, nothing more.
version_units=()
for fw in net8.0 net9.0; do
    version_units+=("main:wks:full:$fw" "main:svr:heap:$fw" "main:seg:heap:$fw" "locks:wks:heap:$fw")
done
units+=("${version_units[@]}")

# parse_unit UNIT: sets p (process), v (variant), kinds, fw (framework, "" for the SDK's runtime)
# and base (the run's file prefix: PROCESS-VARIANT, then -net8 etc. for an older runtime).
parse_unit() {
    local rest
    p="${1%%:*}"; rest="${1#*:}"; v="${rest%%:*}"; rest="${rest#*:}"
    kinds="${rest%%:*}"; fw=""
    [ "$kinds" = "$rest" ] || fw="${rest#*:}"
    base="$p-$v"
    [ -z "$fw" ] || base="$base-${fw%.0}"
}

# unit_complete P V KINDS: the unit's marker, truth and every dump it makes are there (a marker
# alone is not enough: a deleted dump must be made again, not silently dropped).
unit_complete() {
    local base="$1" kinds="$2" k
    [ -f "$set_dir/$base.done" ] && [ -s "$set_dir/$base.truth.json" ] || return 1
    for k in $kinds; do
        [ -s "$set_dir/$base-$k.dmp" ] || return 1
    done
}

set_complete() {
    [ -f "$set_dir/fixtures.json" ] || return 1
    local u p v kinds fw base
    for u in "${units[@]}"; do
        parse_unit "$u"
        unit_complete "$base" "$kinds" || return 1
        grep -q "\"truth\": \"$base.truth.json\"" "$set_dir/fixtures.json" || return 1
    done
}

point_current() {
    ln -sfn "$key" "$outdir/.current.tmp"
    mv -T "$outdir/.current.tmp" "$outdir/current"
}

if set_complete; then
    [ "$(readlink "$outdir/current" 2>/dev/null || true)" = "$key" ] || point_current
    echo "make-fixtures: up to date: $set_dir ($(secs "$t_start") s)"
    exit 0
fi

# One run at a time per OUTDIR.
exec 9>"$outdir/.lock"
flock -w 3600 9 || die "could not lock $outdir/.lock"
if set_complete; then   # made by a concurrent run while we waited
    [ "$(readlink "$outdir/current" 2>/dev/null || true)" = "$key" ] || point_current
    echo "make-fixtures: up to date: $set_dir ($(secs "$t_start") s)"
    exit 0
fi
mkdir -p "$set_dir"

# ---- processes we start are always killed ----------------------------------------------------
live_pid=""
cleanup() {
    if [ -n "$live_pid" ] && kill -0 "$live_pid" 2>/dev/null; then
        kill -KILL "$live_pid" 2>/dev/null || true
        wait "$live_pid" 2>/dev/null || true
    fi
    live_pid=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# ---- build (each framework once, when a unit needs it) ------------------------------------------
build_dir="$outdir/app-build"
dll="$build_dir/bin/Scenarios/release/Scenarios.dll"
built=" "

build_failed() {
    grep -E ' error |error [A-Z]+[0-9]+' "$1" | sort -u | head -20 >&2 || true
    tail -20 "$1" >&2
    die "$2 (log: $1)"
}

# ensure_built FW: the SDK build ("" : run with `dotnet $dll`) or FW's self-contained publish
# (run as $build_dir-FW/publish/.../Scenarios; libcoreclr.so, its DAC and createdump beside it).
ensure_built() {
    local fw="$1" dir t0
    case "$built" in *" ${fw:-sdk} "*) return 0 ;; esac
    t0=$(now)
    if [ -z "$fw" ]; then
        mkdir -p "$build_dir"
        echo "make-fixtures: building $app (Release, SDK $sdk_version) ..."
        # The program uses no NuGet package: restore only needs the SDK's own packs, no network.
        dotnet build "$app/Scenarios.csproj" -c Release --nologo --artifacts-path "$build_dir" \
            -p:TreatWarningsAsErrors=false >"$build_dir/build.log" 2>&1 ||
            build_failed "$build_dir/build.log" "build of the scenario program failed"
        [ -f "$dll" ] || die "build succeeded but $dll is missing"
    else
        dir="$build_dir-$fw"
        mkdir -p "$dir"
        echo "make-fixtures: publishing $app self-contained for $fw (Release, linux-x64) ..."
        # Restores that framework's runtime pack (Microsoft.NETCore.App.Runtime.linux-x64, the
        # version the SDK picks) and apphost from NuGet.
        dotnet publish "$app/Scenarios.csproj" -c Release --nologo -r linux-x64 --self-contained \
            -p:ScenarioFramework="$fw" -p:UseAppHost=true --artifacts-path "$dir" \
            -p:TreatWarningsAsErrors=false >"$dir/publish.log" 2>&1 ||
            build_failed "$dir/publish.log" "self-contained publish of the scenario program for $fw failed (is the runtime pack on the NuGet source?)"
        local exe="$dir/publish/Scenarios/release_linux-x64/Scenarios" f
        for f in "$exe" "${exe%/*}/libcoreclr.so" "${exe%/*}/libmscordaccore.so" "${exe%/*}/createdump"; do
            [ -f "$f" ] || die "publish for $fw succeeded but $f is missing"
        done
    fi
    built="$built${fw:-sdk} "
    echo "make-fixtures: built ${fw:-for the SDK runtime} in $(secs "$t0") s"
}

# scenario_command FW: the command that runs the program (its arguments follow).
scenario_command() {
    if [ -z "$1" ]; then
        echo "dotnet $dll"
    else
        echo "$build_dir-$1/publish/Scenarios/release_linux-x64/Scenarios"
    fi
}

# ---- the mid-GC dump ---------------------------------------------------------------------------
# The "midgc" process collects (blocking, compacting, gen 2) back to back on a ~80 MB heap of
# 2.5M linked objects. The runtime calls its GC structures invalid only during plan_phase (plan,
# relocate, compact; gc.cpp), about two thirds of the time here (measured: 26 dumps in 40, 19 of
# 30 of them with an ASan build using both cores). A dump is taken, our CLI reads
# gc_structures_valid through the DAC, and the dump is taken again until one caught the window:
# at 65% per attempt, 12 attempts all miss about once in 300,000 runs.
mid_gc_max_attempts=12
# our CLI: DUMPSCOPE_CLI (ctest sets it), else the first preset build that has one
cli="${DUMPSCOPE_CLI:-}"
if [ -z "$cli" ]; then
    for preset in debug release asan; do
        cli="$here/../../build/$preset/server/dumpscope"
        [ -x "$cli" ] && break
    done
fi

# dump_mid_gc CREATEDUMP FLAG OUT PID LOG: sets mid_gc_attempts.
dump_mid_gc() {
    local createdump="$1" flag="$2" out="$3" pid="$4" log="$5" valid
    [ -x "$cli" ] || die "midgc: our CLI is not built (cmake --build --preset debug, or set DUMPSCOPE_CLI): it tells whether a dump caught a GC"
    sleep 2   # the loops are running (they start after the truth)
    for ((mid_gc_attempts = 1; mid_gc_attempts <= mid_gc_max_attempts; mid_gc_attempts++)); do
        rm -f "$out"
        if ! "$createdump" "$flag" -f "$out" "$pid" >"$log" 2>&1; then
            cat "$log" >&2
            die "midgc: createdump $flag failed for pid $pid (is ptrace allowed? see above)"
        fi
        valid="$("$cli" info "$out" --json 2>>"$log" | sed -n 's/.*"gc_structures_valid": *\([a-z]*\).*/\1/p')"
        echo "attempt $mid_gc_attempts: gc_structures_valid=$valid" >>"$log"
        [ "$valid" = false ] && return 0
        [ "$valid" = true ] || die "midgc: $cli info could not read the dump $out (log: $log)"
    done
    die "midgc: none of $mid_gc_max_attempts dumps was taken during a GC (log: $log)"
}

# ---- one unit: run the process, dump it, kill it ---------------------------------------------
variant_env() {
    case "$1" in
        wks) ;;
        svr) echo "DOTNET_gcServer=1 DOTNET_GCHeapCount=2" ;;
        seg) echo "DOTNET_GCName=libclrgc.so" ;;
        *) die "unknown variant $1" ;;
    esac
}

run_unit() {
    local process="$1" variant="$2" kinds="$3" fw="$4" base="$5"
    local truth="$set_dir/$base.truth.json"
    local log="$set_dir/$base.log" limit="$timeout_s" t_unit t_ready pid kind flag file
    [ "$process" = big ] && limit=$((timeout_s * 3))

    # A unit is all or nothing: its dumps belong to the one run whose truth sits beside them.
    rm -f "$set_dir/$base.done" "$truth" "$truth.tmp"
    for kind in full heap core; do   # (not a glob: main-wks-* would match main-wks-net8-*)
        rm -f "$set_dir/$base-$kind.dmp" "$set_dir/$base-$kind.dmp.partial"*
    done

    t_unit=$(now)
    # The GC configuration is the variant's only (the caller's was removed at the start).
    # shellcheck disable=SC2046
    env DS_FIXTURE_VARIANT="$variant" $(variant_env "$variant") \
        $(scenario_command "$fw") "$process" "$truth" >"$log" 2>&1 </dev/null &
    pid=$!
    live_pid=$pid

    while ! grep -q '^READY ' "$log" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null && rc=0 || rc=$?
            live_pid=""
            tail -30 "$log" >&2 || true
            die "$base: the scenario process exited (status $rc) before it was ready (log: $log)"
        fi
        if awk -v a="$t_unit" -v b="$(now)" -v l="$limit" 'BEGIN { exit !(b - a > l) }'; then
            tail -30 "$log" >&2 || true
            die "$base: no READY line within $limit s (log: $log)"
        fi
        sleep 0.1
    done
    t_ready=$(secs "$t_unit")
    [ -s "$truth" ] || die "$base: READY but no truth file $truth"

    local coreclr createdump
    coreclr="$(sed -n 's/^ *"coreclr_path": "\(.*\)",\{0,1\}$/\1/p' "$truth" | head -1)"
    [ -n "$coreclr" ] || die "$base: the truth names no coreclr_path"
    createdump="$(dirname "$coreclr")/createdump"
    [ -x "$createdump" ] || die "$base: createdump not found next to $coreclr"

    local line="make-fixtures: $base: ready in $t_ready s"
    for kind in $kinds; do
        case "$kind" in full) flag=-u ;; heap) flag=-h ;; core) flag="" ;; *) die "unknown dump kind $kind" ;; esac
        file="$set_dir/$base-$kind.dmp"
        t0=$(now)
        if [ "$kind" = core ]; then
            # What a kernel core holds (gdb honours coredump_filter: no read-only file mappings),
            # written by gdb's gcore; it names its output FILE.PID.
            if ! gcore -o "$file.partial" "$pid" >"$set_dir/$base-$kind.gcore.log" 2>&1 ||
                    ! mv -f "$file.partial.$pid" "$file.partial"; then
                tail -20 "$set_dir/$base-$kind.gcore.log" >&2
                die "$base: gcore failed for pid $pid (is ptrace allowed? see above)"
            fi
            # gdb writes the untouched reserved mappings (malloc arenas) as zeros where the kernel
            # leaves holes: punch them back (about 940 MiB of file, under 40 MiB on disk).
            fallocate --dig-holes "$file.partial" 2>/dev/null || true
        elif [ "$process" = midgc ]; then
            dump_mid_gc "$createdump" "$flag" "$file.partial" "$pid" "$set_dir/$base-$kind.createdump.log"
            line="$line, $mid_gc_attempts attempt(s) to catch a GC"
        elif ! "$createdump" "$flag" -f "$file.partial" "$pid" >"$set_dir/$base-$kind.createdump.log" 2>&1; then
            cat "$set_dir/$base-$kind.createdump.log" >&2
            die "$base: createdump $flag failed for pid $pid (is ptrace allowed? see above)"
        fi
        [ -s "$file.partial" ] || die "$base: createdump wrote no $file.partial"
        mv -f "$file.partial" "$file"
        line="$line, $kind dump $(human "$(stat -c %s "$file")") in $(secs "$t0") s"
    done

    cleanup
    : >"$set_dir/$base.done"
    echo "$line (unit $(secs "$t_unit") s)"
}

for u in "${units[@]}"; do
    parse_unit "$u"
    if unit_complete "$base" "$kinds"; then
        echo "make-fixtures: $base: already made"
        continue
    fi
    case " $kinds " in
        *" core "*) command -v gcore >/dev/null 2>&1 || die "gcore not found: install gdb (Debian package 'gdb') to make the core-dump fixtures" ;;
    esac
    rm -f "$set_dir/$base.done"
    if is_realapp "$p"; then
        run_realapp_unit "$p" "$v" "$kinds"
    else
        ensure_built "$fw"
        run_unit "$p" "$v" "$kinds" "$fw" "$base"
    fi
done

# ---- fixtures.json (last, atomically) --------------------------------------------------------
runtime_version="$(sed -n 's/^ *"runtime_version": "\(.*\)",\{0,1\}$/\1/p' "$set_dir/main-wks.truth.json" | head -1)"
all_units=("main:wks:core full heap" "main:svr:full heap" "main:seg:full heap" "locks:wks:core full heap" "report:wks:heap"
           "growth1:wks:heap" "growth2:wks:heap" "midgc:wks:heap" "big:wks:heap" "${version_units[@]}")
{
    echo "{"
    echo "  \"key\": \"$key\","
    echo "  \"runtime_version\": \"$runtime_version\","
    echo "  \"sdk_version\": \"$sdk_version\","
    echo "  \"created\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
    realapps_json
    echo "  \"fixtures\": ["
    sep=""
    for u in "${all_units[@]}"; do
        parse_unit "$u"
        [ -f "$set_dir/$base.done" ] || continue
        rv="$(sed -n 's/^ *"runtime_version": "\(.*\)",\{0,1\}$/\1/p' "$set_dir/$base.truth.json" | head -1)"
        for kind in full heap core; do   # (listed in this order whatever order they were taken in)
            case " $kinds " in *" $kind "*) ;; *) continue ;; esac
            [ -f "$set_dir/$base-$kind.dmp" ] || continue
            printf '%s    { "name": "%s", "process": "%s", "variant": "%s", "kind": "%s", "framework": "%s", "runtime_version": "%s", "dump": "%s", "truth": "%s", "dump_size": %s, "gc_structures_valid": %s }' \
                "$sep" "$base-$kind" "$p" "$v" "$kind" "${fw:-sdk}" "$rv" "$base-$kind.dmp" "$base.truth.json" \
                "$(stat -c %s "$set_dir/$base-$kind.dmp")" "$([ "$p" = midgc ] && echo false || echo true)"
            sep=$',\n'
        done
    done
    echo
    echo "  ]"
    echo "}"
} >"$set_dir/fixtures.json.tmp"
mv -f "$set_dir/fixtures.json.tmp" "$set_dir/fixtures.json"
point_current

# ---- bound disk use: drop sets made for other sources / runtimes -----------------------------
for d in "$outdir"/*/; do
    d="${d%/}"; name="$(basename "$d")"
    if [[ "$name" =~ ^[0-9a-f]{64}$ ]] && [ "$name" != "$key" ]; then
        echo "make-fixtures: removing stale set $name"
        rm -rf -- "$d"
    fi
done

echo "make-fixtures: done in $(secs "$t_start") s: $set_dir ($(human "$(du -s -B1 "$set_dir" | cut -f1)") on disk)"
