// check.mjs: validates every HTTP response the e2e suite received against openapi.yaml.
//
//   node check.mjs OPENAPI.yaml RESPONSES.jsonl [--self-test]
//
// RESPONSES.jsonl has one line per response, written by tests/e2e/daemon.mjs's api() when
// DS_CONTRACT_LOG names the file: {method, path (with query), status, content_type, headers, body}.
// Each response is mapped to its operation by path template and method, then must:
//   - have a status the operation documents (or, for requests outside every path or method, one
//     that x-unrouted documents);
//   - have a Content-Type the response documents, and a body valid against its schema (JSON Schema
//     2020-12, as OpenAPI 3.1 defines it; no body where none is documented);
//   - carry every header the response marks required, each valid against its schema.
// Then coverage: every operation must have been exercised, and every status in MUST_SEE seen.
// --self-test: breaks the contract in memory in a few ways (a renamed property, a removed status,
// a narrowed enum) and fails unless each break is caught on the same responses.
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const MUST_SEE = [200, 201, 202, 304, 400, 401, 403, 404, 405, 413, 414, 415, 422];

function pointerEscape(s) {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function resolve(spec, node, pointer) {
  // follows a $ref chain; returns {node, pointer} of the target
  while (node && node.$ref) {
    if (!node.$ref.startsWith('#/')) throw new Error(`external $ref ${node.$ref} is not supported`);
    pointer = node.$ref.slice(1);
    node = node.$ref
      .slice(2)
      .split('/')
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((n, k) => (n === undefined ? undefined : n[k]), spec);
  }
  return { node, pointer };
}

function compileRoutes(spec) {
  return Object.keys(spec.paths).map((template) => {
    const parts = template.split('/').map((seg) =>
      /^\{[^}]+\}$/.test(seg) ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    const literal = template.split('/').filter((s) => s && !s.startsWith('{')).length;
    return { template, re: new RegExp(`^${parts.join('/')}$`), literal };
  }).sort((a, b) => b.literal - a.literal);
}

export function check(spec, records) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(spec, 'openapi.json');
  const validators = new Map();
  const validatorFor = (pointer) => {
    if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: `openapi.json#${pointer}` }));
    return validators.get(pointer);
  };
  const routes = compileRoutes(spec);
  const failures = [];
  const seenOps = new Map(); // operationId -> Set(status)
  const seenStatus = new Set();
  const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

  for (const [index, rec] of records.entries()) {
    const where = `#${index + 1} ${rec.method} ${rec.path} -> ${rec.status}`;
    const fail = (msg) => failures.push(`${where}: ${msg}`);
    seenStatus.add(rec.status);
    let path = rec.path.split('?')[0];
    if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
    const route = routes.find((r) => r.re.test(path));
    const method = rec.method.toLowerCase() === 'head' ? 'get' : rec.method.toLowerCase();
    const op = route && spec.paths[route.template][method];
    let response, pointer;
    const status = String(rec.status);
    if (op) {
      const opPointer = `/paths/${pointerEscape(route.template)}/${method}`;
      if (!seenOps.has(op.operationId)) seenOps.set(op.operationId, new Set());
      seenOps.get(op.operationId).add(rec.status);
      if (!op.responses[status]) {
        fail(`status ${status} is not documented for ${op.operationId} (documented: ${Object.keys(op.responses).join(', ')})`);
        continue;
      }
      ({ node: response, pointer } = resolve(spec, op.responses[status], `${opPointer}/responses/${status}`));
    } else {
      const fallback = (spec['x-unrouted'] || {})[status];
      const why = route ? `${route.template} has no ${method.toUpperCase()} operation`
        : 'the path matches no path of the contract';
      if (!fallback || (route && methods.some((m) => spec.paths[route.template][m]) && status === '404')) {
        fail(`${why}, and x-unrouted does not document status ${status} for it`);
        continue;
      }
      ({ node: response, pointer } = resolve(spec, fallback, `/x-unrouted/${status}`));
    }
    if (!response) {
      fail(`the documented response ${pointer} does not resolve`);
      continue;
    }
    // headers the response marks required
    for (const [name, h] of Object.entries(response.headers || {})) {
      const { node: header, pointer: hp } = resolve(spec, h, `${pointer}/headers/${pointerEscape(name)}`);
      const value = (rec.headers || {})[name.toLowerCase()];
      if (value === undefined || value === null) {
        if (header.required) fail(`required header ${name} is missing`);
        continue;
      }
      if (header.schema) {
        const v = validatorFor(`${hp}/schema`);
        if (!v(value)) fail(`header ${name}: ${JSON.stringify(value)} ${ajv.errorsText(v.errors)}`);
      }
    }
    // body
    const contentType = (rec.content_type || '').split(';')[0].trim().toLowerCase();
    if (!response.content) {
      if (rec.body) fail(`a body where the contract documents none: ${rec.body.slice(0, 200)}`);
      continue;
    }
    if (!response.content[contentType]) {
      fail(`Content-Type "${contentType}" is not documented (documented: ${Object.keys(response.content).join(', ')})`);
      continue;
    }
    if (!contentType.endsWith('json')) continue;
    let body;
    try {
      body = JSON.parse(rec.body);
    } catch (e) {
      fail(`the body is not JSON: ${e.message}`);
      continue;
    }
    const v = validatorFor(`${pointer}/content/${pointerEscape(contentType)}/schema`);
    if (!v(body)) {
      const errors = v.errors.slice(0, 6).map((e) => `${e.instancePath || '/'} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
      fail(`the body does not match the schema:\n    ${errors.join('\n    ')}\n    body: ${rec.body.slice(0, 300)}`);
    }
  }

  // coverage
  const uncovered = [];
  const unexercised = [];
  for (const [template, item] of Object.entries(spec.paths))
    for (const m of methods) {
      const op = item[m];
      if (!op) continue;
      const seen = seenOps.get(op.operationId);
      if (!seen) unexercised.push(`${m.toUpperCase()} ${template} (${op.operationId})`);
      for (const s of Object.keys(op.responses))
        if (!seen || !seen.has(Number(s))) uncovered.push(`${op.operationId} ${s}`);
    }
  for (const op of unexercised) failures.push(`never exercised by the e2e suite: ${op}`);
  for (const s of MUST_SEE) if (!seenStatus.has(s)) failures.push(`no response with status ${s} was checked`);
  return { failures, uncovered, operations: seenOps.size, responses: records.length };
}

function loadRecords(file) {
  const text = readFileSync(file, 'utf8');
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

// Breaks the contract in ways it must catch on the same responses.
function selfTest(spec, records) {
  const breaks = [
    ['rename a required property (TypeStats.type_count -> type_total)', (s) => {
      const t = s.components.schemas.TypeStats;
      t.properties.type_total = t.properties.type_count;
      delete t.properties.type_count;
      t.required = t.required.map((p) => (p === 'type_count' ? 'type_total' : p));
    }],
    ['drop a documented status (gen: 304)', (s) => {
      delete s.paths['/dumps/{id}/gen/{gen}'].get.responses['304'];
    }],
    ['narrow an enum (Generation without loh)', (s) => {
      s.components.schemas.Generation.enum = s.components.schemas.Generation.enum.filter((g) => g !== 'loh');
    }],
    ['close an object further (Thread without lock_count)', (s) => {
      delete s.components.schemas.Thread.properties.lock_count;
      s.components.schemas.Thread.required = s.components.schemas.Thread.required.filter((p) => p !== 'lock_count');
    }],
    ['require a header the daemon does not send (Pending: ETag)', (s) => {
      s.components.responses.Pending.headers.ETag = { $ref: '#/components/headers/ETag' };
    }],
  ];
  let ok = true;
  for (const [name, mutate] of breaks) {
    const broken = structuredClone(spec);
    mutate(broken);
    const { failures } = check(broken, records);
    console.log(`self-test: ${name}: ${failures.length ? `caught (${failures.length} failures, e.g. ${failures[0].split('\n')[0]})` : 'NOT CAUGHT'}`);
    if (!failures.length) ok = false;
  }
  return ok;
}

const [specFile, logFile, ...flags] = process.argv.slice(2);
if (!specFile || !logFile) {
  console.error('usage: node check.mjs OPENAPI.yaml RESPONSES.jsonl [--self-test]');
  process.exit(2);
}
const spec = YAML.parse(readFileSync(specFile, 'utf8'));
const records = loadRecords(logFile);
if (records.length === 0) {
  console.error(`contract: ${logFile} holds no responses (did the e2e suite run with DS_CONTRACT_LOG set?)`);
  process.exit(1);
}
const result = check(spec, records);
for (const f of result.failures) console.log(`FAIL ${f}`);
console.log(`contract: ${result.responses} responses of ${result.operations} operations checked against ${specFile}`);
if (result.uncovered.length)
  console.log(`contract: documented but not exercised (${result.uncovered.length}): ${result.uncovered.join(', ')}`);
let passed = result.failures.length === 0;
if (flags.includes('--self-test')) passed = selfTest(spec, records) && passed;
console.log(`${passed ? 1 : 0} passed, ${passed ? 0 : 1} failed`);
process.exit(passed ? 0 : 1);
