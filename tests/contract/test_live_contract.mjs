// The contract against the real thing: a real nats-server (JetStream) and the
// real lb-tally, seen only from the outside by an independent client
// (nats.js). Every discovery reply, request reply, emitted event and dead
// letter the service really produces is validated against schemas/ (discovery
// against NATS's reference schemas in ../shared/reference when present).
//
//  a) discovery: the nats.js services client finds `tally`; raw $SRV.PING,
//     INFO and STATS replies (bare, .tally, .tally.<id>) validate; the
//     endpoints are the ones asyncapi.yaml lists, in queue group tally;
//  b) requests: add/get replies validate; bad requests get error.json bodies
//     with the expected code and Nats-Service-Error(-Code) headers; STATS
//     counts them;
//  c) events: every counter_changed validates, has Nats-Msg-Id = id and
//     follows the subject/type/tenant rules; a published increment is applied
//     exactly once; refused events arrive on lb.dlq.tally as valid dead letters;
//  d) SIGTERM stops the service with exit code 0;
//  e) restarted on the virtual clock, a clock tick makes the idle sweep emit
//     valid counter_idle events; SIGTERM again exits 0.
// Then nats-server is stopped and its temporary directory removed.
import { connect, headers as natsHeaders, StringCodec } from 'nats';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import {
  addressPattern, check, finish, loadAjv, newAjv07, schemaDir, serviceBinary, sourceDir, spawnService,
  startNats, validator, waitFor,
} from './lib.mjs';

const sc = StringCodec();
const { ajv, ajv07 } = loadAjv();
const V = (rel) => validator(ajv, rel);
const STATUS = {
  invalid_request: '400', too_large: '413', not_found: '404', conflict: '409', forbidden: '403',
  unsupported: '501', unavailable: '503', out_of_memory: '500', io_error: '500', internal: '500',
};

// The discovery schemas: NATS's reference copy beside the repository when it
// is there (compiled on its own, so that file really is the judge), else ours.
const reference = path.join(sourceDir, '../shared/reference/nats-micro-v1');
function discoverySchema(kind) {
  const file = path.join(reference, `${kind}_response.json`);
  if (existsSync(file)) return newAjv07().compile(JSON.parse(readFileSync(file, 'utf8')));
  return ajv07.getSchema(`https://nats.io/schemas/micro/v1/${kind}_response.json`);
}
console.log(`# discovery schemas from ${existsSync(reference) ? reference : path.join(schemaDir, 'discovery')}`);

// The subjects asyncapi.yaml lists, to check that what runs is what is documented.
const asyncapi = YAML.parse(readFileSync(path.join(schemaDir, 'asyncapi.yaml'), 'utf8'));
const documented = Object.values(asyncapi.channels).map((c) => c.address).filter(Boolean);
const isDocumented = (subject) => documented.some((a) => addressPattern(a).test(subject));

const json = (m) => JSON.parse(sc.decode(m.data));
const ulidish = (n) => `01LIVE${String(Date.now()).slice(-8)}${String(n).padStart(12, '0')}`;

let nats;
let tally;
let nc;

async function main() {
  // ---- start: nats-server, then the service ----------------------------------
  if (!(await check('nats-server starts with JetStream on a free loopback port', async () => {
    nats = await startNats();
    console.log(`       ${nats.file} on ${nats.url}, store ${nats.dir}`);
  }))) return;

  let exe;
  if (!(await check('lb-tally is built', () => { exe = serviceBinary('tally'); console.log(`       ${exe}`); }))) return;

  nc = await connect({ servers: nats.url, name: 'licensebus-contract-tests' });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  let instanceId;

  const startTally = async (env = {}) => {
    tally = await spawnService('tally', nats, env);
    // Ready when it answers discovery; short requests, bounded wait.
    const ping = await waitFor('$SRV.PING.tally to answer', async () => {
      if (!tally.running()) throw new Error(`lb-tally exited (${tally.proc.exitCode}): ${tally.log()}`);
      try { return json(await nc.request('$SRV.PING.tally', sc.encode(''), { timeout: 250 })); } catch { return null; }
    }, 20000);
    instanceId = ping.id;
  };

  if (!(await check('lb-tally starts and answers $SRV.PING.tally within 20 s', async () => {
    await startTally();
    console.log(`       instance ${instanceId}`);
  }))) return;

  await check('the service created streams LB_SAMPLE, LB_TALLY and LB_DLQ for lb.evt.<domain>.> and lb.dlq.>', async () => {
    for (const [stream, subject] of [['LB_SAMPLE', 'lb.evt.sample.>'], ['LB_TALLY', 'lb.evt.tally.>'], ['LB_DLQ', 'lb.dlq.>']]) {
      const info = await jsm.streams.info(stream);
      assert.deepEqual(info.config.subjects, [subject], stream);
    }
  });

  // Ordered consumers see everything tally emits and dead-letters from now on.
  const collect = async (stream, filter) => {
    const consumer = await js.consumers.get(stream, { filterSubjects: filter });
    const iter = await consumer.consume();
    const msgs = [];
    (async () => { for await (const m of iter) msgs.push(m); })().catch(() => {});
    return { msgs, stop: () => iter.stop() };
  };
  const emitted = await collect('LB_TALLY', 'lb.evt.tally.>');
  const deadLetters = await collect('LB_DLQ', 'lb.dlq.tally');

  // ---- a) discovery ---------------------------------------------------------------
  await check('nats.js services client discovers tally (ping, info, stats)', async () => {
    const client = nc.services.client();
    const all = async (it) => { const out = []; for await (const x of await it) out.push(x); return out; };
    const pings = await all(client.ping('tally'));
    assert.deepEqual(pings.map((p) => [p.name, p.id]), [['tally', instanceId]]);
    const infos = await all(client.info('tally', instanceId));
    assert.equal(infos.length, 1);
    assert.ok(infos[0].description, 'INFO has a description');
    assert.deepEqual(infos[0].endpoints.map((e) => [e.name, e.subject, e.queue_group]),
      [['add', 'lb.api.tally.add', 'tally'], ['get', 'lb.api.tally.get', 'tally']]);
    const stats = await all(client.stats('tally'));
    assert.deepEqual(stats[0].endpoints.map((e) => e.name), ['add', 'get']);
  });

  for (const [verb, kind] of [['PING', 'ping'], ['INFO', 'info'], ['STATS', 'stats']]) {
    await check(`raw $SRV.${verb}, $SRV.${verb}.tally and $SRV.${verb}.tally.<id> validate against ${kind}_response`, async () => {
      const validate = discoverySchema(kind);
      for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.tally`, `$SRV.${verb}.tally.${instanceId}`]) {
        assert.ok(isDocumented(subject), `${subject} is not in asyncapi.yaml`);
        const reply = json(await nc.request(subject, sc.encode(''), { timeout: 5000 }));
        assert.ok(validate(reply), `${subject}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(reply)}`);
        assert.equal(reply.id, instanceId);
      }
    });
  }

  await check('INFO endpoints are documented in asyncapi.yaml, with existing request/reply schemas', async () => {
    const info = json(await nc.request(`$SRV.INFO.tally.${instanceId}`, sc.encode(''), { timeout: 5000 }));
    for (const ep of info.endpoints) {
      assert.ok(isDocumented(ep.subject), `${ep.subject} is not in asyncapi.yaml`);
      const op = Object.values(asyncapi.operations).find((o) =>
        asyncapi.channels[o.channel.$ref.split('/').pop()].address === ep.subject);
      assert.equal(op?.bindings?.nats?.queue, ep.queue_group, `${ep.subject}: queue group`);
      for (const key of ['request_schema', 'reply_schema']) {
        const rel = ep.metadata?.[key];
        if (rel) assert.ok(existsSync(path.join(schemaDir, rel)), `${ep.name}.${key}: schemas/${rel} is missing`);
      }
    }
  });

  // ---- b) requests ------------------------------------------------------------------
  const counts = { add: { requests: 0, errors: 0 }, get: { requests: 0, errors: 0 } };
  const request = async (endpoint, body, requestId) => {
    const data = typeof body === 'string' ? sc.encode(body) : body instanceof Uint8Array ? body : sc.encode(JSON.stringify(body));
    const opts = { timeout: 10000 };
    if (requestId) { opts.headers = natsHeaders(); opts.headers.set('Lb-Request-Id', requestId); }
    const m = await nc.request(`lb.api.tally.${endpoint}`, data, opts);
    const reply = json(m);
    counts[endpoint].requests++;
    if (reply.error) counts[endpoint].errors++;
    return { reply, headers: m.headers };
  };
  const adds = []; // [request id, request, reply] of every add that succeeded

  await check('add and get replies validate against api/tally.{add,get}.reply.json', async () => {
    const steps = [
      [{ tenant: 'acme', counter: 'scans', amount: 5 }, 5, 1],
      [{ tenant: 'acme', counter: 'scans', amount: -2 }, 3, 2],
      [{ tenant: 'Globex-2', counter: 'seats_used', amount: 1000000 }, 1000000, 1],
      [{ tenant: '_sys', counter: 'x', amount: -1000000 }, -1000000, 1],
    ];
    for (const [i, [body, value, version]] of steps.entries()) {
      V('api/tally.add.request.json')(body, 'the request');
      const id = `contract-add-${i}`;
      const { reply, headers } = await request('add', body, id);
      V('api/tally.add.reply.json')(reply, 'add reply');
      assert.deepEqual(reply, { tenant: body.tenant, counter: body.counter, value, version });
      assert.equal(headers?.get('Nats-Service-Error-Code') || '', '', 'no error header on success');
      adds.push([id, body, reply]);
    }
    const get = { tenant: 'acme', counter: 'scans' };
    V('api/tally.get.request.json')(get, 'the request');
    const { reply } = await request('get', get);
    V('api/tally.get.reply.json')(reply, 'get reply');
    assert.deepEqual(reply, { tenant: 'acme', counter: 'scans', value: 3, version: 2 });
  });

  await check('a request of exactly 65536 bytes is accepted', async () => {
    const base = JSON.stringify({ tenant: 'acme', counter: 'big', amount: 1 });
    const body = base.slice(0, -1) + ' '.repeat(65536 - base.length) + '}';
    assert.equal(Buffer.byteLength(body), 65536);
    const { reply } = await request('add', body, 'contract-add-big');
    V('api/tally.add.reply.json')(reply, 'add reply');
    adds.push(['contract-add-big', JSON.parse(body), reply]);
  });

  const tooBig = (() => {
    const base = JSON.stringify({ tenant: 'acme', counter: 'x' });
    return base.slice(0, -1) + ' '.repeat(65537 - base.length) + '}';
  })();
  const errorCases = [
    ['add', 'not JSON', 'not json', 'invalid_request'],
    ['add', 'an empty body', '', 'invalid_request'],
    ['add', 'a JSON array', '[1]', 'invalid_request'],
    ['add', 'a missing member (amount)', { tenant: 'acme', counter: 'x' }, 'invalid_request'],
    ['add', 'amount 0', { tenant: 'acme', counter: 'x', amount: 0 }, 'invalid_request'],
    ['add', 'amount 2^60', '{"tenant":"acme","counter":"x","amount":1152921504606846976}', 'invalid_request'],
    ['add', 'amount 1000001', { tenant: 'acme', counter: 'x', amount: 1000001 }, 'invalid_request'],
    ['add', 'amount 1.5', { tenant: 'acme', counter: 'x', amount: 1.5 }, 'invalid_request'],
    // (JSON.parse keeps the last duplicate, so the schema cannot see this one.)
    ['add', 'a duplicate key', '{"tenant":"acme","tenant":"evil","counter":"x","amount":1}', 'invalid_request', false],
    ['add', 'an unknown member', { tenant: 'acme', counter: 'x', amount: 1, extra: 1 }, 'invalid_request'],
    ['add', 'a bad tenant', { tenant: 'a.b', counter: 'x', amount: 1 }, 'invalid_request'],
    ['add', 'a bad counter', { tenant: 'acme', counter: 'X!', amount: 1 }, 'invalid_request'],
    ['add', 'a 65537-byte body', tooBig, 'too_large'],
    ['get', 'a 65537-byte body', tooBig, 'too_large'],
    ['get', 'an unknown counter', { tenant: 'acme', counter: 'missing' }, 'not_found'],
    ['get', 'a missing member (counter)', { tenant: 'acme' }, 'invalid_request'],
  ];
  for (const [endpoint, what, body, code, schemaSees = true] of errorCases) {
    await check(`${endpoint} with ${what} -> ${code} (${STATUS[code]}), error.json and service error headers`, async () => {
      // Whatever parses as JSON must also be refused by the request schema.
      let parsed;
      try { parsed = typeof body === 'string' ? JSON.parse(body) : body; } catch { parsed = undefined; }
      if (parsed !== undefined && code === 'invalid_request' && schemaSees) {
        assert.throws(() => V(`api/tally.${endpoint}.request.json`)(parsed), /is not valid/, 'the request schema accepts it');
      }
      if (typeof body === 'string' && body.length > 65536) assert.equal(Buffer.byteLength(body), 65537);
      const { reply, headers } = await request(endpoint, body);
      V('error.json')(reply, 'error reply');
      assert.equal(reply.error.code, code, reply.error.message);
      assert.equal(headers?.get('Nats-Service-Error-Code'), STATUS[code]);
      assert.equal(headers?.get('Nats-Service-Error'), reply.error.message);
    });
  }

  await check('STATS counts every request and error per endpoint', async () => {
    const stats = json(await nc.request(`$SRV.STATS.tally.${instanceId}`, sc.encode(''), { timeout: 5000 }));
    for (const ep of stats.endpoints) {
      assert.equal(ep.num_requests, counts[ep.name].requests, `${ep.name}.num_requests`);
      assert.equal(ep.num_errors, counts[ep.name].errors, `${ep.name}.num_errors`);
      if (ep.num_errors > 0) assert.ok(ep.last_error, `${ep.name}.last_error`);
    }
  });

  // ---- c) events ----------------------------------------------------------------------
  const validateChanged = V('events/tally.counter_changed.v1.json');
  const checkEvent = (m, validate) => {
    const event = validate(json(m), `event ${m.subject} #${m.seq}`);
    assert.equal(m.headers?.get('Nats-Msg-Id'), event.id, `Nats-Msg-Id of ${event.id}`);
    const [, , domain, tenant, name] = m.subject.split('.');
    assert.equal(event.tenant, tenant, 'tenant attribute = subject token');
    assert.equal(event.type, `licensebus.${domain}.${name}.v1`, 'type from the subject');
    assert.ok(isDocumented(m.subject), `${m.subject} is not in asyncapi.yaml`);
    return event;
  };
  const changes = () => emitted.msgs.filter((m) => m.subject.endsWith('.counter_changed'));

  await check('every add emitted one counter_changed that validates, with Nats-Msg-Id = id and the request as cause', async () => {
    await waitFor(`${adds.length} counter_changed events`, () => changes().length >= adds.length);
    const events = changes().map((m) => checkEvent(m, validateChanged));
    assert.equal(events.length, adds.length, 'one event per successful add, no more');
    for (const [id, body, reply] of adds) {
      const e = events.find((x) => x.data.cause.id === id);
      assert.ok(e, `no event caused by request ${id}`);
      assert.equal(e.data.cause.kind, 'request');
      assert.deepEqual([e.tenant, e.data.counter, e.data.value, e.data.delta, e.data.version],
        [reply.tenant, reply.counter, reply.value, body.amount, reply.version]);
    }
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, 'ids are unique');
  });

  const increment = (n, tenant, data, extra = {}) => ({
    specversion: '1.0', id: ulidish(n), source: '/tests/contract', type: 'licensebus.sample.increment.v1',
    time: new Date().toISOString(), tenant, data, ...extra,
  });
  const live = increment(1, 'acme', { counter: 'live', amount: 9 });
  const getValue = async (tenant, counter) => (await request('get', { tenant, counter })).reply.value;

  await check('a published sample.increment is applied once, announced with the event as cause', async () => {
    V('events/sample.increment.v1.json')(live, 'the increment');
    const subject = 'lb.evt.sample.acme.increment';
    assert.ok(isDocumented(subject));
    const ack = await js.publish(subject, sc.encode(JSON.stringify(live)), { msgID: live.id });
    assert.equal(ack.duplicate, false);
    await waitFor('get to show the increment', async () => (await getValue('acme', 'live')) === 9);
    const again = await js.publish(subject, sc.encode(JSON.stringify(live)), { msgID: live.id });
    assert.equal(again.duplicate, true, 'JetStream drops the same Nats-Msg-Id');
    const e = await waitFor('its counter_changed', () =>
      changes().map((m) => json(m)).find((x) => x.data.cause.kind === 'event' && x.data.cause.id === live.id));
    assert.deepEqual([e.tenant, e.data.counter, e.data.value, e.data.delta, e.data.version], ['acme', 'live', 9, 9, 1]);
  });

  // Refused events: each must come back once on lb.dlq.tally, found by its
  // stream sequence. The same event again without Nats-Msg-Id (so JetStream
  // keeps it) must be recognised by its id and change nothing.
  const refused = [
    ['not JSON', 'lb.evt.sample.acme.increment', sc.encode('{not json'), {}, 'invalid_request', null],
    ['not UTF-8', 'lb.evt.sample.acme.increment', Uint8Array.from([0xff, 0xfe, 0x00, 0x7b]), {}, 'invalid_request', null],
    ...(() => {
      const wrongTenant = increment(2, 'other', { counter: 'live', amount: 1 });
      const badData = increment(3, 'acme', { counter: 'live', amount: 0 });
      const unknownType = increment(4, 'acme', { counter: 'live', amount: 1 }, { type: 'licensebus.sample.decrement.v1' });
      const wrongMsgId = increment(5, 'acme', { counter: 'live', amount: 1 });
      const reused = { ...live, data: { counter: 'live', amount: 2 } };
      const enc = (e) => sc.encode(JSON.stringify(e));
      return [
        ['tenant attribute other than the subject token', 'lb.evt.sample.acme.increment', enc(wrongTenant), { msgID: wrongTenant.id }, 'forbidden', wrongTenant.id],
        ['data against its schema (amount 0)', 'lb.evt.sample.acme.increment', enc(badData), { msgID: badData.id }, 'invalid_request', badData.id],
        ['a type the service does not handle', 'lb.evt.sample.acme.decrement', enc(unknownType), { msgID: unknownType.id }, 'unsupported', unknownType.id],
        ['Nats-Msg-Id other than the id', 'lb.evt.sample.acme.increment', enc(wrongMsgId), { msgID: 'something-else' }, 'invalid_request', wrongMsgId.id],
        ['an applied id with another payload', 'lb.evt.sample.acme.increment', enc(reused), {}, 'conflict', live.id],
      ];
    })(),
  ];
  const published = [];
  await check(`${refused.length} refused events and a replayed one are published`, async () => {
    const replay = await js.publish('lb.evt.sample.acme.increment', sc.encode(JSON.stringify(live)));
    assert.equal(replay.duplicate, false, 'without Nats-Msg-Id the stream keeps it');
    for (const [what, subject, bytes, opts, code, eventId] of refused) {
      const ack = await js.publish(subject, bytes, opts); // (decrement is deliberately undocumented)
      published.push({ what, subject, bytes, code, eventId, stream: ack.stream, seq: ack.seq });
    }
    // A last, valid increment: once it is applied, everything before it was handled.
    const last = increment(6, 'acme', { counter: 'sentinel', amount: 1 });
    await js.publish('lb.evt.sample.acme.increment', sc.encode(JSON.stringify(last)), { msgID: last.id });
    await waitFor('the last increment to be applied', async () => (await getValue('acme', 'sentinel')) === 1);
  });

  await check('the replayed event id changed nothing', async () => {
    assert.equal(await getValue('acme', 'live'), 9);
    assert.equal(changes().filter((m) => json(m).data.cause.id === live.id).length, 1);
  });

  for (const p of published) {
    await check(`dead letter for ${p.what}: valid, ${p.code}, original bytes, stream position`, async () => {
      const m = await waitFor('its dead letter', () =>
        deadLetters.msgs.find((x) => { const d = json(x); return d.stream === p.stream && d.stream_sequence === p.seq; }));
      const d = V('dead_letter.json')(json(m), 'dead letter');
      assert.equal(m.subject, 'lb.dlq.tally');
      assert.equal(d.service, 'tally');
      assert.equal(d.reason.code, p.code, d.reason.message);
      assert.equal(d.subject, p.subject);
      assert.equal(d.deliveries, 1);
      assert.equal(d.event_id, p.eventId);
      const bytes = d.payload !== undefined ? Buffer.from(d.payload, 'utf8') : Buffer.from(d.payload_base64, 'base64');
      assert.ok(Buffer.from(p.bytes).equals(bytes), 'payload is the original bytes');
      if (p.what === 'not UTF-8') assert.ok(d.payload_base64 !== undefined, 'payload_base64 for non-UTF-8');
    });
  }

  await check('one dead letter per refused event, nothing else', async () => {
    assert.equal(deadLetters.msgs.length, published.length,
      deadLetters.msgs.map((m) => json(m).reason.message).join('; '));
  });

  // ---- d) shutdown ----------------------------------------------------------------------
  if (!(await check('SIGTERM stops the service with exit code 0', async () => {
    const { code, signal } = await tally.stop();
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, tally.log());
  }))) return;

  // ---- e) the virtual clock and the idle sweep -----------------------------------------
  const latest = new Map(); // tenant/counter -> its last counter_changed event
  for (const m of changes()) { const e = json(m); latest.set(`${e.tenant}/${e.data.counter}`, e); }

  if (!(await check('lb-tally restarts on the virtual clock (LB_CLOCK=virtual) and creates LB_CLOCK', async () => {
    await startTally({ LB_CLOCK: 'virtual' });
    const info = await jsm.streams.info('LB_CLOCK');
    assert.deepEqual(info.config.subjects, ['lb.evt.clock.>']);
  }))) return;

  await check('a clock tick makes the sweep emit one valid counter_idle per counter', async () => {
    const lastChange = Math.max(...[...latest.values()].map((e) => Date.parse(e.time)));
    const now = new Date(lastChange + 2 * 3600 * 1000).toISOString(); // past the 1 h default
    const tick = {
      specversion: '1.0', id: ulidish(100), source: '/tests/contract', type: 'licensebus.clock.tick.v1',
      time: now, tenant: '_sys', data: { now },
    };
    V('events/clock.tick.v1.json')(tick, 'the tick');
    assert.ok(isDocumented('lb.evt.clock._sys.tick'));
    await js.publish('lb.evt.clock._sys.tick', sc.encode(JSON.stringify(tick)), { msgID: tick.id });
    const idles = () => emitted.msgs.filter((m) => m.subject.endsWith('.counter_idle'));
    await waitFor(`${latest.size} counter_idle events`, () => idles().length >= latest.size);
    const validate = V('events/tally.counter_idle.v1.json');
    const seen = new Set();
    for (const m of idles()) {
      const e = checkEvent(m, validate);
      const key = `${e.tenant}/${e.data.counter}`;
      const last = latest.get(key);
      assert.ok(last, `idle event for unknown counter ${key}`);
      assert.ok(!seen.has(key), `two idle events for ${key}`);
      seen.add(key);
      assert.deepEqual([e.data.value, e.data.version], [last.data.value, last.data.version], key);
      assert.equal(Date.parse(e.time), Date.parse(now), `${key}: time is the virtual time of the sweep`);
      assert.ok(Math.abs(Date.parse(e.data.idle_since) - Date.parse(last.time)) <= 1000,
        `${key}: idle_since ${e.data.idle_since} is its last change (${last.time})`);
    }
    assert.equal(seen.size, latest.size);
  });

  await check('SIGTERM stops the service on the virtual clock with exit code 0', async () => {
    const { code, signal } = await tally.stop();
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, tally.log());
  });

  emitted.stop();
  deadLetters.stop();
}

try {
  await main();
} catch (e) {
  await check('the live contract run', () => { throw e; });
} finally {
  await nc?.close().catch(() => {});
  if (tally?.running()) await tally.stop(5000);
  await nats?.stop();
}
finish();
