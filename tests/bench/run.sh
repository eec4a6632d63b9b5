#!/usr/bin/env bash
# Benchmarks: makes the big fixture (>= 10 million objects) and prints the walk figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
cmake --preset release >/dev/null
cmake --build --preset release --target bench_walk bench_index dumpscope
bash tests/scenarios/make-fixtures.sh build/fixtures --big
dump=build/fixtures/current/big-wks-heap.dmp
cat "$dump" >/dev/null   # into the page cache: we measure the walk, not the disk
build/release/tests/bench_walk "$dump" --repeat 3
build/release/tests/bench_index "$dump" /tmp/dumpscope-bench.dsindex
rm -f /tmp/dumpscope-bench.dsindex
