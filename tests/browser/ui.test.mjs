// ui.test.mjs: the web UI in a real browser (Debian's chromium through playwright-core) against the
// real daemon on 127.0.0.1 with real fixture dumps and their truth: sign-in and a wrong token,
// upload through the page, gen 2's histogram, a marker's root path, the locks fixture's deadlocks,
// deep links pasted into a new page, no Delete for a reader; a screenshot of every page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fixture, marker, newDataDir, startDaemon, stopDaemon, token, upload, waitJob } from '../e2e/daemon.mjs';
import { SHOTS, fmt, go, launch, newPage, settled, shot, signIn } from './browser.mjs';

const main = fixture('main-wks-heap');
const locks = fixture('locks-wks-heap');
const osId = (truth, name) => {
  const t = truth.threads.find((x) => x.name === name);
  assert.ok(t, `no thread ${name} in the truth`);
  return t.os_id;
};

let data, d, admin, reader, b, mainId, locksId;

before(async () => {
  data = newDataDir();
  admin = token(data, 'admin');
  reader = token(data, 'reader');
  d = await startDaemon(data, ['--max-upload-bytes', '1G']);
  b = await launch();
});

after(async () => {
  if (b) await b.close();
  if (d) await stopDaemon(d);
  console.log(`screenshots: ${SHOTS}`);
});

test('a wrong token is refused with a clear message and nothing is kept', async () => {
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  assert.equal(await page.locator('main').getAttribute('data-view'), 'signin');
  await page.locator('#token').fill(`dst_${'0'.repeat(64)}`);
  await page.locator('form.signin button[type=submit]').click();
  const alert = page.locator('.signin .alert');
  await alert.waitFor();
  const text = await alert.innerText();
  assert.match(text, /Sign-in: The token was refused \(401\)/);
  assert.match(text, /the bearer token is not valid/);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  assert.ok(!page.url().includes('dst_'), 'the token must never be in the URL');
  await shot(page, 'signin-wrong-token');
  await page.close();
});

test('upload a dump through the page and watch its analysis finish', async () => {
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  await signIn(page, admin);
  assert.equal(await page.locator('main').getAttribute('data-view'), '/dumps');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('dumpscope.token')), admin);
  assert.ok(!page.url().includes(admin));
  assert.match(await page.locator('#dump-list').innerText(), /No dumps yet/);

  // the progress bar moves while the browser streams the file
  await page.evaluate(() => {
    window.__seen = [];
    new MutationObserver(() => {
      for (const bar of document.querySelectorAll('.upload [role=progressbar]')) window.__seen.push(Number(bar.getAttribute('aria-valuenow')));
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.locator('#file').setInputFiles(main.dump);
  const finished = page.locator('.upload:is([data-state=done], [data-state=failed])').first();
  await finished.waitFor({ timeout: 120000 });
  const done = page.locator('.upload[data-state=done]');
  assert.equal(await finished.getAttribute('data-state'), 'done', await finished.innerText());
  assert.match(await done.innerText(), /uploaded: [0-9a-f]{16}/);
  mainId = (await done.locator('a').innerText()).trim();
  const seen = await page.evaluate(() => window.__seen);
  assert.ok(seen.length > 0 && seen.at(-1) === 100, `upload progress seen: ${seen.slice(-5)}`);

  // the list follows the analysis by itself until the dump is ready
  const row = page.locator(`#dump-list tr[data-id="${mainId}"]`);
  await row.waitFor();
  await page.locator(`#dump-list tr[data-id="${mainId}"][data-status=ready]`).waitFor({ timeout: 120000 });
  assert.match(await row.innerText(), /main-wks-heap\.dmp/);
  assert.match(await row.innerText(), /10\.0\./);
  await shot(page, 'dumps');

  // dropping a file that is not a dump: the server's refusal in words
  await page.evaluate(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['this is not a core dump'], 'notes.txt', { type: 'text/plain' }));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const failed = page.locator('.upload[data-state=failed][data-name="notes.txt"]');
  await failed.waitFor();
  assert.match(await failed.innerText(), /Upload: .*\((400|415|422)\)/);
  await shot(page, 'dumps-upload-refused');
  await page.close();
});

test('gen 2 lists Scenarios.Invoice with the truth count, and its instances', async () => {
  assert.ok(mainId, 'needs the uploaded dump');
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  await signIn(page, reader);
  await page.locator(`#dump-list a.dump-link[href="#/dumps/${mainId}"]`).click();
  await settled(page);
  await shot(page, 'overview');
  await page.locator('nav.tabs a[data-tab=heap]').click();
  await settled(page);
  await page.locator('nav.subtabs a[data-gen="2"]').click();
  await settled(page);
  assert.match(await page.locator('h1').innerText(), /Heap: gen 2/);

  // keyboard: "/" jumps to the filter, Enter applies it
  await page.locator('h1').click();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.name), 'type');
  await page.keyboard.type('Scenarios.Invoice');
  await page.keyboard.press('Enter');
  await settled(page);
  assert.match(page.url(), /#\/dumps\/[0-9a-f]{16}\/heap\/2\?type=Scenarios.Invoice/);
  const row = page.locator('tr[data-type="Scenarios.Invoice"]');
  const truth = main.truth.types['Scenarios.Invoice'];
  assert.equal((await row.locator('.count').innerText()).trim(), fmt(truth.count));
  assert.equal(await row.getAttribute('data-count'), String(truth.count));
  assert.equal(await row.getAttribute('data-size'), String(truth.total_size));
  await shot(page, 'heap-gen2');

  // server-side sorting by name, then the instances of the type
  await page.locator('th [data-sort=name] a').click();
  await settled(page);
  assert.match(page.url(), /sort=name/);
  await page.locator('tr[data-type="Scenarios.Invoice"] a.type').click();
  await settled(page);
  assert.match(await page.locator('#type-summary').innerText(), new RegExp(`^${fmt(truth.count)} instances in gen 2`));
  const first = marker(main.truth, 'invoice.first').address;
  assert.equal(await page.locator('tbody tr').first().getAttribute('data-address'), first);
  await shot(page, 'instances');
  await page.locator('a[rel=next]').first().click();
  await settled(page);
  assert.match(page.url(), /after=0x[0-9a-f]+/);
  assert.notEqual(await page.locator('tbody tr').first().getAttribute('data-address'), first);
  await page.close();
});

test('a marker object and its root path, followed to the thread that holds it', async () => {
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${mainId}`);
  await signIn(page, reader);
  const m = marker(main.truth, 'marker.local');
  await page.locator('form.goto input').fill(m.address);
  await page.locator('form.goto input').press('Enter');
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/objects/${m.address}`);
  assert.match(await page.locator('h1').innerText(), /Scenarios\.Marker/);

  const path = page.locator('ol.root-path').first();
  const links = path.locator('li.chain-object');
  assert.ok((await links.count()) >= 1);
  assert.equal(await links.last().getAttribute('data-address'), m.address, 'the chain ends at the object');
  const root = path.locator('li.chain-root');
  assert.equal(await root.getAttribute('data-kind'), 'stack');
  const holder = osId(main.truth, 'marker-holder');
  assert.equal(await root.getAttribute('data-os-id'), String(holder));
  await shot(page, 'object-marker');

  // follow the chain to the root's thread: its stack holds the marker in a frame
  await root.locator('a.thread').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/threads/${holder}`);
  assert.ok((await page.locator(`.frame-objects li[data-address="${m.address}"]`).count()) >= 1);
  await shot(page, 'thread-marker-holder');

  // a longer chain: each link opens the object it names
  const customer = marker(main.truth, 'customer.first');
  await go(page, d.url, `/dumps/${mainId}/objects/${customer.address}`);
  const chain = page.locator('ol.root-path').first().locator('li.chain-object');
  assert.ok((await chain.count()) >= 2);
  assert.equal(await chain.last().getAttribute('data-address'), customer.address);
  const parent = await chain.nth((await chain.count()) - 2).getAttribute('data-address');
  await chain.nth((await chain.count()) - 2).locator('a.addr').click();
  await settled(page);
  assert.equal(await page.locator('.object').getAttribute('data-address'), parent);
  await shot(page, 'object-parent');
  await page.close();
});

test('SOSEX from a thread and an address: a frame\'s arguments and locals, its code, the mixed stack, mln', async () => {
  assert.ok(mainId, 'needs the uploaded dump');
  const fa = main.truth.scenario_data['frame-args'];
  const tid = osId(main.truth, fa.thread);
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${mainId}/threads/${tid}`);
  await signIn(page, reader);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/threads/${tid}`);

  // the thread page: Hold's frame shows its file:line and links to its arguments and locals
  const hold = page.locator('ol.frames > li', { hasText: `${fa.method}(` }).first();
  assert.equal(await hold.locator('.frame-pos').innerText(), `${fa.file}:${fa.line}`);
  await shot(page, 'thread-frame-args');
  await hold.locator('a.frame-vars-link').click();
  await settled(page);
  assert.match(await page.locator('main').getAttribute('data-view'), new RegExp(`^/dumps/${mainId}/threads/${tid}/frames/[0-9]+$`));
  assert.match(await page.locator('h1').innerText(), new RegExp(fa.method.replace(/\./g, '\\.')));
  assert.match(await page.locator('.frame-pos').innerText(), new RegExp(`:${fa.line}$`));
  for (const want of [...fa.arguments, ...fa.locals]) {
    const row = page.locator(`tr.variable[data-name="${want.name}"]`);
    assert.equal(await row.count(), 1, `variable ${want.name}`);
    assert.equal((await row.locator('td.var-type').innerText()).trim(), want.type);
    const value = row.locator('td.var-value');
    if (want.value !== undefined) assert.equal((await value.innerText()).trim(), String(want.value));
    else if (want.address) {
      assert.equal(await value.locator('a.addr').getAttribute('data-address'), want.address);
      assert.equal(await value.locator('a.type').getAttribute('data-type'), want.object_type);
    } else {
      const text = Object.entries(want.fields).map(([k, x]) => `${k}=${x}`).join(', ');
      assert.equal((await value.innerText()).trim(), `{${text}}`);
    }
  }
  await shot(page, 'frame-args');

  // the method's code: the frame's instruction marked, its calls named
  await page.locator('main p a.code-link').click();
  await settled(page);
  assert.match(await page.locator('main').getAttribute('data-view'), new RegExp(`^/dumps/${mainId}/code$`));
  assert.match(await page.locator('h1').innerText(), new RegExp(fa.method.replace(/\./g, '\\.')));
  const park = page.locator('tr.insn[data-target="Scenarios.FrameArgsScenario.Park()"]');
  assert.ok((await park.count()) >= 1, 'the call to Park is named');
  assert.match(await park.first().locator('td.call-target').innerText(), /Scenarios\.FrameArgsScenario\.Park\(\)/);
  assert.equal(await page.locator('tr.insn.current').count(), 1, 'the frame\'s instruction is marked');
  await shot(page, 'code-hold');

  // the mixed stack: native frames first, then the managed ones
  await go(page, d.url, `/dumps/${mainId}/threads/${tid}`);
  await page.locator('a.mixed-link').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/threads/${tid}/mixed`);
  const kinds = await page.locator('tr.mixed-frame').evaluateAll((rows) => rows.map((r) => r.dataset.kind));
  assert.equal(kinds[0], 'native', `kinds: ${kinds}`);
  assert.ok(kinds.includes('managed'));
  assert.ok(kinds.lastIndexOf('native') < kinds.indexOf('managed'), `native frames first: ${kinds}`);
  assert.match(await page.locator('tr.mixed-frame.native').first().innerText(), /\.so/);
  assert.ok((await page.locator('tr.mixed-frame.managed', { hasText: `${fa.method}(` }).count()) >= 1);
  await shot(page, 'mixed-stack');

  // what is at an address (mln), from the address box: a heap object of the marker's type
  const m = marker(main.truth, 'marker.local');
  await page.locator('form.goto input').fill(m.address);
  await page.locator('form.goto button.what-is-here').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/memory/${m.address}`);
  const mem = page.locator('.memory');
  assert.equal(await mem.getAttribute('data-kind'), 'object');
  assert.equal(await mem.locator('.objref a.type').first().getAttribute('data-type'), m.type);
  assert.equal(await mem.locator('.objref a.addr').first().getAttribute('data-address'), m.address);
  await shot(page, 'memory-marker');
  // and from the object page
  await go(page, d.url, `/dumps/${mainId}/objects/${m.address}`);
  await page.locator('a.memory-link').click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${mainId}/memory/${m.address}`);
  await page.close();
  assert.deepEqual(b.errors, [], 'no script error');
});

test('the locks fixture: each truth deadlock cycle is drawn with its threads and stacks', async () => {
  const up = await upload(d, admin, locks.dump, 'locks-wks-heap.dmp');
  assert.ok(up.status === 201 || up.status === 200, up.text);
  locksId = up.json.id;
  await waitJob(d, admin, up.json.job, ['done']);
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${locksId}`);
  await signIn(page, reader);
  await shot(page, 'overview-locks');
  await page.locator('nav.tabs a[data-tab=deadlocks]').click();
  await settled(page);
  const cycles = page.locator('section.deadlock');
  assert.equal(await cycles.count(), locks.truth.deadlocks.length);
  const drawn = [];
  for (let i = 0; i < (await cycles.count()); i++) {
    const c = cycles.nth(i);
    const nodes = await c.locator('svg a.thread-node').evaluateAll((as) => as.map((a) => a.getAttribute('data-os-id')));
    const stacks = await c.locator('.stacks .stack').evaluateAll((s) => s.map((x) => x.dataset.osId));
    const lockNodes = await c.locator('svg a.lock-node').count();
    assert.deepEqual([...stacks].sort(), [...nodes].sort(), 'a stack beside each thread of the graph');
    assert.equal(lockNodes, nodes.length, 'one lock between each pair of threads');
    drawn.push(nodes.map(Number).sort((a, b) => a - b).join(','));
  }
  for (const names of locks.truth.deadlocks) {
    const want = names.map((n) => osId(locks.truth, n)).sort((a, b) => a - b).join(',');
    assert.ok(drawn.includes(want), `cycle ${names.join(' -> ')} (${want}) is drawn; drawn: ${drawn.join(' | ')}`);
  }
  await shot(page, 'deadlocks');

  // a thread node is a link to that thread
  const [first] = locks.truth.deadlocks;
  const t = osId(locks.truth, first[0]);
  await page.locator(`svg a.thread-node[data-os-id="${t}"]`).first().click();
  await settled(page);
  assert.equal(await page.locator('main').getAttribute('data-view'), `/dumps/${locksId}/threads/${t}`);
  assert.match(await page.locator('main').innerText(), /Locks it holds/);
  await shot(page, 'thread-deadlocked');
  await page.close();
});

test('a deep link pasted into a new page opens the same view (after sign-in), /ui/ paths too', async () => {
  const m = marker(main.truth, 'marker.local');
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${mainId}/objects/${m.address}`);
  await signIn(page, reader);
  const url = page.url();
  const heading = await page.locator('h1').innerText();
  await page.close();

  const pasted = await newPage(b); // a new tab has its own sessionStorage: it must sign in
  await pasted.goto(url);
  await settled(pasted);
  assert.equal(await pasted.locator('main').getAttribute('data-view'), 'signin');
  await signIn(pasted, reader);
  assert.equal(pasted.url(), url);
  assert.equal(await pasted.locator('main').getAttribute('data-view'), `/dumps/${mainId}/objects/${m.address}`);
  assert.equal(await pasted.locator('h1').innerText(), heading);

  // a filtered, sorted histogram page
  const heapLink = `/dumps/${mainId}/heap/2?type=Invoice&sort=count&order=asc`;
  await go(pasted, d.url, heapLink);
  assert.equal(await pasted.locator('input[name=type]').inputValue(), 'Invoice');
  assert.equal(await pasted.locator('th[aria-sort=ascending] [data-sort=count]').count(), 1);

  // the /ui/ form of a link lands on the same view
  await pasted.goto(`${d.url}/ui/dumps/${locksId}/deadlocks`);
  await settled(pasted);
  assert.equal(await pasted.locator('main').getAttribute('data-view'), `/dumps/${locksId}/deadlocks`);
  assert.equal(new URL(pasted.url()).hash, `#/dumps/${locksId}/deadlocks`);
  await pasted.close();
});

test('API errors are shown in words; a reader cannot delete', async () => {
  const page = await newPage(b);
  await go(page, d.url, `/dumps/${mainId}/objects/0x10`);
  await signIn(page, reader);
  const alert = page.locator('main .alert');
  assert.match(await alert.innerText(), /Not found \(404\)/);
  assert.match(await alert.innerText(), /0x10 is not/);
  await shot(page, 'object-not-found');

  await go(page, d.url, `/dumps/0123456789abcdef`);
  assert.match(await page.locator('main .alert').innerText(), /Not found \(404\)\s+no dump with this id/);

  // a reader is not offered Delete (GET /me tells the page the token's role)
  await go(page, d.url, '/dumps');
  await page.locator('#role[data-role=reader]').waitFor();
  assert.equal(await page.locator(`#dump-list tr[data-id="${mainId}"]`).count(), 1);
  assert.equal(await page.locator('#dump-list button.danger').count(), 0);
  await shot(page, 'dumps-reader-no-delete');
  await page.close();
});

// The fixtures analyse in well under a second, too fast to see a 202: the first answers are
// replaced (the daemon's own 202 shape) to show the page that waits for the analysis.
test('a dump still being analysed shows the job\'s progress, then the view', async () => {
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  await signIn(page, reader);
  let summaries = 0;
  await page.route(`**/dumps/${mainId}/summary`, (route) =>
    summaries++ === 0
      ? route.fulfill({ status: 202, contentType: 'application/json', body: JSON.stringify({ status: 'analysing', job: '/jobs/77' }) })
      : route.continue(),
  );
  let polls = 0;
  await page.route('**/jobs/77', (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/json',
      body: JSON.stringify(
        polls++ < 2
          ? { id: 77, dump_id: mainId, kind: 'index', state: 'running', progress: { phase: 'walk', percent: 40 }, error: null }
          : { id: 77, dump_id: mainId, kind: 'index', state: 'done', progress: { phase: 'done', percent: 100 }, error: null },
      ),
    }),
  );
  await page.evaluate((id) => (location.hash = `#/dumps/${id}`), mainId);
  const waiting = page.locator('.waiting');
  await waiting.getByText('Analysis running: walk (40 %).').waitFor();
  assert.equal(await waiting.locator('[role=progressbar]').getAttribute('aria-valuenow'), '40');
  await shot(page, 'analysis-in-progress');
  await page.locator('.overview').waitFor();
  await settled(page);
  assert.equal(await page.locator('h1').innerText(), 'main-wks-heap.dmp');
  assert.ok(polls >= 3);
  await page.close();
});

test('every page renders without an error, with a screenshot of each; first-view time', async () => {
  const page = await newPage(b);
  await go(page, d.url, '/dumps');
  await signIn(page, reader);
  const m = marker(main.truth, 'invoice.list.items');
  const pages = [
    ['heap-all', `/dumps/${mainId}/heap`],
    ['heap-loh', `/dumps/${mainId}/heap/loh`],
    ['fragmentation', `/dumps/${mainId}/fragmentation`],
    ['object-array', `/dumps/${mainId}/objects/${m.address}?offset=50`],
    ['object-string', `/dumps/${mainId}/objects/${marker(main.truth, 'string.literal').address}`],
    ['threads', `/dumps/${locksId}/threads`],
    ['locks', `/dumps/${locksId}/locks`],
    ['finalizer', `/dumps/${mainId}/finalizer`],
    ['finalizer-ready', `/dumps/${mainId}/finalizer?queue=ready`],
    ['handles', `/dumps/${mainId}/handles`],
    ['strings', `/dumps/${mainId}/strings?q=dumpscope`],
    ['strings-duplicates', `/dumps/${mainId}/strings?duplicates=true`],
  ];
  for (const [name, hash] of pages) {
    await go(page, d.url, hash);
    assert.equal(await page.locator('main .alert').count(), 0, `${name}: ${await page.locator('main').innerText()}`);
    assert.ok((await page.locator('main h1').innerText()).length > 0, name);
    await shot(page, name);
  }
  assert.match(await page.locator('main').innerText(), /dumpscope-duplicate-0123456789ABCDEFGHIJ/);

  // first view of a dump: a fresh page load of the overview until it is on screen (printed, not
  // asserted: tests never assert wall-clock times)
  const times = [];
  for (let i = 0; i < 3; i++) {
    const start = Date.now();
    await page.goto(`${d.url}/#/dumps/${mainId}`);
    await settled(page);
    times.push(Date.now() - start);
    await page.goto('about:blank');
  }
  console.log(`first view of a dump (overview, fresh page load): ${times.join(', ')} ms`);
  await page.close();
  assert.deepEqual(b.errors, [], 'no script error on any page');
});
