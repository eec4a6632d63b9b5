// object.js: one object: what it is, its fields (or array elements, paged) with links, who refers
// to it and what it refers to, and its root path drawn as a chain from the root to the object.

import { toMemory } from './sosex.js';
import { ApiError, dumpGet } from './api.js';
import {
  addrLink, badge, errorBox, facts, genKey, genLabel, h, num, pager, part, section, size, table, threadLink, to, typeLink,
} from './ui.js';

const PAGE = 50;

// A field or element value: an object reference, an embedded struct, or a primitive.
function value(id, v) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, 'null');
  if (typeof v === 'object' && !Array.isArray(v)) {
    if (typeof v.address === 'string')
      return h(
        'span',
        { class: 'objref' },
        addrLink(id, v.address),
        ' ',
        typeLink(id, v.type),
        typeof v.string === 'string' ? h('span', { class: 'muted' }, ` \u201c${v.string.length > 80 ? `${v.string.slice(0, 80)}\u2026` : v.string}\u201d`) : null,
      );
    if (Array.isArray(v.fields))
      return h('span', {}, '{ ', v.fields.map((f, i) => [i ? ', ' : '', `${f.name} = `, value(id, f.value)]), ' }');
    return h('span', {}, '{ ', Object.entries(v).map(([k, x], i) => [i ? ', ' : '', `${k}: `, value(id, x)]), ' }');
  }
  if (Array.isArray(v)) return h('span', {}, '[', v.map((x, i) => [i ? ', ' : '', value(id, x)]), ']');
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) > 0xffff)
    return h('span', { class: 'num', title: `0x${v.toString(16)}` }, String(v));
  return h('span', { class: 'mono' }, String(v));
}

function body(id, o, q) {
  if (typeof o.string === 'string')
    return section(
      `String of ${num(o.length)} characters`,
      h('code', { class: 'string-value' }, o.string),
      o.truncated ? h('p', { class: 'muted' }, 'Only the beginning is shown.') : null,
    );
  if (Array.isArray(o.elements)) {
    const offset = o.element_offset || 0;
    const n = o.elements.length;
    const url = (off) => to.object(id, o.address, { offset: off || undefined, all: q.get('all') || undefined });
    return section(
      `Elements (${num(o.length)} of ${o.element_type || '?'})`,
      pager({
        from: offset,
        count: n,
        total: o.length,
        first: offset > 0 ? url(0) : null,
        prev: offset > 0 ? url(Math.max(0, offset - PAGE)) : null,
        next: offset + n < o.length ? url(offset + n) : null,
      }),
      table(
        [
          { title: 'Index', num: true, cell: (_, i) => num(offset + i) },
          { title: 'Value', cell: (v) => value(id, v) },
        ],
        o.elements,
        { empty: 'The array is empty.' },
      ),
    );
  }
  return section(
    'Fields',
    table(
      [
        { title: 'Name', cell: (f) => h('span', { class: 'mono' }, f.name) },
        { title: 'Type', cell: (f) => h('span', { class: 'type muted' }, f.type) },
        { title: 'Offset', num: true, cell: (f) => `+${f.offset}` },
        { title: 'Value', cell: (f) => value(id, f.value) },
      ],
      o.fields || [],
      { empty: 'No instance fields.', rowAttrs: (f) => ({ dataset: { field: f.name } }) },
    ),
  );
}

const refTable = (id, list, what) =>
  table(
    [
      { title: 'Address', cell: (r) => addrLink(id, r.address) },
      { title: 'Type', cell: (r) => typeLink(id, r.type) },
      { title: 'Size', num: true, cell: (r) => size(r.size) },
      { title: what === 'in' ? 'Through its field' : 'From field', cell: (r) => h('span', { class: 'mono' }, r.field || '') },
    ],
    list,
    { empty: what === 'in' ? 'No object refers to it.' : 'It refers to no object.' },
  );

function refs(id, doc) {
  const inList = doc.referenced_by || [];
  const outList = doc.references || [];
  return h(
    'div',
    { class: 'grid2' },
    section(
      `Referenced by (${num(doc.referenced_by_count)})`,
      refTable(id, inList, 'in'),
      doc.referenced_by_count > inList.length ? h('p', { class: 'muted' }, `The first ${num(inList.length)} are shown.`) : null,
    ),
    section(
      `References (${num(doc.references_count)})`,
      refTable(id, outList, 'out'),
      doc.references_count > outList.length ? h('p', { class: 'muted' }, `The first ${num(outList.length)} are shown.`) : null,
    ),
  );
}

function rootBox(id, root) {
  const extra = Object.entries(root).filter(
    ([k, v]) => !['kind', 'address', 'pinned', 'thread', 'frame', 'field'].includes(k) && (typeof v === 'string' || typeof v === 'number'),
  );
  return h(
    'li',
    { class: 'chain-root', dataset: { kind: root.kind, osId: root.thread ? root.thread.os_id : '' } },
    h('span', { class: 'kind' }, `${root.kind} root`),
    root.field ? [' ', h('span', { class: 'mono' }, root.field)] : null,
    root.pinned ? [' ', badge('pinned', 'pinned')] : null,
    root.thread ? [' on ', threadLink(id, root.thread)] : null,
    root.frame ? [' in ', h('span', { class: 'mono' }, root.frame.method)] : null,
    root.address ? h('div', { class: 'muted' }, `${root.kind === 'stack' ? 'stack slot' : root.kind.includes('handle') ? 'handle' : 'at'} `, h('span', { class: 'addr' }, root.address)) : null,
    extra.length ? h('div', { class: 'muted' }, extra.map(([k, v]) => `${k}: ${v}`).join(', ')) : null,
    root.storage
      ? h('div', { class: 'muted' }, `in ${root.storage.what} `, h('span', { class: 'addr' }, root.storage.array),
          root.storage.handle ? [`, held by ${root.storage.handle.kind} `, h('span', { class: 'addr' }, root.storage.handle.address)] : null)
      : null,
  );
}

// One root path as a chain: root, then each object, each arrow labelled with the field it goes
// through; the last link is the object itself.
export function chain(id, path, target) {
  const objs = path.objects || [];
  return h(
    'ol',
    { class: 'chain root-path', 'aria-label': `root path of ${objs.length} objects` },
    path.root ? rootBox(id, path.root) : null,
    objs.map((o, i) =>
      h(
        'li',
        { class: `chain-object${o.address === target ? ' chain-target' : ''}`, dataset: { address: o.address } },
        i > 0 && objs[i - 1].via_field ? h('span', { class: 'via' }, `.${objs[i - 1].via_field}`) : null,
        addrLink(id, o.address),
        ' ',
        typeLink(id, o.type),
        ' ',
        h('span', { class: 'muted' }, `${num(o.size)} bytes`),
      ),
    ),
  );
}

function roots(id, doc, all, o) {
  const paths = doc.paths || [];
  const toggle = h(
    'a',
    { href: to.object(id, o.address, { all: all ? undefined : 'true' }) },
    all ? 'Show the shortest path only' : 'Show one path per distinct root',
  );
  if (!paths.length)
    return section(
      'Root path',
      h('p', {}, doc.live === false ? 'No root reaches this object: it is garbage that the next GC will free.' : 'No root path was found.'),
    );
  return section(
    all ? `Root paths (${paths.length}${doc.truncated ? '+' : ''})` : 'Root path',
    h('p', { class: 'muted' }, 'From the root (top) down to this object (bottom). ', toggle),
    paths.map((p) => chain(id, p, o.address)),
  );
}

export async function objectView(ctx) {
  const { id, q, signal } = ctx;
  const addr = ctx.params[1].toLowerCase();
  const offset = Number(q.get('offset') || 0);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ApiError(400, 'bad_offset', 'The element offset must be a whole number.');
  const all = q.get('all') === 'true';
  const objP = dumpGet(id, `objects/${addr}`, { offset: offset || undefined, limit: PAGE }, signal);
  const refsP = dumpGet(id, `objects/${addr}/refs`, { limit: 100 }, signal);
  const rootsP = dumpGet(id, `roots/${addr}`, { all: all ? 'true' : undefined }, signal);
  refsP.catch(() => null);
  rootsP.catch(() => null);
  let o;
  try {
    o = await objP;
  } catch (e) {
    // not an object's start: say what the address is (inside an object, free space, outside the heap)
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
    const where = await dumpGet(id, `addresses/${addr}`, null, signal).catch(() => null);
    ctx.title = addr;
    return h(
      'div',
      {},
      h('h1', { tabindex: '-1' }, h('span', { class: 'addr' }, addr)),
      errorBox(e),
      h('p', {}, h('a', { href: toMemory(id, addr), class: 'memory-link' }, 'What is at this address?')),
      where && where.object && where.object.address !== addr
        ? h('p', { class: 'notice' }, `${addr} lies inside the object `, addrLink(id, where.object.address), ' ', typeLink(id, where.object.type), ` (${where.generation ? genLabel(where.generation) : ''}, offset +${Number(BigInt(addr) - BigInt(where.object.address))}).`)
        : where
          ? h('p', { class: 'notice' }, `${addr} is in ${genLabel(where.generation)}, but not inside an object.`)
          : null,
    );
  }
  ctx.title = `${o.display_name || o.type} ${o.address}`;
  return h(
    'div',
    { class: 'object', dataset: { address: o.address } },
    h('h1', { tabindex: '-1' }, h('span', { class: 'type' }, o.display_name || o.type), ' ', h('span', { class: 'addr muted' }, o.address)),
    section(
      'Object',
      facts([
        ['Address', h('span', { class: 'addr' }, o.address)],
        ['Type', typeLink(id, o.type, null, o.display_name)],
        ['MethodTable', h('span', { class: 'addr' }, o.mt)],
        ['Size', [size(o.size), h('span', { class: 'muted' }, ` (${num(o.size)} bytes)`)]],
        ['Generation', h('a', { href: to.heap(id, genKey(o.generation)) }, genLabel(o.generation))],
        ['Reachable', o.live ? badge('live') : badge('dead')],
        ['Length', o.length !== undefined ? num(o.length) : null],
      ]),
    ),
    h('p', {}, h('a', { href: toMemory(id, o.address), class: 'memory-link' }, 'What is at this address (SOSEX !mln)')),
    body(id, o, q),
    await part(rootsP, (doc) => roots(id, doc, all, o), 'Root path'),
    await part(refsP, (doc) => refs(id, doc), 'References'),
  );
}
