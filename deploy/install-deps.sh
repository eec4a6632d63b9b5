#!/usr/bin/env bash
# Installs every Debian package dumpscope needs to build, test and run.
# README's quick start and .ci/run both call this; it is idempotent and quiet when all is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev gdb
  libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev libsqlite3-dev libcunit1-dev
  libssl-dev
  binutils coreutils procps
  nodejs
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

if ! command -v dotnet >/dev/null 2>&1; then
  echo "install-deps: the .NET SDK (dotnet) is not on PATH; the real-dump fixtures need it." >&2
  echo "install-deps: install the .NET SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)." >&2
  exit 1
fi
# the contract tests' npm packages (Redocly CLI, Ajv), pinned by tests/contract/package-lock.json
"$(dirname "${BASH_SOURCE[0]}")/../tests/contract/ensure-deps.sh"
echo "install-deps: all dependencies present"
