// locks.js: locks in use with owners and waiters, what each blocked thread waits on, and the
// deadlocks: each wait-for cycle drawn as a graph of threads and locks, with their stacks beside it.

import { dumpGet } from './api.js';
import { cycleGraph } from './draw.js';
import { h, num, objRef, section, table, threadLink, to } from './ui.js';
import { waitText } from './threads.js';

export const lockOwner = (l) => l.held_by || l.writer || null;

const threadList = (id, list) =>
  list && list.length
    ? list.map((w, i) => [i ? ', ' : '', threadLink(id, w), w.mode ? h('span', { class: 'muted' }, ` (${w.mode})`) : null])
    : h('span', { class: 'muted' }, 'none');

const SKIP = new Set(['kind', 'object', 'held_by', 'writer', 'waiters']);
const details = (l) =>
  Object.entries(l)
    .filter(([k, v]) => !SKIP.has(k) && v !== null && typeof v !== 'object')
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${v}`)
    .join(', ');

export async function locksView(ctx) {
  const { id, signal } = ctx;
  const locksP = dumpGet(id, 'locks', null, signal);
  const waitsP = dumpGet(id, 'waits', null, signal);
  const [locks, waits] = await Promise.all([locksP, waitsP]);
  ctx.title = 'Locks';
  const all = [...(locks.monitors || []), ...(locks.other_locks || [])];
  const blocked = (waits.waits || []).filter((w) => w.waiting_on);
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, `Locks in use (${num(all.length)})`),
    h('p', {}, h('a', { href: to.page(id, 'deadlocks') }, 'Deadlocks: the cycles among these \u2192')),
    section(
      'Locks',
      table(
        [
          { title: 'Lock object', cell: (l) => objRef(id, l.object) },
          { title: 'Kind', cell: (l) => l.kind },
          { title: 'Owner', cell: (l) => (lockOwner(l) ? threadLink(id, lockOwner(l)) : h('span', { class: 'muted' }, l.readers ? `${l.readers} readers` : 'none')) },
          { title: 'Waiting threads', cell: (l) => threadList(id, l.waiters) },
          { title: 'Details', cell: (l) => h('span', { class: 'muted' }, details(l)) },
        ],
        all,
        { empty: 'No lock is held or waited on.', rowAttrs: (l) => ({ dataset: { address: l.object.address } }) },
      ),
    ),
    section(
      `What each thread waits on (${num(blocked.length)})`,
      table(
        [
          { title: 'Thread', cell: (w) => threadLink(id, w) },
          { title: 'Waits', cell: (w) => waitText(id, w.waiting_on) },
          { title: 'In', cell: (w) => h('span', { class: 'mono' }, w.waiting_on.frame || '') },
        ],
        blocked,
        { empty: 'No thread is waiting.' },
      ),
    ),
  );
}

function stackBox(id, t) {
  return h(
    'div',
    { class: 'stack', dataset: { osId: t.os_id } },
    h('strong', {}, threadLink(id, t)),
    h('div', {}, 'waits for ', t.waits_for ? [objRef(id, t.waits_for.object), ` (${t.waits_for.kind})`] : '\u2013'),
    t.holds && t.holds.length ? h('div', {}, 'holds ', t.holds.map((o, i) => [i ? ', ' : '', objRef(id, o)])) : null,
    h(
      'ol',
      {},
      (t.stack || []).map((f) => h('li', { class: f.runtime_frame ? 'runtime' : '' }, f.method)),
    ),
  );
}

export async function deadlocksView(ctx) {
  const { id, signal } = ctx;
  const doc = await dumpGet(id, 'deadlocks', null, signal);
  ctx.title = 'Deadlocks';
  const cycles = doc.deadlocks || [];
  const contention = doc.contention || [];
  const link = { thread: (t) => to.thread(id, t), object: (a) => to.object(id, a) };
  return h(
    'div',
    {},
    h('h1', { tabindex: '-1' }, cycles.length ? `Deadlocks (${cycles.length})` : 'No deadlock'),
    cycles.length
      ? h('p', { class: 'muted' }, 'Each cycle: a thread (round box) waits for a lock (square box) that the next thread holds. Every box is a link.')
      : h('p', {}, 'No set of threads waits for each other in a cycle.'),
    cycles.map((c, i) =>
      h(
        'section',
        {
          class: 'panel deadlock',
          dataset: { threads: c.threads.map((t) => t.os_id).join(',') },
          'aria-label': `deadlock ${i + 1}`,
        },
        h('h2', {}, `Deadlock ${i + 1}: ${c.threads.length} threads`),
        h(
          'div',
          { class: 'cycle' },
          h('figure', { class: 'graph' }, cycleGraph(c, link)),
          h('div', { class: 'stacks' }, c.threads.map((t) => stackBox(id, t))),
        ),
      ),
    ),
    contention.length
      ? section(
          `Contention that is not a deadlock (${contention.length})`,
          table(
            [
              { title: 'Lock object', cell: (c) => objRef(id, c.object) },
              { title: 'Kind', cell: (c) => c.kind },
              { title: 'Owner', cell: (c) => threadLink(id, c.held_by) },
              { title: 'Waiting threads', cell: (c) => threadList(id, c.waiters) },
            ],
            contention,
          ),
        )
      : null,
  );
}
