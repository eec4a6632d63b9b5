// ui.js: building blocks every page uses: an element builder, number and size formats, the links
// that make every address, type and thread clickable, tables, pagers and error boxes.
// No innerHTML anywhere: text from a dump (type names, strings) is always set as text.

import { ApiError, NotReady } from './api.js';

// h('a', { href, class, onclick, dataset: {...} }, ...children)
export function h(tag, attrs, ...children) {
  const svg = tag.startsWith('svg:');
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'style') Object.assign(el.style, v); // CSSOM: allowed by the CSP, attributes are not
    else if (k === 'value' && !svg) el.value = v;
    else if (k === 'checked' && !svg) el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---- formats ----------------------------------------------------------------------------------

export const num = (n) => (n === null || n === undefined ? '\u2013' : Number(n).toLocaleString('en-US'));

export function bytes(n) {
  if (n === null || n === undefined) return '\u2013';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

// A size shown short, with the exact byte count on hover.
export const size = (n) => h('span', { class: 'num', title: `${num(n)} bytes` }, bytes(n));

export const pct = (x) => `${(x * 100).toFixed(x < 0.1 ? 2 : 1)} %`;

export function when(ms) {
  if (!ms) return '\u2013';
  const d = new Date(ms);
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '\u2013';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

// Generation names as the API spells them ("gen2", "loh") to the word in URLs ("2", "loh").
export const genKey = (g) => String(g).replace(/^gen/, '');
export const genLabel = (g) => {
  const k = genKey(g);
  return /^[0-9]$/.test(k) ? `gen ${k}` : k.toUpperCase() === 'FROZEN' ? 'frozen' : k.toUpperCase();
};
export const GENERATIONS = ['0', '1', '2', 'loh', 'poh', 'frozen'];

// ---- URLs of views (hash routes) ----------------------------------------------------------------

export function href(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {}))
    if (v !== undefined && v !== null && v !== '' && v !== false) q.set(k, String(v));
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}

export const threadKey = (t) => (t.os_id ? String(t.os_id) : `m${t.managed_id}`);

export const to = {
  dumps: (params) => href('/dumps', params),
  dump: (id) => href(`/dumps/${id}`),
  heap: (id, gen, params) => href(`/dumps/${id}/heap${gen && gen !== 'all' ? `/${genKey(gen)}` : ''}`, params),
  instances: (id, type, gen, params) =>
    href(`/dumps/${id}/instances`, { type, gen: gen && gen !== 'all' ? genKey(gen) : undefined, ...params }),
  object: (id, addr, params) => href(`/dumps/${id}/objects/${addr}`, params),
  threads: (id) => href(`/dumps/${id}/threads`),
  thread: (id, t) => href(`/dumps/${id}/threads/${typeof t === 'object' ? threadKey(t) : t}`),
  page: (id, name, params) => href(`/dumps/${id}/${name}`, params),
  importPage: (n) => href(`/imports/${n}`),
};

// ---- links --------------------------------------------------------------------------------------

export const addrLink = (id, addr) =>
  addr ? h('a', { href: to.object(id, addr), class: 'addr', dataset: { address: addr } }, addr) : '\u2013';

// display: the C#-style name (List<Foo>) where the API gives one; the link filters by the real name.
export const typeLink = (id, type, gen, display) =>
  type
    ? h('a', { href: to.instances(id, type, gen), class: 'type', dataset: { type }, title: display && display !== type ? type : null }, display || type)
    : '\u2013';

export function threadLink(id, t) {
  if (!t) return '\u2013';
  const label = t.os_id ? `${t.os_id}` : `managed ${t.managed_id}`;
  return h(
    'a',
    {
      href: to.thread(id, t),
      class: 'thread',
      dataset: { osId: t.os_id ?? '', managedId: t.managed_id ?? '' },
      title: `OS thread id ${t.os_id} (decimal), managed thread id ${t.managed_id}`,
    },
    `thread ${label}`,
    t.os_id && t.managed_id ? h('span', { class: 'muted' }, ` (#${t.managed_id})`) : null,
  );
}

// An object reference {address, type, size?}: the address and the type, both links.
export const objRef = (id, o) =>
  o ? h('span', { class: 'objref' }, addrLink(id, o.address), ' ', typeLink(id, o.type)) : '\u2013';

// ---- structure ----------------------------------------------------------------------------------

// columns: [{ title, cell(row, i) -> node|string, num?: bool, class? }]
export function table(columns, rows, { caption, empty = 'Nothing here.', rowAttrs } = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      caption ? h('caption', {}, caption) : null,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : c.class }, c.title)))),
      h(
        'tbody',
        {},
        rows.map((r, i) =>
          h(
            'tr',
            rowAttrs ? rowAttrs(r, i) : {},
            columns.map((c) => h('td', { class: c.num ? 'num' : c.class }, c.cell(r, i))),
          ),
        ),
      ),
    ),
  );
}

// A definition list from [label, value] pairs (null values skipped).
export const facts = (pairs) =>
  h(
    'dl',
    { class: 'facts' },
    pairs.filter((p) => p && p[1] !== null && p[1] !== undefined).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );

export const section = (title, ...body) => h('section', { class: 'panel' }, h('h2', {}, title), ...body);

// prev/next links for offset or cursor paging. prev/next: hrefs or null.
export function pager({ from, count, total, prev, next, first }) {
  const shown = count ? `${num(from + 1)}\u2013${num(from + count)}` : '0';
  return h(
    'nav',
    { class: 'pager', 'aria-label': 'pages' },
    first ? h('a', { href: first, class: 'button' }, '\u21e4 First') : null,
    prev ? h('a', { href: prev, class: 'button', rel: 'prev' }, '\u2190 Previous') : null,
    h('span', { class: 'muted' }, total !== undefined && total !== null ? `${shown} of ${num(total)}` : `${shown} shown`),
    next ? h('a', { href: next, class: 'button', rel: 'next' }, 'Next \u2192') : null,
  );
}

export function badge(text, kind) {
  return h('span', { class: `badge ${kind || text}` }, text);
}

export function progressBar(percent, label) {
  const bar = h('span', { class: 'bar-fill' });
  bar.style.width = `${Math.max(0, Math.min(100, percent || 0))}%`;
  return h(
    'span',
    {
      class: 'progress',
      role: 'progressbar',
      'aria-valuemin': 0,
      'aria-valuemax': 100,
      'aria-valuenow': Math.round(percent || 0),
      'aria-label': label || 'progress',
    },
    bar,
  );
}

// An error as words: what happened, the server's own message, and what to do.
export function errorBox(err, what) {
  if (err instanceof ApiError)
    return h(
      'div',
      { class: 'alert', role: 'alert', dataset: { status: err.status, code: err.code } },
      h('strong', {}, what ? `${what}: ${err.headline}` : err.headline),
      h('p', {}, err.message),
      err.advice ? h('p', { class: 'muted' }, err.advice) : null,
    );
  if (err instanceof NotReady)
    return h('div', { class: 'notice', role: 'status' }, `${what ? `${what}: ` : ''}the dump is still being analysed.`);
  return h(
    'div',
    { class: 'alert', role: 'alert' },
    h('strong', {}, what ? `${what}: something went wrong in the page` : 'Something went wrong in the page'),
    h('p', {}, String((err && err.message) || err)),
  );
}

// Loads part of a page on its own: a failing panel shows its error without blanking the rest.
export async function part(promise, render, what) {
  try {
    return render(await promise);
  } catch (e) {
    if (e instanceof NotReady || (e instanceof ApiError && e.status === 401)) throw e;
    return errorBox(e, what);
  }
}
