// api.js: the daemon's REST API as the pages see it. The bearer token lives in sessionStorage
// (this tab only, gone when it closes) and travels in the Authorization header, never in a URL.
// Every failure becomes an ApiError whose message is a sentence a person can act on.

const KEY = 'dumpscope.token';

let meCache = null; // the promise of GET /me for the token signed in

export const session = {
  token: () => sessionStorage.getItem(KEY),
  signIn: (t) => {
    meCache = null;
    sessionStorage.setItem(KEY, t);
  },
  signOut: () => {
    meCache = null;
    sessionStorage.removeItem(KEY);
  },
};

const STATUS_WORDS = {
  400: 'The request was refused',
  401: 'The token was refused',
  403: 'Not allowed',
  404: 'Not found',
  405: 'Not allowed here',
  409: 'Conflict',
  413: 'Too large',
  414: 'Request too long',
  415: 'Not a dump this server can read',
  422: 'The dump could not be analysed',
  429: 'Too many requests',
  500: 'The server failed',
  503: 'The server is not available',
  507: 'The server is out of disk space',
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get headline() {
    if (this.status === 0) return 'Cannot reach the server';
    if (this.code === 'heap_not_walkable') return 'Taken during a garbage collection (409)';
    return `${STATUS_WORDS[this.status] || `HTTP ${this.status}`} (${this.status})`;
  }
  get advice() {
    if (this.status === 401) return 'Sign in again with a valid token.';
    if (this.status === 403) return 'Your token\u2019s role does not allow this. Ask for a token with the needed role (reader, uploader, admin).';
    if (this.status === 0) return 'Check that the dumpscope daemon is running and reachable from this browser.';
    if (this.code === 'heap_not_walkable') return 'The heap of this dump cannot be walked; its threads, stacks, handles, locks and report are available. Take another dump for the heap.';
    return '';
  }
}

// The dump is not analysed yet: the server answered 202 with the job that analyses it.
export class NotReady extends Error {
  constructor(doc) {
    super('the analysis of this dump is not finished');
    this.dumpStatus = (doc && doc.status) || 'analysing';
    this.job = doc && doc.job;
  }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function errorFrom(status, text, statusText) {
  let doc = null;
  try {
    doc = text ? JSON.parse(text) : null;
  } catch {
    doc = null;
  }
  const e = doc && doc.error;
  if (e && e.message) return new ApiError(status, e.code || `http_${status}`, e.message);
  return new ApiError(status, `http_${status}`, (text || statusText || 'no details').slice(0, 300));
}

// GET/DELETE/POST a JSON resource (body: a document sent as JSON). 202 throws NotReady unless
// accepted is set (POST /dumps/import answers 202 with its resource); not 2xx throws ApiError.
export async function request(path, { method = 'GET', params, signal, body, accepted = false } = {}) {
  const headers = { Accept: 'application/json' };
  const t = session.token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path + query(params), { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `The dumpscope server did not answer (${e.message}).`);
  }
  const text = await res.text();
  if (res.status === 202 && !accepted) {
    let doc = null;
    try {
      doc = JSON.parse(text);
    } catch {
      doc = null;
    }
    throw new NotReady(doc);
  }
  if (!res.ok) throw errorFrom(res.status, text, res.statusText);
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    throw new ApiError(res.status, 'bad_json', 'The server sent an answer that is not JSON.');
  }
}

// Requests start before their views await them (in parallel); a view left for another one stops
// awaiting, so each promise is marked handled here and its awaiter still sees the failure.
export function get(path, params, signal) {
  const p = request(path, { params, signal });
  p.catch(() => {});
  return p;
}

// What the signed-in token may do: {role, can_upload, can_import, can_delete}, asked once per
// sign-in. A failure is not cached (the next page asks again).
export function me() {
  if (!meCache) {
    meCache = request('/me');
    meCache.catch(() => (meCache = null));
  }
  return meCache;
}

// A dump's resource: /dumps/{id}/{sub}.
export const dumpGet = (id, sub, params, signal) => get(`/dumps/${id}/${sub}`, params, signal);

// Uploads a file as the raw request body, streamed from disk by the browser. onProgress(loaded,
// total) follows the bytes sent. Returns { promise, abort }.
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `/dumps${query({ name: file.name })}`);
    xhr.setRequestHeader('Authorization', `Bearer ${session.token() || ''}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.onload = () => {
      if (xhr.status === 200 || xhr.status === 201) {
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch {
          reject(new ApiError(xhr.status, 'bad_json', 'The server sent an answer that is not JSON.'));
        }
      } else {
        reject(errorFrom(xhr.status, xhr.responseText, xhr.statusText));
      }
    };
    xhr.onerror = () =>
      reject(new ApiError(0, 'network', 'The upload was cut off. The server may have refused the file (too large for it?) or stopped.'));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.'));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}
