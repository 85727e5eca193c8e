// The deployment, checked offline (no cluster, no container engine):
//  - kubectl kustomize renders deploy/k8s/base and deploy/k8s/overlays/example;
//  - every rendered object validates against the Kubernetes API schemas
//    (npm kubernetes-models), and has no field the API does not know (a typo
//    such as "readinesProbe" would otherwise be dropped silently by the server);
//  - the rules operators rely on: probes on the right paths, non-root and
//    read-only, resources, a grace period longer than LB_SHUTDOWN_TIMEOUT, a
//    PDB, a headless Service and covering NetworkPolicies per StatefulSet,
//    one service directory per services/<name>/, the overlay's namespace,
//    image and setting;
//  - deploy/Containerfile's shape: two Debian 12 stages, no build tools in the
//    runtime stage, non-root, every lb-<name> built and copied;
//  - the npm lock names no download URLs.
// Ends with "N passed, M failed"; exits 1 on any failure.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.env.LB_SOURCE_DIR ?? path.join(here, '../..'));
let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(e.stack ?? e).split('\n').slice(0, 6).join('\n     ')}`);
  }
}

// ---- Kubernetes API schemas ---------------------------------------------------------
// kind -> [module, class]. An object of a kind not listed fails the check.
const models = {
  'v1/ConfigMap': ['kubernetes-models/v1', 'ConfigMap'],
  'v1/Secret': ['kubernetes-models/v1', 'Secret'],
  'v1/Service': ['kubernetes-models/v1', 'Service'],
  'apps/v1/StatefulSet': ['kubernetes-models/apps/v1', 'StatefulSet'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1', 'PodDisruptionBudget'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1', 'NetworkPolicy'],
};
const namespaced = new Set(Object.keys(models)); // every kind above is namespaced

// kubernetes-models validates types, enums and required fields but accepts
// unknown fields. The field names come from its TypeScript declarations:
// each interface lists its properties and imports the types of nested ones.
// The package's "exports" hide its .d.ts files from require.resolve: look
// them up in node_modules the way Node would, from the importing file up.
function packageFile(spec, from) {
  for (let dir = path.dirname(from); ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'node_modules', `${spec.replace(/\.js$/, '')}.d.ts`);
    if (existsSync(file)) return file;
    if (dir === path.dirname(dir)) throw new Error(`cannot find ${spec}.d.ts`);
  }
}
const interfaces = new Map(); // .d.ts path -> Map(field -> .d.ts path of its type | null)
function declaration(file) {
  if (interfaces.has(file)) return interfaces.get(file);
  const fields = new Map();
  interfaces.set(file, fields);
  const text = readFileSync(file, 'utf8');
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    imports.set(m[1], m[2].startsWith('.') ? path.resolve(path.dirname(file), m[2]).replace(/\.js$/, '.d.ts') : packageFile(m[2], file));
  }
  const body = /^export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m.exec(text);
  if (!body) return null; // a type alias (IntOrString, Quantity, ...): nothing to walk
  for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*?);?$/gm)) {
    const type = m[2].replace(/^Array<(\w+)>$/, '$1');
    fields.set(m[1], imports.get(type) ?? null);
  }
  return fields;
}
function unknownFields(value, file, where, out) {
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, file, `${where}[${i}]`, out));
    return out;
  }
  if (value === null || typeof value !== 'object' || !file) return out;
  const fields = declaration(file);
  if (!fields) return out;
  for (const [key, v] of Object.entries(value)) {
    if (!fields.has(key)) out.push(`${where}.${key}`);
    else unknownFields(v, fields.get(key), `${where}.${key}`, out);
  }
  return out;
}

async function validate(o) {
  const key = `${o.apiVersion}/${o.kind}`;
  assert.ok(models[key], `no schema for ${key} (add it to the table in this test)`);
  const [module, cls] = models[key];
  const mod = await import(module);
  new mod[cls](o).validate(); // throws with the failing path
  const file = packageFile(`${module}/${cls}`, path.join(here, 'test_k8s.mjs'));
  const unknown = unknownFields(o, file, `${o.kind}/${o.metadata?.name}`, []);
  assert.deepEqual(unknown, [], `fields the Kubernetes API does not know: ${unknown.join(', ')}`);
}

// ---- helpers -------------------------------------------------------------------------
const kubectl = process.env.KUBECTL ?? '/usr/bin/kubectl';
function render(dir) {
  if (!existsSync(kubectl)) throw new Error(`kubectl not found at ${kubectl} (set KUBECTL): cannot render ${dir}`);
  const text = execFileSync(kubectl, ['kustomize', path.join(root, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const docs = parseAllDocuments(text);
  for (const d of docs) if (d.errors.length) throw d.errors[0];
  return docs.map((d) => d.toJS()).filter(Boolean);
}

// LB_* durations: ms, s, m, h, d; a bare number is milliseconds (docs/operations.md).
function durationSeconds(text) {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(String(text));
  assert.ok(m, `not a duration: ${text}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] ?? 'ms'];
}

const selects = (selector, labels) =>
  !!selector && Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels?.[k] === v) &&
  (selector.matchExpressions ?? []).length === 0;

function serviceNames() {
  const dir = path.join(root, 'services');
  return readdirSync(dir).filter((n) => statSync(path.join(dir, n)).isDirectory()).sort();
}

// ---- the manifests ---------------------------------------------------------------------
await check('negative control: the schema validation rejects a broken object', async () => {
  const { StatefulSet } = await import('kubernetes-models/apps/v1');
  assert.throws(() => new StatefulSet({ metadata: { name: 'x' }, spec: { replicas: 'one', selector: {}, template: {} } }).validate());
  const { ConfigMap } = await import('kubernetes-models/v1');
  const typo = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', lables: {} }, data: {} };
  new ConfigMap(typo).validate();
  await assert.rejects(validate(typo), /metadata\.lables/);
});

await check('deploy/k8s/base/services/ has one directory per services/<name>/', () => {
  const dir = path.join(root, 'deploy/k8s/base/services');
  const deployed = readdirSync(dir).filter((n) => existsSync(path.join(dir, n, 'kustomization.yaml'))).sort();
  assert.deepEqual(deployed, serviceNames());
  const base = readFileSync(path.join(root, 'deploy/k8s/base/kustomization.yaml'), 'utf8');
  for (const n of deployed) assert.match(base, new RegExp(`^\\s*- services/${n}\\s*$`, 'm'), `services/${n} not listed in the base`);
});

const rendered = {};
for (const dir of ['deploy/k8s/base', 'deploy/k8s/overlays/example']) {
  let objects = [];
  await check(`${dir}: renders with kubectl kustomize`, () => {
    objects = render(dir);
    rendered[dir] = objects;
    assert.ok(objects.length > 0, 'nothing rendered');
  });
  await check(`${dir}: every object validates against the Kubernetes API schema, no unknown fields`, async () => {
    assert.ok(objects.length > 0);
    const names = new Set();
    for (const o of objects) {
      await validate(o);
      const id = `${o.kind}/${o.metadata.name}`;
      assert.ok(!names.has(id), `${id} twice`);
      names.add(id);
      assert.equal(o.metadata.labels?.['app.kubernetes.io/part-of'], 'licensebus', `${id}: common label`);
    }
  });

  const of = (kind) => objects.filter((o) => o.kind === kind);
  const sets = () => of('StatefulSet');
  const config = () => {
    const c = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'licensebus-config');
    assert.ok(c, 'no ConfigMap licensebus-config');
    return c;
  };

  await check(`${dir}: licensebus-config has the cluster settings`, () => {
    const d = config().data;
    assert.equal(d.LB_NATS_URL, 'nats://nats:4222');
    assert.equal(d.LB_STREAM_REPLICAS, '3');
    assert.equal(d.LB_HTTP_BIND_ALL, 'true');
    assert.equal(d.LB_DATA_DIR, '/data');
    assert.ok(['debug', 'info', 'warn', 'error'].includes(d.LB_LOG_LEVEL), `LB_LOG_LEVEL ${d.LB_LOG_LEVEL}`);
    durationSeconds(d.LB_SHUTDOWN_TIMEOUT);
    for (const k of Object.keys(d)) assert.match(k, /^LB_[A-Z0-9_]+$/);
  });

  await check(`${dir}: one StatefulSet per service, each with its command, volume and NATS user`, () => {
    const names = sets().map((s) => s.metadata.name).sort();
    assert.deepEqual(names, serviceNames().map((n) => `lb-${n}`));
    for (const s of sets()) {
      const service = s.metadata.name.replace(/^lb-/, '');
      const pod = s.spec.template.spec;
      assert.equal(s.spec.replicas, 1, `${s.metadata.name}: one replica owns the database`);
      assert.ok(selects(s.spec.selector, s.spec.template.metadata.labels), `${s.metadata.name}: selector does not match its pods`);
      assert.equal(s.spec.template.metadata.labels['app.kubernetes.io/name'], service);
      assert.equal(pod.containers.length, 1);
      const c = pod.containers[0];
      assert.deepEqual(c.command, [`lb-${service}`]);
      const claim = s.spec.volumeClaimTemplates?.find((v) => v.metadata.name === 'data');
      assert.equal(claim?.spec?.resources?.requests?.storage, '1Gi', 'a 1Gi claim named data');
      assert.ok(c.volumeMounts.some((m) => m.name === 'data' && m.mountPath === config().data.LB_DATA_DIR), 'data on LB_DATA_DIR');
      for (const m of c.volumeMounts) {
        assert.ok(m.name === 'data' || pod.volumes?.some((v) => v.name === m.name), `mount ${m.name} has no volume`);
      }
      assert.ok(c.envFrom.some((e) => e.configMapRef?.name === 'licensebus-config'), 'envFrom licensebus-config');
      const secretRef = c.envFrom.find((e) => e.secretRef)?.secretRef?.name;
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === secretRef);
      assert.ok(secret, `envFrom Secret ${secretRef} is not rendered`);
      const data = { ...secret.stringData };
      for (const [k, v] of Object.entries(secret.data ?? {})) data[k] = Buffer.from(v, 'base64').toString();
      assert.equal(data.LB_NATS_USER, service, `${secretRef}: LB_NATS_USER`);
      assert.ok(data.LB_NATS_PASSWORD, `${secretRef}: LB_NATS_PASSWORD`);
      const ca = config().data.LB_NATS_CA;
      if (ca) assert.ok(c.volumeMounts.some((m) => ca.startsWith(`${m.mountPath}/`)), `LB_NATS_CA ${ca} is not mounted`);
    }
  });

  await check(`${dir}: containers run non-root, read-only, with all three probes and resources`, () => {
    assert.ok(sets().length >= 1);
    const port = Number(config().data.LB_HTTP_PORT ?? 8089);
    for (const s of sets()) {
      const pod = s.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.securityContext.runAsUser, 10001);
      assert.equal(pod.securityContext.fsGroup, 10001);
      for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
        const what = `${s.metadata.name}/${c.name}`;
        const http = c.ports?.find((p) => p.name === 'http');
        assert.equal(http?.containerPort, port, `${what}: port http = LB_HTTP_PORT`);
        for (const [probe, p] of [['startupProbe', '/healthz'], ['livenessProbe', '/healthz'], ['readinessProbe', '/readyz']]) {
          assert.equal(c[probe]?.httpGet?.path, p, `${what}: ${probe} path`);
          assert.ok([port, 'http'].includes(c[probe].httpGet.port), `${what}: ${probe} port`);
        }
        const sc = c.securityContext ?? {};
        assert.equal(sc.allowPrivilegeEscalation, false, `${what}: allowPrivilegeEscalation`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${what}: readOnlyRootFilesystem`);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${what}: capabilities`);
        assert.notEqual(sc.runAsNonRoot, false);
        assert.notEqual(sc.runAsUser, 0);
        for (const k of ['requests', 'limits']) {
          assert.ok(c.resources?.[k]?.cpu && c.resources?.[k]?.memory, `${what}: resources.${k}`);
        }
      }
    }
  });

  await check(`${dir}: terminationGracePeriodSeconds > LB_SHUTDOWN_TIMEOUT`, () => {
    const drain = durationSeconds(config().data.LB_SHUTDOWN_TIMEOUT);
    for (const s of sets()) {
      const grace = s.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      assert.ok(grace > drain, `${s.metadata.name}: grace ${grace}s <= drain ${drain}s`);
    }
  });

  await check(`${dir}: each StatefulSet has its headless Service and a PDB that lets drains evict it`, () => {
    for (const s of sets()) {
      const labels = s.spec.template.metadata.labels;
      const svc = objects.find((o) => o.kind === 'Service' && o.metadata.name === s.spec.serviceName);
      assert.ok(svc, `${s.metadata.name}: no Service ${s.spec.serviceName}`);
      assert.equal(svc.spec.clusterIP, 'None', 'headless');
      assert.ok(Object.keys(svc.spec.selector ?? {}).length && Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v));
      const pdbs = of('PodDisruptionBudget').filter((p) => selects(p.spec.selector, labels));
      assert.equal(pdbs.length, 1, `${s.metadata.name}: ${pdbs.length} PDBs`);
      const { minAvailable, maxUnavailable } = pdbs[0].spec;
      // One replica: a budget that forbids its eviction blocks node drains forever.
      assert.ok(maxUnavailable === 1 || minAvailable === 0, `${s.metadata.name}: PDB must allow evicting the one replica`);
    }
  });

  await check(`${dir}: NetworkPolicies deny by default, allow NATS/DNS egress and Prometheus ingress only`, () => {
    const policies = of('NetworkPolicy');
    for (const s of sets()) {
      const labels = s.spec.template.metadata.labels;
      const covering = policies.filter((p) => selects(p.spec.podSelector, labels));
      const deny = covering.find((p) => !p.spec.ingress && !p.spec.egress);
      assert.ok(deny && ['Ingress', 'Egress'].every((t) => deny.spec.policyTypes.includes(t)), `${s.metadata.name}: no default deny`);
      for (const p of covering) {
        for (const t of ['ingress', 'egress']) {
          if (p.spec[t]) assert.ok(p.spec.policyTypes.includes(t[0].toUpperCase() + t.slice(1)), `${p.metadata.name}: ${t} without policyType`);
        }
      }
      const egress = covering.flatMap((p) => p.spec.egress ?? []);
      assert.ok(egress.length > 0, 'no egress rule');
      for (const rule of egress) {
        assert.ok(rule.to?.length && rule.ports?.length, 'an egress rule open to every peer or port');
        for (const peer of rule.to) {
          assert.ok(!peer.ipBlock, 'egress to an ipBlock');
          const nats = peer.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'nats' && !peer.namespaceSelector;
          const dns = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'] === 'kube-system';
          assert.ok(nats || dns, `egress to ${JSON.stringify(peer)}`);
          const allowed = nats ? ['TCP/4222'] : ['UDP/53', 'TCP/53'];
          for (const port of rule.ports) assert.ok(allowed.includes(`${port.protocol ?? 'TCP'}/${port.port}`), `egress port ${port.port}`);
        }
      }
      assert.ok(egress.some((r) => r.to.some((p) => p.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'nats')), 'no egress to NATS');
      assert.ok(egress.some((r) => r.ports.some((p) => p.port === 53 && p.protocol === 'UDP')), 'no DNS over UDP');
      const ingress = covering.flatMap((p) => p.spec.ingress ?? []);
      assert.ok(ingress.length > 0, 'no ingress rule for Prometheus');
      for (const rule of ingress) {
        assert.ok(rule.from?.length, 'an ingress rule open to every peer');
        for (const peer of rule.from) {
          assert.equal(peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'], 'monitoring', 'ingress from outside monitoring');
          assert.equal(peer.podSelector?.matchLabels?.['app.kubernetes.io/name'], 'prometheus', 'ingress from non-Prometheus pods');
        }
        assert.deepEqual(rule.ports?.map((p) => p.port), ['http'], 'ingress to a port other than http');
      }
    }
  });

  if (dir.includes('overlays')) {
    await check(`${dir}: namespace on every namespaced object, image and setting overridden`, () => {
      for (const o of objects) {
        if (namespaced.has(`${o.apiVersion}/${o.kind}`)) assert.equal(o.metadata.namespace, 'licensebus', `${o.kind}/${o.metadata.name}`);
      }
      for (const s of sets()) {
        for (const c of s.spec.template.spec.containers) assert.equal(c.image, 'registry.example/licensebus:0.1.0');
      }
      assert.equal(config().data.LB_LOG_LEVEL, 'warn');
    });
    await check(`${dir}: changes only what it says (same objects as the base)`, () => {
      const ids = (list) => (list ?? []).map((o) => `${o.kind}/${o.metadata.name}`).sort();
      assert.deepEqual(ids(objects), ids(rendered['deploy/k8s/base']));
    });
  } else {
    await check(`${dir}: namespace-agnostic, image licensebus`, () => {
      for (const o of objects) assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name} has a namespace`);
      for (const s of sets()) for (const c of s.spec.template.spec.containers) assert.match(c.image, /^licensebus(:|$)/);
    });
  }
}

// ---- the Containerfile -------------------------------------------------------------------
await check('deploy/Containerfile: two Debian 12 stages, runtime without build tools, non-root, every lb-* shipped', () => {
  const text = readFileSync(path.join(root, 'deploy/Containerfile'), 'utf8')
    .replace(/\\\n/g, ' ') // join continuation lines
    .split('\n').filter((l) => !/^\s*#/.test(l)).join('\n');
  const stages = text.split(/^FROM\s+/m).slice(1);
  assert.equal(stages.length, 2, `${stages.length} stages`);
  const [build, runtime] = stages;
  assert.match(build, /^debian:12(\.\d+)?(@\S+)?\s+AS\s+(\w+)/i);
  const buildName = /^\S+\s+AS\s+(\S+)/i.exec(build)[1];
  assert.match(runtime, /^debian:12(\.\d+)?-slim\b/);

  const installs = (stage) => [...stage.matchAll(/apt-get install ([^&\n]*)/g)].flatMap((m) => m[1].split(/\s+/)).filter((w) => w && !w.startsWith('-'));
  const buildPkgs = installs(build);
  for (const p of ['build-essential', 'cmake', 'pkg-config', 'libnats-dev', 'libuv1-dev', 'libsqlite3-dev', 'libcjson-dev', 'libmicrohttpd-dev', 'libxlsxwriter-dev', 'libcmocka-dev']) {
    assert.ok(buildPkgs.includes(p), `build stage lacks ${p}`);
  }
  const runtimePkgs = installs(runtime);
  for (const p of ['libnats3.4', 'libuv1', 'libsqlite3-0', 'libcjson1', 'libmicrohttpd12', 'libxlsxwriter4']) {
    assert.ok(runtimePkgs.includes(p), `runtime stage lacks ${p}`);
  }
  const heavy = runtimePkgs.filter((p) => /-dev$|^build-essential$|^cmake$|^gcc|^pkg-config$|^nats-server$/.test(p));
  assert.deepEqual(heavy, [], 'build tools in the runtime stage');

  const users = [...runtime.matchAll(/^USER\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(users.length, 'no USER in the runtime stage');
  const user = users.at(-1).split(':')[0];
  assert.ok(!['0', 'root'].includes(user), `runs as ${user}`);
  assert.equal(user, '10001', 'uid 10001 (the StatefulSets run as 10001)');
  assert.match(runtime, /useradd[^\n]*--uid 10001/);
  assert.match(runtime, /^ENV\s.*\bLB_DATA_DIR=\/data\b/m);
  assert.match(runtime, /^ENV\s.*\bLB_HTTP_BIND_ALL=true\b/m);
  assert.match(runtime, /^WORKDIR\s+\/data\s*$/m);
  assert.match(runtime, new RegExp(`^COPY --from=${buildName}\\s+\\S+\\s+/usr/local/bin/?\\s*$`, 'm'), 'binaries to /usr/local/bin');

  // Every lb-<name> is built and copied: by name, or by a loop over services/*/.
  const loop = /for \w+ in \S*services\/\*\/?;/.test(build) && /lb-\$\(basename/.test(build);
  for (const n of serviceNames()) {
    assert.ok(loop || build.includes(`lb-${n}`), `lb-${n} is not built`);
  }
  assert.match(build, /cmake --build/);
  assert.match(build, /cp\b/, 'the build stage copies its binaries out');
});

await check('tests/deploy/package-lock.json: pinned, no download URLs', () => {
  const lock = JSON.parse(readFileSync(path.join(here, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(readFileSync(path.join(here, 'package.json'), 'utf8'));
  for (const [name, version] of Object.entries(pkg.dependencies)) assert.match(version, /^\d+\.\d+\.\d+$/, `${name} ${version} is not exact`);
  const resolved = Object.entries(lock.packages ?? {}).filter(([, p]) => p.resolved).map(([k]) => k);
  assert.deepEqual(resolved, []);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
