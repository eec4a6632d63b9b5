// report.js: the automatic analysis report (GET /dumps/{id}/report, the document `dumpscope
// analyze --json` prints) and the comparison of two dumps (GET /dumps/{id}/diff?base=ID).
//
// The report: the summary (process, runtime, GC, heap by generation, committed/used, counts,
// threads), the findings most severe first with their evidence as links (types open their
// instances, objects their page, threads their stack), the leak suspects with the path from their
// root and what they accumulate, retained sizes, top types, the LOH, strings, exceptions and the
// thresholds used. The comparison: per-type growth sorted on the server, a picker for the base.

import { ApiError, dumpGet, get } from './api.js';
import { chain } from './object.js';
import {
  badge, bytes, duration, facts, genKey, genLabel, h, num, objRef, section, size, table, threadLink, to,
  typeLink,
} from './ui.js';

const SEVERITY = { error: 0, warning: 1, information: 2, info: 2, notification: 3 };
const pctText = (p) => `${Number(p || 0).toFixed(1)} %`;

// An uptime in seconds as "3 d 4 h", "2 h 5 min", "42 s".
export function uptime(seconds) {
  if (seconds === null || seconds === undefined) return null;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ${s % 60} s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${m % 60} min`;
  return `${Math.floor(hrs / 24)} d ${hrs % 24} h`;
}

// One evidence item: a link to what it names, with its count, bytes and label.
function evidenceItem(id, e) {
  let what = e.kind;
  if (e.kind === 'type') what = typeLink(id, e.type, null, e.display_name);
  else if (e.kind === 'object') what = e.object ? objRef(id, e.object) : 'an object';
  else if (e.kind === 'thread') what = e.thread ? threadLink(id, e.thread) : 'a thread';
  return h(
    'li',
    { class: `evidence-${e.kind}`, dataset: { kind: e.kind, type: e.type || (e.object && e.object.type) || '', address: (e.object && e.object.address) || '' } },
    what,
    e.count !== undefined ? h('span', { class: 'muted' }, ` \u00d7 ${num(e.count)}`) : null,
    e.bytes !== undefined ? h('span', { class: 'muted' }, `, ${bytes(e.bytes)}`) : null,
    e.label ? h('span', { class: 'label' }, ` \u201c${e.label}\u201d`) : null,
  );
}

function finding(id, f) {
  return h(
    'article',
    { class: `finding ${f.severity}`, dataset: { severity: f.severity, code: f.code || '' } },
    h('h3', {}, badge(f.severity, f.severity === 'information' || f.severity === 'notification' ? 'info' : f.severity), f.title),
    h('p', { class: 'description' }, f.description),
    f.recommendation ? h('p', {}, h('strong', {}, 'Recommendation: '), f.recommendation) : null,
    f.setting ? h('p', { class: 'muted setting' }, `Threshold: ${f.setting.name} = ${f.setting.value}`) : null,
    f.evidence && f.evidence.length ? h('ul', { class: 'evidence' }, f.evidence.slice(0, 20).map((e) => evidenceItem(id, e))) : null,
    f.evidence && f.evidence.length > 20 ? h('p', { class: 'muted' }, `and ${num(f.evidence.length - 20)} more`) : null,
  );
}

function findingsPart(id, findings) {
  const list = [...findings].sort((a, b) => (SEVERITY[a.severity] ?? 9) - (SEVERITY[b.severity] ?? 9));
  if (!list.length) return h('p', { class: 'empty' }, 'No findings: nothing in this dump crossed a threshold.');
  return h('div', { class: 'findings', id: 'report-findings' }, list.map((f) => finding(id, f)));
}

function suspect(id, s, i) {
  const what = s.kind === 'object' ? objRef(id, s.object) : typeLink(id, s.type, null, s.display_name);
  return h(
    'article',
    { class: 'suspect panel', dataset: { kind: s.kind, retained: s.retained_size, address: s.object ? s.object.address : '', type: s.type || (s.object && s.object.type) || '' } },
    h('h3', {}, `Suspect ${i + 1}: `, what),
    h('p', {}, s.description),
    facts([
      ['Retained', [size(s.retained_size), h('span', { class: 'muted' }, ` (${pctText(s.retained_percent)} of the reachable heap)`)]],
      ['Instances', s.count !== undefined ? num(s.count) : null],
      ['Accumulates in', s.accumulation_point ? objRef(id, s.accumulation_point) : null],
    ]),
    s.accumulates && s.accumulates.length ? [h('h4', {}, 'What it holds'), h('ul', { class: 'evidence accumulates' }, s.accumulates.map((e) => evidenceItem(id, e)))] : null,
    s.root_path ? [h('h4', {}, 'Path from its root'), chain(id, s.root_path, s.object && s.object.address)] : null,
  );
}

function summaryPart(id, s, dumpName) {
  const gc = s.gc || {};
  const heap = s.heap || {};
  const th = s.threads || {};
  const fin = s.finalization || {};
  const proc = s.process || {};
  return [
    s.gc_in_progress
      ? h('div', { class: 'alert', role: 'alert', id: 'gc-in-progress' }, h('strong', {}, 'Taken during a garbage collection'), h('p', {}, 'The GC was moving objects when this dump was taken, so its heap cannot be walked: there are no types, objects, strings or retained sizes. Threads, stacks, handles, locks and deadlocks are shown; take another dump for the heap.'))
      : null,
    facts([
      ['Dump', `${dumpName || s.dump} (${s.dump_kind} dump, ${bytes(s.dump_size)})`],
      ['Command line', proc.command_line ? h('code', { id: 'command-line' }, proc.command_line) : null],
      ['Uptime', proc.uptime_seconds !== undefined && proc.uptime_seconds !== null ? h('span', { id: 'uptime', dataset: { seconds: proc.uptime_seconds } }, uptime(proc.uptime_seconds)) : null],
      ['Runtime', `.NET ${s.runtime_version}`],
      ['GC', `${gc.mode}${gc.regions ? ', regions' : ', segments'}, ${num(gc.heap_count)} heap${gc.heap_count === 1 ? '' : 's'}`],
      ['Heap', s.gc_in_progress ? 'not walkable (taken during a garbage collection)' : `${bytes(heap.bytes)} in ${num(s.objects)} objects of ${num(s.types)} types; ${bytes(heap.live_bytes)} reachable (${num(s.live_objects)} objects)`],
      ['Memory', heap.committed_bytes ? `${bytes(heap.committed_bytes)} committed, ${bytes(heap.used_bytes)} used` : null],
      ['Threads', `${num(th.managed)} managed: ${num(th.alive)} alive, ${num(th.blocked)} blocked, ${num(th.thread_pool)} thread pool, ${num(th.with_exception)} with an exception`],
      ['Finalization', `${num(fin.registered)} registered (${num(fin.undisposed)} never disposed), ${num(fin.ready)} ready`],
      ['Roots', `${num(s.roots)}, ${num(s.pinned_handles)} pinned handles; ${num(s.references)} references`],
      ['Analysis', duration(s.analysis_ms)],
    ]),
    table(
      [
        { title: 'Generation', cell: (g) => h('a', { href: to.heap(id, genKey(g.generation)) }, genLabel(g.generation)) },
        { title: 'Objects', num: true, cell: (g) => num(g.objects) },
        { title: 'Size', num: true, cell: (g) => size(g.bytes) },
        { title: 'Free', num: true, cell: (g) => size(g.free_bytes) },
        { title: 'Reachable', num: true, cell: (g) => size(g.live_bytes) },
      ],
      heap.generations,
      { caption: 'Heap by generation', rowAttrs: (g) => ({ dataset: { gen: genKey(g.generation), bytes: g.bytes } }) },
    ),
  ];
}

const typeRows = (id, rows, caption, gen) =>
  table(
    [
      { title: 'Type', cell: (t) => typeLink(id, t.type, gen, t.display_name) },
      { title: 'Count', num: true, cell: (t) => num(t.count) },
      { title: 'Size', num: true, cell: (t) => size(t.bytes) },
    ],
    rows,
    { caption, rowAttrs: (t) => ({ dataset: { type: t.type, count: t.count, bytes: t.bytes } }) },
  );

function retainedPart(id, r) {
  if (!r) return h('p', { class: 'empty' }, 'This index has no dominator tree.');
  return [
    h('p', {}, `The roots retain ${bytes(r.reachable_bytes)}.`),
    table(
      [
        { title: 'Object', cell: (o) => objRef(id, o) },
        { title: 'Size', num: true, cell: (o) => size(o.size) },
        { title: 'Retained', num: true, cell: (o) => size(o.retained_size) },
        { title: '%', num: true, cell: (o) => pctText(o.retained_percent) },
      ],
      r.top_objects,
      { caption: 'Largest objects dominated only by the roots', rowAttrs: (o) => ({ dataset: { address: o.address, retained: o.retained_size } }) },
    ),
    table(
      [
        { title: 'Type', cell: (t) => typeLink(id, t.type, null, t.display_name) },
        { title: 'Count', num: true, cell: (t) => num(t.count) },
        { title: 'Shallow', num: true, cell: (t) => size(t.size) },
        { title: 'Retained', num: true, cell: (t) => size(t.retained_size) },
        { title: '%', num: true, cell: (t) => pctText(t.retained_percent) },
      ],
      r.top_types,
      { caption: 'Types by retained size', rowAttrs: (t) => ({ dataset: { type: t.type, retained: t.retained_size } }) },
    ),
  ];
}

export async function reportView(ctx) {
  const { id, signal } = ctx;
  const rep = await dumpGet(id, 'report', null, signal);
  ctx.title = `Report ${id}`;
  const counts = rep.finding_counts || {};
  const top = rep.top_types || {};
  const str = rep.strings || {};
  const loh = rep.loh || {};
  const exc = rep.exceptions || {};
  return h(
    'div',
    { class: 'report' },
    h('h1', { tabindex: '-1' }, 'Analysis report'),
    h(
      'p',
      { class: 'row', id: 'finding-counts' },
      ['error', 'warning', 'information', 'notification']
        .filter((k) => counts[k])
        .map((k) => h('span', { dataset: { severity: k, count: counts[k] } }, badge(`${counts[k]} ${k}`, k === 'information' || k === 'notification' ? 'info' : k))),
      Object.keys(counts).length ? null : h('span', { class: 'muted' }, 'no findings'),
    ),
    section('Summary', summaryPart(id, rep.summary || {}, null)),
    section('Findings', findingsPart(id, rep.findings || [])),
    section(
      'Leak suspects',
      rep.leak_suspects && rep.leak_suspects.length
        ? h('div', { id: 'suspects' }, rep.leak_suspects.map((s, i) => suspect(id, s, i)))
        : h('p', { class: 'empty' }, 'None: no object or type retains a large share of the heap.'),
    ),
    section('Retained sizes', retainedPart(id, rep.retained)),
    h(
      'div',
      { class: 'grid2' },
      section('Top types by size', typeRows(id, top.by_size, 'Whole heap')),
      section('Top types by count', typeRows(id, top.by_count, 'Whole heap')),
    ),
    section(
      'Top types per generation',
      (top.generations || []).map((g) => typeRows(id, g.by_size, genLabel(g.generation), genKey(g.generation))),
    ),
    section(
      'Large object heap',
      h('p', {}, `${num(loh.objects)} objects, ${bytes(loh.bytes)}`),
      table(
        [
          { title: 'Object', cell: (o) => objRef(id, o) },
          { title: 'Size', num: true, cell: (o) => size(o.size) },
          { title: 'Reachable', cell: (o) => badge(o.live ? 'live' : 'dead') },
        ],
        loh.largest,
        { rowAttrs: (o) => ({ dataset: { address: o.address } }) },
      ),
    ),
    section(
      'Strings',
      h('p', {}, `${num(str.count)} strings, ${bytes(str.bytes)}; ${num(str.large_count)} large (${bytes(str.large_bytes)}); ${num(str.duplicate_values)} values held by ${num(str.duplicate_strings)} strings waste ${bytes(str.wasted_bytes)}.`),
      str.top_duplicates && str.top_duplicates.length ? [h('h4', {}, 'Most wasteful duplicates'), h('ul', { class: 'evidence' }, str.top_duplicates.map((e) => evidenceItem(id, e)))] : null,
      h('p', {}, h('a', { href: to.page(id, 'strings', { duplicates: 'true' }) }, 'All duplicates \u2192')),
    ),
    section(
      'Exceptions on the heap',
      h('p', {}, `${num(exc.count)} exception objects`),
      exc.groups && exc.groups.length ? h('ul', { class: 'evidence' }, exc.groups.map((e) => evidenceItem(id, e))) : null,
    ),
    section(
      'Thresholds used',
      table(
        [
          { title: 'Setting', cell: (s) => h('code', {}, s.name) },
          { title: 'Value', num: true, cell: (s) => String(s.value) },
        ],
        rep.settings,
        { rowAttrs: (s) => ({ dataset: { name: s.name } }) },
      ),
    ),
  );
}

// ---- the comparison -----------------------------------------------------------------------------

const signed = (n) => `${n > 0 ? '+' : n < 0 ? '\u2212' : ''}${num(Math.abs(n))}`;
const signedBytes = (n) => h('span', { class: 'num', title: `${signed(n)} bytes` }, `${n > 0 ? '+' : n < 0 ? '\u2212' : ''}${bytes(Math.abs(n))}`);

export async function diffView(ctx) {
  const { id, q, signal } = ctx;
  const base = q.get('base') || '';
  const sort = q.get('sort') || 'bytes';
  if (!['bytes', 'count', 'retained'].includes(sort)) throw new ApiError(400, 'bad_sort', `Sort by bytes, count or retained, not \u201c${sort}\u201d.`);
  ctx.title = `Compare ${id}`;
  const listP = get('/dumps', { status: 'ready', limit: 1000 }, signal);
  const diffP = base ? dumpGet(id, 'diff', { base, sort, limit: 200 }, signal) : null;
  const list = await listP;
  const others = list.dumps.filter((d) => d.id !== id);
  const picker = h(
    'form',
    {
      class: 'row panel',
      id: 'diff-form',
      onsubmit: (e) => {
        e.preventDefault();
        const f = new FormData(e.target);
        location.hash = to.page(id, 'diff', { base: f.get('base'), sort: f.get('sort') });
      },
    },
    h('label', { for: 'diff-base' }, 'Compare with the earlier dump'),
    h(
      'select',
      { id: 'diff-base', name: 'base', required: true },
      h('option', { value: '' }, others.length ? 'choose a dump\u2026' : 'no other analysed dump'),
      others.map((d) => h('option', { value: d.id, selected: d.id === base ? true : null }, `${d.name || d.id} (${d.id})`)),
    ),
    h('label', { for: 'diff-sort' }, 'rank by growth of'),
    h(
      'select',
      { id: 'diff-sort', name: 'sort' },
      [['bytes', 'bytes'], ['count', 'instances'], ['retained', 'retained bytes']].map(([v, label]) =>
        h('option', { value: v, selected: v === sort ? true : null }, label),
      ),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Compare'),
  );
  const heading = h('h1', { tabindex: '-1' }, 'Compare with an earlier dump');
  if (!diffP) return h('div', { class: 'diff' }, heading, picker, h('p', { class: 'muted' }, 'Pick the earlier dump of the same program: the table shows what grew since.'));
  const doc = await diffP;
  const sortLink = (key, label) =>
    key === sort ? h('span', { dataset: { sort: key } }, `${label} \u2193`) : h('a', { href: to.page(id, 'diff', { base, sort: key }), dataset: { sort: key } }, label);
  return h(
    'div',
    { class: 'diff' },
    heading,
    picker,
    section(
      'Growth',
      facts([
        ['Before', `${doc.before.dump} (${base}): ${num(doc.before.objects)} objects, ${bytes(doc.before.bytes)}`],
        ['After', `${doc.after.dump} (${id}): ${num(doc.after.objects)} objects, ${bytes(doc.after.bytes)}`],
        ['Growth', h('span', { id: 'diff-total' }, `${signed(doc.objects_growth)} objects, `, signedBytes(doc.bytes_growth))],
      ]),
      table(
        [
          { title: 'Type', cell: (t) => typeLink(id, t.type, null, t.display_name) },
          { title: sortLink('count', 'Instances'), num: true, cell: (t) => h('span', { class: 'count-growth' }, signed(t.count_growth)) },
          { title: 'Before', num: true, cell: (t) => num(t.count_before) },
          { title: 'After', num: true, cell: (t) => num(t.count_after) },
          { title: sortLink('bytes', 'Bytes'), num: true, cell: (t) => signedBytes(t.bytes_growth) },
          { title: sortLink('retained', 'Retained'), num: true, cell: (t) => (t.retained_growth !== undefined ? signedBytes(t.retained_growth) : '\u2013') },
        ],
        doc.types,
        {
          caption: `${num(doc.type_count)} types changed; the first ${num(doc.types.length)}, largest growth first`,
          empty: 'No type changed between the two dumps.',
          rowAttrs: (t) => ({ dataset: { type: t.type, countGrowth: t.count_growth, bytesGrowth: t.bytes_growth, retainedGrowth: t.retained_growth ?? '' } }),
        },
      ),
    ),
  );
}
