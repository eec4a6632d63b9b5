#!/usr/bin/env bash
# load.sh: load figures of the daemon on 127.0.0.1 (printed, never asserted).
#  1. wrk, 64 connections, against indexed queries of one dump: gen stats, one object, a root path;
#  2. upload of the big dump (1.3 GB) vs the disk's plain sequential write speed, with the
#     daemon's peak RSS during the upload;
#  3. ten uploads at once while wrk queries run: every job completes; the queries' p99.
# Needs the fixtures (tests/scenarios/make-fixtures.sh; the big one with --big) and wrk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
command -v wrk >/dev/null || { echo "load.sh: wrk is not installed (deploy/install-deps.sh installs it)" >&2; exit 1; }
cmake --preset release >/dev/null
cmake --build --preset release --target dumpscope >/dev/null
cli="$PWD/build/release/server/dumpscope"
fixtures="${DS_FIXTURES:-$PWD/build/fixtures/current}"
big="${DS_BIG_DUMP:-$fixtures/big-wks-heap.dmp}"
if [ ! -f "$big" ]; then
  bash tests/scenarios/make-fixtures.sh build/fixtures --big
  big="$PWD/build/fixtures/current/big-wks-heap.dmp"
fi
main="$fixtures/main-wks-full.dmp"
truth="$fixtures/main-wks.truth.json"
data=$(mktemp -d /var/tmp/dumpscope-load.XXXXXX)
out="$data.out"
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$data" "$out"' EXIT

token=$("$cli" token create --role admin --data "$data")
"$cli" serve --listen 127.0.0.1:0 --data "$data" --workers 2 --threads 4 --connection-limit 1024 \
  --per-ip-limit 512 >"$out" 2>/dev/null &
daemon=$!
for _ in $(seq 1 100); do grep -q '^listening ' "$out" && break; sleep 0.1; done
url=$(sed -n 's/^listening //p' "$out")
auth="Authorization: Bearer $token"
# -T streams the file (--data-binary would read it into memory first)
upload() { curl -sS -X POST -H "$auth" -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$1" "$url/dumps" |
             sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p'; }
marker() { node -e 'const t=require(process.argv[1]);console.log(t.markers.find(m=>m.name===process.argv[2]).address)' "$truth" "$1"; }

id=$(upload "$main")
curl -sS -o /dev/null -H "$auth" "$url/dumps/$id/summary?wait=60"
addr=$(marker marker.local)
obj=$(marker invoice.first)

echo "== 1. wrk -t2 -c64 -d10s on 127.0.0.1 (dump main-wks-full, $(stat -c %s "$main") bytes)"
for path in "gen/2" "objects/$obj" "roots/$addr"; do
  result=$(wrk -t2 -c64 -d10s --latency -H "$auth" "$url/dumps/$id/$path")
  rps=$(sed -n 's/^Requests\/sec: *//p' <<<"$result")
  p99=$(awk '$1=="99%"{print $2}' <<<"$result")
  non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' <<<"$result")
  printf '   %-28s %10s req/s   p99 %8s   non-2xx %s\n' "$path" "$rps" "$p99" "${non2xx:-0}"
done

echo "== 2. upload of $(basename "$big") ($(stat -c %s "$big") bytes) vs sequential disk write"
cat "$big" >/dev/null
disk_s=$( { /usr/bin/time -f %e dd if=/dev/zero of="$data/ddtest" bs=8M count=$(( $(stat -c %s "$big") / 8388608 )) \
            conv=fdatasync status=none; } 2>&1 )
rm -f "$data/ddtest"
rss_file="$data.rss"
( peak=0; while kill -0 $daemon 2>/dev/null; do
    r=$(awk '/VmRSS/{print $2}' /proc/$daemon/status 2>/dev/null || echo 0); [ "${r:-0}" -gt "$peak" ] && peak=$r
    echo "$peak" >"$rss_file"; sleep 0.1; done ) &
sampler=$!
rss_before=$(awk '/VmRSS/{print $2}' /proc/$daemon/status)
t0=$(date +%s.%N)
big_id=$(upload "$big")
t1=$(date +%s.%N)
kill $sampler 2>/dev/null || true
up_s=$(echo "$t1 - $t0" | bc)
mb=$(echo "$(stat -c %s "$big") / 1048576" | bc)
echo "   disk write ${disk_s}s ($(echo "$mb / $disk_s" | bc) MB/s), upload ${up_s}s ($(echo "$mb / $up_s" | bc) MB/s):" \
     "ratio $(echo "scale=2; $disk_s / $up_s" | bc)"
echo "   daemon RSS before ${rss_before} kB, peak during upload $(cat "$rss_file") kB"
rm -f "$rss_file"

echo "== 3. ten uploads at once while wrk queries gen/2"
list=("$fixtures"/*.dmp)
( wrk -t2 -c64 -d20s --latency -H "$auth" "$url/dumps/$id/gen/2" >"$data.wrk" ) &
wrk_pid=$!
pids=()
for i in $(seq 0 9); do
  f="${list[$(( i % ${#list[@]} ))]}"
  ( curl -sS -X POST -H "$auth" -H 'Expect:' -H 'Content-Type: application/octet-stream' -T "$f" "$url/dumps" \
      >"$data.up$i" 2>&1 ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
# (each answer lacks a final newline: one id per answer, never one per concatenated line)
ids=$(grep -ho '"id":"[0-9a-f]*"' "$data".up[0-9]* | cut -d'"' -f4 | sort -u)
grep -L '"id"' "$data".up[0-9]* | while read -r f; do echo "   upload failed: $(head -c 300 "$f")"; done
for u in $ids; do curl -sS -o /dev/null -H "$auth" "$url/dumps/$u/summary?wait=60"; done
wait $wrk_pid
rps=$(sed -n 's/^Requests\/sec: *//p' "$data.wrk"); p99=$(awk '$1=="99%"{print $2}' "$data.wrk")
states=$(for u in $ids; do curl -sS -H "$auth" "$url/dumps/$u" | grep -o '"status":"[a-z]*"' | head -1 | cut -d'"' -f4; done |
         sort | uniq -c | tr '\n' ' ')
echo "   $(echo "$ids" | wc -l) distinct dumps (${#list[@]} fixtures, some uploaded twice): $states"
echo "   queries meanwhile: $rps req/s, p99 $p99"
rm -f "$data".up* "$data".uperr* "$data.wrk"
curl -sS -o /dev/null -H "$auth" "$url/dumps/$big_id/summary?wait=60" || true
