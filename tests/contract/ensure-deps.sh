#!/usr/bin/env bash
# Installs the contract tests' npm packages (Redocly CLI, Ajv, ajv-formats, yaml) exactly as
# package-lock.json pins them, into tests/contract/node_modules, when they are missing or older
# than the lockfile. deploy/install-deps.sh and the contract.deps test both call it, so a fresh
# machine (or a fresh CI clone) gets them and a warm one skips the network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
stamp=node_modules/.package-lock.json
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] && [ -x node_modules/.bin/redocly ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "contract: npm is not on PATH; install Node.js 20 with npm (Debian packages nodejs and npm)" >&2
  exit 1
fi
echo "contract: npm ci in $(pwd)"
REDOCLY_TELEMETRY=off npm ci --no-audit --no-fund --loglevel=error
