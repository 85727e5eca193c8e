// Shared by the contract tests: where things are, a tiny check runner, the
// schemas loaded into Ajv, and the real processes (nats-server, a service)
// that the live test talks to. Nothing here knows a service's internals: the
// tests see only what any other team sees (subjects, bodies, headers).
import Ajv2020 from 'ajv/dist/2020.js';
import Ajv07 from 'ajv';
import addFormats from 'ajv-formats';
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Repository root, cmake build directory and schemas/, from ctest's environment. */
export const sourceDir = path.resolve(process.env.LB_SOURCE_DIR ?? path.join(here, '../..'));
export const binaryDir = path.resolve(process.env.LB_BINARY_DIR ?? path.join(sourceDir, 'build'));
export const schemaDir = path.join(sourceDir, 'schemas');

// ---- checks ---------------------------------------------------------------------

let passed = 0;
let failed = 0;

/** Runs one named check; an exception (e.g. from node:assert) is a failure. */
export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
    return true;
  } catch (e) {
    failed++;
    const text = String(e?.stack ?? e).split('\n').slice(0, 12).join('\n       ');
    console.log(`FAIL ${name}\n       ${text}`);
    return false;
  }
}

// Whatever goes wrong outside a check still ends with the closing line.
function crashed(e) {
  failed++;
  console.log(`FAIL unexpected error outside any check\n       ${String(e?.stack ?? e).split('\n').slice(0, 12).join('\n       ')}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}
process.on('uncaughtException', crashed);
process.on('unhandledRejection', crashed);

/** Prints the closing line that ctest and CI read, and sets the exit code. */
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
}

/** Polls `fn` until it returns a truthy value (returned), at most `ms`; never a blind sleep. */
export async function waitFor(what, fn, ms = 20000, every = 25) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---- schemas --------------------------------------------------------------------

function walk(dir) {
  return readdirSync(dir).sort().flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** Every JSON Schema file under schemas/: relative path -> parsed schema. */
export function schemaFiles() {
  return new Map(walk(schemaDir).filter((p) => p.endsWith('.json'))
    .map((p) => [path.relative(schemaDir, p).split(path.sep).join('/'), JSON.parse(readFileSync(p, 'utf8'))]));
}

/** True for the copies of NATS's own (draft-07) discovery schemas. */
export const isDiscovery = (rel) => rel.startsWith('discovery/');

/**
 * A 2020-12 Ajv in strict mode, with two documented allowances:
 * - allowUnionTypes: `"type": ["string", "null"]` is plain JSON Schema;
 * - strictRequired off: it flags the standard "exactly one of" idiom
 *   (`oneOf: [{required: [a]}, {required: [b]}]`) used by dead_letter.json.
 * Everything else (unknown keywords, ignored keywords, missing types,
 * overlapping properties/patternProperties, ...) is an error.
 */
export function newAjv2020() {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}

/** A draft-07 Ajv, strict, for NATS's discovery schemas. */
export function newAjv07() {
  const ajv = new Ajv07({ strict: true, allErrors: true });
  addFormats(ajv);
  return ajv;
}

/**
 * Ajv instances holding every schema file (by $id): ours in `ajv`, discovery
 * in `ajv07`. A file Ajv refuses is left out and its error kept in
 * `loadErrors` (relative path -> message), for the caller to report.
 */
export function loadAjv() {
  const ajv = newAjv2020();
  const ajv07 = newAjv07();
  const loadErrors = new Map();
  for (const [rel, schema] of schemaFiles()) {
    try {
      (isDiscovery(rel) ? ajv07 : ajv).addSchema(schema);
    } catch (e) {
      loadErrors.set(rel, e.message);
    }
  }
  return { ajv, ajv07, loadErrors };
}

/** The validator of schemas/<rel>; calling it throws, with Ajv's errors, when `doc` is invalid. */
export function validator(ajv, rel) {
  const schema = JSON.parse(readFileSync(path.join(schemaDir, rel), 'utf8'));
  const validate = ajv.getSchema(schema.$id);
  if (!validate) throw new Error(`${rel} is not loaded`);
  return (doc, what = 'document') => {
    if (!validate(doc)) {
      throw new Error(`${what} is not valid against ${rel}: ${ajv.errorsText(validate.errors)}\n` +
        `       ${JSON.stringify(doc).slice(0, 600)}`);
    }
    return doc;
  };
}

/** Channel addresses of asyncapi.yaml as regular expressions ({param} = one token). */
export function addressPattern(address) {
  const re = address.split(/(\{[^}]+\})/).map((part) =>
    /^\{[^}]+\}$/.test(part) ? '[^.]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('');
  return new RegExp(`^${re}$`);
}

// ---- processes ------------------------------------------------------------------

const children = new Set();
// Never leave a server or service behind, whatever happens to this script.
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

function track(proc) {
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  return proc;
}

/** A port that was free a moment ago (bound to 0, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function portOpen(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

function executable(p) {
  try { accessSync(p, constants.X_OK); return statSync(p).isFile(); } catch { return false; }
}

/** LB_NATS_SERVER, else nats-server on PATH or in the usual Debian places. */
export function natsServerPath() {
  if (process.env.LB_NATS_SERVER) return process.env.LB_NATS_SERVER;
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  return dirs.map((d) => path.join(d, 'nats-server')).find(executable) ?? 'nats-server';
}

/** The built executable of a service: <build>/services/<name>/lb-<name> or <build>/lb-<name>. */
export function serviceBinary(name) {
  const candidates = [path.join(binaryDir, 'services', name, `lb-${name}`), path.join(binaryDir, `lb-${name}`)];
  const found = candidates.find(executable);
  if (!found) {
    throw new Error(`lb-${name} is not built: none of ${candidates.join(', ')} exists ` +
      `(build first: scripts/build.sh, or cmake --build ${binaryDir})`);
  }
  return found;
}

/** Spawns a process; resolves once it is running, rejects if it cannot be spawned. */
function start(file, args, options) {
  return new Promise((resolve, reject) => {
    const proc = spawn(file, args, options);
    proc.once('error', (e) => reject(new Error(`cannot start ${file}: ${e.message}`)));
    proc.once('spawn', () => resolve(track(proc)));
  });
}

/** What a child wrote to stderr, kept for failure messages. */
function collect(proc) {
  let text = '';
  proc.stderr?.on('data', (d) => { text = (text + d).slice(-20000); });
  return () => text;
}

function exitOf(proc) {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve({ code: proc.exitCode, signal: proc.signalCode });
    else proc.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

/**
 * Starts `nats-server -js -a 127.0.0.1 -p <free port> -sd <tmp>/js` in a fresh
 * temporary directory and waits until it accepts connections.
 */
export async function startNats() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lb-contract-'));
  const port = await freePort();
  const file = natsServerPath();
  let proc;
  try {
    proc = await start(file, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', path.join(dir, 'js')],
      { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const log = collect(proc);
  const exited = exitOf(proc);
  const nats = {
    dir, port, url: `nats://127.0.0.1:${port}`, file,
    /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes the directory. */
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(`${file} to listen on 127.0.0.1:${port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`nats-server exited with ${proc.exitCode}: ${log()}`);
      return portOpen(port);
    }, 20000);
  } catch (e) {
    await nats.stop();
    throw e;
  }
  return nats;
}

/**
 * Spawns lb-<name> against `nats` with the environment of the contract
 * (LB_NATS_URL, LB_DATA_DIR=<tmp>/data, LB_HTTP_PORT, LB_LOG_LEVEL=warn, plus
 * `env`). Readiness is for the caller to establish (see the live test).
 */
export async function spawnService(name, nats, env = {}) {
  const exe = serviceBinary(name);
  const httpPort = await freePort();
  const proc = await start(exe, [], {
    env: {
      ...process.env, LB_NATS_URL: nats.url, LB_DATA_DIR: path.join(nats.dir, 'data'),
      LB_HTTP_PORT: String(httpPort), LB_LOG_LEVEL: 'warn', ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = collect(proc);
  const exited = exitOf(proc);
  return {
    exe, httpPort, log, proc,
    running: () => proc.exitCode === null && proc.signalCode === null,
    /** SIGTERM, then the exit status ({code, signal}); SIGKILL after `ms`. */
    async stop(ms = 30000) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
