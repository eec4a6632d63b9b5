// threads.js: the managed threads (state, wait, exception), and one thread: its stack with the
// objects each frame holds, what it waits on and the locks it holds.

import { dumpGet } from './api.js';
import { badge, facts, h, num, objRef, part, section, table, threadLink, to, typeLink } from './ui.js';
import { position, toCode, toFrame, toMixed } from './sosex.js';

export function waitText(id, w) {
  if (!w) return h('span', { class: 'muted' }, 'not waiting');
  return h(
    'span',
    { class: 'wait' },
    h('strong', {}, w.kind),
    w.object ? [' on ', objRef(id, w.object)] : null,
    w.held_by ? [' held by ', threadLink(id, w.held_by)] : null,
  );
}

const exceptionText = (id, e) =>
  e ? h('span', {}, objRef(id, e), e.message ? h('span', {}, ` \u201c${e.message}\u201d`) : null) : '';

// The state words that tell threads apart (every running thread is "legal to join", ...).
const ROUTINE = new Set(['legal to join', 'fully initialized', 'we own']);
const stateWords = (t) => (t.state_words || []).filter((w) => !ROUTINE.has(w)).join(', ');

export async function threadsView(ctx) {
  const { id, signal } = ctx;
  const doc = await dumpGet(id, 'threads', { limit: 10000 }, signal);
  ctx.title = 'Threads';
  const threads = doc.threads || [];
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, `Threads (${num(doc.total ?? threads.length)})`),
    table(
      [
        { title: 'Thread', cell: (t) => threadLink(id, t) },
        {
          title: 'State',
          cell: (t) =>
            h(
              'span',
              {},
              t.alive ? '' : [badge('dead'), ' '],
              t.finalizer ? [badge('finalizer', 'info'), ' '] : '',
              h('span', { class: 'muted', title: `${t.state}: ${(t.state_words || []).join(', ')}` }, stateWords(t)),
            ),
        },
        { title: 'GC mode', cell: (t) => t.gc_mode || '' },
        { title: 'Waiting', cell: (t) => waitText(id, t.waiting_on) },
        { title: 'Exception', cell: (t) => exceptionText(id, t.exception) },
        { title: 'Frames', num: true, cell: (t) => num(t.frame_count) },
        { title: 'Role', cell: (t) => t.role || '' },
        {
          title: 'Method',
          class: 'frame-cell',
          cell: (t) => {
            const f = t.top_method || t.top_frame;
            return h('span', { class: 'mono' }, f ? f.method : '');
          },
        },
      ],
      threads,
      { empty: 'No managed threads.', rowAttrs: (t) => ({ dataset: { osId: t.os_id, managedId: t.managed_id } }) },
    ),
  );
}

// Frames with the objects they hold: stack/ and objects/ list the same frames in the same order.
// vars: the frames resource (mdv), matched to the stack's frames by stack pointer and method, for
// each managed frame's source position and links to its arguments and locals and to its code.
function frames(id, tid, stack, held, vars) {
  const byIndex = (held && held.frames) || [];
  const varFrames = (vars && vars.frames) || [];
  const varOf = (f, i) =>
    varFrames.find((v) => v.sp === f.sp && v.method === f.method) ||
    varFrames.find((v) => v.sp === f.sp && !v.runtime_frame) ||
    (varFrames[i] && varFrames[i].method === f.method ? varFrames[i] : null);
  return h(
    'ol',
    { class: 'frames' },
    (stack.frames || []).map((f, i) => {
      const objs = (byIndex[i] && byIndex[i].sp === f.sp && byIndex[i].objects) || [];
      const v = f.runtime_frame ? null : varOf(f, i);
      const pos = position(v);
      return h(
        'li',
        { class: f.runtime_frame ? 'runtime' : '', dataset: { sp: f.sp, depth: v ? String(v.depth) : undefined } },
        h('span', { class: 'mono' }, f.method),
        ' ',
        h('span', { class: 'muted addr', title: `stack pointer ${f.sp}, instruction pointer ${f.ip}` }, f.sp),
        pos ? [' ', h('span', { class: 'muted mono frame-pos' }, pos)] : null,
        f.runtime_frame
          ? null
          : h(
              'span',
              { class: 'frame-links' },
              ' ',
              v
                ? h('a', { href: toFrame(id, tid, v.depth), class: 'frame-vars-link', title: 'the arguments and locals of this frame (SOSEX !mdv)' }, `args & locals (${(v.arguments || []).length + (v.locals || []).length})`)
                : null,
              v ? ' \u00b7 ' : null,
              h('a', { href: toCode(id, f.ip), class: 'code-link', title: 'the method\u2019s code, this frame\u2019s instruction marked (SOSEX !muf)' }, 'code'),
            ),
        objs.length
          ? h(
              'ul',
              { class: 'frame-objects' },
              objs.map((o) =>
                h(
                  'li',
                  { dataset: { address: o.address } },
                  objRef(id, o),
                  h('span', { class: 'muted' }, ` ${num(o.size)} bytes, slot `, h('span', { class: 'addr' }, o.slot)),
                  o.pinned ? [' ', badge('pinned', 'pinned')] : null,
                ),
              ),
            )
          : null,
      );
    }),
  );
}

export async function threadView(ctx) {
  const { id, signal } = ctx;
  const tid = ctx.params[1];
  const stackP = dumpGet(id, `threads/${tid}/stack`, null, signal);
  const heldP = dumpGet(id, `threads/${tid}/objects`, null, signal);
  const listP = dumpGet(id, 'threads', { limit: 10000 }, signal);
  const locksP = dumpGet(id, 'locks', null, signal);
  const varsP = dumpGet(id, `threads/${tid}/frames`, null, signal);
  varsP.catch(() => null);
  heldP.catch(() => null);
  listP.catch(() => null);
  locksP.catch(() => null);
  const stack = await stackP;
  let held = null;
  try {
    held = await heldP;
  } catch {
    held = null;
  }
  const vars = await varsP.catch(() => null);
  ctx.title = `Thread ${stack.os_id || `m${stack.managed_id}`}`;
  const info = await listP.then(
    (d) => (d.threads || []).find((t) => t.os_id === stack.os_id && t.managed_id === stack.managed_id),
    () => null,
  );
  const mine = (l) => {
    const owner = l.held_by || l.writer;
    return owner && owner.os_id === stack.os_id && owner.managed_id === stack.managed_id;
  };
  return h(
    'div',
    { class: 'thread', dataset: { osId: stack.os_id, managedId: stack.managed_id } },
    h('h1', { tabindex: '-1' }, `Thread ${stack.os_id}`, h('span', { class: 'muted' }, ` managed #${stack.managed_id}`)),
    section(
      'Thread',
      facts([
        ['OS thread id', `${stack.os_id} (0x${Number(stack.os_id).toString(16)})`],
        ['Managed id', String(stack.managed_id)],
        ['State', info ? (info.state_words || []).join(', ') : null],
        ['GC mode', info ? info.gc_mode : null],
        ['Waiting', waitText(id, stack.waiting_on)],
        ['Exception', info && info.exception ? exceptionText(id, info.exception) : null],
        ['Thread object', info && info.address ? h('span', { class: 'addr' }, info.address) : null],
      ]),
    ),
    await part(
      locksP,
      (doc) => {
        const list = [...(doc.monitors || []), ...(doc.other_locks || [])].filter(mine);
        if (!list.length) return null;
        return section(
          `Locks it holds (${list.length})`,
          table(
            [
              { title: 'Lock', cell: (l) => objRef(id, l.object) },
              { title: 'Kind', cell: (l) => l.kind },
              { title: 'Waiting for it', cell: (l) => ((l.waiters || []).length ? (l.waiters || []).map((w, i) => [i ? ', ' : '', threadLink(id, w)]) : h('span', { class: 'muted' }, 'none')) },
            ],
            list,
          ),
        );
      },
      'Locks',
    ),
    section(
      `Stack (${num((stack.frames || []).length)} frames) and the objects its frames hold`,
      held ? null : h('p', { class: 'muted' }, 'The objects of each frame are not available for this thread.'),
      h('p', {}, h('a', { href: toMixed(id, tid), class: 'mixed-link' }, 'Mixed stack: native frames too'), vars ? null : h('span', { class: 'muted' }, ' (the arguments and locals of the frames are not available)')),
      frames(id, tid, stack, held, vars),
      held && held.unattributed && held.unattributed.length
        ? [h('h3', {}, 'On the stack, in no known frame'), h('ul', {}, held.unattributed.map((o) => h('li', {}, objRef(id, o))))]
        : null,
    ),
    h('p', {}, h('a', { href: to.threads(id) }, '\u2190 All threads'), ' \u00b7 ', h('a', { href: to.page(id, 'locks') }, 'Locks'), ' \u00b7 ', typeLink(id, 'System.Threading.Thread', null, 'Thread objects')),
  );
}
