#!/usr/bin/env bash
# The whole test suite: dependencies, a normal build, the real-dump fixtures, every test; then the
# same again under AddressSanitizer + UndefinedBehaviorSanitizer. README's test command; CI runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./deploy/install-deps.sh

for preset in debug asan-ubsan; do
  echo "== $preset: configure + build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "== $preset: tests (the first one makes or finds the fixture dumps)"
  ctest --preset "$preset"
done
echo "== all tests passed (debug and asan-ubsan)"
