// draw.js: the two pictures of the UI, drawn as SVG by hand (no chart library needed for a bar
// per generation and a ring of a few nodes): heap size by generation, and a deadlock cycle as a
// graph of threads and locks. Every node and bar is a link.

import { h, bytes, num } from './ui.js';

let uid = 0;

// rows: [{ label, used, free, href }]; used + free = the generation's size.
export function genChart(rows, { width = 560 } = {}) {
  const rowH = 30;
  const left = 70;
  const right = 120;
  const top = 8;
  const height = top * 2 + rowH * rows.length;
  const max = Math.max(1, ...rows.map((r) => r.used + r.free));
  const scale = (v) => ((width - left - right) * v) / max;
  const svg = h('svg:svg', {
    viewBox: `0 0 ${width} ${height}`,
    width: '100%',
    role: 'img',
    'aria-label': 'heap size by generation',
    class: 'gen-chart',
  });
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const a = h('svg:a', { href: r.href, 'aria-label': `${r.label}: ${bytes(r.used + r.free)}` });
    a.append(
      h('svg:title', {}, `${r.label}: ${num(r.used + r.free)} bytes (${num(r.free)} free)`),
      h('svg:text', { x: left - 8, y: y + 19, 'text-anchor': 'end' }, r.label),
      h('svg:rect', { class: 'bar', x: left, y: y + 6, width: Math.max(scale(r.used), r.used ? 1 : 0), height: rowH - 12, rx: 2 }),
      h('svg:rect', { class: 'bar-free', x: left + scale(r.used), y: y + 6, width: scale(r.free), height: rowH - 12 }),
      h('svg:text', { x: left + scale(r.used + r.free) + 6, y: y + 19 }, bytes(r.used + r.free)),
    );
    svg.append(a);
  });
  return h(
    'figure',
    { class: 'chart' },
    svg,
    h(
      'figcaption',
      { class: 'legend' },
      h('span', { class: 'sw used' }),
      'objects',
      h('span', { class: 'sw free' }),
      'free space',
    ),
  );
}

const shortType = (t) => {
  const plain = String(t || '').replace(/`\d+\[\[.*$/, '');
  return plain.split('.').pop();
};

// Where a line from the centre of a w x h box towards (dx, dy) leaves the box.
function border(cx, cy, dx, dy, w, hgt) {
  const t = Math.min(w / 2 / Math.abs(dx || 1e-9), hgt / 2 / Math.abs(dy || 1e-9));
  return [cx + dx * t, cy + dy * t];
}

// cycle: { threads: [{ os_id, managed_id, waits_for: { kind, object, held_by }, holds }] }
// link: { thread(t) -> href, object(addr) -> href }
export function cycleGraph(cycle, link) {
  const id = `g${++uid}`;
  const threads = cycle.threads;
  const key = (t) => `${t.os_id}/${t.managed_id}`;
  const byKey = new Map(threads.map((t) => [key(t), t]));
  // the walk: thread, the lock it waits for, the thread holding it, ...
  const order = [];
  const seen = new Set();
  let t = threads[0];
  while (t && !seen.has(key(t))) {
    seen.add(key(t));
    const w = t.waits_for || {};
    order.push({ kind: 'thread', t });
    if (w.object) order.push({ kind: 'lock', o: w.object, lockKind: w.kind, holder: w.held_by, waiter: t });
    t = w.held_by ? byKey.get(key(w.held_by)) : null;
  }
  for (const x of threads) if (!seen.has(key(x))) order.push({ kind: 'thread', t: x });

  const W = 440;
  const H = order.length > 4 ? 400 : 300;
  const bw = 150;
  const bh = 44;
  const cx = W / 2;
  const cy = H / 2;
  const rx = W / 2 - bw / 2 - 6;
  const ry = H / 2 - bh / 2 - 6;
  const pos = order.map((_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / order.length;
    return [cx + rx * Math.cos(a), cy + ry * Math.sin(a)];
  });
  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`,
    width: '100%',
    role: 'img',
    class: 'cycle-graph',
    'aria-label': `wait-for cycle of ${threads.length} threads`,
  });
  svg.append(
    h(
      'svg:defs',
      {},
      h(
        'svg:marker',
        { id: `${id}-arrow`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        h('svg:path', { d: 'M0,0 L10,5 L0,10 z', fill: '#57606a' }),
      ),
    ),
  );
  // edges: thread -> lock "waits for", lock -> thread "held by"
  const index = new Map();
  order.forEach((n, i) => index.set(n.kind === 'thread' ? `t:${key(n.t)}` : `l:${n.o.address}`, i));
  const edges = [];
  order.forEach((n, i) => {
    if (n.kind !== 'lock') return;
    edges.push([index.get(`t:${key(n.waiter)}`), i, 'waits for', 'waits']);
    if (n.holder && index.has(`t:${key(n.holder)}`)) edges.push([i, index.get(`t:${key(n.holder)}`), 'held by', 'held']);
  });
  for (const [a, b, label, cls] of edges) {
    if (a === undefined || b === undefined) continue;
    const [x1, y1] = pos[a];
    const [x2, y2] = pos[b];
    const [sx, sy] = border(x1, y1, x2 - x1, y2 - y1, bw + 8, bh + 8);
    const [ex, ey] = border(x2, y2, x1 - x2, y1 - y2, bw + 8, bh + 8);
    svg.append(
      h('svg:line', { class: `edge ${cls}`, x1: sx, y1: sy, x2: ex, y2: ey, 'marker-end': `url(#${id}-arrow)` }),
      h('svg:text', { class: 'edge-label', x: (sx + ex) / 2 + 4, y: (sy + ey) / 2 - 4, 'text-anchor': 'middle' }, label),
    );
  }
  order.forEach((n, i) => {
    const [x, y] = pos[i];
    const isThread = n.kind === 'thread';
    const a = h('svg:a', {
      href: isThread ? link.thread(n.t) : link.object(n.o.address),
      class: isThread ? 'thread-node' : 'lock-node',
      'data-os-id': isThread ? n.t.os_id : null,
      'data-address': isThread ? null : n.o.address,
      'aria-label': isThread
        ? `thread ${n.t.os_id} (managed ${n.t.managed_id})`
        : `${n.lockKind || 'lock'} on ${n.o.type} at ${n.o.address}`,
    });
    a.append(
      h('svg:rect', { class: `node-box ${isThread ? 'thread' : 'lock'}`, x: x - bw / 2, y: y - bh / 2, width: bw, height: bh, rx: isThread ? 20 : 4 }),
      h('svg:text', { x, y: y - 3, 'text-anchor': 'middle', 'font-weight': 600 }, isThread ? `thread ${n.t.os_id}` : shortType(n.o.type)),
      h(
        'svg:text',
        { x, y: y + 13, 'text-anchor': 'middle', class: 'edge-label' },
        isThread ? `managed #${n.t.managed_id}` : n.o.address,
      ),
      h('svg:title', {}, isThread ? `thread ${n.t.os_id} (managed ${n.t.managed_id})` : `${n.lockKind || 'lock'}: ${n.o.type} ${n.o.address}`),
    );
    svg.append(a);
  });
  return svg;
}
