#!/usr/bin/env bash
# Quick start: install, build, make a real .NET dump from the scenario program, and analyse it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
bash tests/scenarios/make-fixtures.sh build/fixtures
dump="build/fixtures/current/main-wks-full.dmp"
cli=build/release/server/dumpscope

echo; echo "== dumpscope info $dump"; "$cli" info "$dump"
echo; echo "== dumpscope eeheap (GC heaps and regions)"; "$cli" eeheap "$dump" | tail -8
echo; echo "== dumpscope heapstat (the 15 biggest types)"; "$cli" heapstat "$dump" | tail -16
echo; echo "== dumpscope verify"; "$cli" verify "$dump"
