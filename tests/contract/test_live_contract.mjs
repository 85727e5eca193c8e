// The contract against the real thing: a real nats-server and the real
// lb-tally. An independent client (nats.js) discovers the service, and every
// reply, event and dead letter the service really produces is validated
// against the files in schemas/ (and the discovery replies against the NATS
// reference schemas in ../shared/reference when present).
import { connect, StringCodec } from 'nats';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import Ajv07 from 'ajv';
import { check, finish, loadAjv, sourceDir, startNats, startService, validator } from './lib.mjs';

const sc = StringCodec();
const { ajv, ajv07 } = loadAjv();

const reference = path.join(sourceDir, '../shared/reference/nats-micro-v1');
// The reference copy when it is beside the repository (compiled on its own,
// so it is really that file that judges), else our identical copy.
const discoveryRef = (name) => {
  const file = path.join(reference, `${name}_response.json`);
  if (!existsSync(file)) return ajv07.getSchema(`https://nats.io/schemas/micro/v1/${name}_response.json`);
  const own = new Ajv07({ strict: false, allErrors: true });
  return own.compile(JSON.parse(readFileSync(file, 'utf8')));
};

const nats = await startNats();
let tally;
let nc;
try {
  tally = await startService('tally', nats);
  nc = await connect({ servers: nats.url });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();

  const request = async (endpoint, body) => {
    const data = typeof body === 'string' ? body : JSON.stringify(body);
    const m = await nc.request(`lb.api.tally.${endpoint}`, sc.encode(data), { timeout: 10000 });
    return { json: JSON.parse(sc.decode(m.data)), headers: m.headers };
  };

  const streamMessages = async (stream, prefix) => {
    const info = await jsm.streams.info(stream);
    const out = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      try {
        const m = await jsm.streams.getMessage(stream, { seq });
        if (m.subject.startsWith(prefix)) out.push(m);
      } catch { /* deleted */ }
    }
    return out;
  };
  const waitMessages = async (stream, prefix, count) => {
    const deadline = Date.now() + 20000;
    for (;;) {
      const msgs = await streamMessages(stream, prefix);
      if (msgs.length >= count) return msgs;
      if (Date.now() > deadline) throw new Error(`${stream} has ${msgs.length} of ${count} on ${prefix}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  await check('nats.js services client discovers tally (ping, info, stats)', async () => {
    const svc = nc.services.client();
    const pings = [];
    for await (const p of await svc.ping('tally')) pings.push(p);
    assert.equal(pings.length, 1);
    assert.equal(pings[0].name, 'tally');
    const infos = [];
    for await (const i of await svc.info('tally')) infos.push(i);
    assert.deepEqual(infos[0].endpoints.map((e) => e.subject), ['lb.api.tally.add', 'lb.api.tally.get']);
    const stats = [];
    for await (const s of await svc.stats('tally', pings[0].id)) stats.push(s);
    assert.equal(stats[0].endpoints.length, 2);
  });

  for (const [verb, schemaName] of [['PING', 'ping'], ['INFO', 'info'], ['STATS', 'stats']]) {
    await check(`$SRV.${verb} replies validate against the reference ${schemaName}_response schema`, async () => {
      const validate = discoveryRef(schemaName);
      const ping = JSON.parse(sc.decode((await nc.request('$SRV.PING.tally', sc.encode(''))).data));
      for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.tally`, `$SRV.${verb}.tally.${ping.id}`]) {
        const reply = JSON.parse(sc.decode((await nc.request(subject, sc.encode(''), { timeout: 5000 })).data));
        assert.ok(validate(reply), `${subject}: ${JSON.stringify(validate.errors)}`);
      }
    });
  }

  const addReply = validator(ajv, 'api/tally.add.reply.json');
  const getReply = validator(ajv, 'api/tally.get.reply.json');
  const errorReply = validator(ajv, 'error.json');

  await check('add and get replies validate against their schemas', async () => {
    const add = { tenant: 'acme', counter: 'scans', amount: 5 };
    validator(ajv, 'api/tally.add.request.json')(add);
    addReply((await request('add', add)).json);
    addReply((await request('add', { ...add, amount: -2 })).json);
    const got = (await request('get', { tenant: 'acme', counter: 'scans' })).json;
    getReply(got);
    assert.equal(got.value, 3);
  });

  const errorCases = [
    ['add', 'not json', 'invalid_request', '400'],
    ['add', { tenant: 'acme', counter: 'x' }, 'invalid_request', '400'],
    ['add', { tenant: 'acme', counter: 'x', amount: 0 }, 'invalid_request', '400'],
    ['add', '{"tenant":"acme","counter":"x","amount":1152921504606846976}', 'invalid_request', '400'],
    ['add', '{"tenant":"acme","tenant":"b","counter":"x","amount":1}', 'invalid_request', '400'],
    ['get', `{"tenant":"acme","counter":"x","pad":"${'x'.repeat(65537)}"}`, 'too_large', '413'],
    ['get', { tenant: 'acme', counter: 'missing' }, 'not_found', '404'],
  ];
  for (const [endpoint, body, code, status] of errorCases) {
    const label = typeof body === 'string' ? body.slice(0, 40) : JSON.stringify(body);
    await check(`${endpoint} ${label} -> ${code} with NATS service error headers`, async () => {
      const { json, headers: h } = await request(endpoint, body);
      errorReply(json);
      assert.equal(json.error.code, code);
      assert.equal(h.get('Nats-Service-Error-Code'), status);
      assert.equal(h.get('Nats-Service-Error'), json.error.message);
    });
  }

  await check('emitted counter_changed events validate, with Nats-Msg-Id = id', async () => {
    const msgs = await waitMessages('LB_TALLY', 'lb.evt.tally.acme.counter_changed', 2);
    const validate = validator(ajv, 'events/tally.counter_changed.v1.json');
    for (const m of msgs) {
      const event = JSON.parse(sc.decode(m.data));
      validate(event);
      assert.equal(m.header.get('Nats-Msg-Id'), event.id);
    }
  });

  await check('a published increment event is applied', async () => {
    const event = {
      specversion: '1.0', id: '01JLIVE0000000000000000001', source: '/tests/contract',
      type: 'licensebus.sample.increment.v1', time: new Date().toISOString(), tenant: 'acme',
      data: { counter: 'live', amount: 9 },
    };
    validator(ajv, 'events/sample.increment.v1.json')(event);
    await js.publish('lb.evt.sample.acme.increment', sc.encode(JSON.stringify(event)), { msgID: event.id });
    const deadline = Date.now() + 20000;
    for (;;) {
      const { json } = await request('get', { tenant: 'acme', counter: 'live' });
      if (json.value === 9) break;
      if (Date.now() > deadline) throw new Error(`counter is ${JSON.stringify(json)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  await check('refused events become dead letters that validate', async () => {
    const wrongTenant = {
      specversion: '1.0', id: '01JLIVE0000000000000000002', source: '/tests/contract',
      type: 'licensebus.sample.increment.v1', time: new Date().toISOString(), tenant: 'other',
      data: { counter: 'x', amount: 1 },
    };
    await js.publish('lb.evt.sample.acme.increment', sc.encode('{not json'));
    await js.publish('lb.evt.sample.acme.increment', sc.encode(JSON.stringify(wrongTenant)));
    const msgs = await waitMessages('LB_DLQ', 'lb.dlq.tally', 2);
    const validate = validator(ajv, 'dead_letter.json');
    const codes = msgs.map((m) => { const d = JSON.parse(sc.decode(m.data)); validate(d); return d.reason.code; });
    assert.deepEqual(codes.sort(), ['forbidden', 'invalid_request']);
  });

  await check('SIGTERM stops the service with exit code 0', async () => {
    const { code } = await tally.stop();
    tally = null;
    assert.equal(code, 0);
  });
} finally {
  await nc?.close();
  if (tally) await tally.stop();
  nats.stop();
}
finish();
