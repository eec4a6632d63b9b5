#!/usr/bin/env bash
# tests/mutation/run.sh [--check] [NAME_REGEX]
#
# Opt-in mutation check (not part of the normal test command): applies each mutation of
# tests/mutation/mutations.txt (or those whose name matches NAME_REGEX) to a copy of the source
# tree, one at a time, rebuilds (debug preset), runs the tests the line names and reports whether
# they failed (CAUGHT) or passed (SURVIVED). A substitution that no longer matches is STALE; a
# mutation that does not compile is NOBUILD. The working tree is never touched. --check only
# tells which substitutions still match the code (no build, no tests).
#
# Environment:
#   DS_FIXTURES_ROOT   fixture root to reuse (default <repo>/build/fixtures-own if present,
#                      else <repo>/build/fixtures); the copy hashes to the same fixture key
#   DS_MUTATION_DIR    scratch folder (default a new /tmp/ds-mutation.XXXXXX, removed at the end
#                      unless DS_MUTATION_KEEP=1)
#   DS_ORACLE_BUILD    the ClrMD oracle's build, shared (default <repo>/build/oracle)
# Exit status: 0 when every selected mutation is caught, 1 otherwise, 2 on a setup failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
list="$here/mutations.txt"
check_only=0
if [ "${1:-}" = --check ]; then check_only=1; shift; fi
select="${1:-.}"

if [ "$check_only" = 1 ]; then
    tmp="$(mktemp)"
    trap 'rm -f "$tmp"' EXIT
    stale=0
    while IFS= read -r line; do
        case "$line" in ''|'#'*) continue ;; esac
        name="${line%% ||| *}"; rest="${line#* ||| }"
        file="${rest%% ||| *}"; rest="${rest#* ||| }"
        expr="${rest%% ||| *}"
        [[ "$name" =~ $select ]] || continue
        if [ -f "$repo/$file" ] && cp "$repo/$file" "$tmp" && perl -0pi -e "$expr" "$tmp" && ! cmp -s "$tmp" "$repo/$file"; then
            printf '%-30s applies\n' "$name"
        else
            printf '%-30s STALE\n' "$name"; stale=$((stale + 1))
        fi
    done <"$list"
    [ "$stale" = 0 ]
    exit
fi

fixtures="${DS_FIXTURES_ROOT:-}"
if [ -z "$fixtures" ]; then
    if [ -d "$repo/build/fixtures-own" ]; then fixtures="$repo/build/fixtures-own"; else fixtures="$repo/build/fixtures"; fi
fi
export DS_ORACLE_BUILD="${DS_ORACLE_BUILD:-$repo/build/oracle}"

work="${DS_MUTATION_DIR:-}"
if [ -z "$work" ]; then work="$(mktemp -d /tmp/ds-mutation.XXXXXX)"; fi
cleanup() { [ "${DS_MUTATION_KEEP:-0}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
src="$work/src"
mkdir -p "$src"

# the tracked files as they are in the working tree (uncommitted edits included)
(cd "$repo" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$src" || { echo "run.sh: copying the source failed" >&2; exit 2; }

log="$work/log"
mkdir -p "$log"
cp "$list" "$work/mutations.txt"   # the list as it is now: editing it during a run changes nothing
list="$work/mutations.txt"
echo "run.sh: building the unmutated copy in $src/build/debug (fixtures: $fixtures) ..."
if ! (cd "$src" && cmake --preset debug -DDS_FIXTURES_ROOT="$fixtures" >"$log/configure.txt" 2>&1 &&
      cmake --build --preset debug -j2 >"$log/build.txt" 2>&1); then
    echo "run.sh: the unmutated copy does not build (log: $log/build.txt)" >&2
    exit 2
fi

names=() results=() count=0 failed=0
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%% ||| *}"; rest="${line#* ||| }"
    file="${rest%% ||| *}"; rest="${rest#* ||| }"
    expr="${rest%% ||| *}"; rest="${rest#* ||| }"
    tests="${rest%% ||| *}"; what="${rest#* ||| }"
    [[ "$name" =~ $select ]] || continue
    count=$((count + 1))
    target="$src/$file"
    if [ ! -f "$target" ]; then
        result="STALE (no $file)"
    else
        cp -p "$target" "$work/original"
        perl -0pi -e "$expr" "$target"
        if cmp -s "$target" "$work/original"; then
            result="STALE (no match)"
        elif ! (cd "$src" && cmake --build --preset debug -j2 >"$log/$name.build.txt" 2>&1); then
            result="NOBUILD"
        elif (cd "$src" && ctest --preset debug -R "$tests" >"$log/$name.test.txt" 2>&1); then
            result="SURVIVED"
        else
            result="CAUGHT"
        fi
        cp -p "$work/original" "$target"
        touch "$target"   # the next build recompiles it
    fi
    [ "$result" = CAUGHT ] || failed=$((failed + 1))
    printf '%-30s %-18s %s\n' "$name" "$result" "$what"
    names+=("$name"); results+=("$result")
done <"$list"

echo
echo "| mutation | result | tests |"
echo "|---|---|---|"
i=0
while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%% ||| *}"
    [[ "$name" =~ $select ]] || continue
    tests="$(echo "$line" | awk -F' \\|\\|\\| ' '{print $4}')"
    echo "| $name | ${results[$i]} | \`$tests\` |"
    i=$((i + 1))
done <"$list"
echo
echo "$((count - failed)) of $count mutations caught"
[ "$failed" = 0 ]
