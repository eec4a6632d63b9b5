// report.test.mjs: the automatic report over HTTP. The daemon passes its finding_settings to the
// worker (a lowered threshold raises the finding it governs, naming the value); /dumps/{id}/report
// serves the same findings as /findings with the summary, top types and strings; a bad threshold
// keeps the daemon from starting.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import {
  api, CLI, fixture, newDataDir, startDaemon, stopDaemon, token, upload, waitJob,
} from './daemon.mjs';

const main = fixture('main-wks-heap');
const truth = main.truth;
let data, d, reader, uploader, dumpId;

before(async () => {
  data = newDataDir();
  reader = token(data, 'reader');
  uploader = token(data, 'uploader');
  d = await startDaemon(data, ['--max-upload-bytes', '1G', '--finding-settings', 'pinned_handles=50']);
  const up = await upload(d, uploader, main.dump, 'main-wks-heap.dmp');
  assert.equal(up.status, 201, up.text);
  dumpId = up.json.id;
  const job = await waitJob(d, reader, up.json.job, ['done', 'failed']);
  assert.equal(job.state, 'done', JSON.stringify(job));
});

after(async () => {
  if (d) await stopDaemon(d);
  if (data) rmSync(data, { recursive: true, force: true }); /* a stored dump: do not leave it in /tmp */
});

test('the report answers with the summary, the findings and the top types', async () => {
  const r = await api(d, `/dumps/${dumpId}/report`, { token: reader });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.ok(r.headers.get('etag'));
  const rep = r.json;
  assert.equal(rep.summary.gc.mode, truth.gc.server ? 'server' : 'workstation');
  assert.equal(rep.summary.dump_kind, 'heap');
  assert.equal(rep.summary.dump, `/dumps/${dumpId}`, 'the dump is named by its resource, not by the daemon\'s file path');
  const invoice = rep.top_types.by_size.find((t) => t.type === 'Scenarios.Invoice');
  assert.equal(invoice.count, truth.types['Scenarios.Invoice'].count);
  assert.equal(invoice.bytes, truth.types['Scenarios.Invoice'].total_size);
  const f = await api(d, `/dumps/${dumpId}/findings`, { token: reader });
  assert.equal(f.status, 200);
  assert.deepEqual(rep.findings, f.json.findings);
  assert.equal(rep.strings.top_duplicates[0].label, truth.scenario_data.strings.duplicates[0].value);
  const notModified = await api(d, `/dumps/${dumpId}/report`, { token: reader, headers: { 'If-None-Match': r.headers.get('etag') } });
  assert.equal(notModified.status, 304);
});

test('the daemon passes finding_settings to its workers', async () => {
  const r = await api(d, `/dumps/${dumpId}/findings`, { token: reader });
  const pinned = r.json.findings.find((x) => x.code === 'pinned-handles');
  assert.ok(pinned, 'pinned_handles=50 raises the pinned-handles finding (66 pinned handles)');
  assert.deepEqual(pinned.setting, { name: 'pinned_handles', value: 50 });
  const rep = await api(d, `/dumps/${dumpId}/report`, { token: reader });
  assert.equal(rep.json.settings.find((s) => s.name === 'pinned_handles').value, 50);
  assert.equal(rep.json.settings.find((s) => s.name === 'undisposed_objects').value, 100);
});

// The growth of a type name between two growth fixtures: the truth's type plus the same-named type
// of the assembly's second copy (another load context).
function growthByName(before, after, name) {
  const copy = (f) => (f.truth.scenario_data.growth.second_copy.type === name ? f.truth.scenario_data.growth.second_copy : { count: 0, total_size: 0 });
  const t = (f) => f.truth.types[name];
  return {
    count: t(after).count + copy(after).count - t(before).count - copy(before).count,
    bytes: t(after).total_size + copy(after).total_size - t(before).total_size - copy(before).total_size,
  };
}

test('two dumps of one program compare over HTTP: growth per type, the truth\'s difference', async () => {
  const g1 = fixture('growth1-wks-heap'), g2 = fixture('growth2-wks-heap');
  const ids = [];
  for (const g of [g1, g2]) {
    const up = await upload(d, uploader, g.dump);
    assert.equal(up.status, 201, up.text);
    const job = await waitJob(d, reader, up.json.job, ['done', 'failed']);
    assert.equal(job.state, 'done', JSON.stringify(job));
    ids.push(up.json.id);
  }
  const r = await api(d, `/dumps/${ids[1]}/diff?base=${ids[0]}&limit=50`, { token: reader });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal(r.json.before.dump, `/dumps/${ids[0]}`);
  assert.equal(r.json.after.dump, `/dumps/${ids[1]}`);
  assert.ok(!r.text.includes(data), 'no path of the data folder in an answer');
  const records = r.json.types.filter((t) => t.type === 'Scenarios.GrowthRecord');
  assert.equal(records.length, 1, 'the second copy\'s same-named type is the same row');
  const want = growthByName(g1, g2, 'Scenarios.GrowthRecord');
  assert.equal(records[0].count_growth, want.count);
  assert.equal(records[0].bytes_growth, want.bytes);
  assert.ok(records[0].retained_growth > records[0].bytes_growth, 'each record retains its key and payload');
  let e = await api(d, `/dumps/${ids[1]}/diff`, { token: reader });
  assert.equal(e.status, 400);
  e = await api(d, `/dumps/${ids[1]}/diff?base=0123456789abcdef`, { token: reader });
  assert.equal(e.status, 404);
  assert.match(e.json.error.message, /to compare with/);
});

test('findings follow the daemon\'s finding_settings: an index built with other thresholds is rebuilt', async () => {
  const other = newDataDir();
  const t = token(other, 'uploader');
  let daemon = await startDaemon(other, ['--max-upload-bytes', '1G']);
  try {
    const up = await upload(daemon, t, main.dump, 'main-wks-heap.dmp');
    assert.equal(up.status, 201, up.text);
    const job = await waitJob(daemon, t, up.json.job, ['done', 'failed']);
    assert.equal(job.state, 'done', JSON.stringify(job));
    let f = await api(daemon, `/dumps/${up.json.id}/findings`, { token: t });
    assert.equal(f.status, 200);
    assert.equal(f.json.findings.find((x) => x.code === 'pinned-handles'), undefined, '66 pinned handles < the default 100');
    await stopDaemon(daemon);
    // the same data, a lower threshold: the first query finds the index stale and rebuilds it
    daemon = await startDaemon(other, ['--max-upload-bytes', '1G', '--finding-settings', 'pinned_handles=50']);
    f = await api(daemon, `/dumps/${up.json.id}/findings`, { token: t });
    assert.equal(f.status, 202, f.text);
    f = await api(daemon, `/dumps/${up.json.id}/findings?wait=120`, { token: t });
    assert.equal(f.status, 200, f.text);
    const pinned = f.json.findings.find((x) => x.code === 'pinned-handles');
    assert.deepEqual(pinned && pinned.setting, { name: 'pinned_handles', value: 50 });
    // and stays built: the next query answers at once
    assert.equal((await api(daemon, `/dumps/${up.json.id}/report`, { token: t })).status, 200);
  } finally {
    await stopDaemon(daemon);
    rmSync(other, { recursive: true, force: true });
  }
});

test('a bad finding setting keeps the daemon from starting, naming it', () => {
  const empty = newDataDir();
  const r = spawnSync(CLI, ['serve', '--listen', '127.0.0.1:0', '--data', empty, '--finding-settings', 'pinned_handles=lots'],
    { encoding: 'utf8', timeout: 20000 });
  rmSync(empty, { recursive: true, force: true });
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /finding_settings.*pinned_handles/);
});

// A dump taken during a garbage collection (the midgc fixture): the worker indexes it without the
// heap, the report leads with the gc-in-progress finding (and the truth's deadlock), threads and
// locks answer, and every heap resource answers 409 heap_not_walkable.
test('a dump taken during a GC: the report says so, heap resources answer 409 heap_not_walkable', async () => {
  const mid = fixture('midgc-wks-heap');
  const up = await upload(d, uploader, mid.dump, 'midgc-wks-heap.dmp');
  assert.equal(up.status, 201, up.text);
  const job = await waitJob(d, reader, up.json.job, ['done', 'failed']);
  assert.equal(job.state, 'done', JSON.stringify(job));
  const id = up.json.id;
  const rep = await api(d, `/dumps/${id}/report`, { token: reader });
  assert.equal(rep.status, 200, rep.text.slice(0, 300));
  assert.equal(rep.json.summary.gc_in_progress, true);
  const codes = rep.json.findings.map((f) => f.code).sort();
  assert.deepEqual(codes, ['deadlock', 'gc-in-progress']);
  assert.equal(rep.json.findings.find((f) => f.code === 'gc-in-progress').severity, 'warning');
  for (const path of ['gen/2', 'heap/stat', 'heap/objects', 'dominators', 'strings', 'fragmentation']) {
    const r = await api(d, `/dumps/${id}/${path}`, { token: reader });
    assert.equal(r.status, 409, `${path}: ${r.text.slice(0, 200)}`);
    assert.equal(r.json.error.code, 'heap_not_walkable');
    assert.match(r.json.error.message, /during a garbage collection/);
  }
  const threads = await api(d, `/dumps/${id}/threads`, { token: reader });
  assert.equal(threads.status, 200);
  const gcLoop = mid.truth.threads.find((t) => t.name === 'gc-loop');
  assert.ok(threads.json.threads.some((t) => t.os_id === gcLoop.os_id));
  const locks = await api(d, `/dumps/${id}/locks`, { token: reader });
  assert.equal(locks.status, 200);
});
