// service.test.mjs: the daemon end to end over HTTP on 127.0.0.1, with real fixture dumps and the
// truth their scenario programs reported: upload -> automatic analysis -> the three mission
// endpoints; auth and roles; bad input; a worker killed mid-job; the daemon killed mid-upload and
// mid-analysis and restarted; the DAC never mapped in the daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  api, fixture, marker, newDataDir, recordRaw, removeDataDir, sleep, startDaemon, stopDaemon, token, upload, waitJob, workerPids,
} from './daemon.mjs';

const main = fixture('main-wks-heap');
const truth = main.truth;
const threadOs = (name) => truth.threads.find((t) => t.name === name).os_id;

let data, d, admin, reader, uploader, dumpId;

before(async () => {
  data = newDataDir();
  admin = token(data, 'admin');
  reader = token(data, 'reader');
  uploader = token(data, 'uploader');
  d = await startDaemon(data, ['--max-upload-bytes', '1G']);
});

after(async () => {
  if (d) await stopDaemon(d);
  removeDataDir(data);
});

test('health needs no token; everything else does, with the right role', async () => {
  const h = await api(d, '/health');
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'ok');
  let r = await api(d, '/dumps');
  assert.equal(r.status, 401);
  assert.equal(r.json.error.code, 'unauthorized');
  assert.match(r.headers.get('www-authenticate'), /Bearer/);
  r = await api(d, '/dumps', { token: 'dst_' + '0'.repeat(64) });
  assert.equal(r.status, 401);
  r = await api(d, '/dumps', { token: reader });
  assert.equal(r.status, 200);
  r = await api(d, '/dumps', { token: reader, method: 'POST', body: 'x' });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'forbidden');
  r = await api(d, '/dumps/0123456789abcdef', { token: uploader, method: 'DELETE' });
  assert.equal(r.status, 403);
  r = await api(d, '/metrics');
  assert.equal(r.status, 401);
  r = await api(d, '/metrics', { token: reader });
  assert.equal(r.status, 200);
  assert.match(r.text, /^# HELP dumpscope_/);
});

test('/me tells each token its role and what it may do; no token is a 401', async () => {
  const want = {
    [reader]: ['reader', false, false],
    [uploader]: ['uploader', true, false],
    [admin]: ['admin', true, true],
  };
  for (const [t, [role, up, del]] of Object.entries(want)) {
    const r = await api(d, '/me', { token: t });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { role, can_upload: up, can_import: up, can_delete: del, max_upload_bytes: 1 << 30 });
  }
  assert.equal((await api(d, '/me')).status, 401);
  assert.equal((await api(d, '/me', { token: 'dst_' + '0'.repeat(64) })).status, 401);
  const post = await api(d, '/me', { token: admin, method: 'POST', body: '' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET');
});

test('upload -> automatic analysis -> gen/2, roots, deadlocks answer with the truth', async () => {
  const up = await upload(d, uploader, main.dump, 'main-wks-heap.dmp');
  assert.equal(up.status, 201, up.text);
  dumpId = up.json.id;
  assert.match(dumpId, /^[0-9a-f]{16}$/);
  assert.equal(up.headers.get('location'), `/dumps/${dumpId}`);
  assert.equal(up.json.name, 'main-wks-heap.dmp');
  assert.ok(['queued', 'analysing'].includes(up.json.status));

  // the same bytes again: the same dump, not stored twice
  const again = await upload(d, uploader, main.dump);
  assert.equal(again.status, 200);
  assert.equal(again.json.id, dumpId);
  assert.equal(again.json.existed, true);

  const gen2 = await api(d, `/dumps/${dumpId}/gen/2?wait=60&limit=1000`, { token: reader });
  assert.equal(gen2.status, 200, gen2.text);
  const invoice = gen2.json.types.find((t) => t.type === 'Scenarios.Invoice');
  assert.equal(invoice.count, truth.types['Scenarios.Invoice'].count);
  assert.equal(invoice.total_size, truth.types['Scenarios.Invoice'].total_size);
  assert.equal(gen2.json.total, gen2.json.type_count);
  assert.ok(gen2.headers.get('etag'));

  const m = marker(truth, 'marker.local');
  const roots = await api(d, `/dumps/${dumpId}/roots/${m.address}`, { token: reader });
  assert.equal(roots.status, 200, roots.text);
  assert.ok(roots.json.paths.length >= 1);
  const root = roots.json.paths[0].root;
  assert.equal(root.thread.os_id, threadOs('marker-holder'));
  const last = roots.json.paths[0].objects.at(-1);
  assert.equal(last.address, m.address);
  assert.equal(last.type, 'Scenarios.Marker');

  const dl = await api(d, `/dumps/${dumpId}/deadlocks`, { token: reader });
  assert.equal(dl.status, 200, dl.text);
  assert.equal(dl.json.deadlocks.length, truth.deadlocks.length);
  const members = dl.json.deadlocks[0].threads.map((t) => t.os_id).sort();
  assert.deepEqual(members, truth.deadlocks[0].map(threadOs).sort());
  const lockC = truth.locks.find((l) => l.name === 'C');
  assert.ok(dl.json.contention.some((c) => c.object.address === lockC.address));
});

test('dump and job resources; list paging and status filter', async () => {
  const one = await api(d, `/dumps/${dumpId}`, { token: reader });
  assert.equal(one.status, 200);
  assert.equal(one.json.status, 'ready');
  assert.equal(one.json.runtime_version.split('.')[0], truth.runtime_version.split('.')[0]);
  assert.equal(one.json.gc_mode, 'workstation');
  assert.equal(one.json.size, readFileSync(main.dump).length);
  const job = await api(d, one.json.job, { token: reader });
  assert.equal(job.json.state, 'done');
  assert.equal(job.json.progress.percent, 100);
  const list = await api(d, '/dumps?status=ready', { token: reader });
  assert.ok(list.json.dumps.some((x) => x.id === dumpId));
  assert.equal(list.json.total, list.json.dumps.length);
  const none = await api(d, '/dumps?status=failed', { token: reader });
  assert.equal(none.json.dumps.some((x) => x.id === dumpId), false);
  const bad = await api(d, '/dumps?status=happy', { token: reader });
  assert.equal(bad.status, 400);
});

test('analysis answers carry an ETag; If-None-Match gets 304', async () => {
  const r = await api(d, `/dumps/${dumpId}/threads`, { token: reader });
  assert.equal(r.status, 200);
  const etag = r.headers.get('etag');
  const again = await api(d, `/dumps/${dumpId}/threads`, { token: reader, headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
});

function rawRequest(text) {
  const [method, path] = text.split(' ');
  return rawExchange(text).then((out) => {
    recordRaw(method, path, out);
    return out;
  });
}

function rawExchange(text) {
  return new Promise((resolve, reject) => {
    const u = new URL(d.url);
    const s = connect(Number(u.port), u.hostname, () => s.write(text));
    let out = '';
    s.on('data', (c) => (out += c.toString()));
    s.on('end', () => resolve(out));
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve(out); }, 5000);
  });
}

test('bad uploads are refused with the reason, nothing stays, the daemon serves on', async () => {
  const tmp = newDataDir();
  const random = join(tmp, 'random.bin');
  writeFileSync(random, Buffer.alloc(1 << 16, 7));
  let r = await upload(d, uploader, random);
  assert.equal(r.status, 415, r.text);
  assert.equal(r.json.error.code, 'not_a_dump');
  // the message speaks of the upload, not of the server's temporary file
  assert.match(r.json.error.message, /^the upload is not a dump/);
  assert.equal(r.json.error.message.includes(data), false);

  const mini = join(tmp, 'mini.dmp');
  const mdmp = Buffer.alloc(4096);
  mdmp.write('MDMP', 0);
  mdmp.writeUInt32LE(0xa793, 4);
  writeFileSync(mini, mdmp);
  r = await upload(d, uploader, mini);
  assert.equal(r.status, 415, r.text);
  assert.equal(r.json.error.code, 'unsupported');
  assert.match(r.json.error.message, /minidump/i);
  assert.equal(r.json.error.message.includes(data), false);

  const cut = join(tmp, 'cut.dmp');
  const fd = openSync(main.dump, 'r');
  const head = Buffer.alloc(1 << 20);
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  writeFileSync(cut, head);
  r = await upload(d, uploader, cut);
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error.code, 'truncated');

  r = await api(d, '/dumps', { token: uploader, method: 'POST', body: '' });
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /empty/);

  const big = await rawRequest(
    `POST /dumps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${uploader}\r\nContent-Length: ${2 ** 31}\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 413/);
  assert.match(big, /payload_too_large/);

  r = await api(d, '/dumps', { token: uploader, method: 'POST', body: 'x', headers: { 'Content-Type': 'multipart/form-data; boundary=z' } });
  assert.equal(r.status, 415);

  assert.deepEqual(readdirSync(join(data, 'tmp')), []);
  const list = await api(d, '/dumps', { token: reader });
  assert.equal(list.json.total, 1);
  assert.equal((await api(d, '/health')).status, 200);
});

test('unknown ids, malformed addresses and parameters get 4xx JSON errors', async () => {
  const cases = [
    [`/dumps/ffffffffffffffff`, 404, 'dump_not_found'],
    [`/dumps/ffffffffffffffff/gen/2`, 404, 'dump_not_found'],
    [`/dumps/not-an-id/gen/2`, 404, 'dump_not_found'],
    [`/dumps/${dumpId}/nonsense`, 404, 'route_not_found'],
    [`/dumps/${dumpId}/gen/7`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/roots/0xZZZ`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/roots/0x10`, 404, 'not_found'],
    [`/dumps/${dumpId}/objects/12345678901234567890`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/gen/2?limit=0`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/gen/2?limit=abc`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/gen/2?bogus=1`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/gen/2?cursor=-4`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/threads/999999/stack`, 404, 'not_found'],
    [`/dumps/${dumpId}/threads/m99999/stack`, 404, 'not_found'],
    [`/dumps/${dumpId}/gen/2?wait=soon`, 400, 'invalid_argument'],
    [`/dumps/${dumpId}/gen/2?liveness=maybe`, 400, 'invalid_argument'],
    [`/jobs/0`, 404, 'job_not_found'],
    [`/jobs/abc`, 404, 'job_not_found'],
    [`/nothing-here`, 404, 'route_not_found'],
  ];
  for (const [path, status, code] of cases) {
    const r = await api(d, path, { token: reader });
    assert.equal(r.status, status, `${path}: ${r.text.slice(0, 300)}`);
    assert.equal(r.json.error.code, code, path);
    assert.ok(r.json.error.message.length > 0);
  }
  const del = await api(d, `/dumps/${dumpId}/gen/2`, { token: admin, method: 'DELETE' });
  assert.equal(del.status, 405);
  assert.equal((await api(d, '/health')).status, 200);
});

test('the daemon never maps the DAC, after serving every kind of query', async () => {
  const m = marker(truth, 'marker.local');
  for (const p of ['summary', 'heap', 'gen/0', 'gen/2/objects?limit=5', 'heap/stat?liveness=dead', 'types?q=Invoice',
    `objects/${m.address}`, `objects/${m.address}/refs`, `roots/${m.address}?all=true`, `addresses/${m.address}`,
    'handles', 'finalizer?queue=ready', 'fragmentation', 'strings?duplicates=true', 'threads',
    `threads/${threadOs('main')}/stack`, `threads/m1/objects`, 'locks', 'waits', 'deadlocks', 'findings']) {
    const r = await api(d, `/dumps/${dumpId}/${p}`, { token: reader });
    assert.equal(r.status, 200, `${p}: ${r.text.slice(0, 300)}`);
  }
  const maps = readFileSync(`/proc/${d.pid}/maps`, 'utf8');
  assert.equal(maps.includes('libmscordaccore'), false);
  assert.equal(maps.includes('libcoreclr'), false);
});

test('a worker killed with SIGKILL fails its job with the reason; the daemon serves on', async () => {
  const other = fixture('main-svr-heap');
  const up = await upload(d, uploader, other.dump);
  assert.equal(up.status, 201, up.text);
  let pids = [];
  for (let i = 0; i < 400 && pids.length === 0; i++) {
    pids = workerPids(data);
    if (!pids.length) await sleep(25);
  }
  assert.ok(pids.length > 0, `the worker never started; daemon log: ${d.log.join('').slice(-3000)}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  const job = await waitJob(d, reader, up.json.job, ['failed', 'done']);
  assert.equal(job.state, 'failed');
  assert.match(job.error, /signal 9/);
  const dump = await api(d, `/dumps/${up.json.id}`, { token: reader });
  assert.equal(dump.json.status, 'failed');
  const q = await api(d, `/dumps/${up.json.id}/gen/2`, { token: reader });
  assert.equal(q.status, 422);
  assert.equal(q.json.error.code, 'analysis_failed');
  for (const p of ['summary', 'gen/2/objects', 'heap/stat', 'heap/objects', 'types', 'objects/0x10', 'objects/0x10/refs',
    'roots/0x10', 'addresses/0x10', 'handles', 'finalizer', 'fragmentation', 'strings', 'threads', 'threads/m1/stack',
    'threads/m1/objects', 'locks', 'waits', 'deadlocks', 'findings']) {
    const r = await api(d, `/dumps/${up.json.id}/${p}`, { token: reader });
    assert.equal(r.status, 422, p);
    assert.match(r.json.error.message, /signal 9/, p);
  }
  // remembered: uploading it again does not start a retry storm
  const again = await upload(d, uploader, other.dump);
  assert.equal(again.json.status, 'failed');
  assert.equal((await api(d, '/health')).status, 200);
  assert.equal((await api(d, `/dumps/${dumpId}/gen/2`, { token: reader })).status, 200);
});

test('admins delete a dump with its artifacts', async () => {
  const list = await api(d, '/dumps?status=failed', { token: reader });
  const failed = list.json.dumps[0].id;
  const del = await api(d, `/dumps/${failed}`, { token: admin, method: 'DELETE' });
  assert.equal(del.status, 200);
  assert.equal((await api(d, `/dumps/${failed}`, { token: reader })).status, 404);
  assert.equal(readdirSync(join(data, 'dumps')).some((f) => f.startsWith(failed)), false);
});

test('kill -9 of the daemon mid-upload and mid-analysis: nothing lost, the job completes after restart', async () => {
  // mid-upload: half the bytes, then the daemon dies
  const locks = fixture('locks-wks-heap');
  const u = new URL(d.url);
  const sock = connect(Number(u.port), u.hostname);
  await new Promise((r) => sock.once('connect', r));
  const body = readFileSync(locks.dump);
  sock.write(`POST /dumps HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${uploader}\r\nContent-Length: ${body.length}\r\n\r\n`);
  sock.write(body.subarray(0, body.length >> 1));
  await sleep(300);
  sock.on('error', () => {});
  await stopDaemon(d, 'SIGKILL');
  sock.destroy();

  d = await startDaemon(data, ['--max-upload-bytes', '1G']);
  assert.deepEqual(readdirSync(join(data, 'tmp')), []);
  let list = await api(d, '/dumps', { token: reader });
  assert.equal(list.json.total, 1, 'only the first dump is stored');
  assert.equal((await api(d, `/dumps/${dumpId}/gen/2`, { token: reader })).status, 200);

  // mid-analysis: the daemon dies while the worker runs; the worker dies with it
  const seg = fixture('main-seg-heap');
  const up = await upload(d, uploader, seg.dump);
  assert.equal(up.status, 201, up.text);
  let pids = [];
  for (let i = 0; i < 400 && pids.length === 0; i++) {
    pids = workerPids(data);
    if (!pids.length) await sleep(25);
  }
  assert.ok(pids.length > 0, `the worker never started; daemon log: ${d.log.join('').slice(-3000)}`);
  await stopDaemon(d, 'SIGKILL');
  await sleep(300);
  assert.deepEqual(workerPids(data), [], 'workers die with the daemon');

  d = await startDaemon(data, ['--max-upload-bytes', '1G']);
  const r = await api(d, `/dumps/${up.json.id}/deadlocks?wait=60`, { token: reader });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.deadlocks.length, seg.truth.deadlocks.length);
  const job = await api(d, up.json.job, { token: reader });
  assert.equal(job.json.state, 'done');
  assert.equal(job.json.attempts, 2);
  assert.equal(readdirSync(join(data, 'index')).some((f) => f.includes('.tmp.')), false);
  list = await api(d, '/dumps', { token: reader });
  assert.equal(list.json.total, 2);
});

test('SIGTERM stops the daemon cleanly', async () => {
  const code = await stopDaemon(d);
  assert.equal(code, 0);
  d = null;
});
