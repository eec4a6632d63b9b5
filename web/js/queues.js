// queues.js: the finalizer queues, the GC handles by kind, and strings (search and duplicates).

import { dumpGet } from './api.js';
import { addrLink, badge, h, num, pager, section, size, table, threadLink, to, typeLink } from './ui.js';

// ---- finalizer ---------------------------------------------------------------------------------

export async function finalizerView(ctx) {
  const { id, q, signal } = ctx;
  const queue = q.get('queue') === 'ready' ? 'ready' : 'finalizable';
  const cursor = Number(q.get('cursor') || 0);
  const limit = 100;
  const doc = await dumpGet(id, 'finalizer', { queue, cursor: cursor || undefined, limit }, signal);
  ctx.title = queue === 'ready' ? 'Ready for finalization' : 'Finalizable objects';
  const url = (extra) => to.page(id, 'finalizer', { queue: queue === 'ready' ? 'ready' : undefined, ...extra });
  const objects = doc.objects || [];
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, 'Finalizer queues'),
    h(
      'nav',
      { class: 'subtabs', 'aria-label': 'finalizer queues' },
      h('a', { href: to.page(id, 'finalizer'), 'aria-current': queue === 'finalizable' ? 'page' : null }, 'registered for finalization'),
      h('a', { href: to.page(id, 'finalizer', { queue: 'ready' }), 'aria-current': queue === 'ready' ? 'page' : null }, 'ready for finalization (f-reachable)'),
    ),
    h(
      'p',
      {},
      `${num(doc.count)} objects, ${num(doc.total_size)} bytes.`,
      doc.finalizer_thread ? [' Finalizer thread: ', threadLink(id, doc.finalizer_thread), '.'] : null,
      queue === 'ready' && doc.count
        ? h('span', { class: 'muted' }, ' These wait for the finalizer thread; a long queue means it is slow or blocked.')
        : null,
    ),
    h(
      'div',
      { class: 'grid2' },
      section(
        'By type',
        table(
          [
            { title: 'Type', cell: (t) => typeLink(id, t.type) },
            { title: 'Count', num: true, cell: (t) => num(t.count) },
            { title: 'Size', num: true, cell: (t) => size(t.total_size) },
          ],
          [...(doc.by_type || [])].sort((a, b) => b.count - a.count),
          { empty: 'The queue is empty.' },
        ),
      ),
      section(
        'Objects',
        pager({
          from: cursor,
          count: objects.length,
          total: doc.total,
          prev: cursor > 0 ? url({ cursor: Math.max(0, cursor - limit) || undefined }) : null,
          next: doc.next_cursor ? url({ cursor: doc.next_cursor }) : null,
        }),
        table(
          [
            { title: 'Address', cell: (o) => addrLink(id, o.address) },
            { title: 'Type', cell: (o) => typeLink(id, o.type) },
            { title: 'Size', num: true, cell: (o) => size(o.size) },
          ],
          objects,
          { empty: 'The queue is empty.' },
        ),
      ),
    ),
  );
}

// ---- handles ------------------------------------------------------------------------------------

export async function handlesView(ctx) {
  const { id, signal } = ctx;
  const doc = await dumpGet(id, 'handles', { limit: 5000 }, signal);
  ctx.title = 'GC handles';
  const kinds = Object.entries(doc.kinds || {});
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, `GC handles (${num(doc.total)})`),
    h('p', {}, `${num(doc.total)} handles, ${num(doc.pinned)} of them pin their object.`),
    kinds.map(([kind, k]) =>
      h(
        'details',
        { class: 'panel', open: kinds.length <= 2 || kind.includes('strong') || kind.includes('pinned') ? true : null, dataset: { kind } },
        h('summary', {}, h('h2', {}, `${kind} (${num(k.count)})`)),
        h(
          'div',
          { class: 'grid2' },
          table(
            [
              { title: 'Type', cell: ([t]) => typeLink(id, t) },
              { title: 'Handles', num: true, cell: ([, n]) => num(n) },
            ],
            Object.entries(k.by_type || {}).sort((a, b) => b[1] - a[1]),
            { caption: 'By type of the object' },
          ),
          table(
            [
              { title: 'Handle', cell: (x) => h('span', { class: 'addr' }, x.handle) },
              { title: 'Object', cell: (x) => (x.object ? addrLink(id, x.object.address) : h('span', { class: 'muted' }, 'null')) },
              { title: 'Type', cell: (x) => (x.object ? typeLink(id, x.object.type) : '') },
              { title: 'Size', num: true, cell: (x) => (x.object ? size(x.object.size) : '') },
              { title: '', cell: (x) => (x.pinned ? badge('pinned', 'pinned') : '') },
            ],
            k.handles || [],
            { caption: (k.handles || []).length < k.count ? `The first ${num((k.handles || []).length)}` : 'Handles' },
          ),
        ),
      ),
    ),
  );
}

// ---- strings -------------------------------------------------------------------------------------

export async function stringsView(ctx) {
  const { id, q, signal } = ctx;
  const text = q.get('q') || '';
  const minLength = q.get('min_length') || '';
  const duplicates = q.get('duplicates') === 'true';
  const limit = Number(q.get('limit') || 100);
  const doc = await dumpGet(id, 'strings', { q: text, min_length: minLength, duplicates: duplicates ? 'true' : undefined, limit }, signal);
  ctx.title = 'Strings';
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'search strings',
      onsubmit: (e) => {
        e.preventDefault();
        const f = new FormData(e.target);
        location.hash = to.page(id, 'strings', {
          q: f.get('q') || undefined,
          min_length: f.get('min_length') || undefined,
          duplicates: f.get('duplicates') ? 'true' : undefined,
        });
      },
    },
    h('label', {}, 'Contains', h('input', { type: 'text', name: 'q', value: text, 'data-search': '', size: 30, spellcheck: 'false' })),
    h('label', {}, 'At least (characters)', h('input', { type: 'number', name: 'min_length', min: 0, value: minLength, size: 6 })),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'duplicates', checked: duplicates }), 'group duplicates'),
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
  );
  const more = (n) =>
    n >= limit && limit < 10000
      ? h('p', {}, h('a', { href: to.page(id, 'strings', { q: text || undefined, min_length: minLength || undefined, duplicates: duplicates ? 'true' : undefined, limit: Math.min(10000, limit * 10) }) }, `Show up to ${num(Math.min(10000, limit * 10))}`))
      : null;
  const val = (s) => h('code', { class: 'string-value' }, s.length > 300 ? `${s.slice(0, 300)}\u2026` : s);
  let results;
  if (duplicates) {
    const list = doc.duplicates || [];
    results = [
      h('p', {}, `${num(doc.duplicate_groups)} values occur more than once; the copies waste ${num(doc.wasted_bytes)} bytes.`),
      table(
        [
          { title: 'Value', cell: (d) => val(d.value) },
          { title: 'Length', num: true, cell: (d) => num(d.length) },
          { title: 'Copies', num: true, cell: (d) => num(d.count) },
          { title: 'Wasted', num: true, cell: (d) => size(d.wasted_bytes) },
          { title: 'One of them', cell: (d) => addrLink(id, d.example) },
        ],
        list,
        { empty: 'No duplicated string.' },
      ),
      more(list.length),
    ];
  } else {
    const list = doc.strings || [];
    results = [
      table(
        [
          { title: 'Address', cell: (s) => addrLink(id, s.address) },
          { title: 'Length', num: true, cell: (s) => num(s.length) },
          { title: 'Size', num: true, cell: (s) => size(s.size) },
          { title: 'Value', cell: (s) => val(s.value) },
        ],
        list,
        { empty: 'No string matches.' },
      ),
      more(list.length),
    ];
  }
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, 'Strings'),
    form,
    h('p', { class: 'muted' }, `${num(doc.matched)} strings match, ${num(doc.matched_bytes)} bytes.`),
    results,
  );
}
