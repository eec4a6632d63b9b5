// daemon.mjs: helpers for the end-to-end tests: start a real `dumpscope serve` on 127.0.0.1 with a
// fresh data folder, make tokens with `dumpscope token create`, call it over HTTP, read fixtures.
import { spawn, execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, createReadStream, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';

export const CLI = process.env.DUMPSCOPE_CLI;
export const FIXTURES = process.env.DS_FIXTURES;
if (!CLI || !FIXTURES) throw new Error('DUMPSCOPE_CLI and DS_FIXTURES must be set (ctest sets them)');

export function fixture(name) {
  const list = JSON.parse(readFileSync(join(FIXTURES, 'fixtures.json'), 'utf8'));
  const f = (list.fixtures || list).find((x) => x.name === name);
  if (!f) throw new Error(`fixture ${name} is missing from ${FIXTURES}/fixtures.json`);
  const dump = f.dump.startsWith('/') ? f.dump : join(FIXTURES, f.dump);
  const truthPath = f.truth.startsWith('/') ? f.truth : join(FIXTURES, f.truth);
  statSync(dump); // a listed fixture whose dump is missing fails here
  return { ...f, dump, truth: JSON.parse(readFileSync(truthPath, 'utf8')) };
}

export function marker(truth, name) {
  const m = truth.markers.find((x) => x.name === name);
  if (!m) throw new Error(`no marker ${name} in the truth`);
  return m;
}

// Every data folder a test process makes holds copies of dumps (hundreds of MB): all are removed
// when the process exits, whatever happened, unless DS_KEEP_E2E_DATA is set.
const madeDirs = new Set();
process.on('exit', () => {
  if (process.env.DS_KEEP_E2E_DATA) return;
  for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
});

export function newDataDir() {
  const dir = mkdtempSync(join(tmpdir(), 'dumpscope-e2e-'));
  madeDirs.add(dir);
  return dir;
}

// Removes a data folder made by newDataDir (it holds copies of the dumps) unless
// DS_KEEP_E2E_DATA is set, for looking at after a failure.
export function removeDataDir(dir) {
  if (dir && !process.env.DS_KEEP_E2E_DATA) rmSync(dir, { recursive: true, force: true });
}

export function token(data, role) {
  return execFileSync(CLI, ['token', 'create', '--role', role, '--data', data], { encoding: 'utf8' }).trim();
}

// Starts the daemon; resolves when it printed "listening http://HOST:PORT".
export function startDaemon(data, extra = []) {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, ['serve', '--listen', '127.0.0.1:0', '--data', data, '--workers', '1', ...extra], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const log = [];
    child.stderr.on('data', (d) => log.push(d.toString()));
    const timer = setTimeout(() => reject(new Error(`daemon did not start: ${log.join('')}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d.toString();
      const m = out.match(/^listening (http:\/\/[^\s]+)\n/);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1], log, pid: child.pid });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited with ${code}: ${log.join('')}`));
    });
  });
}

export async function stopDaemon(d, signal = 'SIGTERM') {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  const done = new Promise((resolve) => d.child.once('exit', (code, sig) => resolve(code ?? sig)));
  d.child.kill(signal);
  return done;
}

// The contract test (tests/contract/check.mjs) validates every response against openapi.yaml:
// with DS_CONTRACT_LOG set, each response is appended to that file as one JSON line.
const CONTRACT_LOG = process.env.DS_CONTRACT_LOG;
const RECORDED_HEADERS = ['etag', 'cache-control', 'location', 'retry-after', 'www-authenticate', 'allow'];

export function record(method, path, status, headers, body) {
  if (!CONTRACT_LOG) return;
  const h = {};
  for (const name of RECORDED_HEADERS) {
    const v = typeof headers.get === 'function' ? headers.get(name) : headers[name];
    if (v !== undefined && v !== null) h[name] = v;
  }
  const contentType = typeof headers.get === 'function' ? headers.get('content-type') : headers['content-type'];
  appendFileSync(CONTRACT_LOG, JSON.stringify({ method, path, status, content_type: contentType || '', headers: h, body }) + '\n');
}

// Parses a raw HTTP/1.1 response (status line, headers, body) and records it.
export function recordRaw(method, path, raw) {
  const m = raw.match(/^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/);
  if (!m) return;
  const headers = {};
  for (const line of m[2].split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  record(method, path, Number(m[1]), headers, m[3]);
}

export async function api(d, path, { token: t, method = 'GET', body, headers = {} } = {}) {
  const h = { ...headers };
  if (t) h.Authorization = `Bearer ${t}`;
  const init = { method, headers: h };
  if (body !== undefined) {
    init.body = body;
    if (body instanceof Readable || (body && typeof body.pipe === 'function')) {
      init.body = Readable.toWeb(body);
      init.duplex = 'half';
    }
  }
  const res = await fetch(d.url + path, init);
  const text = await res.text();
  record(method, path, res.status, res.headers, text);
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, json, text };
}

export function upload(d, t, file, name) {
  const size = statSync(file).size;
  return api(d, `/dumps${name ? `?name=${encodeURIComponent(name)}` : ''}`, {
    token: t,
    method: 'POST',
    body: createReadStream(file),
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls /jobs/{id} until the job is in one of the states (or times out).
export async function waitJob(d, t, jobUrl, states, timeoutMs = 120000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(d, jobUrl, { token: t });
    if (r.status === 200 && states.includes(r.json.state)) return r.json;
    if (Date.now() > end) throw new Error(`job ${jobUrl} never reached ${states}: ${r.text}`);
    await sleep(100);
  }
}

// Pids of running `dumpscope worker` processes whose parent chain leads to the daemon.
export function workerPids(data) {
  try {
    return execFileSync('pgrep', ['-f', `worker --dump ${data}`], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}
