// Shared by the contract tests: schema loading, a tiny check runner, and the
// real processes (nats-server, a service) the live tests talk to.
import Ajv2020 from 'ajv/dist/2020.js';
import Ajv07 from 'ajv';
import addFormats from 'ajv-formats';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const sourceDir = process.env.LB_SOURCE_DIR ?? path.resolve(import.meta.dirname, '../..');
export const binaryDir = process.env.LB_BINARY_DIR ?? path.join(sourceDir, 'build');
export const schemaDir = path.join(sourceDir, 'schemas');

// ---- checks -----------------------------------------------------------------
let passed = 0;
let failed = 0;

/** Runs one named check; a thrown error counts as a failure. */
export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${e.stack ?? e}`);
  }
}

/** Prints the closing line ctest and CI read, and sets the exit code. */
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

// ---- schemas ------------------------------------------------------------------
function walk(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Every JSON Schema file under schemas/, relative path -> parsed schema. */
export function schemaFiles() {
  return new Map(walk(schemaDir).filter((p) => p.endsWith('.json'))
    .map((p) => [path.relative(schemaDir, p), JSON.parse(readFileSync(p, 'utf8'))]));
}

/** Ajv instances holding every schema: 2020-12 for ours, draft-07 for discovery. */
export function loadAjv() {
  // Strict, except where it fights plain JSON Schema: the dead letter's oneOf
  // names members declared beside it, and union types such as
  // ["string", "null"] are standard.
  const ajv = new Ajv2020({ strict: true, allErrors: true, strictRequired: false,
    allowUnionTypes: true });
  const ajv07 = new Ajv07({ strict: false, allErrors: true });
  addFormats(ajv);
  addFormats(ajv07);
  for (const [rel, schema] of schemaFiles()) {
    (rel.startsWith('discovery/') ? ajv07 : ajv).addSchema(schema, schema.$id ?? rel);
  }
  return { ajv, ajv07 };
}

/** A validator for schemas/<rel>; throws with Ajv's errors when `doc` is invalid. */
export function validator(ajv, rel) {
  const schema = JSON.parse(readFileSync(path.join(schemaDir, rel), 'utf8'));
  const validate = ajv.getSchema(schema.$id) ?? ajv.compile(schema);
  return (doc, what = rel) => {
    if (!validate(doc)) {
      throw new Error(`${what} is not valid against ${rel}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(doc)}`);
    }
  };
}

// ---- processes -----------------------------------------------------------------
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function waitFor(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** Starts nats-server with JetStream in a temporary directory. */
export async function startNats() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-contract-'));
  const port = await freePort();
  const conf = path.join(dir, 'nats.conf');
  writeFileSync(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: "${dir}/js" }\n`);
  const proc = spawn(process.env.LB_NATS_SERVER ?? 'nats-server', ['-c', conf], { stdio: 'ignore' });
  await waitFor('nats-server', () => portOpen(port));
  return {
    dir, port, url: `nats://127.0.0.1:${port}`,
    stop() { proc.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); },
  };
}

/** Starts build/lb-<name> against `nats`; resolves when /readyz says 200. */
export async function startService(name, nats, env = {}) {
  const exe = path.join(binaryDir, `lb-${name}`);
  if (!existsSync(exe)) throw new Error(`${exe} is missing: build first (scripts/build.sh)`);
  const httpPort = await freePort();
  const proc = spawn(exe, [], {
    env: { ...process.env, LB_NATS_URL: nats.url, LB_DATA_DIR: path.join(nats.dir, 'data'),
      LB_HTTP_PORT: String(httpPort), LB_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  await waitFor(`lb-${name} ready`, async () => {
    if (proc.exitCode !== null) throw new Error(`lb-${name} exited: ${log}`);
    try { return (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200; } catch { return false; }
  });
  return {
    httpPort, log: () => log,
    async stop() { proc.kill('SIGTERM'); return exited; },
  };
}
