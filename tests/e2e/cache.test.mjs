// cache.test.mjs: the index cache under a disk budget (least recently used evicted; a query on an
// evicted index queues a rebuild and answers 202, or waits with ?wait=N), settings from a config
// file, the environment and flags, and `dumpscope import` streaming a dump to a running daemon.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, api, fixture, newDataDir, startDaemon, stopDaemon, token, upload } from './daemon.mjs';

let d;
after(async () => {
  if (d) await stopDaemon(d);
});

const indexFiles = (data) => readdirSync(join(data, 'index')).filter((f) => f.endsWith('.dsindex'));

test('the index cache keeps to its budget: LRU eviction, rebuild on demand', async () => {
  const data = newDataDir();
  const t = token(data, 'admin');
  const a = fixture('main-wks-heap');
  const b = fixture('main-seg-heap');
  // a budget smaller than two indexes: the second analysis evicts the first
  const conf = join(data, 'dumpscope.conf');
  writeFileSync(conf, '# test config\ncache_bytes = 20M\nworker_timeout = 600\n');
  d = await startDaemon(data, ['--config', conf]);

  const ua = await upload(d, t, a.dump);
  assert.equal(ua.status, 201, ua.text);
  let r = await api(d, `/dumps/${ua.json.id}/gen/2?wait=60`, { token: t });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const sizeA = statSync(join(data, 'index', indexFiles(data)[0])).size;
  assert.ok(sizeA > 10 * 1024 * 1024 && sizeA < 20 * 1024 * 1024, `index of a is ${sizeA} bytes`);

  const ub = await upload(d, t, b.dump);
  r = await api(d, `/dumps/${ub.json.id}/gen/2?wait=60`, { token: t });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal(indexFiles(data).length, 1, 'the least recently used index was evicted');

  // the evicted dump is still ready; a query queues a rebuild and answers 202 with the job
  const da = await api(d, `/dumps/${ua.json.id}`, { token: t });
  assert.equal(da.json.status, 'ready');
  r = await api(d, `/dumps/${ua.json.id}/deadlocks`, { token: t });
  assert.equal(r.status, 202, r.text.slice(0, 300));
  assert.match(r.json.job, /^\/jobs\/\d+$/);
  assert.equal(r.headers.get('location'), r.json.job);
  r = await api(d, `/dumps/${ua.json.id}/deadlocks?wait=60`, { token: t });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal(r.json.deadlocks.length, a.truth.deadlocks.length);
  assert.equal(indexFiles(data).length, 1, 'and b was evicted in turn');
  await stopDaemon(d);
  d = null;
});

// Runs `dumpscope serve ARGS` with env until it prints its first line or exits; then stops it.
function serveOnce(args, env) {
  return new Promise((resolve) => {
    const child = spawn(CLI, ['serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
      if (out.includes('\n')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('settings: flags beat the environment, which beats the config file; bad ones are refused', async () => {
  const data = newDataDir();
  const conf = join(data, 'c.conf');
  writeFileSync(conf, '# listen comes from the file unless overridden\nlisten = not-an-address\nthreads = 2\n');
  let r = await serveOnce(['--config', conf, '--data', data], {});
  assert.equal(r.code, 2);
  assert.match(r.err, /listen must be HOST:PORT/);
  r = await serveOnce(['--config', conf, '--data', data], { DUMPSCOPE_LISTEN: '127.0.0.1:0' });
  assert.match(r.out, /^listening http:\/\/127\.0\.0\.1:\d+\n/, r.err);
  assert.equal(r.code, 0);
  r = await serveOnce(['--config', conf, '--data', data, '--listen', '127.0.0.1:0'], { DUMPSCOPE_LISTEN: 'bogus' });
  assert.match(r.out, /^listening http:\/\/127\.0\.0\.1:\d+\n/, r.err);
  r = await serveOnce(['--config', conf, '--data', data, '--threads', 'many'], { DUMPSCOPE_LISTEN: '127.0.0.1:0' });
  assert.equal(r.code, 2);
  assert.match(r.err, /threads must be a number/);
  const bad = join(data, 'bad.conf');
  writeFileSync(bad, 'listen = 127.0.0.1:0\nno_such_setting = 1\n');
  r = await serveOnce(['--config', bad, '--data', data], {});
  assert.equal(r.code, 2);
  assert.match(r.err, /bad\.conf:2: unknown setting "no_such_setting"/);
  const example = execFileSync(CLI, ['serve', '--print-config'], { encoding: 'utf8' });
  assert.equal(readFileSync(join(process.env.DS_SOURCE_DIR, 'deploy/dumpscope.conf.example'), 'utf8'), example,
    'deploy/dumpscope.conf.example is what `dumpscope serve --print-config` prints');
  const uncommented = join(data, 'all.conf');
  writeFileSync(uncommented, example.replace(/^# (\w+ = )/gm, '$1').replace(/^listen = .*$/m, 'listen = 127.0.0.1:0'));
  r = await serveOnce(['--config', uncommented, '--data', data], {});
  assert.match(r.out, /^listening /, `every setting of the example parses: ${r.err}`);
  const help = execFileSync(CLI, ['serve', '--help'], { encoding: 'utf8' });
  for (const key of ['--listen', '--data', '--workers', '--worker-timeout', '--worker-memory', '--cache-bytes',
    '--max-upload-bytes', '--connection-timeout', '--per-ip-limit', '--max-wait'])
    assert.ok(help.includes(key), `serve --help documents ${key}`);
});

test('dumpscope import streams a dump to a running daemon', async () => {
  const data = newDataDir();
  const t = token(data, 'uploader');
  d = await startDaemon(data);
  const a = fixture('main-wks-heap');
  const out = spawnSync(CLI, ['import', a.dump, '--server', d.url, '--token', t], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const doc = JSON.parse(out.stdout);
  assert.match(doc.id, /^[0-9a-f]{16}$/);
  assert.equal(doc.name, 'main-wks-heap.dmp');
  try {
    const bad = spawnSync(CLI, ['import', a.dump, '--server', d.url, '--token', 'nope'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /unauthorized/);
  } finally {
    await stopDaemon(d);
    d = null;
  }
});

// Parses Prometheus text format 0.0.4 strictly enough to catch malformed output: every sample line
// is `name{labels} value`, every metric has HELP and TYPE before its samples.
function parseMetrics(body) {
  const samples = new Map();
  const typed = new Set();
  for (const line of body.split('\n')) {
    if (!line) continue;
    let m = line.match(/^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/);
    if (m) {
      if (m[1] === 'TYPE') {
        assert.match(m[3], /^(counter|gauge|histogram|summary|untyped)$/);
        typed.add(m[2]);
      }
      continue;
    }
    m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|\+Inf|NaN)$/);
    assert.ok(m, `not a Prometheus sample line: ${line}`);
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    assert.ok(typed.has(m[1]) || typed.has(base), `sample before its TYPE: ${line}`);
    samples.set(m[1] + (m[2] || ''), Number(m[3]));
  }
  return samples;
}

test('/metrics is Prometheus text and its counters move', async () => {
  const data = newDataDir();
  const t = token(data, 'reader');
  const up = token(data, 'uploader');
  d = await startDaemon(data);
  assert.equal((await api(d, '/metrics')).status, 401);
  const before = await api(d, '/metrics', { token: t });
  assert.equal(before.status, 200);
  assert.match(before.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const m0 = parseMetrics(before.text);
  assert.equal(m0.get('dumpscope_jobs{state="done"}'), 0);
  const a = fixture('main-wks-heap');
  const u = await upload(d, up, a.dump);
  assert.equal(u.status, 201);
  assert.equal((await api(d, `/dumps/${u.json.id}/gen/2?wait=60`, { token: t })).status, 200);
  assert.equal((await api(d, `/dumps/${u.json.id}/gen/2`, { token: t })).status, 200);
  assert.equal((await api(d, `/dumps/${u.json.id}/gen/9`, { token: t })).status, 400);
  const m1 = parseMetrics((await api(d, '/metrics', { token: t })).text);
  assert.equal(m1.get('dumpscope_jobs{state="done"}'), 1);
  assert.equal(m1.get('dumpscope_ingest_total{result="stored"}'), 1);
  assert.equal(m1.get('dumpscope_ingest_bytes_total'), statSync(a.dump).size);
  assert.equal(m1.get('dumpscope_analysis_seconds_count'), 1);
  assert.equal(m1.get('dumpscope_cache_artifacts'), 1);
  assert.ok(m1.get('dumpscope_cache_bytes') > 0);
  assert.ok(m1.get('dumpscope_http_requests_total{route="/dumps/{id}/gen/{gen}",method="GET",status="200"}') >= 2);
  assert.equal(m1.get('dumpscope_http_requests_total{route="/dumps/{id}/gen/{gen}",method="GET",status="400"}'), 1);
  assert.equal(m1.get('dumpscope_http_requests_total{route="/metrics",method="GET",status="401"}'), 1);
  assert.ok(m1.get('dumpscope_http_request_seconds_count{route="/dumps/{id}/gen/{gen}"}') >= 3);
  await stopDaemon(d);
  d = null;
});

test('answers are cached by index, resource and parameters, in any order', async () => {
  const data = newDataDir();
  const t = token(data, 'admin');
  d = await startDaemon(data);
  const a = fixture('main-wks-heap');
  const u = await upload(d, t, a.dump);
  const sha = createHash('sha256').update(readFileSync(a.dump)).digest('hex');
  assert.equal(u.json.sha256, sha, 'the stored dump is identified by the sha256 of its bytes');
  assert.equal(u.json.id, sha.slice(0, 16));
  const first = await api(d, `/dumps/${u.json.id}/gen/2?limit=3&sort=count&wait=60`, { token: t });
  assert.equal(first.status, 200);
  const again = await api(d, `/dumps/${u.json.id}/gen/2?sort=count&limit=3`, { token: t });
  assert.equal(again.text, first.text);
  const other = await api(d, `/dumps/${u.json.id}/gen/2?sort=count&limit=4`, { token: t });
  assert.equal(other.json.types.length, 4);
  const byName = await api(d, `/dumps/${u.json.id}/gen/2?sort=name&limit=3`, { token: t });
  assert.notEqual(byName.text, first.text);
  assert.deepEqual(other.json.types.slice(0, 3), first.json.types);
  await stopDaemon(d);
  d = null;
});

test('refusals never show server paths; the UI shell revalidates with its ETag', async () => {
  const data = newDataDir();
  const t = token(data, 'uploader');
  d = await startDaemon(data);
  const r = await api(d, '/dumps', { token: t, method: 'POST', body: Buffer.alloc(8192, 3) });
  assert.equal(r.status, 415);
  assert.equal(r.text.includes(data), false, `the data folder leaks in: ${r.text}`);
  assert.equal(r.text.includes('/tmp/'), false, r.text);
  assert.match(r.json.error.message, /the upload/);
  const shell = await api(d, '/');
  assert.equal(shell.status, 200);
  assert.match(shell.headers.get('content-type'), /text\/html/);
  const etag = shell.headers.get('etag');
  assert.ok(etag);
  const again = await api(d, '/', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  await stopDaemon(d);
  d = null;
});
