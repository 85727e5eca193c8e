// The contract on its own: every schema compiles in strict mode and accepts
// its examples, known-bad documents are refused, and asyncapi.yaml parses
// with the reference AsyncAPI parser, resolves every schema file and names
// every subject by the scheme.
import { Parser, fromFile } from '@asyncapi/parser';
import path from 'node:path';
import { check, finish, loadAjv, schemaDir, schemaFiles, validator } from './lib.mjs';

const { ajv, ajv07 } = loadAjv();
const files = schemaFiles();

for (const [rel, schema] of files) {
  await check(`${rel} compiles and accepts its examples`, () => {
    const a = rel.startsWith('discovery/') ? ajv07 : ajv;
    const validate = a.getSchema(schema.$id ?? rel);
    if (!validate) throw new Error('did not compile');
    if (!rel.startsWith('discovery/') && !(schema.examples?.length > 0)) throw new Error('no examples');
    for (const ex of schema.examples ?? []) {
      if (!validate(ex)) throw new Error(JSON.stringify(validate.errors));
    }
  });
}

const event = {
  specversion: '1.0', id: '01JD8Z3T2V6Q9R8S7T6V5W4X41', source: '/platform/meter',
  type: 'licensebus.sample.increment.v1', time: '2026-11-22T10:00:00Z', tenant: 'acme',
  data: { counter: 'scans', amount: 3 },
};
const bad = [
  ['envelope.json', 'missing id', { ...event, id: undefined }],
  ['envelope.json', 'empty id', { ...event, id: '' }],
  ['envelope.json', 'id with a space', { ...event, id: 'a b' }],
  ['envelope.json', 'specversion 0.3', { ...event, specversion: '0.3' }],
  ['envelope.json', 'missing time', { ...event, time: undefined }],
  ['envelope.json', 'time without zone', { ...event, time: '2026-11-22T10:00:00' }],
  ['envelope.json', 'tenant with a dot', { ...event, tenant: 'ac.me' }],
  ['envelope.json', 'tenant starting with _', { ...event, tenant: '_acme' }],
  ['envelope.json', 'type outside the scheme', { ...event, type: 'com.example.thing' }],
  ['envelope.json', 'data as an array', { ...event, data: [1] }],
  ['envelope.json', 'extension name with capitals', { ...event, Trace: 'x' }],
  ['envelope.json', 'extension with an object value', { ...event, trace: { a: 1 } }],
  ['envelope.json', 'datacontenttype text/plain', { ...event, datacontenttype: 'text/plain' }],
  ['events/sample.increment.v1.json', 'amount 0', { ...event, data: { counter: 'x', amount: 0 } }],
  ['events/sample.increment.v1.json', 'amount as a string', { ...event, data: { counter: 'x', amount: '1' } }],
  ['events/sample.increment.v1.json', 'unknown data member', { ...event, data: { counter: 'x', amount: 1, extra: 1 } }],
  ['events/clock.tick.v1.json', 'tick for a tenant', { ...event, type: 'licensebus.clock.tick.v1', data: { now: '2026-11-22T10:00:00Z' } }],
  ['error.json', 'unknown code', { error: { code: 'oops', message: 'x' } }],
  ['error.json', 'empty message', { error: { code: 'internal', message: '' } }],
  ['dead_letter.json', 'both payload forms', { service: 'tally', reason: { code: 'internal', message: 'x' }, subject: 's', stream: null, stream_sequence: null, deliveries: 1, received_at: '2026-11-22T10:00:00Z', event_id: null, payload: 'a', payload_base64: 'YQ==' }],
  ['api/tally.add.request.json', 'unknown member', { tenant: 'acme', counter: 'c', amount: 1, extra: true }],
  ['api/tally.add.request.json', 'amount past the limit', { tenant: 'acme', counter: 'c', amount: 1000001 }],
];
for (const [rel, what, doc] of bad) {
  await check(`${rel} refuses ${what}`, () => {
    const clean = JSON.parse(JSON.stringify(doc)); // drops the undefined members
    let refused = false;
    try { validator(ajv, rel)(clean); } catch { refused = true; }
    if (!refused) throw new Error('was accepted');
  });
}

const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, path.join(schemaDir, 'asyncapi.yaml')).parse();

await check('asyncapi.yaml parses without errors or warnings', () => {
  const serious = diagnostics.filter((d) => d.severity <= 1);
  if (!document || serious.length > 0) throw new Error(JSON.stringify(serious, null, 1));
});

await check('every channel address follows the naming scheme', () => {
  const scheme = [
    /^lb\.evt\.[A-Za-z0-9_-]+\.(\{tenant\}|_sys)\.[A-Za-z0-9_-]+$/,
    /^lb\.api\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/,
    /^lb\.dlq\.\{service\}$/,
    /^\$SRV\.(PING|INFO|STATS)$/,
  ];
  for (const ch of document.channels()) {
    const address = ch.address();
    if (address === null) continue; // reply inboxes
    if (!scheme.some((re) => re.test(address))) throw new Error(`${ch.id()}: ${address}`);
  }
});

await check('every event and api schema is the payload of some message, resolved', () => {
  const titles = new Set();
  for (const m of document.allMessages()) {
    const payload = m.payload();
    if (payload?.title()) titles.add(payload.title());
  }
  for (const [rel, schema] of files) {
    if (!/^(events|api)\//.test(rel) || rel === 'api/tally.counter.json') continue;
    if (!titles.has(schema.title)) throw new Error(`${rel} (${schema.title}) is in no message`);
  }
});

await check('event channels carry messages whose type matches their address', () => {
  for (const ch of document.channels()) {
    const m = /^lb\.evt\.([^.]+)\.[^.]+\.([^.]+)$/.exec(ch.address() ?? '');
    if (!m) continue;
    for (const msg of ch.messages()) {
      const type = msg.payload().json()?.properties?.type?.const;
      if (type !== `licensebus.${m[1]}.${m[2]}.v1`) throw new Error(`${ch.address()} carries ${type}`);
    }
  }
});

finish();
