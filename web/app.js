// app.js: the shell of dumpscope's web UI: sign-in, the router and the frame around each view.
//
// Every view has its own URL: hash routes (#/dumps/ID/objects/0x...) that open the same view when
// pasted. /ui/... paths (which the daemon answers with this page) are turned into the same hash
// routes, so both forms work. A view is an async function (ctx) -> node; see ROUTES below.

import { ApiError, NotReady, get, me, session } from './js/api.js';
import { errorBox, h, progressBar, to } from './js/ui.js';
import { dumpsView } from './js/dumps.js';
import { overviewView } from './js/overview.js';
import { heapView, instancesView, fragmentationView } from './js/heap.js';
import { objectView } from './js/object.js';
import { threadsView, threadView } from './js/threads.js';
import { locksView, deadlocksView } from './js/locks.js';
import { finalizerView, handlesView, stringsView } from './js/queues.js';
import { importView, importStatusView } from './js/imports.js';
import { reportView, diffView } from './js/report.js';
import { codeView, frameView, memoryView, mixedView, toMemory } from './js/sosex.js';

const ID = '([0-9a-f]{16})';
const ROUTES = [
  [/^\/?$/, dumpsView],
  [/^\/dumps$/, dumpsView],
  [/^\/import$/, importView],
  [/^\/imports\/([0-9]{1,18})$/, importStatusView],
  [new RegExp(`^/dumps/${ID}$`), overviewView, 'overview'],
  [new RegExp(`^/dumps/${ID}/report$`), reportView, 'report'],
  [new RegExp(`^/dumps/${ID}/diff$`), diffView, 'diff'],
  [new RegExp(`^/dumps/${ID}/heap(?:/([a-z0-9]+))?$`), heapView, 'heap'],
  [new RegExp(`^/dumps/${ID}/instances$`), instancesView, 'heap'],
  [new RegExp(`^/dumps/${ID}/fragmentation$`), fragmentationView, 'fragmentation'],
  [new RegExp(`^/dumps/${ID}/objects/(0x[0-9a-fA-F]+|[0-9]+)$`), objectView, 'heap'],
  [new RegExp(`^/dumps/${ID}/threads$`), threadsView, 'threads'],
  [new RegExp(`^/dumps/${ID}/threads/(m?[0-9]+)$`), threadView, 'threads'],
  [new RegExp(`^/dumps/${ID}/threads/(m?[0-9]+)/frames/([0-9]+)$`), frameView, 'threads'],
  [new RegExp(`^/dumps/${ID}/threads/(m?[0-9]+)/mixed$`), mixedView, 'threads'],
  [new RegExp(`^/dumps/${ID}/code$`), codeView, 'threads'],
  [new RegExp(`^/dumps/${ID}/memory/(0x[0-9a-fA-F]+)$`), memoryView, 'heap'],
  [new RegExp(`^/dumps/${ID}/locks$`), locksView, 'locks'],
  [new RegExp(`^/dumps/${ID}/deadlocks$`), deadlocksView, 'deadlocks'],
  [new RegExp(`^/dumps/${ID}/finalizer$`), finalizerView, 'finalizer'],
  [new RegExp(`^/dumps/${ID}/handles$`), handlesView, 'handles'],
  [new RegExp(`^/dumps/${ID}/strings$`), stringsView, 'strings'],
];

const TABS = [
  ['overview', 'Overview', (id) => to.dump(id)],
  ['report', 'Report', (id) => to.page(id, 'report')],
  ['heap', 'Heap', (id) => to.heap(id, '2')],
  ['fragmentation', 'Fragmentation', (id) => to.page(id, 'fragmentation')],
  ['threads', 'Threads', (id) => to.threads(id)],
  ['locks', 'Locks', (id) => to.page(id, 'locks')],
  ['deadlocks', 'Deadlocks', (id) => to.page(id, 'deadlocks')],
  ['finalizer', 'Finalizer', (id) => to.page(id, 'finalizer')],
  ['handles', 'Handles', (id) => to.page(id, 'handles')],
  ['strings', 'Strings', (id) => to.page(id, 'strings')],
  ['diff', 'Compare', (id) => to.page(id, 'diff')],
];

const main = document.getElementById('main');
const userBox = document.getElementById('user');
let current = null; // { controller, cleanups }
let signInMessage = null;

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/dumps';
  const [path, search = ''] = raw.split('?');
  let decoded = path;
  try {
    decoded = decodeURI(path);
  } catch {
    decoded = path; // a malformed %-escape: the router then says there is no such page
  }
  return { path: decoded, q: new URLSearchParams(search) };
}

// /ui/dumps/ID/... -> /#/dumps/ID/... (the daemon serves this page for every /ui/ path)
function adoptUiPath() {
  if (location.pathname.startsWith('/ui/') && !location.hash) {
    const rest = location.pathname.slice(3) + location.search;
    history.replaceState(null, '', `/#${rest}`);
  }
}

// A dump's name and status, shared by the views of one dump; refreshed until it is ready.
const dumpInfo = new Map();
async function loadDump(id, signal) {
  const known = dumpInfo.get(id);
  if (known && known.status === 'ready') return known;
  const d = await get(`/dumps/${id}`, null, signal);
  dumpInfo.set(id, d);
  return d;
}

function dumpFrame(id, dump, tab, body) {
  const goto = h('input', {
    type: 'text',
    name: 'address',
    placeholder: '0x… address',
    'aria-label': 'go to an object by address',
    spellcheck: 'false',
    autocomplete: 'off',
    size: 16,
  });
  const form = h(
    'form',
    {
      class: 'goto',
      role: 'search',
      onsubmit: (e) => {
        e.preventDefault();
        const a = goto.value.trim().toLowerCase();
        if (a) location.hash = to.object(id, /^0x/.test(a) ? a : `0x${a}`);
      },
    },
    goto,
    h('button', { type: 'submit' }, 'Open'),
    h(
      'button',
      {
        type: 'button',
        class: 'what-is-here',
        title: 'what lives at this address: object, free space, stack, handle, code, module (SOSEX !mln)',
        onclick: () => {
          const a = goto.value.trim().toLowerCase();
          if (a) location.hash = toMemory(id, /^0x/.test(a) ? a : `0x${a}`);
        },
      },
      'What is here?',
    ),
  );
  return [
    h(
      'div',
      { class: 'dump-head' },
      h('a', { href: to.dump(id), class: 'dump-name' }, dump ? dump.name || id : id),
      dump ? h('span', { class: 'muted' }, ` ${dump.runtime_version ? `.NET ${dump.runtime_version}` : ''} ${dump.gc_mode || ''}`) : null,
      form,
    ),
    h(
      'nav',
      { class: 'tabs', 'aria-label': 'dump views' },
      TABS.map(([key, label, url]) =>
        h('a', { href: url(id), 'aria-current': key === tab ? 'page' : null, dataset: { tab: key } }, label),
      ),
    ),
    body,
  ];
}

function signInView(message) {
  const input = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    'aria-describedby': 'token-help',
  });
  const status = h('div', { class: 'signin-status', 'aria-live': 'polite' }, message ? errorBox(message, 'Sign-in') : null);
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin panel',
      onsubmit: async (e) => {
        e.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        button.disabled = true;
        status.replaceChildren(h('p', { class: 'muted' }, 'Checking the token\u2026'));
        session.signIn(t);
        try {
          await me();
          signInMessage = null;
          route();
        } catch (err) {
          session.signOut();
          button.disabled = false;
          status.replaceChildren(errorBox(err, 'Sign-in'));
          input.select();
        }
      },
    },
    h('h1', { tabindex: '-1' }, 'Sign in to dumpscope'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'muted' },
      'Paste a token made with ',
      h('code', {}, 'dumpscope token create --role reader'),
      '. It is kept in this browser tab only and sent in a request header, never in a link.',
    ),
    button,
    status,
  );
  setTimeout(() => input.focus(), 0);
  return form;
}

function renderUser() {
  const role = h('span', { class: 'role', id: 'role' });
  if (session.token())
    me().then(
      (who) => {
        role.textContent = `${who.role} \u00b7 `;
        role.dataset.role = who.role;
      },
      () => null,
    );
  userBox.replaceChildren(
    role,
    session.token()
      ? h(
          'button',
          {
            type: 'button',
            class: 'link',
            onclick: () => {
              session.signOut();
              dumpInfo.clear();
              route();
            },
          },
          'Sign out',
        )
      : '',
  );
}

// While the dump is being analysed: its job's progress, then the view once the job is done.
function waitingView(ctx, nr) {
  const text = h('p', {}, `This dump is ${nr.dumpStatus === 'queued' ? 'waiting for its analysis' : 'being analysed'}.`);
  const bar = h('div', { class: 'wait-bar' }, progressBar(0, 'analysis progress'));
  const box = h('div', { class: 'panel waiting', role: 'status' }, h('h1', { tabindex: '-1' }, 'Analysis in progress'), text, bar);
  const poll = async () => {
    if (ctx.signal.aborted) return;
    try {
      const job = nr.job ? await get(nr.job, null, ctx.signal) : null;
      if (job && job.state === 'failed') {
        box.replaceChildren(errorBox(new ApiError(422, 'analysis_failed', job.error || 'the analysis failed'), 'Analysis'));
        return;
      }
      if (!job || job.state === 'done') {
        dumpInfo.delete(ctx.id);
        route();
        return;
      }
      const p = job.progress || {};
      text.textContent = `Analysis ${job.state}: ${p.phase || job.state} (${p.percent || 0} %).`;
      bar.replaceChildren(progressBar(p.percent || 0, 'analysis progress'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      box.append(errorBox(e, 'Progress'));
      return;
    }
    ctx.later(poll, 1000);
  };
  poll();
  return box;
}

async function route() {
  if (current) {
    current.controller.abort();
    current.cleanups.forEach((f) => f());
  }
  const controller = new AbortController();
  const cleanups = [];
  current = { controller, cleanups };
  renderUser();

  if (!session.token()) {
    document.title = 'Sign in \u2013 dumpscope';
    main.replaceChildren(signInView(signInMessage));
    main.dataset.view = 'signin';
    main.dataset.url = location.hash;
    return;
  }

  const { path, q } = parseHash();
  let match = null;
  let entry = null;
  for (const r of ROUTES) {
    match = path.match(r[0]);
    if (match) {
      entry = r;
      break;
    }
  }
  const focused = document.activeElement && main.contains(document.activeElement) ? document.activeElement.name : null;
  const ctx = {
    path,
    q,
    id: match && match[1] && /^[0-9a-f]{16}$/.test(match[1]) ? match[1] : null,
    params: match ? match.slice(1) : [],
    signal: controller.signal,
    title: 'dumpscope',
    onCleanup: (f) => cleanups.push(f),
    refresh: () => route(),
    later: (f, ms) => {
      const t = setTimeout(f, ms);
      cleanups.push(() => clearTimeout(t));
    },
  };
  const spinner = setTimeout(() => main.setAttribute('aria-busy', 'true'), 150);
  let body;
  try {
    if (!entry) throw new ApiError(404, 'no_view', `There is no page at \u201c${path}\u201d.`);
    const [dump, view] = await Promise.all([ctx.id ? loadDump(ctx.id, controller.signal) : null, entry[1](ctx)]);
    body = ctx.id ? dumpFrame(ctx.id, dump, entry[2], view) : view;
  } catch (e) {
    if (controller.signal.aborted) return;
    if (e instanceof ApiError && e.status === 401) {
      session.signOut();
      signInMessage = e;
      route();
      return;
    }
    if (!(e instanceof NotReady)) ctx.title = 'Error';
    const inner = e instanceof NotReady ? waitingView(ctx, e) : h('div', {}, h('h1', { tabindex: '-1' }, 'This page cannot be shown'), errorBox(e));
    const dump = ctx.id ? await loadDump(ctx.id, controller.signal).catch(() => null) : null;
    if (controller.signal.aborted) return;
    body = ctx.id ? dumpFrame(ctx.id, dump, entry && entry[2], inner) : inner;
  } finally {
    clearTimeout(spinner);
  }
  if (controller.signal.aborted) return;
  main.removeAttribute('aria-busy');
  main.replaceChildren(...[body].flat());
  document.title = `${ctx.title} \u2013 dumpscope`;
  // keep the keyboard where it was (a filter field re-rendered with the results), else the heading
  const again = focused && main.querySelector(`[name="${CSS.escape(focused)}"]`);
  const heading = main.querySelector('h1');
  if (again) again.focus({ preventScroll: true });
  else if (heading && !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
  main.dataset.view = path; // the view for this URL is on screen (tests wait for data-url)
  main.dataset.url = location.hash;
  window.scrollTo(0, 0);
}

// "/" focuses the page's search or filter field; the usual keys do the rest (Tab, Enter).
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  const field = main.querySelector('[data-search]') || document.querySelector('.goto input');
  if (field) {
    e.preventDefault();
    field.focus();
    field.select && field.select();
  }
});

window.addEventListener('hashchange', route);
document.getElementById('skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
adoptUiPath();
route();
