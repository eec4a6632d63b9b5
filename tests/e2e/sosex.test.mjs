// sosex.test.mjs: the rest of the SOSEX reference as API resources, over HTTP against the real
// daemon with a real fixture dump, checked against the truth its scenario program reported:
// memory/{addr} (!mln), types/{type} (!mdt), search (!mx), threads/{thread}/frames (!mdv), and the
// SOSEX options as parameters (fragmentation?mt, finalizer?gen, deadlocks|locks|waits?details,
// strings?module).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { api, CLI, fixture, marker, newDataDir, startDaemon, stopDaemon, token, upload } from './daemon.mjs';

const main = fixture('main-wks-heap');
const truth = main.truth;
const threadOs = (name) => truth.threads.find((t) => t.name === name).os_id;

let data, d, reader, dumpId;
const get = (path) => api(d, `/dumps/${dumpId}/${path}`, { token: reader });

before(async () => {
  data = newDataDir();
  reader = token(data, 'reader');
  const uploader = token(data, 'uploader');
  d = await startDaemon(data, ['--max-upload-bytes', '1G']);
  const up = await upload(d, uploader, main.dump, 'main-wks-heap.dmp');
  assert.equal(up.status, 201, up.text);
  dumpId = up.json.id;
  const ready = await get('summary?wait=120');
  assert.equal(ready.status, 200, ready.text);
});

after(async () => {
  if (d) await stopDaemon(d);
  if (data && !process.env.DS_KEEP_E2E_DATA) rmSync(data, { recursive: true, force: true }); // it holds a copy of the dump
});

test('memory/{addr}: an object, its interior, a stack slot, a handle, code, a module', async () => {
  const inv = marker(truth, 'invoice.first');
  let r = await get(`memory/${inv.address}`);
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.kind, 'object');
  assert.equal(r.json.object.address, inv.address);
  const inside = '0x' + (BigInt(inv.address) + 20n).toString(16);
  r = await get(`memory/${inside}`);
  assert.equal(r.json.object.address, inv.address);
  assert.equal(r.json.offset, 20);

  const holder = threadOs('marker-holder');
  const dso = await get(`threads/${holder}/objects`);
  const m = marker(truth, 'marker.local');
  const slot = dso.json.frames.flatMap((f) => f.objects).find((o) => o.address === m.address).slot;
  r = await get(`memory/${slot}`);
  assert.equal(r.json.kind, 'stack');
  assert.equal(r.json.thread.os_id, holder);
  assert.match(r.json.frame.method, new RegExp(truth.scenario_data.leak.marker_method.replace(/\./g, '\\.')));
  assert.equal(r.json.reference.address, m.address);

  const stack = await get(`threads/${holder}/stack`);
  const hold = stack.json.frames.find((f) => f.method.includes('HoldMarker') && !f.runtime_frame);
  r = await get(`memory/${hold.ip}`);
  assert.equal(r.json.kind, 'jit_code');
  assert.match(r.json.method.name, /HoldMarker/);

  const pinned = marker(truth, 'pinned.array');
  const gch = await get('handles');
  const handle = gch.json.kinds['pinned handle'].handles.find((h) => h.object && h.object.address === pinned.address);
  r = await get(`memory/${handle.handle}`);
  assert.equal(r.json.kind, 'handle');
  assert.equal(r.json.handle.object.address, pinned.address);

  const sleep = stack.json.frames.find((f) => f.method.startsWith('System.Threading.Thread.Sleep'));
  r = await get(`memory/${sleep.ip}`);
  assert.equal(r.json.kind, 'module');
  assert.match(r.json.module.path, /System\.Private\.CoreLib\.dll$/);

  r = await get('memory/0x10');
  assert.equal(r.json.kind, 'unknown');
  r = await get('memory/0xnothex');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'invalid_argument');
});

test('types/{type}: a layout by name and MethodTable, an object expanded, a 404', async () => {
  const byName = await get('types/Scenarios.Invoice');
  assert.equal(byName.status, 200, byName.text);
  assert.deepEqual(byName.json.fields.map((f) => f.name).sort(), ['Amount', 'Customer', 'Index', 'Number']);
  assert.equal(byName.json.base_size, truth.types['Scenarios.Invoice'].instance_size);
  const byMt = await get(`types/${byName.json.mt}`);
  assert.deepEqual(byMt.json, byName.json);

  const last = marker(truth, 'invoice.last');
  const obj = await get(`types/${last.address}?depth=1`);
  const fields = Object.fromEntries(obj.json.object.fields.map((f) => [f.name, f]));
  assert.equal(fields.Index.value, 100002);
  assert.equal(fields.Number.value.string, 'INV-100002');
  const customer = Object.fromEntries(fields.Customer.value.fields.map((f) => [f.name, f]));
  assert.equal(customer.LastInvoice.value.address, last.address);

  const dl = await get('types/Scenarios.DeadlockScenario');
  const a = truth.locks.find((l) => l.name === 'A');
  assert.equal(dl.json.statics.find((s) => s.name === 'A').value.address, a.address);

  assert.equal((await get('types/Scenarios.Nothing')).status, 404);
  assert.equal((await get('types/Scenarios.Invoice?depth=99')).status, 400);
});

test('search: types, fields and methods by pattern', async () => {
  let r = await get('search?q=Scenarios.Invoice.*');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type_count, 0);
  assert.deepEqual(r.json.fields.map((f) => f.name).sort(), ['Amount', 'Customer', 'Index', 'Number']);
  r = await get('search?q=Scenarios.LeakScenario.HoldMarker&kind=methods');
  assert.equal(r.json.method_count, 1);
  r = await get('search?q=Scenarios.Invoice&kind=types');
  assert.equal(r.json.types[0].instances, truth.types['Scenarios.Invoice'].count);
  assert.equal((await get('search?kind=everything')).status, 400);
});

test('threads/{thread}/frames: the locals of T1LockAThenB are the truth\'s locks A and B', async () => {
  const r = await get(`threads/${threadOs('T1')}/frames`);
  assert.equal(r.status, 200, r.text);
  const frame = r.json.frames.find((f) => f.method.startsWith('Scenarios.DeadlockScenario.T1LockAThenB'));
  const refs = frame.locals.filter((l) => l.kind === 'reference').map((l) => l.value.address);
  assert.deepEqual(refs, ['A', 'B'].map((n) => truth.locks.find((l) => l.name === n).address));
  const one = await get(`threads/${threadOs('T1')}/frames?frame=${frame.depth}`);
  assert.equal(one.json.frames.length, 1);
  assert.equal((await get(`threads/${threadOs('T1')}/frames?frame=x`)).status, 400);
});

test('SOSEX options as parameters: mt, gen, details, module', async () => {
  const pinnedFirst = marker(truth, 'fragmentation.pinned.first');
  const obj = await get(`objects/${pinnedFirst.address}`);
  const frag = await get(`fragmentation?mt=${obj.json.mt}`);
  assert.equal(frag.status, 200, frag.text);
  assert.ok(frag.json.pinned_gap_holders.length > 0);
  assert.ok(frag.json.pinned_gap_holders.every((h) => h.type === 'Scenarios.FragCell[]'));

  const fin = await get('finalizer?gen=2&stat=true');
  assert.equal(fin.json.generation, 'gen2');
  assert.equal(fin.json.by_type.find((t) => t.type === truth.finalizer.type).count, truth.finalizer.undisposed);
  assert.equal((await get('finalizer?gen=9')).status, 400);

  const dl = await get('deadlocks?details=true');
  const stacked = dl.json.stacks.map((s) => s.os_id);
  for (const name of [...truth.deadlocks[0], truth.contention[0].held_by, ...truth.contention[0].waiters])
    assert.ok(stacked.includes(threadOs(name)), name);
  assert.equal((await get('deadlocks')).json.stacks, undefined);

  const lit = marker(truth, 'string.literal');
  const s = await get('strings?module=Scenarios.dll&q=dumpscope-frozen');
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.literals[0].object.address, lit.address);
  assert.equal((await get('strings?module=Nothing.dll')).status, 404);
});

test('threads/{thread}/frames: Hold(int, string, object, FramePoint) with names, declared types, values and its line, as the CLI answers', async () => {
  const fa = truth.scenario_data['frame-args'];
  const tid = threadOs(fa.thread);
  const r = await get(`threads/${tid}/frames`);
  assert.equal(r.status, 200, r.text);
  const hold = r.json.frames.find((f) => f.method.startsWith(`${fa.method}(`));
  assert.ok(hold, 'the frame of Hold');
  assert.equal(hold.file, fa.file);
  assert.equal(hold.line, fa.line);
  const check = (ours, want) => {
    const v = ours.find((x) => x.name === want.name);
    assert.ok(v, want.name);
    assert.equal(v.type, want.type, want.name);
    if ('value' in want) assert.equal(v.value, want.value, want.name);
    else if ('address' in want) assert.deepEqual([v.value.address, v.value.type], [want.address, want.object_type], want.name);
    else assert.deepEqual(v.value.fields, want.fields, want.name);
  };
  for (const a of fa.arguments) check(hold.arguments, a);
  for (const l of fa.locals) check(hold.locals, l);

  // the CLI answers the same document from its own index of the same dump
  const dir = mkdtempSync(join(tmpdir(), 'ds-frames-'));
  try {
    const out = execFileSync(CLI, ['frames', main.dump, String(tid), '--frame', String(hold.depth), '--json',
      '--index', join(dir, 'main.dsindex')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const one = await get(`threads/${tid}/frames?frame=${hold.depth}`);
    assert.deepEqual(JSON.parse(out), one.json);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('code/{addr} and methods/{method}/code: Hold disassembled with its lines and named calls, as the CLI answers', async () => {
  const fa = truth.scenario_data['frame-args'];
  const tid = threadOs(fa.thread);
  const muf = await get(`methods/${encodeURIComponent(fa.method)}/code`);
  assert.equal(muf.status, 200, muf.text);
  assert.equal(muf.json.file, fa.file);
  // (a heap dump holds fewer of the runtime's stubs than a full one: the unit tests name every call
  // on the full dump; here, the calls to GC.KeepAlive after Park, from the truth's line on)
  const keepAlive = muf.json.instructions.filter((i) => i.target && i.target.name === 'System.GC.KeepAlive(System.Object)');
  assert.equal(keepAlive.length, 4);
  assert.ok(keepAlive.every((i) => i.line >= fa.line));
  assert.ok(muf.json.instructions.some((i) => i.line === fa.line && i.il_offset !== null));

  const stack = await get(`threads/${tid}/stack`);
  const hold = stack.json.frames.find((f) => f.method.startsWith(`${fa.method}(`));
  const mu = await get(`code/${hold.ip}?around=2`);
  assert.equal(mu.status, 200, mu.text);
  const current = mu.json.instructions.find((i) => i.current);
  assert.equal(current.address, hold.ip);
  assert.equal(current.line, fa.line);
  assert.ok(mu.json.instructions.length <= 5);
  assert.equal((await get('code/0x10')).status, 404);
  assert.equal((await get('code/0x10?around=x')).status, 400);
  assert.equal((await get('methods/Scenarios.NoSuch/code')).status, 404);

  const dir = mkdtempSync(join(tmpdir(), 'ds-mu-'));
  try {
    const out = execFileSync(CLI, ['mu', main.dump, hold.ip, '--around', '2', '--json', '--index', join(dir, 'main.dsindex')],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.deepEqual(JSON.parse(out), mu.json);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('threads/{thread}/mixed: native frames from the core (libc) above Thread.Sleep and Hold', async () => {
  const tid = threadOs(truth.scenario_data['frame-args'].thread);
  const r = await get(`threads/${tid}/mixed`);
  assert.equal(r.status, 200, r.text);
  const kinds = r.json.frames.map((f) => f.kind);
  const libc = r.json.frames.findIndex((f) => f.kind === 'native' && (f.module || '').startsWith('libc.so'));
  const sleep = r.json.frames.findIndex((f) => f.kind === 'managed' && f.method.startsWith('System.Threading.Thread.Sleep('));
  assert.ok(libc >= 0 && libc < sleep, kinds.join(','));
  assert.ok(kinds.includes('runtime'));
  assert.equal(r.json.native_unwind_ended, 'managed code');
  assert.equal((await get('threads/999999/mixed')).status, 404);
});
