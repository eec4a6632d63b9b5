// sosex.js: the SOSEX views, reached from a thread or an address: one frame's arguments and locals
// (!mdv/!mframe), a method's code with IL offsets, source lines and named calls (!muf/!mu), a
// thread's mixed native and managed stack (!mk), and what lives at an address (!mln).

import { dumpGet } from './api.js';
import { addrLink, badge, facts, genLabel, h, href, num, objRef, section, table, threadLink, to, typeLink } from './ui.js';

export const toFrame = (id, tid, depth) => href(`/dumps/${id}/threads/${tid}/frames/${depth}`);
export const toMixed = (id, tid) => href(`/dumps/${id}/threads/${tid}/mixed`);
// method: a code address (the frame's instruction pointer) or a method name
export const toCode = (id, method) => href(`/dumps/${id}/code`, { method });
export const toMemory = (id, addr) => href(`/dumps/${id}/memory/${addr}`);

// "file:line" of a frame, or null
export const position = (f) => (f && f.file ? `${f.file}${f.line ? `:${f.line}` : ''}` : null);

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') {
    if (v.address) return v.type ? `${v.type} ${v.address}` : v.address;
    if (v.fields) return structText(v.fields);
    return JSON.stringify(v);
  }
  return String(v);
}
const structText = (fields) => `{${Object.entries(fields || {}).map(([k, x]) => `${k}=${scalar(x)}`).join(', ')}}`;

// A frame variable's value: a number or boolean, a reference (a link to its object), a struct field
// by field, raw bytes as hex, or unavailable.
export function variableValue(id, v) {
  if (!v.available && (v.value === null || v.value === undefined)) return h('span', { class: 'muted' }, 'unavailable');
  const x = v.value;
  if (x === null || x === undefined) return h('span', { class: 'mono' }, 'null');
  if (typeof x === 'object' && x.address)
    return h(
      'span',
      { class: 'objref' },
      addrLink(id, x.address),
      ' ',
      x.type ? typeLink(id, x.type) : null,
      typeof x.string === 'string' ? h('span', { class: 'mono' }, ` \u201c${x.string}\u201d`) : null,
    );
  if (typeof x === 'object' && x.fields) return h('span', { class: 'mono' }, structText(x.fields));
  return h('span', { class: 'mono' }, String(x));
}

function variables(id, title, list) {
  return section(
    `${title} (${num((list || []).length)})`,
    table(
      [
        { title: 'Name', class: 'var-name', cell: (v) => h('span', { class: 'mono' }, v.name) },
        { title: 'Type', class: 'var-type', cell: (v) => (v.type ? h('span', { class: 'mono' }, v.type) : h('span', { class: 'muted' }, 'unknown')) },
        { title: 'Value', class: 'var-value', cell: (v) => variableValue(id, v) },
        { title: 'Kind', cell: (v) => v.kind },
        { title: 'Slot', cell: (v) => (v.location ? h('a', { href: toMemory(id, v.location), class: 'addr' }, v.location) : h('span', { class: 'muted' }, 'register')) },
      ],
      list,
      { empty: `No ${title.toLowerCase()}.`, rowAttrs: (v) => ({ class: 'variable', dataset: { name: v.name, kind: v.kind } }) },
    ),
  );
}

// #/dumps/ID/threads/TID/frames/N: one managed frame, its source position, arguments and locals.
export async function frameView(ctx) {
  const { id, signal } = ctx;
  const [, tid, depth] = ctx.params;
  const doc = await dumpGet(id, `threads/${tid}/frames`, { frame: depth }, signal);
  const f = (doc.frames || [])[0];
  ctx.title = `Frame ${depth} of thread ${tid}`;
  const thread = { os_id: doc.os_id, managed_id: doc.managed_id };
  if (!f) return h('div', {}, h('h1', { tabindex: '-1' }, ctx.title), h('p', { class: 'empty' }, 'No such frame.'));
  return h(
    'div',
    { class: 'frame-vars', dataset: { depth: String(f.depth), sp: f.sp } },
    h('h1', { tabindex: '-1' }, h('span', { class: 'mono' }, f.method)),
    section(
      'Frame',
      facts([
        ['Thread', threadLink(id, thread)],
        ['Depth', String(f.depth)],
        ['Source', position(f) ? h('span', { class: 'mono frame-pos' }, position(f)) : h('span', { class: 'muted' }, 'no PDB next to the assembly')],
        ['Column', f.file && f.column ? String(f.column) : null],
        ['IL offset', f.il_offset === null || f.il_offset === undefined ? null : `IL_${f.il_offset.toString(16).padStart(4, '0')}`],
        ['Stack pointer', h('a', { href: toMemory(id, f.sp), class: 'addr' }, f.sp)],
        ['Instruction pointer', h('a', { href: toCode(id, f.ip), class: 'addr code-link' }, f.ip)],
        ['Runtime frame', f.runtime_frame ? badge('runtime', 'info') : null],
      ]),
      doc.variables ? h('p', { class: 'notice' }, doc.variables) : null,
    ),
    variables(id, 'Arguments', f.arguments),
    variables(id, 'Locals', f.locals),
    h(
      'p',
      {},
      h('a', { href: to.thread(id, tid) }, '\u2190 Thread'),
      ' \u00b7 ',
      h('a', { href: toCode(id, f.ip), class: 'code-link' }, 'Method code'),
      ' \u00b7 ',
      h('a', { href: toMixed(id, tid) }, 'Mixed stack'),
    ),
  );
}

const ilText = (i) =>
  i.il_offset !== null && i.il_offset !== undefined ? `IL_${i.il_offset.toString(16).padStart(4, '0')}` : i.il_region && i.il_region !== 'il' ? i.il_region : '';

// #/dumps/ID/code?method=M: a method's whole code (muf; M a name or a code address), or with
// around=N the instructions around an address (mu).
export async function codeView(ctx) {
  const { id, signal, q } = ctx;
  const method = q.get('method') || '';
  const around = q.get('around');
  const doc = around
    ? await dumpGet(id, `code/${encodeURIComponent(method)}`, { around }, signal)
    : await dumpGet(id, `methods/${encodeURIComponent(method)}/code`, null, signal);
  ctx.title = `Code of ${doc.method}`;
  let lastLine = null;
  const rows = [];
  for (const i of doc.instructions || []) {
    if (i.line && i.line !== lastLine) {
      rows.push(h('tr', { class: 'src-line' }, h('td', { colspan: 5, class: 'mono muted' }, `${doc.file || 'line'} @ ${i.line}`)));
      lastLine = i.line;
    }
    const t = i.target;
    rows.push(
      h(
        'tr',
        { class: `insn${i.current ? ' current' : ''}`, dataset: { address: i.address, target: t && t.name ? t.name : undefined } },
        h('td', { class: 'addr' }, i.address, i.current ? [' ', badge('here', 'info')] : null),
        h('td', { class: 'mono muted' }, ilText(i)),
        h('td', { class: 'mono muted' }, i.line ? String(i.line) : ''),
        h('td', { class: 'mono' }, `${i.mnemonic} ${i.operands}`),
        h(
          'td',
          { class: 'mono call-target' },
          t
            ? [
                t.name
                  ? t.kind === 'method'
                    ? h('a', { href: toCode(id, t.address) }, t.name)
                    : t.name
                  : h('span', { class: 'muted' }, t.address),
                t.offset ? `+0x${t.offset.toString(16)}` : '',
                ' ',
                h('span', { class: 'muted' }, `(${t.kind})`),
              ]
            : '',
        ),
      ),
    );
  }
  return h(
    'div',
    { class: 'disassembly', dataset: { method: doc.method } },
    h('h1', { tabindex: '-1' }, h('span', { class: 'mono' }, doc.method)),
    section(
      'Method',
      facts([
        ['MethodDesc', h('span', { class: 'addr' }, doc.method_desc)],
        ['Code', [h('a', { href: toMemory(id, doc.code_start), class: 'addr' }, doc.code_start), h('span', { class: 'muted' }, ` (${num(doc.code_size)} bytes)`)]],
        ['Compiled', doc.jitted ? 'by the JIT' : 'precompiled (ReadyToRun)'],
        ['Source file', doc.file ? h('span', { class: 'mono' }, doc.file) : null],
        ['Overloads', doc.overloads ? `${doc.overloads} methods bear this name; the first is shown` : null],
        ['IL map', doc.il_map ? null : 'not recorded'],
      ]),
      h(
        'p',
        {},
        around
          ? h('a', { href: toCode(id, doc.code_start) }, 'The whole method')
          : doc.address
            ? h('a', { href: href(`/dumps/${id}/code`, { method: doc.address, around: 16 }) }, 'Only around the address')
            : null,
      ),
    ),
    section(
      `Instructions (${num((doc.instructions || []).length)}${doc.truncated ? ', some left out' : ''})`,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'code' },
          h('thead', {}, h('tr', {}, ['Address', 'IL', 'Line', 'Instruction', 'Calls'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, rows),
        ),
      ),
    ),
  );
}

// #/dumps/ID/threads/TID/mixed: native frames unwound from the core, then the managed ones.
export async function mixedView(ctx) {
  const { id, signal } = ctx;
  const tid = ctx.params[1];
  const doc = await dumpGet(id, `threads/${tid}/mixed`, null, signal);
  ctx.title = `Mixed stack of thread ${doc.os_id}`;
  let managed = 0;
  return h(
    'div',
    { class: 'mixed', dataset: { osId: doc.os_id, managedId: doc.managed_id } },
    h('h1', { tabindex: '-1' }, `Mixed stack of thread ${doc.os_id}`, h('span', { class: 'muted' }, ` managed #${doc.managed_id}`)),
    h('p', { class: 'muted' }, `${num(doc.native_frames)} native frames; unwinding them ended at: ${doc.native_unwind_ended}.`),
    table(
      [
        { title: 'Kind', cell: (f) => badge(f.kind, f.kind === 'native' ? 'info' : f.kind) },
        {
          title: 'Frame',
          class: 'frame-cell',
          cell: (f) =>
            f.kind === 'native'
              ? h('span', { class: 'mono' }, f.function ? `${f.function}+0x${f.offset.toString(16)}` : `+0x${f.offset.toString(16)}`, h('span', { class: 'muted' }, ` ${f.module || '(no file)'}`))
              : h('span', { class: 'mono' }, f.method),
        },
        { title: 'Stack pointer', cell: (f) => h('a', { href: toMemory(id, f.sp), class: 'addr' }, f.sp) },
        {
          title: 'Instruction pointer',
          cell: (f) => (f.kind === 'managed' ? h('a', { href: toCode(id, f.ip), class: 'addr' }, f.ip) : h('a', { href: toMemory(id, f.ip), class: 'addr' }, f.ip)),
        },
      ],
      doc.frames || [],
      { empty: 'No frames.', rowAttrs: (f) => ({ class: `mixed-frame ${f.kind}`, dataset: { kind: f.kind, sp: f.sp, index: f.kind === 'native' ? undefined : String(managed++) } }) },
    ),
    h('p', {}, h('a', { href: to.thread(id, tid) }, '\u2190 Thread')),
  );
}

const rootSlot = (id, s) =>
  s ? h('span', {}, `${s.kind} `, h('span', { class: 'addr' }, s.address), s.pinned ? [' ', badge('pinned', 'pinned')] : null, s.object ? [' \u2192 ', objRef(id, s.object)] : null) : null;
const block = (b) => (b ? h('span', { class: 'addr' }, `${b.start}\u2013${b.end || `+${num(b.size)}`}`) : null);

// #/dumps/ID/memory/ADDR: what lives at an address, with links where it names an object or thread.
export async function memoryView(ctx) {
  const { id, signal } = ctx;
  const addr = ctx.params[1].toLowerCase();
  const m = await dumpGet(id, `memory/${addr}`, null, signal);
  ctx.title = `What is at ${addr}`;
  const thread = m.thread ? { os_id: m.thread.os_id, managed_id: m.thread.managed_id } : null;
  const tkey = thread ? (thread.os_id ? String(thread.os_id) : `m${thread.managed_id}`) : null;
  return h(
    'div',
    { class: 'memory', dataset: { address: m.address, kind: m.kind } },
    h('h1', { tabindex: '-1' }, 'What is at ', h('span', { class: 'addr' }, m.address)),
    section(
      m.kind.replace(/_/g, ' '),
      h('p', { class: 'memory-description' }, m.description),
      facts([
        ['Kind', h('span', { class: 'memory-kind' }, m.kind)],
        ['Object', m.object ? [objRef(id, m.object), m.object.live === false ? [' ', badge('dead')] : null] : null],
        ['Part', m.part || null],
        ['Field', m.field ? `${m.field}${m.field_offset !== undefined ? ` (+${m.field_offset})` : ''}` : null],
        ['Element', m.element !== undefined ? String(m.element) : null],
        ['Offset', m.offset !== undefined ? `+${num(m.offset)} bytes` : null],
        ['Generation', m.generation ? h('a', { href: to.heap(id, m.generation) }, genLabel(m.generation)) : null],
        ['GC heap', m.heap !== undefined ? String(m.heap) : null],
        ['Segment', m.segment && m.segment.start ? block(m.segment) : null],
        ['Free block', m.free_block ? block(m.free_block) : null],
        ['Thread', thread ? threadLink(id, thread) : null],
        ['Stack pointer', m.stack_pointer ? h('span', { class: 'addr' }, m.stack_pointer) : null],
        ['In use', m.in_use !== undefined ? (m.in_use ? 'yes' : 'no (below the stack pointer)') : null],
        ['Frame', m.frame && tkey ? h('a', { href: m.frame.runtime_frame ? to.thread(id, tkey) : toFrame(id, tkey, m.frame.depth), class: 'mono' }, m.frame.method) : null],
        ['Allocation context', m.allocation_context ? block({ start: m.allocation_context.ptr, end: m.allocation_context.limit }) : null],
        ['Handle', rootSlot(id, m.handle)],
        ['Slot', rootSlot(id, m.slot)],
        ['References', m.reference ? objRef(id, m.reference) : null],
        ['Method', m.method ? [h('a', { href: toCode(id, m.method.code_start), class: 'mono' }, m.method.name), h('span', { class: 'muted' }, ` +0x${m.method.offset.toString(16)}`)] : null],
        ['Loader heap', m.loader_heap || null],
        ['Block', m.block ? block(m.block) : null],
        ['Region', m.region ? block(m.region) : null],
        ['Module', m.module ? h('span', { class: 'mono' }, m.module.path) : null],
        ['Section', m.section || null],
        ['File offset', m.file_offset !== undefined && m.file_offset !== null ? num(m.file_offset) : null],
        ['In the dump', m.in_dump !== undefined ? (m.in_dump ? 'yes' : 'no') : null],
      ]),
    ),
    m.object ? h('p', {}, h('a', { href: to.object(id, m.object.address) }, 'Open the object')) : null,
  );
}
