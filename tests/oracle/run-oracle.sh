#!/usr/bin/env bash
# run-oracle.sh <dump> [dac] [extra ClrmdOracle options...]
#
# Builds tests/oracle/ClrmdOracle (Release) once into $DS_ORACLE_BUILD
# (default <repo>/build/oracle), rebuilding only when its sources change,
# then runs it on <dump>.  The JSON document goes to stdout, everything
# else to stderr.
#
# Exit codes: 0 ok; 1 usage; 2 the oracle could not open the dump/runtime;
# 3 the ClrMD package could not be restored; 4 the build failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
proj="$here/ClrmdOracle/ClrmdOracle.csproj"
build="${DS_ORACLE_BUILD:-$repo/build/oracle}"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [ $# -lt 1 ]; then
    echo "usage: $0 <dump> [dac] [--ignore-mismatch] [--careful]" >&2
    exit 1
fi
dump="$1"; shift
args=()
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then
    args+=(--dac "$1"); shift
fi
args+=("$@")

if ! command -v dotnet >/dev/null 2>&1; then
    echo "run-oracle.sh: dotnet not found on PATH" >&2
    exit 4
fi

mkdir -p "$build"
exec 9>"$build/.lock"
flock 9   # one build at a time when tests run in parallel
dll="$build/bin/ClrmdOracle/release/ClrmdOracle.dll"
stamp="$build/.built"

need_build=0
if [ ! -f "$dll" ] || [ ! -f "$stamp" ]; then
    need_build=1
elif [ -n "$(find "$here/ClrmdOracle" -newer "$stamp" -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' \) -print -quit)" ]; then
    need_build=1
fi

if [ "$need_build" = 1 ]; then
    echo "run-oracle.sh: restoring ClrMD into $build ..." >&2
    if ! dotnet restore "$proj" --artifacts-path "$build" >"$build/restore.log" 2>&1; then
        echo "run-oracle.sh: ERROR: could not restore the NuGet packages for ClrmdOracle" >&2
        echo "  (Microsoft.Diagnostics.Runtime pinned in $proj); log: $build/restore.log" >&2
        grep -E 'error' "$build/restore.log" | sed 's/^/  /' | head -20 >&2 || true
        exit 3
    fi
    echo "run-oracle.sh: building ClrmdOracle (Release) ..." >&2
    if ! dotnet build "$proj" -c Release --no-restore --artifacts-path "$build" >"$build/build.log" 2>&1; then
        echo "run-oracle.sh: ERROR: build of ClrmdOracle failed; log: $build/build.log" >&2
        grep -E 'error' "$build/build.log" | sed 's/^/  /' | head -20 >&2 || true
        exit 4
    fi
    if [ ! -f "$dll" ]; then
        echo "run-oracle.sh: ERROR: build succeeded but $dll is missing" >&2
        exit 4
    fi
    touch "$stamp"
fi

flock -u 9
exec dotnet "$dll" "$dump" "${args[@]}"
