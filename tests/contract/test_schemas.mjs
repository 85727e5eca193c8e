// The contract on its own, no service needed:
//  1. every schema under schemas/ compiles (Ajv, JSON Schema 2020-12, strict;
//     NATS's discovery schemas as draft-07), has the required metadata, and
//     accepts its own `examples`;
//  2. hand-written bad documents are refused, and legitimate edge cases are
//     accepted (so the schemas are neither too loose nor too strict);
//  3. the error codes are exactly those of common/errors.c, and the discovery
//     copies are byte-identical to the NATS reference beside the repository;
//  4. asyncapi.yaml parses with @asyncapi/parser (its own $ref resolution of
//     the JSON files) with no error or warning, every event/api schema file is
//     the payload of a message, and every channel follows the naming scheme.
import { Parser, fromFile } from '@asyncapi/parser';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  check, finish, isDiscovery, loadAjv, newAjv07, newAjv2020, schemaDir, schemaFiles, sourceDir, validator,
} from './lib.mjs';

const files = schemaFiles();
const { ajv, ajv07, loadErrors } = loadAjv();

// ---- 1. every schema compiles, is described, and accepts its examples ---------------
console.log(`# ${files.size} schema files under ${schemaDir}`);
for (const [rel, schema] of files) {
  await check(`${rel}: compiles (strict) and accepts its ${schema.examples?.length ?? 0} examples`, () => {
    const a = isDiscovery(rel) ? ajv07 : ajv;
    assert.ok(!loadErrors.has(rel), `Ajv refuses it: ${loadErrors.get(rel)}`);
    const validate = a.getSchema(schema.$id);
    assert.ok(validate, 'did not compile');
    if (!isDiscovery(rel)) {
      assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
      assert.equal(schema.$id, `https://licensebus.dev/schemas/${rel}`, 'stable $id from the path');
      assert.ok(schema.title && schema.description?.length > 20, 'title and description');
      assert.ok(schema.examples?.length > 0, 'examples');
    }
    for (const [i, ex] of (schema.examples ?? []).entries()) {
      assert.ok(validate(ex), `example ${i}: ${a.errorsText(validate.errors)}`);
    }
  });
}

await check('every event schema is the envelope plus constraints, named after its type', () => {
  for (const [rel, schema] of files) {
    const m = /^events\/([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.v([1-9][0-9]*)\.json$/.exec(rel);
    if (!rel.startsWith('events/')) continue;
    assert.ok(m, `${rel}: events/<domain>.<name>.v<N>.json`);
    const type = `licensebus.${m[1]}.${m[2]}.v${m[3]}`;
    assert.equal(schema.title, type, `${rel}: title`);
    assert.deepEqual(schema.allOf?.[0], { $ref: '../envelope.json' }, `${rel}: allOf[0] is the envelope`);
    assert.equal(schema.allOf?.[1]?.properties?.type?.const, type, `${rel}: type const`);
    for (const ex of schema.examples) assert.equal(ex.type, type, `${rel}: example type`);
  }
});

// ---- 2. bad documents are refused, edge cases accepted --------------------------------
const event = {
  specversion: '1.0', id: '01JD8Z3T2V6Q9R8S7T6V5W4X41', source: '/platform/meter',
  type: 'licensebus.sample.increment.v1', time: '2026-11-22T10:00:00Z', tenant: 'acme',
  data: { counter: 'scans', amount: 3 },
};
const changed = {
  ...event, id: '01JD8Z3T2V6Q9R8S7T6V5W4X42', source: '/licensebus/tally',
  type: 'licensebus.tally.counter_changed.v1',
  data: { counter: 'scans', value: 8, delta: 3, version: 2, cause: { kind: 'event', id: event.id } },
};
const idle = {
  ...changed, type: 'licensebus.tally.counter_idle.v1',
  data: { counter: 'scans', value: 8, version: 2, idle_since: '2026-11-22T09:00:00Z' },
};
const tick = {
  ...event, source: '/tests', type: 'licensebus.clock.tick.v1', tenant: '_sys',
  data: { now: '2026-11-22T12:00:00Z' },
};
const dead = {
  service: 'tally', reason: { code: 'invalid_request', message: 'not JSON' },
  subject: 'lb.evt.sample.acme.increment', stream: 'LB_SAMPLE', stream_sequence: 3, deliveries: 1,
  received_at: '2026-11-22T10:00:00.000Z', event_id: null, payload: '{x',
};
const counter = { tenant: 'acme', counter: 'scans', value: 5, version: 1 };
const without = (o, k) => { const c = structuredClone(o); delete c[k]; return c; };
const withData = (o, d) => ({ ...o, data: { ...o.data, ...d } });
const withoutData = (o, k) => ({ ...o, data: without(o.data, k) });

const bad = [
  ['envelope.json', 'missing id', without(event, 'id')],
  ['envelope.json', 'empty id', { ...event, id: '' }],
  ['envelope.json', 'id with a space', { ...event, id: 'a b' }],
  ['envelope.json', 'id of 129 characters', { ...event, id: 'x'.repeat(129) }],
  ['envelope.json', 'non-ASCII id', { ...event, id: 'idé' }],
  ['envelope.json', 'specversion 0.3', { ...event, specversion: '0.3' }],
  ['envelope.json', 'specversion as a number', { ...event, specversion: 1.0 }],
  ['envelope.json', 'missing source', without(event, 'source')],
  ['envelope.json', 'empty source', { ...event, source: '' }],
  ['envelope.json', 'source of 257 characters', { ...event, source: '/'.repeat(257) }],
  ['envelope.json', 'missing type', without(event, 'type')],
  ['envelope.json', 'type outside the scheme', { ...event, type: 'com.example.thing' }],
  ['envelope.json', 'type version v0', { ...event, type: 'licensebus.sample.increment.v0' }],
  ['envelope.json', 'type without version', { ...event, type: 'licensebus.sample.increment' }],
  ['envelope.json', 'type of 129 characters', { ...event, type: `licensebus.${'a'.repeat(60)}.${'b'.repeat(54)}.v1` }],
  ['envelope.json', 'missing time', without(event, 'time')],
  ['envelope.json', 'time without a zone', { ...event, time: '2026-11-22T10:00:00' }],
  ['envelope.json', 'time that is not a time', { ...event, time: 'yesterday' }],
  ['envelope.json', 'time as epoch millis', { ...event, time: 1763805600000 }],
  ['envelope.json', 'missing tenant', without(event, 'tenant')],
  ['envelope.json', 'tenant with a dot', { ...event, tenant: 'ac.me' }],
  ['envelope.json', 'tenant with a wildcard', { ...event, tenant: '*' }],
  ['envelope.json', 'tenant starting with _', { ...event, tenant: '_acme' }],
  ['envelope.json', 'tenant of 65 characters', { ...event, tenant: 'a'.repeat(65) }],
  ['envelope.json', 'empty tenant', { ...event, tenant: '' }],
  ['envelope.json', 'data as an array', { ...event, data: [1] }],
  ['envelope.json', 'data as a string', { ...event, data: 'x' }],
  ['envelope.json', 'data_base64', { ...without(event, 'data'), data_base64: 'e30=' }],
  ['envelope.json', 'extension name with capitals', { ...event, Trace: 'x' }],
  ['envelope.json', 'extension name with _', { ...event, trace_id: 'x' }],
  ['envelope.json', 'extension name of 21 characters', { ...event, [`${'a'.repeat(21)}`]: 'x' }],
  ['envelope.json', 'extension with an object value', { ...event, trace: { a: 1 } }],
  ['envelope.json', 'extension with a null value', { ...event, trace: null }],
  ['envelope.json', 'datacontenttype text/plain', { ...event, datacontenttype: 'text/plain' }],
  ['envelope.json', 'subject as a number', { ...event, subject: 7 }],
  ['envelope.json', 'an array instead of an object', [event]],
  ['events/sample.increment.v1.json', 'amount 0', withData(event, { amount: 0 })],
  ['events/sample.increment.v1.json', 'amount as a string', withData(event, { amount: '1' })],
  ['events/sample.increment.v1.json', 'amount 1.5', withData(event, { amount: 1.5 })],
  ['events/sample.increment.v1.json', 'amount 1000001', withData(event, { amount: 1000001 })],
  ['events/sample.increment.v1.json', 'amount -1000001', withData(event, { amount: -1000001 })],
  ['events/sample.increment.v1.json', 'counter with capitals', withData(event, { counter: 'Scans' })],
  ['events/sample.increment.v1.json', 'counter of 65 characters', withData(event, { counter: 'a'.repeat(65) })],
  ['events/sample.increment.v1.json', 'missing amount', withoutData(event, 'amount')],
  ['events/sample.increment.v1.json', 'unknown data member', withData(event, { extra: 1 })],
  ['events/sample.increment.v1.json', 'missing data', without(event, 'data')],
  ['events/sample.increment.v1.json', 'another type', { ...event, type: 'licensebus.sample.decrement.v1' }],
  ['events/sample.increment.v1.json', 'bad envelope (tenant)', { ...event, tenant: 'a.b' }],
  ['events/clock.tick.v1.json', 'tick for a tenant', { ...tick, tenant: 'acme' }],
  ['events/clock.tick.v1.json', 'tick without now', { ...tick, data: {} }],
  ['events/clock.tick.v1.json', 'tick with now not a time', { ...tick, data: { now: 'soon' } }],
  ['events/tally.counter_changed.v1.json', 'cause kind timer', withData(changed, { cause: { kind: 'timer', id: 'x' } })],
  ['events/tally.counter_changed.v1.json', 'cause without id', withData(changed, { cause: { kind: 'event' } })],
  ['events/tally.counter_changed.v1.json', 'missing cause', withoutData(changed, 'cause')],
  ['events/tally.counter_changed.v1.json', 'version 0', withData(changed, { version: 0 })],
  ['events/tally.counter_changed.v1.json', 'value 2^60', withData(changed, { value: 2 ** 60 })],
  ['events/tally.counter_changed.v1.json', 'value as a string', withData(changed, { value: '8' })],
  ['events/tally.counter_changed.v1.json', 'another source', { ...changed, source: '/someone/else' }],
  ['events/tally.counter_idle.v1.json', 'missing idle_since', withoutData(idle, 'idle_since')],
  ['events/tally.counter_idle.v1.json', 'a delta member', withData(idle, { delta: 1 })],
  ['error.json', 'unknown code', { error: { code: 'oops', message: 'x' } }],
  ['error.json', 'code as a number', { error: { code: 404, message: 'x' } }],
  ['error.json', 'empty message', { error: { code: 'internal', message: '' } }],
  ['error.json', 'missing message', { error: { code: 'internal' } }],
  ['error.json', 'unknown member in error', { error: { code: 'internal', message: 'x', hint: 'y' } }],
  ['error.json', 'details as a string', { error: { code: 'internal', message: 'x', details: 'y' } }],
  ['error.json', 'a member beside error', { error: { code: 'internal', message: 'x' }, ok: false }],
  ['error.json', 'bare code and message', { code: 'internal', message: 'x' }],
  ['dead_letter.json', 'both payload forms', { ...dead, payload_base64: 'YQ==' }],
  ['dead_letter.json', 'no payload at all', without(dead, 'payload')],
  ['dead_letter.json', 'payload_base64 that is not base64', { ...without(dead, 'payload'), payload_base64: 'a b!' }],
  ['dead_letter.json', 'deliveries 0', { ...dead, deliveries: 0 }],
  ['dead_letter.json', 'unknown reason code', { ...dead, reason: { code: 'bad', message: 'x' } }],
  ['dead_letter.json', 'stream_sequence 0', { ...dead, stream_sequence: 0 }],
  ['dead_letter.json', 'received_at not a time', { ...dead, received_at: 'now' }],
  ['dead_letter.json', 'service with a dot', { ...dead, service: 'a.b' }],
  ['dead_letter.json', 'missing event_id', without(dead, 'event_id')],
  ['dead_letter.json', 'missing stream', without(dead, 'stream')],
  ['api/tally.add.request.json', 'unknown member', { tenant: 'acme', counter: 'c', amount: 1, extra: true }],
  ['api/tally.add.request.json', 'amount past the limit', { tenant: 'acme', counter: 'c', amount: 1000001 }],
  ['api/tally.add.request.json', 'amount 0', { tenant: 'acme', counter: 'c', amount: 0 }],
  ['api/tally.add.request.json', 'amount 2^60', { tenant: 'acme', counter: 'c', amount: 2 ** 60 }],
  ['api/tally.add.request.json', 'missing amount', { tenant: 'acme', counter: 'c' }],
  ['api/tally.add.request.json', 'bad tenant', { tenant: 'a b', counter: 'c', amount: 1 }],
  ['api/tally.add.request.json', 'bad counter', { tenant: 'acme', counter: 'C!', amount: 1 }],
  ['api/tally.add.reply.json', 'version 0', { ...counter, version: 0 }],
  ['api/tally.add.reply.json', 'missing value', without(counter, 'value')],
  ['api/tally.add.reply.json', 'value as a string', { ...counter, value: '5' }],
  ['api/tally.get.request.json', 'missing counter', { tenant: 'acme' }],
  ['api/tally.get.request.json', 'an amount member', { tenant: 'acme', counter: 'c', amount: 1 }],
  ['api/tally.get.reply.json', 'unknown member', { ...counter, extra: 1 }],
  ['api/tally.get.reply.json', 'an error body', { error: { code: 'not_found', message: 'x' } }],
];
console.log(`# ${bad.length} bad documents must be refused`);
for (const [rel, what, doc] of bad) {
  await check(`${rel} refuses ${what}`, () => {
    const validate = validator(ajv, rel); // throws when the schema did not load
    assert.throws(() => validate(doc), /is not valid/, 'was accepted');
  });
}

const good = [
  ['envelope.json', 'no data at all', without(event, 'data')],
  ['envelope.json', 'time with an offset and no fraction', { ...event, time: '2026-11-22T11:00:00+01:00' }],
  ['envelope.json', 'time with nanoseconds', { ...event, time: '2026-11-22T10:00:00.123456789Z' }],
  ['envelope.json', 'tenant _sys', { ...event, tenant: '_sys' }],
  ['envelope.json', 'tenant of 64 characters', { ...event, tenant: `A${'b-_'.repeat(21)}` }],
  ['envelope.json', 'id with punctuation', { ...event, id: 'meter:7f3a/42#1' }],
  ['envelope.json', 'extensions: string, number, boolean', { ...event, traceparent: 'x', partition: 3, replay: true }],
  ['envelope.json', 'extension name of 20 characters', { ...event, [`${'a'.repeat(19)}1`]: 'x' }],
  ['envelope.json', 'subject, dataschema and datacontenttype', { ...event, subject: 's', dataschema: 'https://licensebus.dev/schemas/events/sample.increment.v1.json', datacontenttype: 'application/json' }],
  ['events/sample.increment.v1.json', 'amount -1000000', withData(event, { amount: -1000000 })],
  ['events/sample.increment.v1.json', 'amount 1000000', withData(event, { amount: 1000000 })],
  ['events/sample.increment.v1.json', 'an extension attribute', { ...event, traceparent: '00-ab-cd-01' }],
  ['events/tally.counter_changed.v1.json', 'negative value, request cause', withData(changed, { value: -4, delta: -12, cause: { kind: 'request', id: 'req-1' } })],
  ['events/tally.counter_changed.v1.json', 'value 2^53', withData(changed, { value: 2 ** 53 })],
  ['dead_letter.json', 'payload_base64, no stream', { ...without(dead, 'payload'), stream: null, stream_sequence: null, payload_base64: '//4A' }],
  ['dead_letter.json', 'empty payload', { ...dead, payload: '' }],
  ['error.json', 'details', { error: { code: 'conflict', message: 'x', details: { value: 1 } } }],
];
console.log(`# ${good.length} legitimate edge cases must be accepted`);
for (const [rel, what, doc] of good) {
  await check(`${rel} accepts ${what}`, () => { validator(ajv, rel)(doc); });
}

// ---- 3. the contract matches its sources of truth ------------------------------------
const errorsC = path.join(sourceDir, 'common/errors.c');
await check('error.json codes and header numbers are exactly those of common/errors.c', () => {
  assert.ok(existsSync(errorsC), `${errorsC} is missing`);
  const table = [...readFileSync(errorsC, 'utf8').matchAll(/\{"([a-z_]+)",\s*(\d+),/g)]
    .map(([, code, status]) => [code, status]).filter(([code]) => code !== 'ok');
  assert.ok(table.length >= 10, 'could not read the table of common/errors.c');
  const schema = files.get('error.json');
  assert.deepEqual([...schema.$defs.code.enum].sort(), table.map(([c]) => c).sort());
  assert.deepEqual([...schema.$defs.status.enum].sort(), [...new Set(table.map(([, s]) => s))].sort());
  // The header's documentation says "<code>[/<code>...] <number>" for each one.
  for (const [code, status] of table) {
    assert.match(schema.$defs.status.description, new RegExp(`(^|[ ,/])${code}(/[a-z_]+)* ${status}\\b`),
      `$defs.status maps ${code} to ${status}`);
  }
});

const reference = path.join(sourceDir, '../shared/reference/nats-micro-v1');
await check('discovery/ holds the NATS micro v1 schemas, unchanged', () => {
  for (const name of ['ping', 'info', 'stats']) {
    const rel = `discovery/${name}_response.json`;
    assert.ok(files.has(rel), `${rel} is missing`);
    assert.equal(files.get(rel).$schema, 'http://json-schema.org/draft-07/schema#');
    const ref = path.join(reference, `${name}_response.json`);
    if (existsSync(ref)) {
      assert.equal(readFileSync(path.join(schemaDir, rel), 'utf8'), readFileSync(ref, 'utf8'), `${rel} differs from ${ref}`);
    }
  }
  if (!existsSync(reference)) console.log(`       (no ${reference} here: copies not compared)`);
});

// ---- 4. asyncapi.yaml -------------------------------------------------------------
// JSON Schema 2020-12 is a custom schemaFormat for AsyncAPI 3.0 (the parser
// knows draft-07 and the AsyncAPI schema format). It is registered so the
// parser takes those payloads as they are; the parser does not validate
// custom-format payloads of a 3.0 document, so the check below does, against
// the 2020-12 meta-schema.
const FORMAT_2020 = 'application/schema+json;version=2020-12';
const meta = newAjv2020();
const meta07 = newAjv07();
const parser = new Parser();
parser.registerSchemaParser({
  getMimeTypes: () => [FORMAT_2020],
  async validate(input) {
    if (meta.validateSchema(input.data)) return [];
    return meta.errors.map((e) => ({ message: `JSON Schema 2020-12: ${e.instancePath} ${e.message}`, path: input.path }));
  },
  async parse(input) { return input.data; },
});
const asyncapiFile = path.join(schemaDir, 'asyncapi.yaml');
const { document, diagnostics } = await fromFile(parser, asyncapiFile).parse();

await check('asyncapi.yaml parses (AsyncAPI 3.0.0, local $refs resolved) with no error or warning', () => {
  const serious = diagnostics.filter((d) => d.severity <= 1); // 0 error, 1 warning
  for (const d of diagnostics) console.log(`       diagnostic ${d.severity} ${d.code}: ${d.message} at ${d.path.join('/')}`);
  assert.ok(document, 'no document');
  assert.deepEqual(serious.map((d) => `${d.code}: ${d.message} at ${d.path.join('/')}`), []);
  assert.equal(document.version(), '3.0.0');
});

// The rest needs a document; each check fails on its own if there is none.
const channels = () => document.channels().all();
// A multi-format payload ({schemaFormat, schema}) or a plain AsyncAPI schema.
const payloadJson = (m) => { const j = m.payload()?.json(); return j?.schemaFormat ? j.schema : j; };
const payloadId = (m) => payloadJson(m)?.$id;

await check('info.description states the naming scheme', () => {
  const text = document.info().description();
  for (const s of ['lb.evt.<domain>.<tenant>.<name>', 'LB_<DOMAIN>', 'lb.api.<service>.<endpoint>',
    'queue group `<service>`', 'lb.dlq.<service>', 'LB_DLQ', 'licensebus.<domain>.<name>.v<N>', 'Nats-Msg-Id',
    '$SRV.PING']) {
    assert.ok(text.includes(s), `missing ${s}`);
  }
});

await check('every event, api, error and dead-letter schema is the payload of some message', () => {
  const used = new Set(document.allMessages().all().map(payloadId));
  for (const [rel, schema] of files) {
    if (!/^(events|api|discovery)\/|^(error|dead_letter)\.json$/.test(rel)) continue;
    assert.ok(used.has(schema.$id), `${rel} (${schema.$id}) is in no message`);
  }
});

await check('every message payload (resolved) is a valid schema of its declared schemaFormat', () => {
  const formats = {
    [FORMAT_2020]: ['https://json-schema.org/draft/2020-12/schema', meta],
    'application/schema+json;version=draft-07': ['http://json-schema.org/draft-07/schema#', meta07],
  };
  for (const m of document.allMessages().all()) {
    assert.ok(m.hasPayload(), `message ${m.id()} has no payload`);
    const schema = payloadJson(m);
    if (!schema.$schema) continue; // an inline AsyncAPI-format schema, checked by the parser
    const [uri, validatorOf] = formats[m.schemaFormat()] ?? [];
    assert.equal(schema.$schema, uri, `${m.id()}: schemaFormat ${m.schemaFormat()} for a ${schema.$schema} schema`);
    assert.ok(validatorOf.validateSchema(schema), `${m.id()} (${schema.$id}): ${validatorOf.errorsText(validatorOf.errors)}`);
  }
});

await check('every channel address follows the naming scheme', () => {
  const scheme = [
    /^lb\.evt\.[A-Za-z0-9_-]{1,64}\.(\{tenant\}|_sys)\.[A-Za-z0-9_-]{1,64}$/,
    /^lb\.api\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{1,64}$/,
    /^lb\.dlq\.\{service\}$/,
    /^lb\.adm\.\{service\}\.[a-z_]{1,64}$/,
    /^\$SRV\.(PING|INFO|STATS)(\.\{name\}(\.\{id\})?)?$/,
  ];
  let named = 0;
  for (const ch of channels()) {
    const address = ch.address();
    if (address === null || address === undefined) {
      // A reply inbox: only ever the reply channel of an operation.
      assert.ok(document.operations().all().some((op) => op.reply()?.channel()?.id() === ch.id()),
        `${ch.id()} has no address and is no operation's reply channel`);
      continue;
    }
    named++;
    assert.ok(scheme.some((re) => re.test(address)), `${ch.id()}: ${address}`);
    for (const [, param] of address.matchAll(/\{([^}]+)\}/g)) {
      assert.ok(ch.parameters().has(param), `${address}: parameter ${param} is not declared`);
    }
  }
  const discovery = channels().map((c) => c.address()).filter((a) => a?.startsWith('$SRV.'));
  assert.equal(discovery.length, 9, `$SRV.PING|INFO|STATS with .{name} and .{name}.{id}: ${discovery}`);
  assert.ok(named >= 14);
});

await check('event channels: stream LB_<DOMAIN>, messages whose type and name match the address', () => {
  for (const ch of channels()) {
    const m = /^lb\.evt\.([^.]+)\.[^.]+\.([^.]+)$/.exec(ch.address() ?? '');
    if (!m) continue;
    assert.equal(ch.extensions().get('x-jetstream-stream')?.value(), `LB_${m[1].toUpperCase()}`, ch.address());
    assert.ok(ch.messages().length > 0, `${ch.address()}: no message`);
    for (const msg of ch.messages().all()) {
      const types = payloadJson(msg).allOf?.map((s) => s.properties?.type?.const).filter(Boolean);
      assert.equal(types?.length, 1, `${ch.address()}: payload is no event schema`);
      assert.match(types[0], new RegExp(`^licensebus\\.${m[1]}\\.${m[2]}\\.v[1-9][0-9]*$`), ch.address());
      assert.equal(msg.name(), types[0], `${ch.address()}: message name is the CloudEvents type`);
      assert.deepEqual(msg.headers()?.json()?.required, ['Nats-Msg-Id'], `${ch.address()}: Nats-Msg-Id header`);
    }
  }
  const dlq = channels().find((c) => c.address() === 'lb.dlq.{service}');
  assert.equal(dlq?.extensions().get('x-jetstream-stream')?.value(), 'LB_DLQ');
});

await check('api operations: queue group = service, reply = the reply schema or error.json with its headers', () => {
  let count = 0;
  for (const op of document.operations().all()) {
    const m = /^lb\.api\.([^.]+)\.([^.]+)$/.exec(op.channels().all()[0]?.address() ?? '');
    if (!m) continue;
    count++;
    assert.equal(op.action(), 'receive', op.id());
    assert.equal(op.bindings().get('nats')?.value()?.queue, m[1], `${op.id()}: NATS queue group`);
    const request = op.messages().all().map(payloadId);
    assert.deepEqual(request, [`https://licensebus.dev/schemas/api/${m[1]}.${m[2]}.request.json`], op.id());
    const replies = op.reply()?.messages().all() ?? [];
    assert.deepEqual(replies.map(payloadId), [
      `https://licensebus.dev/schemas/api/${m[1]}.${m[2]}.reply.json`,
      'https://licensebus.dev/schemas/error.json',
    ], `${op.id()}: reply messages (the reply, then the error)`);
    const error = replies.find((r) => payloadId(r).endsWith('/error.json'));
    assert.deepEqual(error.headers()?.json()?.required, ['Nats-Service-Error', 'Nats-Service-Error-Code']);
    assert.deepEqual(error.headers().json().properties['Nats-Service-Error-Code'].enum,
      files.get('error.json').$defs.status.enum);
    for (const r of op.messages().all()) {
      assert.ok(r.headers()?.json()?.properties?.['Lb-Request-Id'], `${op.id()}: Lb-Request-Id header`);
    }
  }
  assert.ok(count >= 2, 'no api operation');
});

await check('operator commands: every instance answers (no queue group), the reply or error.json', () => {
  let count = 0;
  for (const op of document.operations().all()) {
    const m = /^lb\.adm\.\{service\}\.([a-z_]+)$/.exec(op.channels().all()[0]?.address() ?? '');
    if (!m) continue;
    count++;
    assert.equal(op.bindings().get('nats'), undefined, `${op.id()}: no queue group`);
    assert.deepEqual(op.messages().all().map(payloadId),
      [`https://licensebus.dev/schemas/api/admin.${m[1]}.request.json`], op.id());
    assert.deepEqual((op.reply()?.messages().all() ?? []).map(payloadId), [
      `https://licensebus.dev/schemas/api/admin.${m[1]}.reply.json`,
      'https://licensebus.dev/schemas/error.json',
    ], op.id());
  }
  assert.ok(count >= 1, 'no operator command');
});

await check('discovery operations answer with the NATS micro v1 response schemas', () => {
  const want = { PING: 'ping', INFO: 'info', STATS: 'stats' };
  let count = 0;
  for (const op of document.operations().all()) {
    const m = /^\$SRV\.([A-Z]+)/.exec(op.channels().all()[0]?.address() ?? '');
    if (!m) continue;
    count++;
    const ids = op.reply()?.channel()?.messages().all().map(payloadId);
    assert.deepEqual(ids, [`https://nats.io/schemas/micro/v1/${want[m[1]]}_response.json`], op.id());
    assert.equal(op.bindings().get('nats'), undefined, `${op.id()}: no queue group (every instance answers)`);
  }
  assert.equal(count, 9);
});

finish();
