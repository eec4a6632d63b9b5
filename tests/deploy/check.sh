#!/usr/bin/env bash
# check.sh DUMPSCOPE: the deployment files work.
# - deploy/dumpscope.service passes `systemd-analyze verify` (ExecStart pointed at the built binary)
#   and keeps its hardening settings;
# - deploy/Containerfile: when a container engine runs, the image is built and started and answers
#   /health; otherwise every file it copies exists and its command line (with the example config)
#   starts the daemon.
set -euo pipefail
cli="$1"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "deploy check: $*" >&2; exit 1; }

unit="$tmp/dumpscope.service"
sed "s#/usr/local/bin/dumpscope#$cli#" "$src/deploy/dumpscope.service" >"$unit"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify failed: $out"
if grep -q "dumpscope.service" <<<"$out"; then fail "systemd-analyze verify warns: $out"; fi
for setting in DynamicUser=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes NoNewPrivileges=yes \
               'CapabilityBoundingSet=$' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' KillMode=control-group; do
  grep -qE "^$setting" "$src/deploy/dumpscope.service" || fail "the unit lost $setting"
done
echo "deploy check: systemd unit verified"

# the daemon's command line in the unit and the container, with the example config
data="$tmp/data"
"$cli" serve --config "$src/deploy/dumpscope.conf.example" --data "$data" --web-root "$src/web" \
  --listen 127.0.0.1:0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 1 100); do grep -q '^listening ' "$tmp/out" && break; sleep 0.1; done
grep -q '^listening http://127.0.0.1:' "$tmp/out" || { kill $pid; fail "the daemon did not start: $(cat "$tmp/err")"; }
kill -TERM $pid; wait $pid || fail "the daemon did not stop cleanly"

if timeout 10 docker info >/dev/null 2>&1; then
  tag="dumpscope-check:$$"
  docker build -q -f "$src/deploy/Containerfile" -t "$tag" "$src" >/dev/null || fail "docker build failed"
  cid=$(docker run -d -p 127.0.0.1::8080 "$tag")
  port=$(docker port "$cid" 8080 | head -1 | sed 's/.*://')
  ok=0
  for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { ok=1; break; }; sleep 0.2; done
  docker rm -f "$cid" >/dev/null; docker rmi "$tag" >/dev/null
  [ "$ok" = 1 ] || fail "the container did not answer /health"
  echo "deploy check: container image built, started and answered /health"
else
  grep -E '^COPY [^-]' "$src/deploy/Containerfile" | while read -r _ from _; do
    [ -e "$src/$from" ] || fail "the Containerfile copies $from, which does not exist"
  done
  echo "deploy check: no container engine runs here: checked the Containerfile's sources and command line"
fi
