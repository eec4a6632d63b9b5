#!/usr/bin/env bash
# index.spill: an index built under a memory budget far below what the build needs (so every large
# array goes to a temporary file and the incoming references are sorted in many runs merged on
# disk) is the same index as the one built in memory, on every fixture dump. Also: a budget that
# is not a size is refused with a clear error.
#
#   spill.sh DUMPSCOPE INDEX_COMPARE        (DS_FIXTURES: the fixture set)
set -euo pipefail
cli="$1"
compare="$2"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DUMPSCOPE_BUILD_PHASES=1
unset DUMPSCOPE_MEMORY_BUDGET
# Both builds run without address-space randomisation: .NET 9's DAC reports a different set of
# stack references in the frames of a managed exception dispatch (RhThrowEx/DispatchEx) depending
# on where it was loaded (2 runs in 6 on locks-wks-net9-heap), which has nothing to do with how
# our build spills. setarch -R fixes the layout, so what differs is ours.
norandom=()
if setarch "$(uname -m)" -R true 2>/dev/null; then norandom=(setarch "$(uname -m)" -R); fi
fail=0
count=0
for dump in "$DS_FIXTURES"/*.dmp; do
  name="$(basename "$dump" .dmp)"
  "${norandom[@]}" "$cli" index "$dump" --index "$work/$name.mem.dsindex" >/dev/null 2>"$work/$name.mem.log"
  "${norandom[@]}" "$cli" index "$dump" --index "$work/$name.spill.dsindex" --memory-budget 256K >/dev/null \
    2>"$work/$name.spill.log"
  spilled="$(sed -n 's/.*spilled \([0-9]*\) bytes.*/\1/p' "$work/$name.spill.log")"
  budget="$(sed -n 's/.*memory budget \([0-9]*\) bytes.*/\1/p' "$work/$name.spill.log")"
  if [ "$budget" != 262144 ] || [ -z "$spilled" ] || [ "$spilled" -eq 0 ]; then
    echo "FAIL $name: the build under --memory-budget 256K did not spill (budget '$budget', spilled '$spilled')"
    cat "$work/$name.spill.log"
    fail=1
  fi
  if ! "$compare" "$work/$name.mem.dsindex" "$work/$name.spill.dsindex"; then
    echo "FAIL $name: the index built under the budget differs from the one built in memory"
    fail=1
  fi
  if ls "$work" | grep -q '\.dsindex\.spill\.'; then
    echo "FAIL $name: temporary files were left beside the index"
    fail=1
  fi
  rm -f "$work/$name".*.dsindex
  count=$((count + 1))
done
[ "$count" -gt 0 ] || { echo "FAIL: no fixture dumps in $DS_FIXTURES"; exit 1; }
# a budget that is not a size
if out="$("$cli" index "$DS_FIXTURES/main-wks-heap.dmp" --index "$work/x.dsindex" --memory-budget banana 2>&1)"; then
  echo "FAIL: --memory-budget banana was accepted"
  fail=1
elif ! grep -q 'memory budget "banana" is not a size' <<<"$out"; then
  echo "FAIL: --memory-budget banana: unexpected message: $out"
  fail=1
fi
[ "$fail" = 0 ] && echo "ok: $count fixture indexes built under a 256K budget equal the in-memory ones"
exit "$fail"
