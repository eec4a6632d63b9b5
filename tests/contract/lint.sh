#!/usr/bin/env bash
# Lints openapi.yaml with the pinned Redocly CLI (rules in redocly.yaml), telemetry off.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
spec="${1:-$here/../../openapi.yaml}"
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_NOTIFICATIONS=true NO_UPDATE_NOTIFIER=1 \
  "$here/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" "$spec"
