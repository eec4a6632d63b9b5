// overview.js: a dump's first page: what it is, the findings of the automatic analysis with their
// evidence as links, the heap by generation, and the top types by size and by count.
// Five small requests in parallel, all answered from the index.

import { dumpGet, get } from './api.js';
import { genChart } from './draw.js';
import {
  GENERATIONS, badge, bytes, duration, facts, genKey, genLabel, h, num, objRef, part, section, size, table,
  threadLink, to, typeLink, when,
} from './ui.js';

const SEVERITY = { error: 0, warning: 1, information: 2, info: 2, notification: 3 };

// Threads ({os_id, managed_id}) and objects ({address, type}) anywhere in a finding's details.
function evidence(x, threads, objects) {
  if (Array.isArray(x)) x.forEach((v) => evidence(v, threads, objects));
  else if (x && typeof x === 'object') {
    if ('os_id' in x && 'managed_id' in x) threads.set(`${x.os_id}/${x.managed_id}`, x);
    if (typeof x.address === 'string' && x.type) objects.set(x.address, x);
    for (const [k, v] of Object.entries(x)) if (k !== 'stack' && k !== 'frames') evidence(v, threads, objects);
  }
}

function pageFor(id, f) {
  const t = `${f.title} ${f.description}`;
  if (/deadlock/i.test(t)) return [to.page(id, 'deadlocks'), 'See the deadlocks'];
  if (/finaliz/i.test(t)) return [to.page(id, 'finalizer'), 'See the finalizer queues'];
  if (/thread pool|starvation/i.test(t)) return [to.threads(id), 'See the threads'];
  if (/contention|lock|wait/i.test(t)) return [to.page(id, 'locks'), 'See the locks'];
  if (/fragment/i.test(t)) return [to.page(id, 'fragmentation'), 'See the fragmentation'];
  return null;
}

export function findingsList(id, doc) {
  const list = [...(doc.findings || [])].sort((a, b) => (SEVERITY[a.severity] ?? 3) - (SEVERITY[b.severity] ?? 3));
  if (!list.length) return h('p', { class: 'empty' }, 'No findings: no deadlock, blocked finalizer, thread-pool starvation or lock contention was found.');
  return h(
    'div',
    { class: 'findings' },
    list.map((f) => {
      const threads = new Map();
      const objects = new Map();
      evidence(f.details, threads, objects);
      const more = pageFor(id, f);
      const objs = [...objects.values()];
      return h(
        'article',
        { class: `finding ${f.severity}`, dataset: { severity: f.severity } },
        h('h3', {}, badge(f.severity), f.title),
        h('p', {}, f.description),
        f.recommendation ? h('p', {}, h('strong', {}, 'Recommendation: '), f.recommendation) : null,
        h(
          'p',
          { class: 'evidence' },
          threads.size ? ['Threads: ', [...threads.values()].map((t, i) => [i ? ', ' : '', threadLink(id, t)])] : null,
          threads.size && objs.length ? h('br') : null,
          objs.length
            ? ['Objects: ', objs.slice(0, 8).map((o, i) => [i ? ', ' : '', objRef(id, o)]), objs.length > 8 ? ` and ${objs.length - 8} more` : '']
            : null,
          more ? [h('br'), h('a', { href: more[0] }, `${more[1]} \u2192`)] : null,
        ),
      );
    }),
  );
}

function genRows(id, frag) {
  const byGen = new Map((frag.generations || []).map((g) => [genKey(g.generation), g]));
  return GENERATIONS.map((g) => {
    const x = byGen.get(g) || { generation_bytes: 0, free_bytes: 0 };
    return {
      label: genLabel(g),
      used: Math.max(0, x.generation_bytes - x.free_bytes),
      free: x.free_bytes,
      href: to.heap(id, g),
    };
  });
}

const topTypes = (id, doc, by) =>
  table(
    [
      { title: 'Type', cell: (t) => typeLink(id, t.type, null, t.display_name) },
      { title: 'Count', num: true, cell: (t) => num(t.count) },
      { title: 'Size', num: true, cell: (t) => size(t.total_size) },
    ],
    doc.types,
    { caption: by === 'size' ? 'Top types by size' : 'Top types by count' },
  );

export async function overviewView(ctx) {
  const { id, signal } = ctx;
  const dumpP = get(`/dumps/${id}`, null, signal);
  const summaryP = dumpGet(id, 'summary', null, signal);
  const findingsP = dumpGet(id, 'findings', null, signal);
  const fragP = dumpGet(id, 'fragmentation', { limit: 1 }, signal);
  const bySizeP = dumpGet(id, 'heap/stat', { sort: 'size', limit: 10 }, signal);
  const byCountP = dumpGet(id, 'heap/stat', { sort: 'count', limit: 10 }, signal);
  const [dump, summary] = await Promise.all([dumpP, summaryP]);
  ctx.title = dump.name || id;
  const stat = (label, value, title) => h('div', { class: 'stat', title }, h('b', {}, value), h('span', {}, label));
  return h(
    'div',
    { class: 'overview' },
    h('h1', { tabindex: '-1' }, dump.name || id),
    h(
      'div',
      { class: 'stats' },
      stat('objects', num(summary.objects)),
      stat('heap size', bytes(summary.heap_bytes), `${num(summary.heap_bytes)} bytes`),
      stat('reachable', bytes(summary.live_bytes), `${num(summary.live_objects)} live objects, ${num(summary.live_bytes)} bytes`),
      stat('free space', bytes(summary.free_bytes), `${num(summary.free_bytes)} bytes`),
      stat('types', num(summary.types)),
      stat('roots', num(summary.roots)),
      stat('references', num(summary.references)),
    ),
    summary.heap_errors ? h('div', { class: 'alert', role: 'alert' }, `The heap walk met ${num(summary.heap_errors)} errors: the heap may be corrupt.`) : null,
    summary.heap_walkable === false
      ? h('div', { class: 'alert', role: 'alert', id: 'heap-not-walkable' }, 'Taken during a garbage collection: the heap cannot be walked. Threads, stacks, handles, locks and the report are available; take another dump for the heap.')
      : null,
    summary.warnings ? h('div', { class: 'notice' }, summary.warnings) : null,
    h(
      'div',
      { class: 'grid2' },
      section('Findings', await part(findingsP, (doc) => findingsList(id, doc), 'Findings')),
      h(
        'div',
        {},
        section(
          'Heap by generation',
          await part(fragP, (frag) => genChart(genRows(id, frag)), 'Generations'),
        ),
        section(
          'Dump',
          facts([
            ['Runtime', dump.runtime_version ? `.NET ${dump.runtime_version}` : null],
            ['GC', `${dump.gc_mode || '\u2013'}${summary.heap_count ? `, ${summary.heap_count} heap${summary.heap_count > 1 ? 's' : ''}` : ''}${summary.regions ? ', regions' : ', segments'}`],
            ['Kind', dump.dump_kind],
            ['File size', size(dump.size)],
            ['SHA-256', h('code', {}, dump.sha256)],
            ['Uploaded', when(dump.created_ms)],
            ['Analysed', `${when(dump.analysed_ms)} (${duration(dump.analysis_ms)})`],
            ['Status', badge(dump.status)],
          ]),
        ),
      ),
    ),
    h(
      'div',
      { class: 'grid2' },
      section('Largest types', await part(bySizeP, (doc) => topTypes(id, doc, 'size'), 'Top types'), h('a', { href: to.heap(id, 'all') }, 'The whole heap \u2192')),
      section('Most instances', await part(byCountP, (doc) => topTypes(id, doc, 'count'), 'Top types'), h('a', { href: to.heap(id, 'all', { sort: 'count' }) }, 'The whole heap by count \u2192')),
    ),
  );
}
