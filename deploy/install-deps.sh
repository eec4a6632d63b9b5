#!/usr/bin/env bash
# Installs every Debian package dumpscope needs to build, test and run.
# README's quick start and .ci/run both call this; it is idempotent and quiet when all is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev gdb
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libcunit1-dev
  libssl-dev libarchive-dev libcapstone-dev
  binutils coreutils procps wrk bc time
  chromium
  nodejs
  zstd zip
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The browser tests' driver, playwright-core, pinned in web/package-lock.json (it never downloads a
# browser: the tests drive Debian's chromium). Reinstalled only when the lockfile changed; npm's
# cache serves it when the registry cannot be reached.
web="$(cd "$(dirname "${BASH_SOURCE[0]}")/../web" && pwd)"
if ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: npm is not on PATH; the end-to-end and browser tests need Node.js 20 with npm." >&2
  exit 1
fi
if [ ! -f "$web/node_modules/.package-lock.json" ] || [ "$web/package-lock.json" -nt "$web/node_modules/.package-lock.json" ]; then
  echo "install-deps: npm ci in web/ (playwright-core for the browser tests)"
  (cd "$web" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error)
fi

if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET SDK (dotnet) is not on PATH; the real-dump fixtures need it." >&2
  echo "install-deps: install the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)." >&2
  exit 1
fi
# the contract tests' npm packages (Redocly CLI, Ajv), pinned by tests/contract/package-lock.json
"$(dirname "${BASH_SOURCE[0]}")/../tests/contract/ensure-deps.sh"
# npm_ci_if_stale DIR: installs DIR's Node packages exactly as its package-lock.json pins them
# (npm ci), when node_modules is missing or was installed from another lockfile.
npm_ci_if_stale() {
  local dir="$1" stamp="$1/node_modules/.dumpscope-lock-sha256" want
  [ -f "$dir/package-lock.json" ] || return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm is not on PATH; the tests in $dir need it (it comes with Node.js)." >&2
    exit 1
  fi
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "install-deps: npm ci in ${dir#"$root/"}"
  (cd "$dir" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The end-to-end tests' own packages (the Azure Blob emulator, Azurite), kept apart from others'.
npm_ci_if_stale "$root/tests/e2e"

echo "install-deps: all dependencies present"
