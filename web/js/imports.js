// imports.js: import a dump from a URL (an Azure Blob SAS URL, or any http(s) URL the server's
// import policy allows), then follow the download to the dump it became.
//
// The URL is a secret (its query string is the SAS signature): it goes to the server in a POST
// body only, the form field is emptied as soon as the server took it, and it never enters this
// page's address, history or storage. What the page shows afterwards is the server's import
// resource, whose `url` has the query string redacted.

import { ApiError, get, me, request } from './api.js';
import { badge, bytes, errorBox, facts, h, progressBar, to, when } from './ui.js';

const FINISHED = new Set(['done', 'failed']);

const STATE_WORDS = {
  queued: 'Waiting for a download slot',
  downloading: 'Downloading',
  ingesting: 'Checking and storing the dump',
  done: 'Imported',
  failed: 'Failed',
};

// #/import: the form. Submitting it starts the import and opens its progress page.
export async function importView(ctx) {
  ctx.title = 'Import a dump';
  const who = await me();
  const heading = h('h1', { tabindex: '-1' }, 'Import a dump from a URL');
  if (!who.can_import)
    return h(
      'div',
      {},
      heading,
      errorBox(
        new ApiError(403, 'forbidden', `Importing needs the uploader role; this token has the ${who.role} role.`),
        'Import',
      ),
    );
  const url = h('input', {
    type: 'url',
    id: 'import-url',
    name: 'url',
    required: true,
    autocomplete: 'off',
    spellcheck: 'false',
    size: 80,
    placeholder: 'https://account.blob.core.windows.net/container/core.1234?sv=…&sig=…',
    'aria-describedby': 'import-help',
  });
  const name = h('input', { type: 'text', id: 'import-name', name: 'name', autocomplete: 'off', size: 40, placeholder: 'core.1234.dmp' });
  const status = h('div', { id: 'import-status', 'aria-live': 'polite' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const form = h(
    'form',
    {
      class: 'panel import-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const link = url.value.trim();
        if (!link) return;
        button.disabled = true;
        status.replaceChildren(h('p', { class: 'muted' }, 'Asking the server to fetch it\u2026'));
        try {
          const doc = await request('/dumps/import', {
            method: 'POST',
            body: { url: link, name: name.value.trim() || undefined },
            accepted: true,
            signal: ctx.signal,
          });
          url.value = '';
          location.hash = to.importPage(doc.id);
        } catch (err) {
          if (err.name === 'AbortError') return;
          button.disabled = false;
          // the server's message never repeats the URL's query string; nothing else shows it
          status.replaceChildren(errorBox(err, 'Import'));
        }
      },
    },
    h('label', { for: 'import-url' }, 'URL of the dump'),
    url,
    h(
      'p',
      { id: 'import-help', class: 'muted' },
      'An Azure Blob SAS URL (or another http(s) URL this server may fetch from). The server downloads it in ',
      'parallel ranges and resumes after a restart; gz, zst and zip files are unpacked. The signature in the ',
      'URL is sent to the server only and is never shown again.',
    ),
    h('label', { for: 'import-name' }, 'Name (optional)'),
    name,
    h('div', {}, button),
    status,
  );
  setTimeout(() => url.focus(), 0);
  return h('div', { class: 'import' }, heading, form, h('p', {}, h('a', { href: to.dumps() }, '\u2190 Dumps')));
}

function importBody(doc) {
  const total = doc.bytes_total || 0;
  const percent = doc.state === 'done' ? 100 : total ? (100 * doc.bytes_done) / total : 0;
  const dumpId = doc.dump_id || (doc.dump ? doc.dump.replace(/^\/dumps\//, '') : null);
  return [
    h(
      'p',
      { class: 'row' },
      badge(doc.state, doc.state === 'failed' ? 'failed' : doc.state === 'done' ? 'ready' : 'analysing'),
      h('strong', { id: 'import-state' }, STATE_WORDS[doc.state] || doc.state),
      FINISHED.has(doc.state) ? null : progressBar(percent, 'import progress'),
      h(
        'span',
        { class: 'num', id: 'import-bytes' },
        total ? `${bytes(doc.bytes_done)} of ${bytes(total)} (${Math.floor(percent)} %)` : bytes(doc.bytes_done),
      ),
    ),
    doc.state === 'failed'
      ? errorBox(new ApiError(422, 'import_failed', doc.error || 'the import failed'), 'Import')
      : null,
    doc.state === 'done' && dumpId
      ? h('p', { class: 'notice', id: 'import-done' }, 'The dump is here: ', h('a', { href: to.dump(dumpId), id: 'import-dump' }, dumpId), '. Its analysis starts by itself.')
      : null,
    facts([
      ['From', h('span', { class: 'mono', id: 'import-url-shown' }, doc.url)],
      ['Name', doc.name || null],
      ['Started', when(doc.created_ms)],
      ['Finished', doc.finished_ms ? when(doc.finished_ms) : null],
      ['Attempts', doc.attempts ? String(doc.attempts) : null],
    ]),
  ];
}

// #/imports/N: the import's state and bytes, polled until it is done or failed.
export async function importStatusView(ctx) {
  const n = ctx.params[0];
  ctx.title = `Import ${n}`;
  const first = await get(`/imports/${n}`, null, ctx.signal);
  const body = h('div', { class: 'panel', role: 'status' }, importBody(first));
  const box = h('div', { class: 'import', dataset: { state: first.state } }, h('h1', { tabindex: '-1' }, `Import ${n}`), body, h('p', {}, h('a', { href: to.dumps() }, '\u2190 Dumps')));
  const poll = async () => {
    if (ctx.signal.aborted) return;
    try {
      const doc = await get(`/imports/${n}`, null, ctx.signal);
      body.replaceChildren(...importBody(doc).filter(Boolean));
      box.dataset.state = doc.state;
      if (FINISHED.has(doc.state)) return;
    } catch (e) {
      if (e.name === 'AbortError') return;
      body.append(errorBox(e, 'Progress'));
      return;
    }
    ctx.later(poll, 500);
  };
  if (!FINISHED.has(first.state)) ctx.later(poll, 500);
  return box;
}
