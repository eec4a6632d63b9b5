// import.test.mjs: dumps that arrive as URLs and as compressed files, end to end against the real
// daemon on 127.0.0.1: imports from the Azure Blob emulator (Azurite, pinned in package-lock.json)
// with SAS URLs -> automatic analysis -> the mission endpoints answer with the truth, for raw,
// .gz, .zst and .zip dumps, uploaded and imported; a fault-injecting server of our own (503 with
// Retry-After, a body cut short, an ETag that changes mid-download, 403, a stalled connection, no
// range support) where every fault ends in a whole download or a clear error, never a corrupt
// stored dump; a daemon killed mid-download resumes from its finished chunks; forbidden hosts and
// a zip bomb are refused with the reason; and no SAS signature appears in any log, the database or
// a response.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync, existsSync, mkdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { api as rawApi, fixture, marker, newDataDir, sleep, startDaemon, stopDaemon, token, upload as rawUpload }
  from './daemon.mjs';
import { azuriteInstalled, startAzurite } from './azurite.mjs';
import { startFaultServer } from './faultserver.mjs';

const main = fixture('main-wks-heap');
const truth = main.truth;
const source = readFileSync(main.dump);
const sourceSha = createHash('sha256').update(source).digest('hex');
const sourceId = sourceSha.slice(0, 16);
const threadOs = (name) => truth.threads.find((t) => t.name === name).os_id;

const responses = [];     // every response body this file saw: none may hold a signature
const signatures = new Set(); // every sig= value handed to a daemon
const daemons = [];       // every daemon started: their logs are searched at the end
const FAULT_SIG = 'FaultServerSignature0123456789abcdefXYZ%3D';

async function api(d, path, opts) {
  const r = await rawApi(d, path, opts);
  responses.push(r.text);
  return r;
}
async function upload(d, t, file, name) {
  const r = await rawUpload(d, t, file, name);
  responses.push(r.text);
  return r;
}
async function start(data, extra) {
  const d = await startDaemon(data, extra);
  d.data = data;
  daemons.push(d);
  return d;
}
function remember(url) {
  const sig = new URL(url).searchParams.get('sig');
  if (sig) signatures.add(sig);
  return url;
}
const sha256File = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');

// Every stored dump is whole: dumps/<sha>.dmp hashes to <sha>.
function assertStoreIntact(data) {
  for (const f of readdirSync(join(data, 'dumps')))
    assert.equal(sha256File(join(data, 'dumps', f)), f.replace(/\.dmp$/, ''), `stored dump ${f} is corrupt`);
}

async function importUrl(d, t, url, name) {
  const body = JSON.stringify(name ? { url: remember(url), name } : { url: remember(url) });
  return api(d, '/dumps/import', { token: t, method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
}

async function waitImport(d, t, id, timeoutMs = 180000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(d, `/imports/${id}?wait=20`, { token: t });
    assert.equal(r.status, 200, r.text);
    if (['done', 'failed'].includes(r.json.state)) return r.json;
    if (Date.now() > end) throw new Error(`import ${id} never finished: ${r.text}`);
  }
}

// The three mission endpoints answer with the truth.
async function assertTruth(d, t, dumpId) {
  const gen2 = await api(d, `/dumps/${dumpId}/gen/2?wait=60&limit=1000`, { token: t });
  assert.equal(gen2.status, 200, gen2.text.slice(0, 300));
  const invoice = gen2.json.types.find((x) => x.type === 'Scenarios.Invoice');
  assert.equal(invoice.count, truth.types['Scenarios.Invoice'].count);
  const m = marker(truth, 'marker.local');
  const roots = await api(d, `/dumps/${dumpId}/roots/${m.address}`, { token: t });
  assert.equal(roots.status, 200, roots.text.slice(0, 300));
  assert.equal(roots.json.paths[0].root.thread.os_id, threadOs('marker-holder'));
  assert.equal(roots.json.paths[0].objects.at(-1).address, m.address);
  const dl = await api(d, `/dumps/${dumpId}/deadlocks`, { token: t });
  assert.equal(dl.status, 200, dl.text.slice(0, 300));
  assert.equal(dl.json.deadlocks.length, truth.deadlocks.length);
  assert.deepEqual(dl.json.deadlocks[0].threads.map((x) => x.os_id).sort(), truth.deadlocks[0].map(threadOs).sort());
}

let az, faults, d, data, admin, tmp;
const packed = {};

before(async () => {
  assert.ok(azuriteInstalled(), 'Azurite is not installed: run deploy/install-deps.sh (npm ci in tests/e2e)');
  tmp = newDataDir();
  packed.gz = join(tmp, 'main.dmp.gz');
  writeFileSync(packed.gz, gzipSync(source, { level: 1 }));
  packed.zst = join(tmp, 'main.dmp.zst');
  execFileSync('zstd', ['-q', '-1', '-f', main.dump, '-o', packed.zst]);
  packed.zip = join(tmp, 'main.zip');
  execFileSync('zip', ['-q', '-j', '-1', packed.zip, main.dump]);
  [az, faults] = await Promise.all([startAzurite(), startFaultServer(source)]);
  await az.createContainer('cases');
  await az.putBlob('cases', 'main.dmp', source);
  for (const kind of ['gz', 'zst', 'zip']) await az.putBlob('cases', `main.${kind}`, readFileSync(packed[kind]));
  data = newDataDir();
  admin = token(data, 'admin');
  d = await start(data, ['--max-upload-bytes', '1G', '--import-allowed-hosts',
    `127.0.0.1:${az.port}, 127.0.0.1:${faults.port}`, '--import-chunk-bytes', '2M', '--import-stall-seconds', '2',
    '--import-retries', '4']);
});

after(async () => {
  for (const x of daemons) await stopDaemon(x);
  if (az) await az.stop();
  if (faults) await faults.close();
});

test('a SAS URL from Azure Blob storage (Azurite) -> import -> automatic analysis -> the truth', async () => {
  const r = await importUrl(d, admin, az.sasUrl('cases', 'main.dmp'));
  assert.equal(r.status, 202, r.text);
  assert.match(r.headers.get('location'), /^\/imports\/\d+$/);
  assert.equal(r.json.state, 'queued');
  assert.equal(r.json.name, 'main.dmp');
  assert.equal(r.json.url, `http://127.0.0.1:${az.port}/devstoreaccount1/cases/main.dmp?<redacted>`);
  const imp = await waitImport(d, admin, r.json.id);
  assert.equal(imp.state, 'done', imp.error);
  assert.equal(imp.dump, `/dumps/${sourceId}`);
  assert.equal(imp.bytes_total, source.length);
  assert.equal(imp.bytes_done, source.length);
  const dump = await api(d, imp.dump, { token: admin });
  assert.equal(dump.json.sha256, sourceSha);
  await assertTruth(d, admin, sourceId);
  assertStoreIntact(data);
  assert.deepEqual(readdirSync(join(data, 'imports')), [], 'a finished import leaves no files behind');
});

for (const kind of ['gz', 'zst', 'zip']) {
  test(`a .${kind} dump, uploaded and imported, is decompressed, hashed decompressed and analysed`, async () => {
    assert.ok([200, 404].includes((await api(d, `/dumps/${sourceId}`, { token: admin, method: 'DELETE' })).status));
    const up = await upload(d, admin, packed[kind], `main.${kind}`);
    assert.equal(up.status, 201, up.text);
    assert.equal(up.json.id, sourceId, 'the identity of a dump is its decompressed bytes');
    assert.equal(up.json.size, source.length);
    await assertTruth(d, admin, sourceId);
    assert.equal((await api(d, `/dumps/${sourceId}`, { token: admin, method: 'DELETE' })).status, 200);
    const r = await importUrl(d, admin, az.sasUrl('cases', `main.${kind}`));
    assert.equal(r.status, 202, r.text);
    const imp = await waitImport(d, admin, r.json.id);
    assert.equal(imp.state, 'done', imp.error);
    assert.equal(imp.dump, `/dumps/${sourceId}`);
    assert.equal(imp.bytes_total, statSync(packed[kind]).size);
    await assertTruth(d, admin, sourceId);
    assertStoreIntact(data);
    assert.deepEqual(readdirSync(join(data, 'tmp')), []);
  });
}

// One import from the fault server with its faults set; returns the finished import.
async function faultImport(setup, path) {
  faults.reset(source);
  setup(faults.state);
  const r = await importUrl(d, admin, `${faults.url(path)}?sv=2021-12-02&sr=b&sp=r&sig=${FAULT_SIG}`);
  assert.equal(r.status, 202, r.text);
  const imp = await waitImport(d, admin, r.json.id);
  assertStoreIntact(data);
  assert.deepEqual(readdirSync(join(data, 'imports')), [], 'a finished import leaves no files behind');
  return imp;
}

test('503 with Retry-After: retried after the time asked, then a whole download', async () => {
  const imp = await faultImport((s) => { s.faults.busy = 3; }, '/busy/main.dmp');
  assert.equal(imp.state, 'done', imp.error);
  assert.equal(imp.dump, `/dumps/${sourceId}`);
  const busy = faults.state.requests.filter((x) => x.status === 503);
  assert.equal(busy.length, 3);
  for (const b of busy) { // Retry-After: 1 was honoured for the range that got it
    const next = faults.state.requests.find((x) => x.at > b.at && x.range === b.range && x.status !== 503);
    assert.ok(next && next.at - b.at >= 900, `range ${b.range} was retried ${next ? next.at - b.at : '-'} ms after its 503`);
  }
  assert.ok(faults.state.requests.every((x) => x.method === 'HEAD' || x.ifMatch === faults.state.etag),
    'every GET carries If-Match with the ETag');
});

test('a body cut short is fetched again; the stored dump is whole', async () => {
  const imp = await faultImport((s) => { s.faults.cut = 3; }, '/cut/main.dmp');
  assert.equal(imp.state, 'done', imp.error);
  const cut = faults.state.requests.filter((x) => x.method === 'GET').slice(0, 3);
  for (const c of cut) { // backoff: 1 s before the first retry of a range
    const next = faults.state.requests.find((x) => x.at > c.at && x.range === c.range);
    assert.ok(next && next.at - c.at >= 900, `range ${c.range} was retried ${next ? next.at - c.at : '-'} ms after the cut`);
  }
  assert.ok(faults.state.requests.filter((x) => x.method === 'GET').length >= faults.state.served.length + 3);
});

test('a stalled connection is detected and retried', async () => {
  const imp = await faultImport((s) => { s.faults.stall = 1; }, '/stall/main.dmp');
  assert.equal(imp.state, 'done', imp.error);
});

test('a server without range support is read in one streaming GET', async () => {
  const imp = await faultImport((s) => { s.ranges = false; s.faults.cut = 1; }, '/plain/main.dmp');
  assert.equal(imp.state, 'done', imp.error);
  assert.ok(faults.state.requests.every((x) => x.method === 'HEAD' || !x.range));
});

test('an ETag that changes mid-download ends in a clear failure, never a mixed dump', async () => {
  const before = readdirSync(join(data, 'dumps')).length;
  const imp = await faultImport((s) => { s.faults.changeEtagAfter = 6; }, '/changing/main.dmp');
  assert.equal(imp.state, 'failed');
  assert.match(imp.error, /changed during the download/);
  assert.ok(faults.state.requests.some((x) => x.status === 412));
  assert.equal(imp.dump, null);
  assert.equal(readdirSync(join(data, 'dumps')).length, before);
});

test('a 403 ends in a clear failure', async () => {
  const imp = await faultImport((s) => { s.faults.forbidden = true; }, '/denied/main.dmp');
  assert.equal(imp.state, 'failed');
  assert.match(imp.error, /access denied \(HTTP 403 AuthenticationFailed\)/);
});

test('the daemon killed mid-download (SIGKILL): the next start resumes from the finished chunks', async () => {
  assert.ok([200, 404].includes((await api(d, `/dumps/${sourceId}`, { token: admin, method: 'DELETE' })).status));
  faults.reset(source);
  faults.state.faults.bytesPerSecond = 3 << 20; // per connection: the download takes a while
  const r = await importUrl(d, admin, `${faults.url('/slow/main.dmp')}?sv=2021-12-02&sig=${FAULT_SIG}`);
  assert.equal(r.status, 202, r.text);
  const total = Math.ceil(source.length / (2 << 20));
  for (let i = 0; i < 600 && faults.state.served.length < 16; i++) await sleep(50);
  assert.ok(faults.state.served.length >= 16, 'the download made progress');
  // the fetch runs in its own process; its command line holds no URL, the URL file is private
  const pids = execFileSync('pgrep', ['-f', `fetch --url-file ${data}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
  assert.ok(pids.length > 0);
  for (const pid of pids) assert.equal(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sig='), false);
  const urlFile = join(data, 'imports', `${r.json.id}.url`);
  assert.equal(statSync(urlFile).mode & 0o777, 0o600);
  await sleep(600);
  const killedAt = Date.now();
  await stopDaemon(d, 'SIGKILL');
  const settled = faults.state.served.filter((x) => x.at < killedAt - 500).map((x) => x.start);
  const seen = faults.state.requests.length;
  faults.state.faults.bytesPerSecond = 0;
  await sleep(300);
  d = await start(data, ['--max-upload-bytes', '1G', '--import-allowed-hosts', `127.0.0.1:${az.port},127.0.0.1:${faults.port}`,
    '--import-chunk-bytes', '2M', '--import-stall-seconds', '2', '--import-retries', '4']);
  const imp = await waitImport(d, admin, r.json.id);
  assert.equal(imp.state, 'done', imp.error);
  assert.equal(imp.attempts, 2);
  const again = faults.state.requests.slice(seen).filter((x) => x.method === 'GET')
    .map((x) => Number(/^bytes=(\d+)-/.exec(x.range)[1]));
  for (const start of settled) assert.equal(again.includes(start), false, `chunk at ${start} was fetched again`);
  assert.ok(again.length <= total - settled.length, `after the restart ${again.length} of ${total} chunks were fetched`);
  assert.match(readFileSync(join(data, 'logs', `import-${r.json.id}.log`), 'utf8'), /@resume chunks=\d+ of \d+/);
  assertStoreIntact(data);
  assert.equal(existsSync(urlFile), false);
  await assertTruth(d, admin, sourceId);
});

test('bad requests and forbidden hosts are refused with the reason', async () => {
  const reader = token(data, 'reader');
  const post = (body, t = admin) => api(d, '/dumps/import', { token: t, method: 'POST', body });
  let r = await post('{"url": ');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_json');
  r = await post('[]');
  assert.equal(r.json.error.code, 'invalid_json');
  r = await post('{"name": "x"}');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_url');
  for (const url of ['ftp://127.0.0.1/x', 'file:///etc/passwd', 'http://user:pw@127.0.0.1/x', 'http://127.0.0.1:99999/x',
    'http://127.0.0.1/a b', 'not a url']) {
    r = await post(JSON.stringify({ url }));
    assert.equal(r.status, 400, url);
    assert.equal(r.json.error.code, 'invalid_url', url);
  }
  r = await post(JSON.stringify({ url: `http://localhost:${faults.port}/x?sig=${FAULT_SIG}` }));
  assert.equal(r.status, 403, r.text);
  assert.equal(r.json.error.code, 'host_not_allowed');
  assert.match(r.json.error.message, /import_allowed_hosts/);
  r = await post(JSON.stringify({ url: `http://127.0.0.1:${faults.port + 1}/x` }));
  assert.equal(r.status, 403);
  r = await post(JSON.stringify({ url: `http://127.0.0.1:${faults.port}/x` }), reader);
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'forbidden');
  r = await api(d, '/dumps/import', { method: 'POST', body: '{}' });
  assert.equal(r.status, 401);
  r = await api(d, '/imports/999999', { token: admin });
  assert.equal(r.status, 404);
  assert.equal(r.json.error.code, 'import_not_found');

  // with no list of allowed hosts: any public host, never loopback or private addresses
  faults.reset(source);
  const open = await start(newDataDir(), []);
  const t = token(open.data, 'uploader');
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '[::1]', '0.0.0.0', '[::ffff:127.0.0.1]']) {
    r = await api(open, '/dumps/import', { token: t, method: 'POST', body: JSON.stringify({ url: `http://${host}:${faults.port}/x` }) });
    assert.equal(r.status, 403, `${host}: ${r.text}`);
    assert.equal(r.json.error.code, 'host_not_allowed');
    assert.match(r.json.error.message, /loopback, link-local, private or reserved/);
  }
  assert.equal(faults.state.requests.length, 0, 'nothing was fetched from a refused host');
  await stopDaemon(open);
});

test('a zip bomb over max_dump_bytes and zips of zero or several files are refused, nothing left behind', async () => {
  const small = newDataDir();
  const t = token(small, 'uploader');
  const capped = await start(small, ['--max-dump-bytes', '64M', '--import-allowed-hosts', `127.0.0.1:${faults.port}`]);
  const zeros = join(tmp, 'zeros.bin');
  writeFileSync(zeros, '');
  truncateSync(zeros, 256 << 20);
  const bomb = join(tmp, 'bomb.zip');
  execFileSync('zip', ['-q', '-j', bomb, zeros]);
  assert.ok(statSync(bomb).size < 1 << 20);
  let r = await upload(capped, t, bomb);
  assert.equal(r.status, 413, r.text);
  assert.match(r.json.error.message, /the zip's file is 268435456 bytes decompressed.*max_dump_bytes 67108864/);
  const gzBomb = join(tmp, 'bomb.gz'); // a gzip stream declares no size: the cap acts while decompressing
  writeFileSync(gzBomb, gzipSync(Buffer.alloc(256 << 20)));
  r = await upload(capped, t, gzBomb);
  assert.equal(r.status, 413, r.text);
  assert.match(r.json.error.message, /decompresses to more than 67108864 bytes.*max_dump_bytes/);
  faults.reset(readFileSync(bomb));
  r = await importUrl(capped, t, `${faults.url('/bomb.zip')}?sig=${FAULT_SIG}`);
  const imp = await waitImport(capped, t, r.json.id);
  assert.equal(imp.state, 'failed');
  assert.match(imp.error, /max_dump_bytes/);

  mkdirSync(join(tmp, 'several'));
  writeFileSync(join(tmp, 'several', 'a.dmp'), 'a');
  writeFileSync(join(tmp, 'several', 'b.dmp'), 'b');
  const several = join(tmp, 'several.zip');
  execFileSync('zip', ['-q', '-j', several, join(tmp, 'several', 'a.dmp'), join(tmp, 'several', 'b.dmp')]);
  r = await upload(capped, t, several);
  assert.equal(r.status, 415, r.text);
  assert.match(r.json.error.message, /holds 2 files: it must hold exactly one dump/);
  const empty = join(tmp, 'empty.zip');
  execFileSync('zip', ['-q', '-r', empty, 'several/'], { cwd: tmp, env: { ...process.env } });
  execFileSync('zip', ['-q', '-d', empty, 'several/a.dmp', 'several/b.dmp']);
  r = await upload(capped, t, empty);
  assert.equal(r.status, 415, r.text);
  assert.match(r.json.error.message, /holds no file/);
  r = await upload(capped, t, join(tmp, 'several', 'a.dmp'));
  assert.equal(r.status, 415);
  assert.deepEqual(readdirSync(join(small, 'tmp')), []);
  assert.deepEqual(readdirSync(join(small, 'dumps')), []);
  assert.deepEqual(readdirSync(join(small, 'imports')), []);
});

test('no SAS signature in any log, database, worker log or response', async () => {
  assert.ok(signatures.size >= 1, 'the tests used SAS URLs');
  const needles = [...signatures].flatMap((s) => [s, encodeURIComponent(s), decodeURIComponent(s)]);
  needles.push('sig=');
  const look = (what, text) => {
    for (const n of needles) assert.equal(text.includes(n), false, `${what} holds "${n.slice(0, 12)}..."`);
  };
  for (const [i, text] of responses.entries()) look(`response ${i}`, text);
  for (const x of daemons) {
    look(`the daemon's log (${x.data})`, x.log.join(''));
    for (const f of readdirSync(x.data).filter((n) => n.startsWith('dumpscope.db')))
      look(f, readFileSync(join(x.data, f)).toString('latin1'));
    for (const f of readdirSync(join(x.data, 'logs'))) look(`logs/${f}`, readFileSync(join(x.data, 'logs', f), 'latin1'));
    assert.deepEqual(readdirSync(join(x.data, 'imports')), []);
  }
  const stored = execFileSync('sqlite3', [join(data, 'dumpscope.db'), 'SELECT url FROM imports'], { encoding: 'utf8' });
  assert.match(stored, /\?<redacted>/);
});
