// api.test.mjs: every resource of the REST API end to end over HTTP, on a real fixture dump, with
// the truth its scenario program reported: paging with cursors, sort and order, liveness, reference
// directions, all root paths, finalizer queues, string duplicates, managed thread ids, 202 and
// ?wait, ETag and 304, and the error statuses. Every response is recorded for the contract test
// (tests/contract/check.mjs validates them against openapi.yaml). Then, per resource, the CLI's
// `--json` output must equal the API's body for the same query.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import {
  CLI, api, fixture, marker, newDataDir, removeDataDir, startDaemon, stopDaemon, token, upload,
} from './daemon.mjs';

const run = promisify(execFile);
const main = fixture('main-wks-heap');
const locks = fixture('locks-wks-heap');
const truth = main.truth;
const thread = (name) => truth.threads.find((t) => t.name === name);
const lockAddr = (name) => truth.locks.find((l) => l.name === name).address;

let data, d, admin, reader, uploader, dumpId, base;

// One request of every analysis resource (addr: an object's address; thread: an id).
const everyResource = (addr, thread) => ['summary', 'gen/2', 'gen/2/objects', 'heap/stat', 'heap/objects', 'types',
  `objects/${addr}`, `objects/${addr}/refs`, `roots/${addr}`, `addresses/${addr}`, 'handles', 'finalizer',
  'fragmentation', 'strings', 'threads', `threads/${thread}/stack`, `threads/${thread}/objects`, 'locks', 'waits',
  'deadlocks', 'findings', 'report', 'dominators'];

before(async () => {
  data = newDataDir();
  admin = token(data, 'admin');
  reader = token(data, 'reader');
  uploader = token(data, 'uploader');
  d = await startDaemon(data, ['--max-upload-bytes', '1G']);
});

after(async () => {
  if (d) await stopDaemon(d);
  removeDataDir(indexDir);
  removeDataDir(data);
});

const get = (path, opts = {}) => api(d, path, { token: reader, ...opts });
async function ok(path) {
  const r = await get(`${base}/${path}`);
  assert.equal(r.status, 200, `${path}: ${r.text.slice(0, 400)}`);
  assert.equal(r.headers.get('content-type'), 'application/json');
  return r.json;
}

test('upload answers 201; analysis resources answer 202 with the job until ready, or wait for it', async () => {
  const up = await upload(d, uploader, main.dump, 'main-wks-heap.dmp');
  assert.equal(up.status, 201, up.text);
  dumpId = up.json.id;
  base = `/dumps/${dumpId}`;
  // asked at once: the analysis has not finished (a worker has to start and read the dump first)
  const pending = await get(`${base}/summary`);
  if (pending.status === 202) {
    assert.equal(pending.headers.get('location'), up.json.job);
    assert.equal(pending.headers.get('retry-after'), '2');
    assert.equal(pending.json.job, up.json.job);
    assert.ok(['queued', 'analysing'].includes(pending.json.status));
  } else {
    assert.equal(pending.status, 200, 'either 202 (not analysed yet) or 200');
  }
  const job = await get(`${up.json.job}?wait=60`);
  assert.equal(job.status, 200);
  assert.equal(job.json.state, 'done', job.text);
  const waited = await get(`${base}/summary?wait=60`);
  assert.equal(waited.status, 200, waited.text);
  assert.equal(waited.json.server_gc, false);
  assert.equal(waited.json.heap_count, truth.gc.heap_count);
  assert.ok(waited.json.objects > 0 && waited.json.live_objects <= waited.json.objects);
  assert.equal(waited.json.heap_errors, 0);
});

test('202 with the job while the analysis cannot run, ?wait=1 runs out with 202, 200 once it has run', async () => {
  // the daemon's supervisor (its child process) starts the workers: stopped, no analysis can finish
  const supervisors = execFileSync('pgrep', ['-P', String(d.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  assert.ok(supervisors.length >= 1, 'the daemon has a supervisor process');
  for (const pid of supervisors) process.kill(pid, 'SIGSTOP');
  let up, lbase;
  try {
    up = await upload(d, uploader, locks.dump, 'locks-wks-heap.dmp');
    assert.equal(up.status, 201, up.text);
    lbase = `/dumps/${up.json.id}`;
    for (const p of everyResource('0x10', 'm1')) {
      const r = await get(`${lbase}/${p}`);
      assert.equal(r.status, 202, `${p}: ${r.text}`);
      assert.equal(r.headers.get('location'), up.json.job);
      assert.equal(r.headers.get('retry-after'), '2');
      assert.equal(r.json.job, up.json.job);
      assert.ok(['queued', 'analysing'].includes(r.json.status));
    }
    const started = Date.now();
    const waited = await get(`${lbase}/locks?wait=1`);
    assert.equal(waited.status, 202);
    assert.ok(Date.now() - started >= 900, 'wait=1 held the request about a second');
    const jobWait = await get(`${up.json.job}?wait=1`);
    assert.equal(jobWait.status, 200);
    assert.ok(['queued', 'running'].includes(jobWait.json.state));
    assert.equal((await get(lbase)).json.status, jobWait.json.state === 'queued' ? 'queued' : 'analysing');
  } finally {
    for (const pid of supervisors) process.kill(pid, 'SIGCONT');
  }
  const r = await get(`${lbase}/locks?wait=60`);
  assert.equal(r.status, 200, r.text);
  // every lock kind of the locks scenario, shaped as the contract says
  const kinds = new Set(r.json.other_locks.map((l) => l.kind));
  for (const k of ['lock', 'reader-writer lock', 'semaphore', 'event']) assert.ok(kinds.has(k), `${k} in ${[...kinds]}`);
  assert.ok(r.json.monitors.length >= 1);
  const f = await get(`${lbase}/findings`);
  assert.equal(f.status, 200);
  assert.ok(f.json.findings.some((x) => x.title === 'Deadlock'));
  // admins remove it again (the other e2e file counts the dumps of its own daemon only)
  assert.equal((await api(d, lbase, { token: uploader, method: 'DELETE' })).status, 403);
  const del = await api(d, lbase, { token: admin, method: 'DELETE' });
  assert.equal(del.status, 200);
  assert.deepEqual(del.json, { deleted: up.json.id });
  assert.equal((await get(lbase)).status, 404);
  assert.equal((await api(d, lbase, { token: admin, method: 'DELETE' })).status, 404);
});

test('gen/{gen}: truth counts, sort and order, paging with the cursor, filters and liveness', async () => {
  const inv = truth.types['Scenarios.Invoice'];
  const all = await ok('gen/2?limit=10000');
  const row = all.types.find((t) => t.type === 'Scenarios.Invoice');
  assert.equal(row.count, inv.count);
  assert.equal(row.total_size, inv.total_size);
  assert.equal(all.total, all.type_count);
  assert.equal(all.next_cursor, null);
  assert.equal(all.types.reduce((s, t) => s + t.count, 0), all.object_count);
  // paging: two pages of 5 are the first 10 rows
  const p1 = await ok('gen/2?limit=5');
  const p2 = await ok(`gen/2?limit=5&cursor=${p1.next_cursor}`);
  assert.deepEqual([...p1.types, ...p2.types], all.types.slice(0, 10));
  // sort and order
  const byCount = await ok('gen/2?sort=count&limit=10000');
  for (let i = 1; i < byCount.types.length; i++) assert.ok(byCount.types[i - 1].count >= byCount.types[i].count);
  const asc = await ok('gen/2?sort=count&order=asc&limit=10000');
  assert.deepEqual(asc.types.map((t) => t.type), [...byCount.types].reverse().map((t) => t.type));
  const byName = await ok('gen/2?sort=name&limit=10000');
  assert.equal(byName.order, 'asc');
  // filters
  const exact = await ok('gen/2?type=Scenarios.Invoice&exact=true');
  assert.deepEqual(exact.types.map((t) => t.type), ['Scenarios.Invoice']);
  const sized = await ok('gen/2?min_size=56&max_size=56&limit=10000');
  assert.ok(sized.types.some((t) => t.type === 'Scenarios.Invoice'));
  const noStrings = await ok('gen/2?strings=false&limit=10000');
  assert.equal(noStrings.types.some((t) => t.type === 'System.String'), false);
  const live = await ok('gen/2?liveness=live&limit=1');
  const dead = await ok('gen/2?liveness=dead&limit=1');
  assert.equal(live.object_count + dead.object_count, all.object_count);
  const loh = await ok('gen/loh?type=System.Byte[]&exact=true');
  assert.ok(loh.types[0].count >= truth.scenario_data.leak.loh_array_count);
  // the same answer again with its ETag: 304, no body
  const first = await get(`${base}/gen/2?limit=5`);
  const again = await get(`${base}/gen/2?limit=5`, { headers: { 'If-None-Match': first.headers.get('etag') } });
  assert.equal(again.status, 304);
  assert.equal(again.text, '');
  assert.equal(again.headers.get('etag'), first.headers.get('etag'));
  assert.equal(first.headers.get('cache-control'), 'private, max-age=86400');
});

test('gen/{gen}/objects and heap/objects: address order, cursor paging, filters', async () => {
  const p1 = await ok('gen/2/objects?limit=3');
  assert.equal(p1.objects.length, 3);
  const p2 = await ok(`gen/2/objects?limit=3&cursor=${p1.next_cursor}`);
  const addrs = [...p1.objects, ...p2.objects].map((o) => BigInt(o.address));
  for (let i = 1; i < addrs.length; i++) assert.ok(addrs[i - 1] < addrs[i]);
  assert.ok(p1.objects.every((o) => o.generation === 'gen2'));
  const m = marker(truth, 'marker.local');
  const markers = await ok('heap/objects?type=Scenarios.Marker&exact=true');
  assert.deepEqual(markers.objects.map((o) => o.address), [m.address]);
  assert.equal(markers.next_cursor, null);
  const dead = await ok('heap/objects?liveness=dead&gen=2&limit=5');
  assert.ok(dead.objects.every((o) => o.live === false));
  const free = await ok('heap/objects?free=true&limit=5');
  assert.ok(free.objects.every((o) => o.type === 'Free'));
});

test('heap/stat and types: the whole heap, live + dead = all, q matches names', async () => {
  const any = await ok('heap/stat?limit=1');
  const live = await ok('heap/stat?liveness=live&limit=1');
  const dead = await ok('heap/stat?liveness=dead&limit=1');
  assert.equal(live.object_count + dead.object_count, any.object_count);
  const gen2 = await ok('heap/stat?gen=2&type=Scenarios.Invoice&exact=true');
  assert.equal(gen2.types[0].count, truth.types['Scenarios.Invoice'].count);
  const free = await ok('heap/stat?free=true');
  assert.deepEqual(free.types.map((t) => t.type), ['Free']);
  const types = await ok('types?q=Scenarios.Invoice&limit=1000');
  assert.deepEqual(types.types.map((t) => t.type).sort(),
    ['Scenarios.Invoice', 'Scenarios.Invoice[]', 'System.Collections.Generic.List`1[[Scenarios.Invoice, Scenarios]]']);
  const named = await ok('types?q=Scenarios.&sort=name&limit=2');
  assert.ok(named.types[0].type < named.types[1].type);
  assert.equal(typeof named.next_cursor, 'string');
});

test('objects/{addr}: fields with values, array elements paged, strings; inside an object is a 404', async () => {
  const inv = marker(truth, 'invoice.first');
  const number = truth.strings.find((s) => s.name === 'invoice.first.number');
  const o = await ok(`objects/${inv.address}`);
  assert.equal(o.type, 'Scenarios.Invoice');
  assert.equal(o.size, inv.size);
  assert.equal(o.generation, 'gen2');
  assert.equal(o.live, true);
  const f = o.fields.find((x) => x.name === 'Number');
  assert.equal(f.value.address, number.address);
  assert.equal(f.value.string, number.value);
  const bare = await ok(`objects/${inv.address.slice(2).toUpperCase()}`);
  assert.equal(bare.address, inv.address);
  const items = marker(truth, 'invoice.list.items');
  const arr = await ok(`objects/${items.address}?offset=1&limit=2`);
  assert.equal(arr.length, truth.scenario_data.leak.invoice_count);
  assert.equal(arr.element_offset, 1);
  assert.equal(arr.elements.length, 2);
  const s = await ok(`objects/${number.address}`);
  assert.equal(s.string, number.value);
  assert.equal(s.length, number.length);
  const inside = await get(`${base}/objects/0x${(BigInt(inv.address) + 8n).toString(16)}`);
  assert.equal(inside.status, 404);
  assert.match(inside.json.error.message, /inside object/);
});

test('objects/{addr}/refs: direction=in and out, fields named', async () => {
  const inv = marker(truth, 'invoice.first');
  const cust = marker(truth, 'customer.first');
  const both = await ok(`objects/${inv.address}/refs`);
  const inn = await ok(`objects/${inv.address}/refs?direction=in`);
  const out = await ok(`objects/${inv.address}/refs?direction=out&limit=1`);
  assert.equal(inn.references, undefined);
  assert.deepEqual(inn.referenced_by, both.referenced_by);
  assert.equal(out.referenced_by, undefined);
  assert.equal(out.references.length, 1);
  assert.equal(out.references_count, both.references_count);
  assert.ok(both.referenced_by.some((r) => r.address === cust.address && r.type === 'Scenarios.Customer'));
  assert.ok(both.references.some((r) => r.field === 'Number'));
});

test('roots/{addr}: the marker is rooted by its thread; all=true gives one path per root; dead objects have none', async () => {
  const m = marker(truth, 'marker.local');
  const one = await ok(`roots/${m.address}`);
  assert.equal(one.paths.length, 1);
  assert.equal(one.paths[0].root.kind, 'stack');
  assert.equal(one.paths[0].root.thread.os_id, thread('marker-holder').os_id);
  assert.equal(one.paths[0].objects.at(-1).address, m.address);
  const all = await ok(`roots/${m.address}?all=true`);
  assert.ok(all.paths.length >= one.paths.length);
  assert.equal(new Set(all.paths.map((p) => `${p.root.kind}@${p.root.address}`)).size, all.paths.length);
  assert.equal(all.truncated, false);
  const capped = await ok(`roots/${m.address}?all=true&limit=1`);
  assert.equal(capped.paths.length, 1);
  const deadObj = (await ok('heap/objects?liveness=dead&strings=false&limit=1')).objects[0];
  const dead = await ok(`roots/${deadObj.address}`);
  assert.equal(dead.live, false);
  assert.deepEqual(dead.paths, []);
});

test('addresses/{addr}: an interior address resolves to its object and generation', async () => {
  const inv = marker(truth, 'invoice.first');
  const a = await ok(`addresses/0x${(BigInt(inv.address) + 8n).toString(16)}`);
  assert.equal(a.object.address, inv.address);
  assert.equal(a.generation, 'gen2');
  const outside = await get(`${base}/addresses/0x10`);
  assert.equal(outside.status, 404);
  assert.match(outside.json.error.message, /not in the GC heap/);
});

test('handles, finalizer queues (finalizable, ready, stat, paging), fragmentation', async () => {
  const h = await ok('handles?limit=2');
  assert.equal(Object.values(h.kinds).reduce((s, k) => s + k.count, 0), h.total);
  assert.ok(Object.values(h.kinds).every((k) => k.handles.length <= 2));
  assert.ok(h.kinds['pinned handle'].count >= 64);
  const fin = truth.finalizer;
  const finq = await ok('finalizer?stat=true');
  assert.equal(finq.queue, 'finalizable');
  assert.equal(finq.by_type.find((t) => t.type === fin.type).count, fin.undisposed);
  assert.equal(finq.objects, undefined);
  assert.equal(finq.finalizer_thread.os_id, fin.blocked_finalizer_thread_os_id);
  const ready = await ok('finalizer?queue=ready&stat=true');
  assert.equal(ready.queue, 'ready');
  assert.equal(ready.by_type.find((t) => t.type === fin.ready_type).count, fin.ready_for_finalization);
  const p1 = await ok('finalizer?queue=ready&limit=150');
  assert.equal(p1.total, ready.count);
  const p2 = await ok(`finalizer?queue=ready&limit=150&cursor=${p1.next_cursor}`);
  assert.equal(p1.objects.length + p2.objects.length, ready.count);
  assert.equal(p2.next_cursor, null);
  const frag = await ok('fragmentation?limit=2');
  assert.ok(frag.pinned_gap_holders.length <= 2);
  assert.ok(frag.pinned_gap_holders_count >= frag.pinned_gap_holders.length);
  const g2 = frag.generations.find((g) => g.generation === 'gen2');
  assert.ok(g2.free_bytes > 0 && g2.fragmentation > 0 && g2.fragmentation < 1);
});

test('strings: search, min_length, duplicates with the truth count', async () => {
  const s = await ok('strings?q=INV-00000&limit=3');
  assert.equal(s.matched, 10);
  assert.equal(s.strings.length, 3);
  assert.ok(s.strings.every((x) => x.value.startsWith('INV-00000') && x.length === 10));
  const long = await ok(`strings?min_length=${truth.scenario_data.strings.large_length}`);
  assert.ok(long.strings.some((x) => x.address === truth.strings.find((t) => t.name === 'large').address));
  const dups = await ok('strings?duplicates=true&limit=5');
  const want = truth.scenario_data.strings.duplicates[0];
  const group = dups.duplicates.find((g) => g.value === want.value);
  assert.equal(group.count, want.count);
  assert.equal(group.total_size, want.total_size);
  assert.ok(dups.duplicates.length <= 5 && dups.duplicate_groups >= dups.duplicates.length);
});

test('threads (paged), stack and objects by OS id and managed id (m4)', async () => {
  const all = await ok('threads?limit=10000');
  for (const t of truth.threads) {
    const row = all.threads.find((x) => x.os_id === t.os_id);
    assert.ok(row, `thread ${t.name}`);
    assert.equal(row.managed_id, t.managed_id);
  }
  const p1 = await ok('threads?limit=2');
  const p2 = await ok(`threads?limit=2&cursor=${p1.next_cursor}`);
  assert.deepEqual([...p1.threads, ...p2.threads], all.threads.slice(0, 4));
  assert.equal(all.threads.find((x) => x.finalizer).os_id, truth.finalizer.blocked_finalizer_thread_os_id);
  const holder = thread('marker-holder');
  const byOs = await ok(`threads/${holder.os_id}/stack`);
  const byManaged = await ok(`threads/m${holder.managed_id}/stack`);
  assert.deepEqual(byManaged, byOs);
  assert.ok(byOs.frames.some((f) => f.method.startsWith(truth.scenario_data.leak.marker_method)));
  assert.equal(byOs.waiting_on.kind, 'sleep');
  const objs = await ok(`threads/m${holder.managed_id}/objects`);
  const m = marker(truth, 'marker.local');
  assert.ok(objs.frames.some((f) => f.objects.some((o) => o.address === m.address)));
});

test('locks, waits, deadlocks, findings answer with the scenario truth', async () => {
  const os = (name) => thread(name).os_id;
  const l = await ok('locks');
  for (const lock of truth.locks) {
    const mon = l.monitors.find((x) => x.object.address === lock.address);
    assert.ok(mon, `lock ${lock.name}`);
    assert.equal(mon.held_by.os_id, os(lock.held_by));
    assert.deepEqual(mon.waiters.map((w) => w.os_id).sort(), lock.waiters.map(os).sort());
  }
  const w = await ok('waits');
  const t3 = w.waits.find((x) => x.os_id === os('T3'));
  assert.equal(t3.waiting_on.object.address, lockAddr('C'));
  assert.equal(t3.waiting_on.held_by.os_id, os('T4'));
  const dl = await ok('deadlocks');
  assert.equal(dl.deadlocks.length, truth.deadlocks.length);
  assert.deepEqual(dl.deadlocks[0].threads.map((t) => t.os_id).sort(), truth.deadlocks[0].map(os).sort());
  for (const member of dl.deadlocks[0].threads) assert.equal(member.holds.length, 1);
  assert.ok(dl.contention.some((c) => c.object.address === lockAddr('C') && c.held_by.os_id === os('T4')));
  const f = await ok('findings');
  const titles = f.findings.map((x) => x.title);
  assert.ok(titles.includes('Deadlock'));
  assert.ok(titles.includes('Blocked finalizer thread'));
});

test('every resource: 304 for its ETag, 401 without a token, 404 for an unknown dump', async () => {
  for (const p of everyResource(marker(truth, 'marker.local').address, 'm1')) {
    const r = await get(`${base}/${p}`);
    assert.equal(r.status, 200, p);
    const etag = r.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}-v\d+-[0-9a-f]+"$/);
    const again = await get(`${base}/${p}`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, p);
    assert.equal((await get(`${base}/${p}`, { headers: { 'If-None-Match': '"other"' } })).status, 200, p);
    const anon = await api(d, `${base}/${p}`);
    assert.equal(anon.status, 401, p);
    assert.equal(anon.headers.get('www-authenticate'), 'Bearer');
    const bad = await api(d, `${base}/${p}`, { token: 'dst_nonsense' });
    assert.equal(bad.status, 401, p);
    assert.match(bad.headers.get('www-authenticate'), /invalid_token/);
    const none = await get(`/dumps/ffffffffffffffff/${p}`);
    assert.equal(none.status, 404, p);
    assert.equal(none.json.error.code, 'dump_not_found');
  }
});

test('bad parameters of every resource are 400s naming the parameter; unknown things are 404s', async () => {
  const m = marker(truth, 'marker.local').address;
  for (const p of everyResource(m, 'm1')) {
    const r = await get(`${base}/${p}?bogus=1`);
    assert.equal(r.status, 400, p);
    assert.equal(r.json.error.code, 'invalid_argument');
    assert.match(r.json.error.message, /bogus/);
  }
  const cases = [
    ['gen/2?limit=0', 400, /limit/], ['gen/2?limit=10001', 400, /limit/], ['gen/2?cursor=abc', 400, /cursor/],
    ['gen/2?cursor=%205', 400, /cursor/], ['gen/2?sort=weight', 400, /sort/], ['gen/2?order=up', 400, /order/],
    ['gen/2?min_size=9&max_size=3', 400, /min_size/], ['gen/2?exact=maybe', 400, /exact/], ['gen/x', 400, /generation/],
    ['gen/2/objects?cursor=0xZZ', 400, /cursor/], ['heap/stat?gen=7', 400, /generation/],
    [`objects/${m}?limit=1001`, 400, /limit/], [`objects/${m}/refs?direction=sideways`, 400, /direction/],
    [`roots/${m}?all=perhaps`, 400, /all/], ['finalizer?queue=later', 400, /queue/], ['strings?min_length=-1', 400, /min_length/],
    ['threads/abc/stack', 400, /thread/], ['threads/m/stack', 400, /thread/], ['objects/0x', 400, /addr/],
    ['objects/0x12345678901234567', 400, /addr/], ['summary?wait=-1', 400, /wait/],
    ['objects/0x10', 404, /not an object/], ['threads/m99999/objects', 404, /managed thread/],
  ];
  for (const [p, status, message] of cases) {
    const r = await get(`${base}/${p}`);
    assert.equal(r.status, status, `${p}: ${r.text}`);
    assert.match(r.json.error.message, message, p);
  }
  // routes that are not there, methods a path does not take, no token, a path too long
  assert.equal((await get(`${base}/gen/2/`)).status, 200);
  assert.equal((await get(`${base}/gen/2//`)).status, 404);
  assert.equal((await get(`${base}/gen//objects`)).status, 404);
  assert.equal((await get(`${base}/nonsense`)).json.error.code, 'route_not_found');
  assert.equal((await api(d, `${base}/gen/2`)).status, 401);
  assert.equal((await api(d, `${base}/gen/2`, { token: reader, method: 'POST', body: 'x' })).status, 405);
  assert.equal((await api(d, '/health', { method: 'DELETE' })).status, 405);
  assert.equal((await api(d, '/jobs/1', { token: reader, method: 'DELETE' })).status, 405);
  const del = await api(d, '/dumps', { token: admin, method: 'PUT', body: 'x' });
  assert.equal(del.status, 405);
  assert.equal(del.headers.get('allow'), 'GET, POST');
  const long = await get(`${base}/objects/${'a'.repeat(1100)}`);
  assert.equal(long.status, 414);
  const forty = Array.from({ length: 40 }, (_, i) => `p${i}=1`).join('&');
  for (const p of [`${base}/summary?${forty}`, `/health?${forty}`]) {
    const many = await get(p);
    assert.equal(many.status, 400, p);
    assert.match(many.json.error.message, /too many parameters/);
  }
  assert.equal((await get(`${base}?limit=3`)).status, 400);
  assert.equal((await api(d, `${base}?now=1`, { token: admin, method: 'DELETE' })).status, 400);
  assert.equal((await api(d, base)).status, 401);
  assert.equal((await api(d, '/jobs/1')).status, 401);
  assert.equal((await api(d, base, { method: 'DELETE' })).status, 401);
  assert.equal((await api(d, '/dumps', { method: 'POST', body: 'x' })).status, 401);
  assert.equal((await get('/jobs/1?bogus=1')).status, 400);
  assert.equal((await get('/jobs/999999')).json.error.code, 'job_not_found');
  assert.equal((await get('/jobs/1?wait=x')).status, 400);
  assert.equal((await get('/dumps?cursor=zz')).status, 400);
  assert.equal((await get('/dumps?limit=1001')).status, 400);
  assert.equal((await get('/dumps?sort=new')).status, 400);
  const listed = await get('/dumps?limit=1');
  assert.equal(listed.json.limit, 1);
  // the web UI's shell needs no token (it may not be installed in a build tree)
  for (const p of ['/', '/app.js', '/app.css', '/ui/dumps']) assert.ok([200, 404].includes((await api(d, p)).status), p);
});

// ---- the CLI's --json output equals the API's body for the same query -----------------------------

let indexDir;
async function cliJson(args) {
  indexDir ??= newDataDir();
  const { stdout } = await run(CLI, [...args.slice(0, 1), main.dump, ...args.slice(1), '--json', '--index',
    join(indexDir, 'main.dsindex')], { maxBuffer: 1 << 26 });
  return JSON.parse(stdout);
}

const SAME = () => {
  const m = marker(truth, 'marker.local').address;
  const inv = marker(truth, 'invoice.first').address;
  const items = marker(truth, 'invoice.list.items').address;
  const holder = thread('marker-holder');
  return [
    ['summary', ['summary'], 'summary'],
    ['heap', ['heap', '--limit', '3'], 'heap?limit=3'],
    ['mdt', ['mdt', 'Scenarios.Invoice'], 'types/Scenarios.Invoice'],
    ['mx', ['mx', 'Scenarios.Inv*'], 'search?q=Scenarios.Inv*'],
    ['mln', ['mln', inv], `memory/${inv}`],
    ['frames', ['frames', `m${holder.managed_id}`], `threads/m${holder.managed_id}/frames`],
    ['gen', ['gen', '2', '--by-count', '--limit', '7'], 'gen/2?sort=count&limit=7'],
    ['gen_objects', ['gen_objects', '2', '--limit', '4', '--after', inv], `gen/2/objects?limit=4&cursor=${inv}`],
    ['heap_stat', ['heap_stat', '--dead', '--nostrings', '--limit', '6'], 'heap/stat?liveness=dead&strings=false&limit=6'],
    ['heap_objects', ['heap_objects', '--type', 'Scenarios.Marker', '--gen', '2', '--limit', '5'],
      'heap/objects?type=Scenarios.Marker&gen=gen2&limit=5'],
    ['types', ['types', '--type', 'Invoice', '--limit', '3'], 'types?q=Invoice&limit=3'],
    ['object', ['object', items, '--offset', '2', '--limit', '3'], `objects/${items}?offset=2&limit=3`],
    ['refs', ['refs', inv, '--limit', '2'], `objects/${inv}/refs?limit=2`],
    ['roots', ['roots', m, '--all', '--limit', '5'], `roots/${m}?all=true&limit=5`],
    ['address', ['address', inv], `addresses/${inv}`],
    ['handles', ['handles', '--limit', '2'], 'handles?limit=2'],
    ['finalizer', ['frq', '--limit', '5'], 'finalizer?queue=ready&limit=5'],
    ['fragmentation', ['fragmentation', '--limit', '3'], 'fragmentation?limit=3'],
    ['strings', ['strings', '--duplicates', '--limit', '3'], 'strings?duplicates=true&limit=3'],
    ['threads', ['threads', '--limit', '3'], 'threads?limit=3'],
    ['stack', ['stack', `m${holder.managed_id}`], `threads/m${holder.managed_id}/stack`],
    ['thread_objects', ['thread_objects', String(holder.os_id)], `threads/${holder.os_id}/objects`],
    ['locks', ['locks'], 'locks'],
    ['waits', ['waits'], 'waits'],
    ['deadlocks', ['deadlocks'], 'deadlocks'],
    ['findings', ['findings'], 'findings'],
    ['report', ['analyze'], 'report'],
    ['dominators', ['dominators', '--limit', '5'], 'dominators?limit=5'],
    ['diff', ['diff', main.dump], `diff?base=${dumpId}`],
    ['mk', ['mk', String(thread('frame-args').os_id)], `threads/${thread('frame-args').os_id}/mixed`],
    ['muf', ['muf', 'Scenarios.FrameArgsScenario.Hold'], 'methods/Scenarios.FrameArgsScenario.Hold/code'],
    ['mu', async () => ['mu', await holdIp(), '--around', '4'], async () => `code/${await holdIp()}?around=4`],
  ];
};

// The return address into Hold on the frame-args thread (mu's address).
async function holdIp() {
  const stack = await ok(`threads/${thread('frame-args').os_id}/stack`);
  return stack.frames.find((f) => f.method.startsWith('Scenarios.FrameArgsScenario.Hold(')).ip;
}

for (const name of SAME().map((x) => x[0])) {
  test(`CLI --json equals the API body: ${name}`, async () => {
    const [, argsOf, pathOf] = SAME().find((x) => x[0] === name);
    const args = typeof argsOf === 'function' ? await argsOf() : argsOf;
    const path = typeof pathOf === 'function' ? await pathOf() : pathOf;
    const cli = await cliJson(args);
    const http = await ok(path);
    // the two indexes were built apart (the CLI's beside its own copy of the dump): where and how
    // long differ, nothing else
    const apart = { summary: [[null], ['dump', 'build_ms']], report: [['summary'], ['dump', 'analysis_ms']],
      diff: [['before', 'after'], ['dump']] }[name];
    for (const side of apart ? apart[0] : []) {
      const c = side ? cli[side] : cli, h = side ? http[side] : http;
      for (const k of apart[1]) {
        assert.equal(typeof c[k], typeof h[k]);
        delete c[k];
        delete h[k];
      }
    }
    assert.deepStrictEqual(cli, http);
  });
}

test('every resource of the table has a CLI-equals-API test', async () => {
  // `dumpscope help` lists the table: "  NAME  help" followed by "      /ROUTE ..."
  const { stdout, stderr } = await run(CLI, ['help']).catch((e) => e);
  const lines = `${stdout}${stderr}`.split('\n');
  const table = [];
  for (let i = 1; i < lines.length; i++)
    if (/^ {6}\//.test(lines[i])) table.push(lines[i - 1].trim().split(/\s+/)[0]);
  assert.ok(table.length >= 21, `the help lists the resources: ${table}`);
  assert.deepEqual([...new Set(table)].sort(), SAME().map((x) => x[0]).sort());
});
