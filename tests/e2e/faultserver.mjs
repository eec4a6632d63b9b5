// faultserver.mjs: a small HTTP server on 127.0.0.1 that serves one file the way Azure Blob storage
// does (HEAD with Content-Length, ETag, Content-MD5 and Accept-Ranges; GET with Range -> 206 and
// Content-Range; If-Match -> 412 when the ETag no longer matches) and injects faults on demand:
// 503 with Retry-After, a body cut short, an ETag that changes mid-download, 403, a stalled
// connection, slow delivery. It records every range it served in full, so a test can tell which
// chunks a resumed download fetched again.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';

export async function startFaultServer(data, options = {}) {
  const state = {
    data,
    etag: '"0x8DC0000000000001"',
    ranges: options.ranges ?? true,
    md5: options.md5 ?? true,
    requests: [],      // {method, range, ifMatch, status, at}
    served: [],        // ranges served in full: {start, end, at}
    faults: {
      busy: 0,         // the next N GETs answer 503 with Retry-After: 1
      cut: 0,          // the next N GETs send half their body, then drop the connection
      changeEtagAfter: 0, // after this many ranges served in full, the blob changes (new ETag, new bytes)
      forbidden: false, // every request answers 403 (AuthenticationFailed)
      stall: 0,        // the next N GETs send 64 KiB, then nothing, holding the connection open
      bytesPerSecond: 0, // slow delivery (0: as fast as possible)
    },
  };
  const sockets = new Set();
  const md5 = () => createHash('md5').update(state.data).digest('base64');

  function send(res, body, onDone) {
    const rate = state.faults.bytesPerSecond;
    if (!rate) {
      res.end(body, onDone);
      return;
    }
    let off = 0;
    const step = Math.max(1, Math.floor(rate / 20));
    const tick = () => {
      if (res.destroyed) return;
      if (off >= body.length) {
        res.end(onDone);
        return;
      }
      res.write(body.subarray(off, off + step));
      off += step;
      setTimeout(tick, 50);
    };
    tick();
  }

  const server = createServer((req, res) => {
    const f = state.faults;
    const entry = { method: req.method, range: req.headers.range, ifMatch: req.headers['if-match'], status: 0,
      at: Date.now() };
    state.requests.push(entry);
    const answer = (status, headers = {}, body = '') => {
      entry.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (f.forbidden)
      return answer(403, { 'x-ms-error-code': 'AuthenticationFailed' },
        '<Error><Code>AuthenticationFailed</Code><Message>Signature did not match</Message></Error>');
    if (req.method === 'GET' && f.busy > 0) {
      f.busy--;
      return answer(503, { 'Retry-After': '1', 'x-ms-error-code': 'ServerBusy' }, 'busy');
    }
    if (req.headers['if-match'] && req.headers['if-match'] !== state.etag)
      return answer(412, { 'x-ms-error-code': 'ConditionNotMet' });
    const common = { ETag: state.etag, ...(state.ranges ? { 'Accept-Ranges': 'bytes' } : {}) };
    if (req.method === 'HEAD')
      return answer(200, { ...common, 'Content-Length': state.data.length, ...(state.md5 ? { 'Content-MD5': md5() } : {}) });
    if (req.method !== 'GET') return answer(405);
    let start = 0;
    let end = state.data.length - 1;
    let status = 200;
    const m = state.ranges && /^bytes=(\d+)-(\d+)$/.exec(req.headers.range || '');
    if (m) {
      start = Number(m[1]);
      end = Math.min(Number(m[2]), state.data.length - 1);
      if (start > end) return answer(416);
      status = 206;
    }
    const body = state.data.subarray(start, end + 1);
    entry.status = status;
    res.writeHead(status, {
      ...common,
      'Content-Length': body.length,
      ...(status === 206 ? { 'Content-Range': `bytes ${start}-${end}/${state.data.length}` } : {}),
      ...(status === 200 && state.md5 ? { 'Content-MD5': md5() } : {}),
      ...(status === 206 && req.headers['x-ms-range-get-content-md5'] === 'true' && body.length <= 4 << 20
        ? { 'Content-MD5': createHash('md5').update(body).digest('base64') } : {}),
    });
    if (f.cut > 0) {
      f.cut--;
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
      return;
    }
    if (f.stall > 0) {
      f.stall--;
      res.write(body.subarray(0, 65536)); // then nothing: the client's stall detection must act
      return;
    }
    send(res, body, () => {
      state.served.push({ start, end, at: Date.now() });
      if (f.changeEtagAfter && state.served.length >= f.changeEtagAfter) {
        f.changeEtagAfter = 0;
        state.data = Buffer.from(state.data);
        state.data[0] ^= 0xff;
        state.etag = '"0x8DC0000000000002"';
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    state,
    port,
    url: (path = '/container/blob.dmp') => `http://127.0.0.1:${port}${path}`,
    reset(newData) {
      if (newData) state.data = newData;
      state.etag = `"0x8DC${Date.now().toString(16).padStart(13, '0')}"`;
      state.requests = [];
      state.served = [];
      state.ranges = options.ranges ?? true;
      state.md5 = options.md5 ?? true;
      Object.assign(state.faults, { busy: 0, cut: 0, changeEtagAfter: 0, forbidden: false, stall: 0, bytesPerSecond: 0 });
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
