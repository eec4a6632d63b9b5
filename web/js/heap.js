// heap.js: the heap by generation: a type histogram that the server sorts, filters and pages
// (it stays fast with 50,000 types), the instances of a type, and fragmentation.

import { ApiError, dumpGet } from './api.js';
import {
  GENERATIONS, addrLink, badge, genKey, genLabel, h, num, pager, part, pct, section, size, table, to,
  typeLink,
} from './ui.js';

const GEN_TABS = ['all', ...GENERATIONS];
const LIMITS = ['20', '50', '100', '500', '1000'];

function genTabs(current, url) {
  return h(
    'nav',
    { class: 'subtabs', 'aria-label': 'generations' },
    GEN_TABS.map((g) =>
      h('a', { href: url(g), 'aria-current': g === current ? 'page' : null, dataset: { gen: g } }, g === 'all' ? 'whole heap' : genLabel(g)),
    ),
  );
}

function checkGen(gen) {
  if (!GEN_TABS.includes(gen))
    throw new ApiError(404, 'no_generation', `There is no generation \u201c${gen}\u201d: use 0, 1, 2, loh, poh or frozen.`);
}

// ---- histogram ------------------------------------------------------------------------------------

const FILTERS = ['type', 'exact', 'liveness', 'min_size', 'max_size', 'limit'];

export async function heapView(ctx) {
  const { id, q, signal } = ctx;
  const gen = ctx.params[1] || 'all';
  checkGen(gen);
  const params = Object.fromEntries(FILTERS.map((k) => [k, q.get(k) || undefined]));
  const sort = q.get('sort') || 'size';
  const order = q.get('order') || (sort === 'name' ? 'asc' : 'desc');
  const cursor = Number(q.get('cursor') || 0);
  const limit = params.limit || '50';
  const api = { ...params, sort, order, limit, cursor: cursor || undefined };
  const doc = await (gen === 'all' ? dumpGet(id, 'heap/stat', api, signal) : dumpGet(id, `gen/${gen}`, api, signal));
  ctx.title = `Heap ${gen === 'all' ? '' : genLabel(gen)}`;

  const here = (extra) => to.heap(id, gen, { ...params, sort, order, ...extra });
  const sortLink = (key, label) => {
    const active = sort === key;
    const next = active ? (order === 'desc' ? 'asc' : 'desc') : key === 'name' ? 'asc' : 'desc';
    return h('a', { href: here({ sort: key, order: next, cursor: undefined }), title: `sort by ${label}` }, label);
  };
  const sortedTh = (key) => (sort === key ? (order === 'asc' ? 'ascending' : 'descending') : null);

  const typeInput = h('input', { type: 'text', name: 'type', value: params.type || '', placeholder: 'part of a type name', 'data-search': '', size: 28, spellcheck: 'false' });
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'filter the histogram',
      onsubmit: (e) => {
        e.preventDefault();
        const f = new FormData(e.target);
        const next = {};
        for (const k of FILTERS) next[k] = f.get(k) || undefined;
        next.exact = f.get('exact') ? 'true' : undefined;
        if (next.liveness === 'any') next.liveness = undefined;
        location.hash = to.heap(id, gen, { ...next, sort, order });
      },
    },
    h('label', {}, 'Type contains', typeInput),
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'exact', checked: params.exact === 'true' }), 'exact name'),
    h(
      'label',
      {},
      'Objects',
      h('select', { name: 'liveness' }, ['any', 'live', 'dead'].map((v) => h('option', { value: v, selected: (params.liveness || 'any') === v ? true : null }, { any: 'all', live: 'reachable', dead: 'unreachable' }[v]))),
    ),
    h('label', {}, 'Min size (bytes)', h('input', { type: 'number', name: 'min_size', min: 0, value: params.min_size || '', size: 8 })),
    h('label', {}, 'Max size (bytes)', h('input', { type: 'number', name: 'max_size', min: 0, value: params.max_size || '', size: 8 })),
    h('label', {}, 'Rows', h('select', { name: 'limit' }, LIMITS.map((v) => h('option', { value: v, selected: v === limit ? true : null }, v)))),
    h('button', { type: 'submit', class: 'primary' }, 'Apply'),
    Object.values(params).some(Boolean) ? h('a', { href: to.heap(id, gen) }, 'Clear filters') : null,
  );

  const total = doc.total_size || 1;
  const th = (key, label, num) => ({ title: h('span', { dataset: { sort: key } }, sortLink(key, label)), num, sortKey: key });
  const columns = [
    { ...th('name', 'Type'), cell: (t) => typeLink(id, t.type, gen, t.display_name) },
    { ...th('count', 'Count', true), cell: (t) => h('span', { class: 'count' }, num(t.count)) },
    { ...th('size', 'Total size', true), cell: (t) => size(t.total_size) },
    { title: 'Average', num: true, cell: (t) => size(Math.round(t.total_size / Math.max(1, t.count))) },
    {
      title: `Share of ${gen === 'all' ? 'heap' : genLabel(gen)}`,
      cell: (t) => {
        const bar = h('span', { class: 'share' });
        bar.style.width = `${Math.max(1, (80 * t.total_size) / total)}px`;
        return h('span', { class: 'num' }, bar, ' ', pct(t.total_size / total));
      },
    },
  ];
  const grid = table(columns, doc.types, {
    empty: params.type ? `No type matching \u201c${params.type}\u201d in ${gen === 'all' ? 'the heap' : genLabel(gen)}.` : `${gen === 'all' ? 'The heap' : genLabel(gen)} holds no objects.`,
    rowAttrs: (t) => ({ dataset: { type: t.type, count: t.count, size: t.total_size } }),
  });
  // aria-sort on the header cells of the sorted column
  grid.querySelectorAll && grid.querySelectorAll('th').forEach((cell) => {
    const key = cell.querySelector('[data-sort]')?.dataset.sort;
    const s = key && sortedTh(key);
    if (s) cell.setAttribute('aria-sort', s);
  });
  const n = doc.types.length;
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, gen === 'all' ? 'The whole heap' : `Heap: ${genLabel(gen)}`),
    genTabs(gen, (g) => to.heap(id, g, { ...params, sort, order })),
    h(
      'p',
      { class: 'muted', id: 'gen-summary' },
      `${num(doc.object_count)} objects of ${num(doc.type_count)} types, ${num(doc.total_size)} bytes`,
      params.type || params.liveness || params.min_size || params.max_size ? ' (filtered)' : '',
      '. ',
      gen !== 'all' ? h('a', { href: to.instances(id, '', gen) }, `List every object of ${genLabel(gen)} \u2192`) : null,
    ),
    form,
    pager({
      from: cursor,
      count: n,
      total: doc.total,
      prev: cursor > 0 ? here({ cursor: Math.max(0, cursor - Number(limit)) || undefined }) : null,
      next: doc.next_cursor ? here({ cursor: doc.next_cursor }) : null,
    }),
    grid,
    n > 20 && doc.next_cursor ? pager({ from: cursor, count: n, total: doc.total, next: here({ cursor: doc.next_cursor }) }) : null,
  );
}

// ---- instances of a type ------------------------------------------------------------------------------

export async function instancesView(ctx) {
  const { id, q, signal } = ctx;
  const type = q.get('type') || '';
  const gen = q.get('gen') || 'all';
  checkGen(gen);
  const after = q.get('after') || undefined;
  const from = Number(q.get('n') || 0);
  const liveness = q.get('liveness') || undefined;
  const filter = { type: type || undefined, exact: type ? 'true' : undefined, liveness, gen: gen === 'all' ? undefined : gen };
  const listP = dumpGet(id, 'heap/objects', { ...filter, cursor: after, limit: 100 }, signal);
  const statP = type ? dumpGet(id, 'heap/stat', { ...filter, limit: 1 }, signal) : null;
  const doc = await listP;
  const where = gen === 'all' ? 'the heap' : genLabel(gen);
  ctx.title = type ? `${type} instances` : `Objects in ${where}`;
  const url = (extra) => to.instances(id, type, gen, { liveness, ...extra });
  const stat = statP
    ? await part(
        statP,
        (s) => {
          const row = s.types[0];
          return h('p', { class: 'muted', id: 'type-summary' }, row ? `${num(row.count)} instances in ${where}, ${num(row.total_size)} bytes in all.` : `No instance in ${where}.`);
        },
        'Counts',
      )
    : null;
  const n = doc.objects.length;
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, type ? h('span', {}, 'Instances of ', h('span', { class: 'type' }, type)) : `Objects in ${where}`),
    genTabs(gen, (g) => to.instances(id, type, g, { liveness })),
    stat,
    h(
      'nav',
      { class: 'subtabs', 'aria-label': 'liveness' },
      [[undefined, 'all'], ['live', 'reachable'], ['dead', 'unreachable']].map(([v, label]) =>
        h('a', { href: to.instances(id, type, gen, { liveness: v }), 'aria-current': v === liveness ? 'page' : null }, label),
      ),
      type ? h('a', { href: to.heap(id, gen, { type, exact: 'true' }) }, 'in the histogram') : null,
    ),
    pager({ from, count: n, first: after ? url({}) : null, next: doc.next_cursor && n ? url({ after: doc.next_cursor, n: from + n }) : null }),
    table(
      [
        { title: 'Address', cell: (o) => addrLink(id, o.address) },
        ...(type ? [] : [{ title: 'Type', cell: (o) => typeLink(id, o.type) }]),
        { title: 'Size', num: true, cell: (o) => size(o.size) },
        { title: 'Generation', cell: (o) => h('a', { href: to.heap(id, genKey(o.generation)) }, genLabel(o.generation)) },
        { title: 'Reachable', cell: (o) => (o.live ? badge('live') : badge('dead')) },
      ],
      doc.objects,
      { empty: `No ${type ? 'instance' : 'object'} here.`, rowAttrs: (o) => ({ dataset: { address: o.address } }) },
    ),
    n >= 20 ? pager({ from, count: n, next: doc.next_cursor ? url({ after: doc.next_cursor, n: from + n }) : null }) : null,
  );
}

// ---- fragmentation ---------------------------------------------------------------------------------------

export async function fragmentationView(ctx) {
  const { id, q, signal } = ctx;
  const limit = Number(q.get('limit') || 100);
  const doc = await dumpGet(id, 'fragmentation', { limit }, signal);
  ctx.title = 'Fragmentation';
  const holders = doc.pinned_gap_holders || [];
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, 'Fragmentation'),
    section(
      'Free space per generation',
      table(
        [
          { title: 'Generation', cell: (g) => h('a', { href: to.heap(id, genKey(g.generation)) }, genLabel(g.generation)) },
          { title: 'Size', num: true, cell: (g) => size(g.generation_bytes) },
          { title: 'Free', num: true, cell: (g) => size(g.free_bytes) },
          { title: 'Free blocks', num: true, cell: (g) => num(g.free_blocks) },
          { title: 'Largest free block', num: true, cell: (g) => size(g.largest_free_block) },
          { title: 'Fragmentation', num: true, cell: (g) => pct(g.fragmentation || 0) },
          { title: '', cell: (g) => (g.free_blocks ? h('a', { href: to.instances(id, 'Free', genKey(g.generation)) }, 'free blocks') : '') },
        ],
        doc.generations,
      ),
    ),
    section(
      `Pinned objects holding gaps (${num(doc.pinned_gap_holders_count)})`,
      h('p', { class: 'muted' }, 'A pinned object cannot move, so the free space before it cannot be compacted away.'),
      table(
        [
          { title: 'Object', cell: (o) => addrLink(id, o.address) },
          { title: 'Type', cell: (o) => typeLink(id, o.type) },
          { title: 'Size', num: true, cell: (o) => size(o.size) },
          { title: 'Gap before it', num: true, cell: (o) => size(o.gap_before) },
          { title: 'Gap starts at', cell: (o) => h('span', { class: 'addr' }, o.gap_start) },
          { title: 'Generation', cell: (o) => genLabel(o.generation) },
        ],
        holders,
        { empty: 'No pinned object holds a gap.' },
      ),
      doc.pinned_gap_holders_count > holders.length
        ? h('p', {}, h('a', { href: to.page(id, 'fragmentation', { limit: Math.min(100000, limit * 10) }) }, `Show up to ${num(Math.min(100000, limit * 10))}`))
        : null,
    ),
  );
}
