// report.test.mjs: the web UI's report, comparison, import and role pages in a real browser
// (Debian's chromium through playwright-core) against the real daemon on 127.0.0.1 with real
// fixture dumps and their truth:
//  - each role sees only what it may do (GET /me): no upload, import or delete for a reader;
//  - a dump imported through the page from a local blob server (tests/e2e/faultserver.mjs, serving
//    the growth1 fixture), its progress, then its dump; refusals in words; the SAS signature never
//    on the page, in its address or its storage;
//  - the report of the main fixture: the truth's findings with their evidence as links, the leak
//    suspect with its root path to the truth's static list, the truth's types;
//  - the comparison of growth2 with growth1 (picked on the page): the truth's growth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { api, fixture, marker, newDataDir, removeDataDir, startDaemon, stopDaemon, token, upload, waitJob } from '../e2e/daemon.mjs';
import { startFaultServer } from '../e2e/faultserver.mjs';
import { fmt, go, launch, newPage, settled, shot, signIn } from './browser.mjs';

const main = fixture('main-wks-heap');
const g1 = fixture('growth1-wks-heap');
const g2 = fixture('growth2-wks-heap');
const SIG = 'sig=Zm9vYmFyU0VDUkVUc2lnbmF0dXJlMTIz%3D';

let data, d, admin, uploader, reader, b, blob, mainId, g1Id, g2Id;

before(async () => {
  data = newDataDir();
  admin = token(data, 'admin');
  uploader = token(data, 'uploader');
  reader = token(data, 'reader');
  blob = await startFaultServer(readFileSync(g1.dump));
  d = await startDaemon(data, ['--max-upload-bytes', '1G', '--import-allowed-hosts', `127.0.0.1:${blob.port}`,
    '--import-chunk-bytes', '2M']);
  b = await launch();
  for (const [f, set] of [[main, (id) => (mainId = id)], [g2, (id) => (g2Id = id)]]) {
    const up = await upload(d, admin, f.dump);
    assert.ok(up.status === 201 || up.status === 200, up.text);
    set(up.json.id);
    const job = await waitJob(d, admin, up.json.job, ['done', 'failed']);
    assert.equal(job.state, 'done', JSON.stringify(job));
  }
});

after(async () => {
  if (b) await b.close();
  if (d) await stopDaemon(d);
  if (blob) await blob.close();
  removeDataDir(data);
});

// Nothing the page holds, shows or remembers carries the signature.
async function assertNoSecret(page, secret) {
  const html = await page.evaluate(() => document.documentElement.outerHTML);
  assert.ok(!html.includes(secret), 'the page shows the signature');
  assert.ok(!page.url().includes(secret), 'the address holds the signature');
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  assert.ok(!stored.includes(secret), 'the storage holds the signature');
  const inputs = await page.evaluate(() => [...document.querySelectorAll('input')].map((i) => i.value).join(' '));
  assert.ok(!inputs.includes(secret), 'a form field still holds the signature');
}

test('each role sees only what it may do: no upload, import or delete for a reader', async () => {
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  await signIn(page, reader);
  await page.locator('#role[data-role=reader]').waitFor();
  assert.equal(await page.locator(`#dump-list tr[data-id="${mainId}"]`).count(), 1);
  assert.equal(await page.locator('#drop').count(), 0, 'no drop zone for a reader');
  assert.equal(await page.locator('#import-link').count(), 0, 'no import for a reader');
  assert.equal(await page.locator('#dump-list button.danger').count(), 0, 'no Delete for a reader');
  assert.match(await page.locator('#role-note').innerText(), /Signed in as a reader/);
  await shot(page, 'dumps-reader');
  // the import page itself says why not
  await go(page, d.url, '/import');
  assert.match(await page.locator('main .alert').innerText(), /Import: Not allowed \(403\)\s+Importing needs the uploader role; this token has the reader role/);
  assert.equal(await page.locator('#import-url').count(), 0);
  await page.close();

  const up = await newPage(b);
  await go(up, d.url, '/dumps');
  await signIn(up, uploader);
  await up.locator('#role[data-role=uploader]').waitFor();
  assert.equal(await up.locator('#drop').count(), 1);
  assert.equal(await up.locator('#import-link').count(), 1);
  assert.equal(await up.locator('#dump-list button.danger').count(), 0, 'no Delete for an uploader');
  await up.close();

  const ad = await newPage(b);
  await go(ad, d.url, '/dumps');
  await signIn(ad, admin);
  await ad.locator('#role[data-role=admin]').waitFor();
  assert.equal(await ad.locator('#drop').count(), 1);
  assert.equal(await ad.locator(`#dump-list tr[data-id="${mainId}"] button.danger`).count(), 1);
  await shot(ad, 'dumps-admin');
  await ad.close();
});

test('import a dump from a blob URL through the page: progress, then the dump; the signature never shown', async () => {
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  await signIn(page, uploader);
  await page.locator('#import-link').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), '/import');

  // a host the server may not fetch from: refused in words, the signature not echoed
  const bad = `http://127.0.0.1:1/container/core.dmp?sv=2024-05-04&${SIG}`;
  await page.locator('#import-url').fill(bad);
  await page.locator('.import-form button[type=submit]').click();
  const refused = page.locator('#import-status .alert');
  await refused.waitFor();
  assert.match(await refused.innerText(), /Import: Not allowed \(403\)/);
  assert.match(await refused.innerText(), /import_allowed_hosts/);
  assert.ok(!(await refused.innerText()).includes('Zm9vYmFy'));
  await shot(page, 'import-refused');

  // the real one, slowed down so the progress shows
  blob.state.faults.bytesPerSecond = 3 << 20;
  await page.evaluate(() => {
    window.__progress = [];
    new MutationObserver(() => {
      const bar = document.querySelector('.import [role=progressbar]');
      const box = document.querySelector('main .import');
      if (bar && box) window.__progress.push([box.dataset.state, Number(bar.getAttribute('aria-valuenow'))]);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.locator('#import-url').fill(blob.url(`/container/growth1.dmp?sv=2024-05-04&se=2030-01-01&${SIG}`));
  await page.locator('#import-name').fill('growth1 from blob');
  await page.locator('.import-form button[type=submit]').click();
  await page.waitForFunction(() => /^#\/imports\/[0-9]+$/.test(location.hash));
  await settled(page);
  await page.waitForFunction(() => window.__progress.some(([s, p]) => s === 'downloading' && p > 0 && p < 100), null, { timeout: 60000 });
  await shot(page, 'import-progress');
  assert.doesNotMatch(await page.locator('main .import').innerText(), /null|undefined|NaN/);
  await assertNoSecret(page, 'Zm9vYmFy');
  blob.state.faults.bytesPerSecond = 0;
  await page.locator('main .import[data-state=done]').waitFor({ timeout: 120000 });
  assert.match(await page.locator('#import-url-shown').innerText(), /\/container\/growth1\.dmp\?<redacted>$/);
  g1Id = createHash('sha256').update(readFileSync(g1.dump)).digest('hex').slice(0, 16);
  assert.equal((await page.locator('#import-dump').innerText()).trim(), g1Id);
  await assertNoSecret(page, 'Zm9vYmFy');
  await shot(page, 'import-done');
  const progress = await page.evaluate(() => window.__progress);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i][1] >= progress[i - 1][1] || progress[i][0] !== progress[i - 1][0], `progress went back: ${JSON.stringify(progress.slice(i - 1, i + 1))}`);

  // a pasted link to the import shows it again (the hash holds its number only)
  await page.reload();
  await settled(page);
  assert.equal(await page.locator('main .import').getAttribute('data-state'), 'done');
  await page.locator('#import-dump').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${g1Id}`);
  const history = await page.evaluate(() => history.length);
  assert.ok(history > 0);
  await assertNoSecret(page, 'Zm9vYmFy');

  // a blob server that refuses the signature: the import fails, the page says why
  blob.state.faults.forbidden = true;
  await go(page, d.url, '/import');
  await page.locator('#import-url').fill(blob.url(`/container/other.dmp?${SIG}`));
  await page.locator('.import-form button[type=submit]').click();
  await page.waitForFunction(() => /^#\/imports\/[0-9]+$/.test(location.hash));
  await page.locator('main .import[data-state=failed]').waitFor({ timeout: 60000 });
  const failed = await page.locator('main .import .alert').innerText();
  assert.match(failed, /Import: The dump could not be analysed \(422\)|Import: .*\(422\)/);
  assert.match(failed, /403/);
  await assertNoSecret(page, 'Zm9vYmFy');
  await shot(page, 'import-failed');
  blob.state.faults.forbidden = false;
  await page.close();
});

test('the report of the main fixture: the truth\'s findings, evidence links, leak suspect and types', async () => {
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${mainId}`);
  await signIn(page, reader);
  await page.locator('nav.tabs a[data-tab=report]').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/report`);
  assert.equal(await page.locator('main .alert').count(), 0, await page.locator('main').innerText());
  const truth = main.truth;
  assert.equal(await page.locator('#command-line').innerText(), truth.command_line);

  // findings most severe first
  const rank = { error: 0, warning: 1, information: 2, notification: 3 };
  const severities = await page.locator('#report-findings article.finding').evaluateAll((as) => as.map((a) => a.dataset.severity));
  assert.ok(severities.length > 0);
  for (let i = 1; i < severities.length; i++) assert.ok(rank[severities[i - 1]] <= rank[severities[i]], severities.join(','));

  // the truth's deadlock: a finding whose evidence links to each of its threads
  const osOf = (name) => truth.threads.find((t) => t.name === name).os_id;
  const deadlock = page.locator('article.finding[data-code=deadlock]');
  assert.equal(await deadlock.count(), truth.deadlocks.length);
  const linked = await deadlock.locator('li[data-kind=thread] a.thread').evaluateAll((as) => as.map((a) => Number(a.dataset.osId)).sort());
  assert.deepEqual(linked, truth.deadlocks[0].map(osOf).sort());
  // the blocked finalizer: its thread, and the truth's undisposed type with its count
  const fin = page.locator('article.finding[data-code=blocked-finalizer]');
  assert.equal(await fin.locator(`a.thread[data-os-id="${truth.finalizer.blocked_finalizer_thread_os_id}"]`).count(), 1);
  const undisposed = page.locator('article.finding[data-code=undisposed-objects]');
  assert.equal(await undisposed.locator(`li[data-type="${truth.finalizer.type}"] a.type`).count(), 1);
  assert.match(await undisposed.locator('h3').innerText(), new RegExp(`${truth.finalizer.undisposed} ${truth.finalizer.type}`));

  // the leak suspect: the truth's static list, its root path ending there, the invoices it holds
  const list = marker(truth, 'invoice.list').address;
  const suspect = page.locator('#suspects article.suspect').first();
  assert.equal(await suspect.getAttribute('data-address'), list);
  const chainObjects = suspect.locator('ol.root-path li.chain-object');
  assert.equal(await chainObjects.last().getAttribute('data-address'), list);
  assert.match(await suspect.locator('ul.accumulates li[data-type="Scenarios.Invoice"]').innerText(), new RegExp(`\u00d7 ${fmt(truth.types['Scenarios.Invoice'].count)}`));
  assert.ok(Number(await suspect.getAttribute('data-retained')) > truth.types['Scenarios.Invoice'].total_size);

  // top types by size: the truth's Invoice count and bytes
  const invoice = page.locator('section:has(h2:text-is("Top types by size")) tr[data-type="Scenarios.Invoice"]');
  assert.equal(await invoice.getAttribute('data-count'), String(truth.types['Scenarios.Invoice'].count));
  assert.equal(await invoice.getAttribute('data-bytes'), String(truth.types['Scenarios.Invoice'].total_size));
  await shot(page, 'report');

  // evidence is a way in: the deadlocked thread's page, the suspect's object page
  await deadlock.locator('li[data-kind=thread] a.thread').first().click();
  await settled(page);
  assert.match(await page.locator('main').getAttribute('data-view'), new RegExp(`^/dumps/${mainId}/threads/[0-9]+$`));
  await page.goBack();
  await settled(page);
  await suspect.locator('h3 a.addr').click();
  await settled(page);
  assert.equal(await page.locator('.object').getAttribute('data-address'), list);
  await page.close();
});

test('the comparison of two dumps: the base picked on the page, the truth\'s growth, sorted', async () => {
  assert.ok(g1Id, 'needs the imported growth1 dump');
  const ready = await api(d, `/dumps/${g1Id}/summary?wait=120`, { token: reader });
  assert.equal(ready.status, 200, ready.text.slice(0, 300));
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${g2Id}/diff`);
  await signIn(page, reader);
  await page.locator('#diff-base').selectOption(g1Id);
  await page.locator('#diff-form button[type=submit]').click();
  await page.waitForFunction((base) => location.hash.includes(`base=${base}`), g1Id);
  await settled(page, 120000);
  assert.equal(await page.locator('main .alert').count(), 0, await page.locator('main').innerText());
  // the truth's type plus the same-named type of the assembly's second copy: one row
  const copy = (f) => f.truth.scenario_data.growth.second_copy;
  const was = g1.truth.types['Scenarios.GrowthRecord'], want = g2.truth.types['Scenarios.GrowthRecord'];
  const dc = want.count + copy(g2).count - was.count - copy(g1).count;
  const db = want.total_size + copy(g2).total_size - was.total_size - copy(g1).total_size;
  const row = page.locator('tr[data-type="Scenarios.GrowthRecord"]');
  assert.equal(await row.count(), 1);
  assert.equal(await row.getAttribute('data-count-growth'), String(dc));
  assert.equal(await row.getAttribute('data-bytes-growth'), String(db));
  assert.equal((await row.locator('.count-growth').innerText()).trim(), `+${fmt(dc)}`);
  const growth = await page.locator('tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.dataset.bytesGrowth)));
  for (let i = 1; i < growth.length; i++) assert.ok(growth[i - 1] >= growth[i], `sorted by bytes: ${growth.slice(0, 10)}`);
  await shot(page, 'diff');

  // sorted by instances on the server, by the column's link
  await page.locator('th a[data-sort=count]').click();
  await settled(page);
  assert.match(page.url(), /sort=count/);
  const counts = await page.locator('tbody tr').evaluateAll((rs) => rs.map((r) => Number(r.dataset.countGrowth)));
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i - 1] >= counts[i], `sorted by count: ${counts.slice(0, 10)}`);
  assert.equal(await page.locator('#diff-base').inputValue(), g1Id);
  await page.close();
  assert.deepEqual(b.errors, [], 'no script error on any page');
});

// A dump taken during a garbage collection (the midgc fixture): the overview says the heap cannot
// be walked, the report shows the gc-in-progress finding with the truth's deadlock and no heap
// figures, a heap page says why it has nothing, and the threads page lists the truth's threads.
test('a dump taken during a GC: overview and report say the heap cannot be walked; threads still shown', async () => {
  const mid = fixture('midgc-wks-heap');
  const up = await upload(d, admin, mid.dump);
  assert.ok(up.status === 201 || up.status === 200, up.text);
  const job = await waitJob(d, admin, up.json.job, ['done', 'failed']);
  assert.equal(job.state, 'done', JSON.stringify(job));
  const id = up.json.id;
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${id}`);
  await signIn(page, reader);
  assert.equal(await page.locator('#heap-not-walkable').count(), 1, await page.locator('main').innerText());
  await page.locator('nav.tabs a[data-tab=report]').click();
  await settled(page);
  assert.equal(await page.locator('#gc-in-progress').count(), 1);
  assert.equal(await page.locator('article.finding[data-code=gc-in-progress]').count(), 1);
  assert.equal(await page.locator('article.finding[data-code=deadlock]').count(), mid.truth.deadlocks.length);
  assert.match(await page.locator('main').innerText(), /not walkable/);
  await go(page, d.url, `/dumps/${id}/heap/2`);
  assert.match(await page.locator('main .alert').first().innerText(), /Taken during a garbage collection/);
  await go(page, d.url, `/dumps/${id}/threads`);
  const gcLoop = mid.truth.threads.find((t) => t.name === 'gc-loop');
  assert.ok((await page.locator('main').innerText()).includes(String(gcLoop.os_id)));
  await page.close();
  assert.deepEqual(b.errors, [], 'no script error on any page');
});
