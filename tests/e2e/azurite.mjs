// azurite.mjs: the Azure Blob emulator (npm azurite@3.35.0, pinned in package-lock.json) for the
// import tests: started on a free port of 127.0.0.1 with in-memory storage, a container created and
// blobs put with an account SAS, and read-only service SAS URLs for the blobs, all signed with the
// emulator's well-known development account key.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ACCOUNT = 'devstoreaccount1';
const KEY = Buffer.from(
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==', 'base64');
const VERSION = '2019-12-12';
const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = join(HERE, 'node_modules', '.bin', 'azurite-blob');

export function azuriteInstalled() {
  return existsSync(BIN);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sign = (text) => createHmac('sha256', KEY).update(text, 'utf8').digest('base64');
const expiry = () => new Date(Date.now() + 3600 * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

// An account SAS for the blob service (create containers, write and read blobs).
function accountSas() {
  const sp = 'racwdl';
  const se = expiry();
  const toSign = [ACCOUNT, sp, 'b', 'sco', '', se, '', '', VERSION, ''].join('\n');
  return new URLSearchParams({ sv: VERSION, ss: 'b', srt: 'sco', sp, se, sig: sign(toSign) }).toString();
}

// A read-only service SAS for one blob: what a support engineer pastes into the import.
function blobSas(container, blob) {
  const sp = 'r';
  const se = expiry();
  const resource = `/blob/${ACCOUNT}/${container}/${blob}`;
  const toSign = [sp, '', se, resource, '', '', '', VERSION, 'b', '', '', '', '', '', ''].join('\n');
  return new URLSearchParams({ sv: VERSION, sr: 'b', sp, se, sig: sign(toSign) }).toString();
}

export async function startAzurite() {
  const port = await freePort();
  const child = spawn(BIN, ['--blobHost', '127.0.0.1', '--blobPort', String(port), '--inMemoryPersistence',
    '--disableTelemetry', '--skipApiVersionCheck', '--loose', '--silent'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`azurite did not start: ${out}`)), 60000);
    const seen = (d) => {
      out += d.toString();
      if (/successfully listen/i.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`azurite exited with ${code}: ${out}`));
    });
  });
  const base = `http://127.0.0.1:${port}/${ACCOUNT}`;
  const sas = accountSas();
  async function call(method, path, query, headers = {}, body = undefined) {
    const res = await fetch(`${base}/${path}?${query ? `${query}&` : ''}${sas}`,
      { method, headers: { 'x-ms-version': VERSION, ...headers }, body });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`azurite ${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return res;
  }
  return {
    port,
    child,
    async createContainer(name) {
      await call('PUT', name, 'restype=container');
    },
    async putBlob(container, blob, data) {
      await call('PUT', `${container}/${blob}`, '', { 'x-ms-blob-type': 'BlockBlob', 'Content-Length': String(data.length) },
        data);
    },
    sasUrl(container, blob) {
      return `${base}/${container}/${blob}?${blobSas(container, blob)}`;
    },
    stop() {
      if (child.exitCode !== null) return Promise.resolve();
      const done = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return done;
    },
  };
}
