// The deployment, checked offline: kubectl kustomize renders the base and
// the example overlay, every object validates against the Kubernetes API
// schemas (kubernetes-models), and the rules operators rely on hold: probes,
// non-root, resources, a grace period longer than the drain, a PDB and
// network policies per service. The Containerfile is checked for its shape.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { parseAllDocuments } from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.env.LB_SOURCE_DIR ?? path.join(here, '../..'));
let passed = 0;
let failed = 0;
async function check(name, fn) {
  try { await fn(); passed++; console.log(`ok   ${name}`); } catch (e) { failed++; console.log(`FAIL ${name}\n     ${e.stack ?? e}`); }
}

const models = {
  'v1/ConfigMap': ['kubernetes-models/v1', 'ConfigMap'],
  'v1/Secret': ['kubernetes-models/v1', 'Secret'],
  'v1/Service': ['kubernetes-models/v1', 'Service'],
  'apps/v1/StatefulSet': ['kubernetes-models/apps/v1', 'StatefulSet'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1', 'PodDisruptionBudget'],
  'networking.k8s.io/v1/NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1', 'NetworkPolicy'],
};

function render(dir) {
  const text = execFileSync('kubectl', ['kustomize', path.join(root, dir)], { encoding: 'utf8' });
  return parseAllDocuments(text).map((d) => d.toJS());
}

function durationSeconds(text) {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] ?? 'ms'] ?? 0.001;
  return Number(m[1]) * unit;
}

for (const dir of ['deploy/k8s/base', 'deploy/k8s/overlays/example']) {
  let objects = [];
  await check(`${dir} renders with kubectl kustomize`, () => {
    objects = render(dir);
    assert.ok(objects.length >= 7, `only ${objects.length} objects`);
  });
  await check(`${dir}: every object validates against the Kubernetes API schema`, async () => {
    for (const o of objects) {
      const key = `${o.apiVersion}/${o.kind}`;
      assert.ok(models[key], `no model for ${key}`);
      const mod = await import(models[key][0]);
      new mod[models[key][1]](o).validate();
    }
  });
  const sets = () => objects.filter((o) => o.kind === 'StatefulSet');
  const config = () => objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'licensebus-config');
  await check(`${dir}: services run non-root with probes and resources`, () => {
    assert.ok(sets().length >= 1);
    for (const s of sets()) {
      const pod = s.spec.template.spec;
      assert.equal(s.spec.replicas, 1, `${s.metadata.name}: one replica owns the database`);
      assert.ok(s.spec.volumeClaimTemplates?.length, `${s.metadata.name}: no volume`);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      for (const c of pod.containers) {
        assert.equal(c.startupProbe?.httpGet?.path, '/healthz');
        assert.equal(c.livenessProbe?.httpGet?.path, '/healthz');
        assert.equal(c.readinessProbe?.httpGet?.path, '/readyz');
        assert.ok(c.resources?.requests?.memory && c.resources?.limits?.memory, 'resources');
        assert.equal(c.securityContext.allowPrivilegeEscalation, false);
        assert.ok(c.envFrom.some((e) => e.configMapRef?.name === 'licensebus-config'));
      }
    }
  });
  await check(`${dir}: the grace period is longer than the drain`, () => {
    const drain = durationSeconds(config().data.LB_SHUTDOWN_TIMEOUT);
    for (const s of sets()) assert.ok(s.spec.template.spec.terminationGracePeriodSeconds > drain);
  });
  await check(`${dir}: each service has a PDB, a Service, and network policies cover it`, () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    for (const s of sets()) {
      const labels = s.spec.template.metadata.labels;
      const matches = (sel) => Object.entries(sel.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
      assert.ok(objects.some((o) => o.kind === 'PodDisruptionBudget' && matches(o.spec.selector)));
      assert.ok(objects.some((o) => o.kind === 'Service' && o.metadata.name === s.spec.serviceName));
      const covering = policies.filter((p) => matches(p.spec.podSelector));
      assert.ok(covering.some((p) => p.spec.policyTypes.includes('Egress') && !p.spec.egress), 'no default deny');
      const egress = covering.flatMap((p) => p.spec.egress ?? []);
      assert.ok(egress.some((e) => e.ports?.some((p) => p.port === 4222)), 'no egress to NATS');
      assert.ok(egress.every((e) => e.ports?.every((p) => [4222, 53].includes(p.port))), 'egress beyond NATS and DNS');
    }
  });
  if (dir.includes('overlays')) {
    await check(`${dir}: namespace, image and setting overrides apply`, () => {
      for (const o of objects) assert.equal(o.metadata.namespace, 'licensebus', `${o.kind}/${o.metadata.name}`);
      for (const s of sets()) assert.match(s.spec.template.spec.containers[0].image, /^registry\.example\/licensebus:0\.1\.0$/);
      assert.equal(config().data.LB_LOG_LEVEL, 'warn');
    });
  }
}

await check('deploy/Containerfile: multi-stage Debian 12, non-root, runtime libraries only', () => {
  const text = readFileSync(path.join(root, 'deploy/Containerfile'), 'utf8');
  const stages = text.split(/^FROM /m).slice(1);
  assert.equal(stages.length, 2);
  assert.match(stages[0], /^debian:12 AS build/);
  assert.match(stages[1], /^debian:12-slim AS runtime/);
  assert.doesNotMatch(stages[1], /-dev\b|build-essential|cmake/);
  assert.match(stages[1], /^USER 10001/m);
  assert.match(stages[1], /COPY --from=build/);
  assert.match(stages[0], /cp build\/lb-\* build\/lbctl/);
});

console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
