#!/usr/bin/env bash
# Quick start: install, build, make a real .NET dump from the scenario program, start the daemon
# on its defaults in the foreground, submit the dump, wait for its automatic analysis and print
# ready-to-paste curl commands. Ctrl-C stops the daemon cleanly.
#
# Environment: DUMPSCOPE_LISTEN (default 127.0.0.1:8080), DUMPSCOPE_DATA (default ./dumpscope-data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

./deploy/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
bash tests/scenarios/make-fixtures.sh build/fixtures
dump="build/fixtures/current/main-wks-heap.dmp"
truth="build/fixtures/current/main-wks.truth.json"
cli="$PWD/build/release/server/dumpscope"
data="${DUMPSCOPE_DATA:-$PWD/dumpscope-data}"
listen="${DUMPSCOPE_LISTEN:-127.0.0.1:8080}"

admin=$("$cli" token create --role admin --name quickstart --data "$data")

out=$(mktemp)
"$cli" serve --listen "$listen" --data "$data" >"$out" &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -f "$out"' EXIT
trap 'echo; echo "stopping the daemon"; exit 0' INT TERM
for _ in $(seq 1 100); do
  grep -q '^listening ' "$out" && break
  kill -0 $daemon 2>/dev/null || { echo "the daemon did not start" >&2; exit 1; }
  sleep 0.1
done
url=$(sed -n 's/^listening //p' "$out" | head -1)
[ -n "$url" ] || { echo "the daemon did not say where it listens" >&2; exit 1; }

echo "== uploading $dump"
id=$(curl -sS -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/octet-stream' -H 'Expect:' \
       -T "$dump" "$url/dumps?name=main-wks-heap.dmp" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
[ -n "$id" ] || { echo "upload failed" >&2; exit 1; }
echo "== waiting for the automatic analysis of dump $id"
curl -sS -o /dev/null -H "Authorization: Bearer $admin" "$url/dumps/$id/summary?wait=120"
marker=$(node -e 'const t=require(process.argv[1]);console.log(t.markers.find(m=>m.name==="marker.local").address)' "$PWD/$truth")

cat <<MSG

dumpscope is serving at $url (data in $data). Admin token:

  export TOKEN=$admin

Try:
  curl -s -H "Authorization: Bearer \$TOKEN" $url/dumps/$id
  curl -s -H "Authorization: Bearer \$TOKEN" $url/dumps/$id/gen/2
  curl -s -H "Authorization: Bearer \$TOKEN" $url/dumps/$id/roots/${marker:-0xADDRESS}
  curl -s -H "Authorization: Bearer \$TOKEN" $url/dumps/$id/deadlocks
  curl -s -H "Authorization: Bearer \$TOKEN" $url/dumps/$id/findings
  curl -s -X POST -H "Authorization: Bearer \$TOKEN" -T YOUR.dmp $url/dumps

Ctrl-C stops the daemon.
MSG
wait $daemon
