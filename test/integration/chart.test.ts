/**
 * The Helm chart (charts/pulse) with the real tools: the pinned helm (lint, template, schema),
 * kubeconform with schemas taken from the real kube-apiserver and the upstream CRDs (offline),
 * a server-side dry-run and a real apply against the local control plane with those CRDs
 * installed, promtool over every PromQL expression, k6 over the load scripts, and the
 * manifests/ render in sync.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { testStack, type TestStack } from '../harness/testing.js';
import { ensureTools, repoRoot, toolPaths } from '../harness/tools.js';
import {
  chartDir,
  dashboardExpressions,
  documents,
  exec,
  installCrds,
  ok,
  RELEASE,
  renderChart,
  type Kubectl,
} from './support/chart.js';

const promtool = join(dirname(toolPaths.prometheus), 'promtool');
const NAMESPACE = `pulse-chart-${randomBytes(3).toString('hex')}`;

/** charts/pulse/files/load is a symlink to load/, which helm reports on every run. */
const withoutSymlinkNotice = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line !== '' && !line.includes('found symbolic link in path'))
    .join('\n');

const helm = (args: string[]) => exec(toolPaths.helm, args);
const render = (set: string[]) => renderChart(NAMESPACE, set);

/** The value sets every check runs over. */
const valueSets: Record<string, string[]> = {
  default: [],
  strimzi: ['--set', 'kafka.strimzi.enabled=true', '--set', 'kafka.partitions=7'],
  'monitoring off': ['--set', 'monitoring.enabled=false', '--set', 'networkPolicy.enabled=false'],
  'k6 jobs, release label, closed API': [
    '--set',
    'k6.jobs.enabled=true',
    '--set',
    'monitoring.prometheusReleaseLabel=kube-prometheus-stack',
    '--set',
    'networkPolicy.allowExternalApi=false',
    '--set',
    'image.pullSecrets={regcred}',
  ],
};

/** Kinds whose CRDs are not available offline (Strimzi ships no Go module); checked by text only. */
const STRIMZI_KINDS = ['Kafka', 'KafkaNodePool', 'KafkaTopic'];

interface JobVolume {
  name: string;
  configMap?: { items?: { key: string; path: string }[] };
}

const withoutStrimzi = (yaml: string) =>
  documents(yaml)
    .filter((doc) => !STRIMZI_KINDS.includes(doc.kind))
    .map((doc) => doc.text)
    .join('\n---\n');

describe('Helm chart charts/pulse', () => {
  before(() => {
    ensureTools(['helm', 'kubeconform', 'k6', 'prometheus']);
  });

  it('passes helm lint --strict with every value set', async () => {
    for (const [name, set] of Object.entries(valueSets)) {
      const result = await helm(['lint', '--strict', chartDir, ...set]);
      assert.equal(result.code, 0, `${name}: ${result.stdout}${withoutSymlinkNotice(result.stderr)}`);
      assert.match(result.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    }
  });

  it('rejects bad values with a message naming the value', async () => {
    const cases: [string, RegExp][] = [
      ['kafka.partitions=0', /\/kafka\/partitions/],
      ['replicator.replicaCount=3', /\/replicator.*replicaCount/],
      ['auth.bootstrapAdminKey=too-short', /\/auth\/bootstrapAdminKey/],
      ['monitoring.scrapeInterval=soon', /\/monitoring\/scrapeInterval/],
      ['kafka.bootstrapServers=no-port', /\/kafka\/bootstrapServers/],
      ['write.resources.requests.cpu=lots', /\/write\/resources\/requests\/cpu/],
    ];
    for (const [value, message] of cases) {
      const result = await helm(['template', RELEASE, chartDir, '--set', value]);
      assert.notEqual(result.code, 0, `${value} was accepted`);
      assert.match(result.stderr, /values don't meet the specifications of the schema/, value);
      assert.match(result.stderr, message, value);
    }
    const script = await helm([
      'template',
      RELEASE,
      chartDir,
      '--set',
      'k6.jobs.enabled=true',
      '--set',
      'k6.jobs.scripts={nope.js}',
    ]);
    assert.match(script.stderr, /k6\.jobs\.scripts: nope\.js is not one of the scripts under load\//);
    const replication = await helm([
      'template',
      RELEASE,
      chartDir,
      '--set',
      'kafka.strimzi.enabled=true',
      '--set',
      'kafka.strimzi.replicas=1',
    ]);
    assert.match(
      replication.stderr,
      /kafka\.replicationFactor \(3\) cannot exceed kafka\.strimzi\.replicas \(1\)/,
    );
  });

  it('shares the partition count and the message size limit between the topic, the replicator and the ReplicationLag', async () => {
    const docs = documents(await render(valueSets.strimzi ?? []));
    const topic = docs.find((doc) => doc.kind === 'KafkaTopic');
    assert.match(topic?.text ?? '', /^ {2}partitions: 7$/m);
    assert.match(topic?.text ?? '', /^ {2}topicName: pulse\.events$/m);
    const rlag = docs.find((doc) => doc.kind === 'ReplicationLag');
    assert.match(rlag?.text ?? '', /^ {2}partitions: 7$/m);
    const replicator = docs.find(
      (doc) => doc.kind === 'Deployment' && /name: pulse-replicator$/m.test(doc.text),
    );
    assert.match(replicator?.text ?? '', /- name: PULSE_KAFKA_PARTITIONS\n\s+value: "7"/);
    // An integer as the broker and the replicator's config expect it, not helm's float (8.388608e+06).
    assert.match(topic?.text ?? '', /^ {4}max\.message\.bytes: 8388608$/m);
    assert.match(replicator?.text ?? '', /- name: PULSE_KAFKA_MAX_MESSAGE_BYTES\n\s+value: "8388608"/);
    assert.match(
      replicator?.text ?? '',
      /- name: PULSE_KAFKA_BROKERS\n\s+value: "pulse-kafka-bootstrap:9092"/,
    );
  });

  it('mounts every load/*.js and its helpers as a k6 Job sees them, and k6 parses each there', async () => {
    const scripts = readdirSync(join(repoRoot, 'load')).filter((file) => file.endsWith('.js'));
    assert.ok(scripts.includes('smoke.js'));
    const rendered = documents(await render(['--set', 'k6.jobs.enabled=true']));
    const configMap = rendered.find((doc) => /name: pulse-k6-scripts$/m.test(doc.text));
    const job = rendered.find((doc) => doc.kind === 'Job');
    assert.ok(configMap && job);
    const data = (parseYaml(configMap.text) as { data: Record<string, string> }).data;
    const volumes = (parseYaml(job.text) as { spec: { template: { spec: { volumes: JobVolume[] } } } }).spec
      .template.spec.volumes;
    const items = volumes.find((volume) => volume.name === 'scripts')?.configMap?.items ?? [];
    // The scripts volume as the pod sees it: each ConfigMap key at the path the Job maps it to.
    const mounted = mkdtempSync(join(tmpdir(), 'pulse-k6-volume-'));
    try {
      for (const item of items) {
        const content = data[item.key];
        assert.ok(content !== undefined, `the ConfigMap has ${item.key}`);
        mkdirSync(dirname(join(mounted, item.path)), { recursive: true });
        writeFileSync(join(mounted, item.path), content);
      }
      for (const script of scripts) {
        const inspected = JSON.parse(await ok(toolPaths.k6, ['inspect', join(mounted, script)])) as {
          thresholds?: Record<string, unknown>;
        };
        assert.ok(Object.keys(inspected.thresholds ?? {}).length > 0, `${script} has no thresholds`);
      }
    } finally {
      rmSync(mounted, { recursive: true, force: true });
    }
  });

  it('keeps the chart CRD and manifests/ in sync with their sources', async () => {
    const result = await exec('bash', [join(repoRoot, 'scripts', 'render-manifests.sh'), '--check']);
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
  });
});

describe('Helm chart charts/pulse against the local kube-apiserver', () => {
  let stack: TestStack | undefined;
  let schemaDir = '';
  const kubectl = (args: string[], input?: string) =>
    ok('kubectl', ['--kubeconfig', stack?.env.KUBECONFIG ?? '', ...args], { input });
  const kubectlResult = (args: string[], input?: string) =>
    exec('kubectl', ['--kubeconfig', stack?.env.KUBECONFIG ?? '', ...args], { input });

  before(async () => {
    ensureTools(['helm', 'kubeconform', 'prometheus', 'crds']);
    stack = await testStack(['controlplane']);
    await installCrds(kubectl, kubectlResult);
    await kubectl(['create', 'namespace', NAMESPACE]);
    schemaDir = mkdtempSync(join(tmpdir(), 'pulse-kubeconform-'));
    await writeKubeconformSchemas(schemaDir, kubectl);
  });
  after(async () => {
    if (schemaDir !== '') rmSync(schemaDir, { recursive: true, force: true });
    if (stack) {
      await kubectlResult(['delete', 'namespace', NAMESPACE, '--wait=false']);
      await stack.release();
    }
  });

  it('validates every rendered object with kubeconform, offline, against the API and CRD schemas', async () => {
    for (const [name, set] of Object.entries(valueSets)) {
      const yaml = await render(set);
      const result = await exec(
        toolPaths.kubeconform,
        [
          '-strict',
          '-summary',
          '-output',
          'json',
          '-skip',
          STRIMZI_KINDS.join(','),
          '-schema-location',
          join(schemaDir, '{{ .Group }}', '{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'),
          '-',
        ],
        { input: yaml },
      );
      const report = JSON.parse(result.stdout) as {
        resources?: { kind: string; name: string; status: string; msg: string }[];
        summary: { valid: number; invalid: number; errors: number; skipped: number };
      };
      const problems = (report.resources ?? []).filter((r) => r.status !== 'statusSkipped');
      assert.deepEqual(problems, [], `${name}: ${JSON.stringify(problems, null, 2)}`);
      const docs = documents(yaml);
      const strimzi = docs.filter((doc) => STRIMZI_KINDS.includes(doc.kind)).length;
      assert.equal(report.summary.valid, docs.length - strimzi, name);
      assert.equal(report.summary.skipped, strimzi, name);
      assert.equal(result.code, 0, name);
    }
  });

  it('passes a server-side dry-run of every object with every value set', async () => {
    for (const [name, set] of Object.entries(valueSets)) {
      const yaml = withoutStrimzi(await render(set));
      const out = await kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], yaml);
      const list = JSON.parse(out) as { items?: unknown[] };
      assert.equal(list.items?.length ?? 1, documents(yaml).length, name);
    }
  });

  it('renders hardened pods, least-privilege RBAC and labelled monitoring objects', async () => {
    const set = valueSets['k6 jobs, release label, closed API'] ?? [];
    const items = await asObjects(withoutStrimzi(await render(set)), kubectl);
    const byKind = <T extends KubeObject>(kind: string) => items.filter((item) => item.kind === kind) as T[];

    const deployments = byKind<Deployment>('Deployment');
    assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), [
      'pulse-operator',
      'pulse-read',
      'pulse-replicator',
      'pulse-write',
    ]);
    for (const deployment of deployments) {
      const name = deployment.metadata.name;
      const pod = deployment.spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true, name);
      assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault', name);
      assert.ok((pod.terminationGracePeriodSeconds ?? 0) > 0, name);
      assert.ok((pod.topologySpreadConstraints ?? []).length > 0, name);
      assert.deepEqual(pod.imagePullSecrets, [{ name: 'regcred' }], name);
      for (const container of pod.containers) {
        assert.equal(container.securityContext.readOnlyRootFilesystem, true, name);
        assert.equal(container.securityContext.allowPrivilegeEscalation, false, name);
        assert.deepEqual(container.securityContext.capabilities?.drop, ['ALL'], name);
        assert.equal(container.livenessProbe?.httpGet.path, '/livez', name);
        assert.equal(container.readinessProbe?.httpGet.path, '/readyz', name);
        assert.ok(container.resources.requests?.cpu && container.resources.requests.memory, name);
        assert.deepEqual(container.args, [name.replace('pulse-', '')], name);
      }
    }
    const deployment = (name: string) => {
      const found = deployments.find((d) => d.metadata.name === name);
      assert.ok(found, name);
      return found;
    };
    // The operator owns the replicator's replica count.
    assert.equal(deployment('pulse-replicator').spec.replicas, undefined);
    assert.equal(deployment('pulse-operator').spec.replicas, 2);

    const env = (name: string) => {
      const variables = new Map(
        (deployment(name).spec.template.spec.containers[0]?.env ?? []).map((e) => [e.name, e]),
      );
      return (variable: string) => {
        const found = variables.get(variable);
        assert.ok(found, `${name} has no ${variable}`);
        return found;
      };
    };
    const read = env('pulse-read');
    assert.deepEqual(read('PULSE_WRITE_DATABASE_URL').valueFrom?.secretKeyRef, {
      name: 'pulse-write-app',
      key: 'uri',
    });
    assert.deepEqual(read('PULSE_PROJECTION_DATABASE_URL').valueFrom?.secretKeyRef, {
      name: 'pulse-projection-app',
      key: 'uri',
    });
    assert.match(
      read('PULSE_REPLICA_DATABASE_URL').value ?? '',
      /^postgresql:\/\/\$\(REPLICA_DB_USERNAME\):\$\(REPLICA_DB_PASSWORD\)@pulse-write-ro:5432\//,
    );
    assert.deepEqual(env('pulse-write')('PULSE_BOOTSTRAP_ADMIN_KEY').valueFrom?.secretKeyRef, {
      name: 'pulse-admin',
      key: 'admin-key',
    });
    assert.equal(
      env('pulse-operator')('PULSE_OPERATOR_NAMESPACE').valueFrom?.fieldRef?.fieldPath,
      'metadata.namespace',
    );

    const [role] = byKind<Role>('Role');
    assert.deepEqual(
      role?.rules.map(
        (rule) =>
          `${rule.resources.join()}${rule.resourceNames ? `[${rule.resourceNames.join()}]` : ''}: ${rule.verbs.join()}`,
      ),
      [
        'replicationlags: get,list,watch',
        'replicationlags/status: patch',
        'deployments/scale: get,patch',
        'events: create',
        'leases: create',
        'leases[pulse-operator]: get,update',
      ],
    );

    const monitoring = [
      ...byKind('ServiceMonitor'),
      ...byKind('PodMonitor'),
      ...byKind('PrometheusRule'),
      ...byKind('ConfigMap').filter((cm) => cm.metadata.labels?.grafana_dashboard === '1'),
    ];
    assert.equal(monitoring.length, 4 + 1 + 1 + 2);
    for (const object of monitoring) {
      assert.equal(
        object.metadata.labels?.release,
        'kube-prometheus-stack',
        `${object.kind} ${object.metadata.name}`,
      );
    }
    const clusters = byKind<KubeObject<{ instances: number }>>('Cluster');
    assert.deepEqual(
      clusters.map((c) => `${c.metadata.name}: ${c.spec.instances}`),
      ['pulse-write: 3', 'pulse-projection: 2'],
    );

    const jobs = byKind<KubeObject<{ backoffLimit: number }>>('Job');
    assert.ok(jobs.length >= 1);
    for (const job of jobs) assert.equal(job.spec.backoffLimit, 0, job.metadata.name);
  });

  it('has PromQL that parses in every alert rule and dashboard panel (promtool)', async () => {
    const items = await asObjects(withoutStrimzi(await render([])), kubectl);
    const rule = items.find((item) => item.kind === 'PrometheusRule') as
      KubeObject<{ groups: { name: string; rules: { alert: string }[] }[] }> | undefined;
    const alerts = rule?.spec.groups ?? [];
    assert.deepEqual(alerts.flatMap((group) => group.rules.map((r) => r.alert)).sort(), [
      'PulseDeadLettersPending',
      'PulseOperatorNotReconciling',
      'PulseReadReplicaLagHigh',
      'PulseRelayStalled',
      'PulseReplicationLagAboveTarget',
    ]);
    const panels = dashboardExpressions(NAMESPACE, '2m');
    assert.ok(panels.length >= 20);
    const recorded = panels.map((panel, i) => ({ record: `pulse_dashboard:expr_${i}`, expr: panel.expr }));
    const dir = mkdtempSync(join(tmpdir(), 'pulse-promql-'));
    try {
      const file = join(dir, 'rules.json');
      writeFileSync(file, JSON.stringify({ groups: [...alerts, { name: 'dashboards', rules: recorded }] }));
      const out = await ok(promtool, ['check', 'rules', file]);
      const count = alerts.reduce((sum, group) => sum + group.rules.length, 0) + recorded.length;
      assert.match(out, new RegExp(`SUCCESS: ${count} rules found`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('applies for real: every object is created, rlag prints its columns, the operator may do no more than its job', async () => {
    const yaml = await render(['--skip-tests']);
    const docs = documents(yaml);
    await kubectl(['apply', '--server-side', '--field-manager=pulse-chart', '-f', '-'], yaml);
    const created = JSON.parse(await kubectl(['get', '-n', NAMESPACE, '-o', 'json', '-f', '-'], yaml)) as {
      items?: { kind: string }[];
      kind: string;
    };
    assert.equal(created.items?.length ?? 1, docs.length);

    // The chart sets no replicas on the replicator, so its field manager does not own them.
    const replicator = JSON.parse(
      await kubectl([
        'get',
        '-n',
        NAMESPACE,
        'deployment',
        'pulse-replicator',
        '-o',
        'json',
        '--show-managed-fields',
      ]),
    ) as {
      metadata: { managedFields: { manager: string; fieldsV1: { 'f:spec'?: Record<string, unknown> } }[] };
    };
    const ours = replicator.metadata.managedFields.find((field) => field.manager === 'pulse-chart');
    assert.ok(ours?.fieldsV1['f:spec']);
    assert.equal(ours.fieldsV1['f:spec']['f:replicas'], undefined);

    const table = await kubectl(['get', 'rlag', '-n', NAMESPACE]);
    assert.match(table, /^NAME\s+TARGET\s+LAG\s+BACKLOG\s+RATE\/S\s+REPLICAS\s+DESIRED\s+REPLICA-LAG\s+AGE/);
    assert.match(table, /^pulse\s/m);

    const as = `system:serviceaccount:${NAMESPACE}:pulse-operator`;
    const can = async (...args: string[]) =>
      (await kubectlResult(['auth', 'can-i', '-n', NAMESPACE, '--as', as, ...args])).stdout.trim();
    assert.equal(await can('patch', 'deployments', '--subresource=scale'), 'yes');
    assert.equal(await can('watch', 'replicationlags.pulse.dev'), 'yes');
    assert.equal(await can('patch', 'replicationlags.pulse.dev', '--subresource=status'), 'yes');
    assert.equal(await can('update', 'leases.coordination.k8s.io/pulse-operator'), 'yes');
    assert.equal(await can('create', 'leases.coordination.k8s.io'), 'yes');
    assert.equal(await can('create', 'events.events.k8s.io'), 'yes');
    for (const denied of [
      ['get', 'deployments'],
      ['watch', 'deployments'],
      ['create', 'events'],
      ['patch', 'deployments'],
      ['update', 'deployments', '--subresource=scale'],
      ['update', 'replicationlags.pulse.dev', '--subresource=status'],
      ['delete', 'deployments'],
      ['update', 'replicationlags.pulse.dev'],
      ['get', 'secrets'],
      ['delete', 'leases.coordination.k8s.io'],
      ['update', 'leases.coordination.k8s.io/someone-elses-lease'],
      ['create', 'pods'],
    ]) {
      assert.equal(await can(...denied), 'no', denied.join(' '));
    }
    const otherNamespace = await kubectlResult([
      'auth',
      'can-i',
      '-n',
      'default',
      '--as',
      as,
      'patch',
      'deployments',
      '--subresource=scale',
    ]);
    assert.equal(otherNamespace.stdout.trim(), 'no');
  });
});

// ---- kubeconform schemas: the API server's OpenAPI for built-in kinds, the installed CRDs for the rest

type JsonSchema = Record<string, unknown>;

/** The objects of a render as JSON, through kubectl (it parses the YAML; the server only maps the kinds). */
async function asObjects(yaml: string, kubectl: Kubectl): Promise<KubeObject[]> {
  const out = JSON.parse(await kubectl(['apply', '--dry-run=client', '-o', 'json', '-f', '-'], yaml)) as
    KubeObject | { kind: 'List'; items: KubeObject[] };
  return 'items' in out ? out.items : [out];
}

// The few fields the assertions read.
interface KubeObject<Spec = unknown> {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: Spec;
}
interface Container {
  args?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
  }[];
  securityContext: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  livenessProbe?: { httpGet: { path: string } };
  readinessProbe?: { httpGet: { path: string } };
  resources: { requests?: Record<string, string> };
}
type Deployment = KubeObject<{
  replicas?: number;
  template: {
    spec: {
      securityContext: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
      terminationGracePeriodSeconds?: number;
      topologySpreadConstraints?: unknown[];
      imagePullSecrets?: { name: string }[];
      containers: Container[];
    };
  };
}>;
interface Role extends KubeObject {
  rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
}

/**
 * Strict JSON schemas: an object that lists its properties gets no others (what kubeconform's
 * -strict expects), unless Kubernetes preserves unknown fields there.
 */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (schema === null || typeof schema !== 'object') return schema;
  const copy: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    copy[key] = key === 'properties' ? mapValues(value as JsonSchema, strict) : strict(value);
  }
  if (copy.nullable === true && typeof copy.type === 'string') copy.type = [copy.type, 'null'];
  if (
    copy.properties &&
    copy.additionalProperties === undefined &&
    !copy['x-kubernetes-preserve-unknown-fields']
  ) {
    copy.additionalProperties = false;
  }
  return copy;
}

const mapValues = (object: JsonSchema, f: (value: unknown) => unknown) =>
  Object.fromEntries(Object.entries(object).map(([key, value]) => [key, f(value)]));

/** kubeconform's {{ .Group }} of a core kind (apiVersion v1) is "v1". */
function schemaPath(dir: string, group: string, kind: string, version: string) {
  return join(dir, group === '' ? version : group, `${kind.toLowerCase()}_${version}.json`);
}

async function writeKubeconformSchemas(dir: string, kubectl: Kubectl): Promise<void> {
  const crds = JSON.parse(await kubectl(['get', 'crd', '-o', 'json'])) as {
    items: {
      spec: {
        group: string;
        names: { kind: string };
        versions: { name: string; schema: { openAPIV3Schema: JsonSchema } }[];
      };
    }[];
  };
  const fromCrds = new Set<string>();
  for (const crd of crds.items) {
    for (const version of crd.spec.versions) {
      const file = schemaPath(dir, crd.spec.group, crd.spec.names.kind, version.name);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, JSON.stringify(strict(version.schema.openAPIV3Schema)));
      fromCrds.add(`${crd.spec.group}/${crd.spec.names.kind}`);
    }
  }

  const swagger = JSON.parse(await kubectl(['get', '--raw', '/openapi/v2'])) as {
    definitions: Record<string, JsonSchema>;
  };
  // Kubernetes' JSON encodes these as a string or a number; the swagger only says "string".
  const definitions = Object.fromEntries(
    Object.entries(swagger.definitions).map(([name, definition]) => {
      if (definition.format === 'int-or-string')
        return [name, { oneOf: [{ type: 'string' }, { type: 'integer' }] }];
      if (name.endsWith('.api.resource.Quantity'))
        return [name, { oneOf: [{ type: 'string' }, { type: 'number' }] }];
      return [name, strict(definition) as JsonSchema];
    }),
  );
  for (const [name, definition] of Object.entries(swagger.definitions)) {
    const gvks = definition['x-kubernetes-group-version-kind'] as
      { group: string; version: string; kind: string }[] | undefined;
    for (const gvk of gvks ?? []) {
      if (fromCrds.has(`${gvk.group}/${gvk.kind}`)) continue;
      const file = schemaPath(dir, gvk.group, gvk.kind, gvk.version);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(
        file,
        JSON.stringify({ $ref: `#/definitions/${name}`, definitions: closure(name, definitions) }),
      );
    }
  }
}

/** The definitions a definition refers to, transitively (one schema file per kind stays small). */
function closure(root: string, definitions: Record<string, JsonSchema>): Record<string, JsonSchema> {
  const wanted: Record<string, JsonSchema> = {};
  const pending = [root];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    const definition = definitions[name];
    if (wanted[name] || !definition) continue;
    wanted[name] = definition;
    for (const match of JSON.stringify(definition).matchAll(/"#\/definitions\/([^"]+)"/g)) {
      if (match[1]) pending.push(match[1]);
    }
  }
  return wanted;
}
