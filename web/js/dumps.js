// dumps.js: the list of dumps with the live progress of their analysis, uploads (drag and drop or
// the file picker, streamed by the browser with a progress bar) and delete (admins). What the
// token's role cannot do (GET /me) is not offered: no drop zone for a reader, no Delete but for admins.

import { get, me, request, upload } from './api.js';
import { badge, bytes, duration, errorBox, h, num, pager, progressBar, size, table, to, when } from './ui.js';

const ACTIVE = new Set(['queued', 'analysing']);

// Uploads outlive the view that started them (they keep going while you browse).
const uploads = [];
const uploadListeners = new Set();
const notifyUploads = () => uploadListeners.forEach((f) => f());

function startUpload(file) {
  const u = { file, loaded: 0, total: file.size, state: 'sending', result: null, error: null };
  const { promise, abort } = upload(file, (loaded, total) => {
    u.loaded = loaded;
    u.total = total || file.size;
    notifyUploads();
  });
  u.abort = abort;
  uploads.unshift(u);
  notifyUploads();
  promise.then(
    (doc) => {
      u.state = 'done';
      u.result = doc;
      u.loaded = u.total;
      notifyUploads();
    },
    (err) => {
      u.state = 'failed';
      u.error = err;
      notifyUploads();
    },
  );
}

function uploadItem(u) {
  const pctDone = u.total ? (100 * u.loaded) / u.total : 0;
  return h(
    'li',
    { class: `upload ${u.state}`, dataset: { state: u.state, name: u.file.name } },
    h('strong', {}, u.file.name),
    progressBar(pctDone, `upload of ${u.file.name}`),
    h('span', { class: 'num' }, `${bytes(u.loaded)} of ${bytes(u.total)} (${Math.floor(pctDone)} %)`),
    u.state === 'sending'
      ? h('button', { type: 'button', onclick: () => u.abort() }, 'Cancel')
      : u.state === 'done'
        ? h(
            'span',
            {},
            u.result.existed ? 'already here: ' : 'uploaded: ',
            h('a', { href: to.dump(u.result.id) }, u.result.id),
          )
        : errorBox(u.error, 'Upload'),
  );
}

function dropZone() {
  const input = h('input', { type: 'file', id: 'file', name: 'file', multiple: true, tabindex: '-1' });
  const list = h('ul', { class: 'uploads', 'aria-live': 'polite' });
  const zone = h(
    'div',
    { class: 'drop', id: 'drop' },
    h('p', {}, 'Drop dump files here (Linux core dumps of .NET processes, as createdump or dotnet-dump write them), or '),
    input,
    h('label', { for: 'file', class: 'button', tabindex: '0', id: 'pick' }, 'Choose files\u2026'),
    list,
  );
  const pick = zone.querySelector('#pick');
  pick.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  input.addEventListener('change', () => {
    for (const f of input.files) startUpload(f);
    input.value = '';
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    for (const f of e.dataTransfer.files) startUpload(f);
  });
  const paint = () => list.replaceChildren(...uploads.slice(0, 8).map(uploadItem));
  paint();
  return { zone, paint };
}

function statusCell(d, job) {
  if (!ACTIVE.has(d.status)) return badge(d.status);
  const p = (job && job.progress) || {};
  return h(
    'span',
    { class: 'row' },
    badge(d.status),
    progressBar(p.percent || 0, `analysis of ${d.name || d.id}`),
    h('span', { class: 'muted' }, p.phase ? `${p.phase} ${p.percent || 0} %` : ''),
  );
}

export async function dumpsView(ctx) {
  ctx.title = 'Dumps';
  const status = ctx.q.get('status') || '';
  const cursor = ctx.q.get('cursor') || '';
  const message = h('div', { 'aria-live': 'polite' });
  const listBox = h('div', { id: 'dump-list' });
  const who = await me();
  const { zone, paint } = who.can_upload ? dropZone() : { zone: null, paint: () => {} };

  const jobs = new Map();
  const count = h('span', { class: 'muted' });
  const draw = (doc) => {
    count.textContent = `${num(doc.total)} in all`;
    listBox.replaceChildren(
      table(
        [
          { title: 'Name', cell: (d) => h('a', { href: to.dump(d.id), class: 'dump-link' }, d.name || d.id) },
          { title: 'Status', cell: (d) => statusCell(d, jobs.get(d.id)) },
          { title: 'Size', num: true, cell: (d) => size(d.size) },
          { title: 'Runtime', cell: (d) => d.runtime_version || '\u2013' },
          { title: 'GC', cell: (d) => d.gc_mode || '\u2013' },
          { title: 'Uploaded', cell: (d) => when(d.created_ms) },
          { title: 'Analysis', num: true, cell: (d) => duration(d.analysis_ms) },
          { title: 'Problem', cell: (d) => (d.error ? h('span', { class: 'error-text' }, d.error) : '') },
          who.can_delete
            ? {
                title: h('span', { class: 'muted' }, 'Admin'),
                cell: (d) => h('button', { type: 'button', class: 'danger', onclick: () => remove(d) }, 'Delete'),
              }
            : null,
        ].filter(Boolean),
        doc.dumps,
        {
          empty: status ? `No dump is ${status}.` : 'No dumps yet: upload one above.',
          rowAttrs: (d) => ({ dataset: { id: d.id, status: d.status } }),
        },
      ),
      pager({
        from: 0,
        count: doc.dumps.length,
        total: doc.total,
        first: cursor ? to.dumps({ status }) : null,
        next: doc.next_cursor ? to.dumps({ status, cursor: doc.next_cursor }) : null,
      }),
    );
  };

  async function remove(d) {
    if (!window.confirm(`Delete ${d.name || d.id} and its analysis? This cannot be undone.`)) return;
    try {
      await request(`/dumps/${d.id}`, { method: 'DELETE' });
      message.replaceChildren(h('p', { class: 'notice' }, `Deleted ${d.name || d.id}.`));
      await reload();
    } catch (e) {
      message.replaceChildren(
        errorBox(e, e.status === 403 ? 'Only an admin token can delete dumps' : `Delete ${d.name || d.id}`),
      );
    }
  }

  // Reloads the list and the progress of analyses in flight; polls again while any is in flight.
  let timer = null;
  async function reload() {
    clearTimeout(timer);
    const doc = await get('/dumps', { status, cursor, limit: 50 }, ctx.signal);
    const active = doc.dumps.filter((d) => ACTIVE.has(d.status) && d.job);
    await Promise.all(
      active.map((d) =>
        get(d.job, null, ctx.signal).then(
          (j) => jobs.set(d.id, j),
          () => null,
        ),
      ),
    );
    draw(doc);
    if (active.length || uploads.some((u) => u.state === 'sending')) timer = setTimeout(tick, 1000);
  }
  const tick = () => reload().catch((e) => e.name !== 'AbortError' && message.replaceChildren(errorBox(e, 'Refreshing the list')));
  ctx.onCleanup(() => clearTimeout(timer));

  const onUploads = () => {
    paint();
    if (uploads.some((u) => u.state === 'done' && !u.listed)) {
      uploads.forEach((u) => u.state === 'done' && (u.listed = true));
      tick();
    }
  };
  uploadListeners.add(onUploads);
  ctx.onCleanup(() => uploadListeners.delete(onUploads));

  await reload();
  const filter = h(
    'select',
    {
      name: 'status',
      'aria-label': 'show dumps with status',
      onchange: (e) => (location.hash = to.dumps({ status: e.target.value })),
    },
    ['', 'queued', 'analysing', 'ready', 'failed'].map((s) =>
      h('option', { value: s, selected: s === status ? true : null }, s || 'all statuses'),
    ),
  );
  return h(
    'div',
    {},
    h(
      'div',
      { class: 'row' },
      h('h1', { tabindex: '-1' }, 'Dumps'),
      count,
      filter,
      who.can_import ? h('a', { href: '#/import', class: 'button', id: 'import-link' }, 'Import from a URL\u2026') : null,
    ),
    zone ||
      h(
        'p',
        { class: 'muted', id: 'role-note' },
        `Signed in as a ${who.role}: you can read every dump; uploading and importing need an uploader token.`,
      ),
    message,
    listBox,
  );
}
