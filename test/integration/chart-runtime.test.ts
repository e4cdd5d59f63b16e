/**
 * The chart at run time, on the local stack: rendered and applied to the local kube-apiserver, its
 * operator (`node operator/dist/main.js`, with the token of the chart's ServiceAccount, so only the
 * chart's RBAC) scales the chart's replicator Deployment; and every PromQL expression of the
 * chart's dashboards and alert rules returns data from the local Prometheus while traffic flows
 * through real write, replicator and read processes.
 *
 * The processes are scraped with the target labels the chart's ServiceMonitors give them in a
 * cluster (derived from the rendered ServiceMonitors and Services), so the expressions run with
 * their namespace matchers unchanged.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultQueries } from '@pulse/operator';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { addScrapeTarget } from '../harness/components/prometheus.js';
import { freePort } from '../harness/ports.js';
import { startService, type RunningService, type ServiceName } from '../harness/services.js';
import { suiteScope, testStack, type TestStack } from '../harness/testing.js';
import { ensureTools } from '../harness/tools.js';
import { waitFor } from '../harness/wait.js';
import { call, createTenant, expectStatus, newAdminKey } from './support/api.js';
import {
  dashboardExpressions,
  exec,
  installCrds,
  ok,
  RELEASE,
  renderChart,
  type PanelExpression,
} from './support/chart.js';
import { BACKLOGGED, FakeReplicatorMetrics } from './support/fake-replicator.js';
import { startReplicator } from './support/pipeline.js';

const NAMESPACE = `pulse-runtime-${randomBytes(3).toString('hex')}`;
const WAIT = { timeoutMs: 90_000, intervalMs: 1_000 };

/**
 * Series the local stack cannot have: CloudNativePG's exporter (cnpg_*) runs in the database pods
 * and kube-state-metrics (kube_*) reports pods and Deployments that run on nodes; the local stack
 * has neither. Expressions over them are only parsed (chart.test.ts), not run.
 */
const NOT_LOCAL = /\b(cnpg|kube)_[a-z_]+\{/;

/**
 * Series that only exist after a failure: 5xx responses, and dead letters (a counter labelled by
 * reason, so it has no series before the first one). A healthy run has none: their selectors are
 * empty, and so is the result of an expression over nothing else.
 */
const ONLY_ON_FAILURE = /status_code=~"5\.\."|\bpulse_projection_dead_letters_total\{/;

interface ServiceMonitor {
  metadata: { labels: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    endpoints: { port: string; honorLabels?: boolean }[];
  };
}
interface Service {
  metadata: { name: string; labels: Record<string, string> };
}
interface Rule {
  alert: string;
  expr: string;
}

/**
 * The target labels Prometheus Operator gives a ServiceMonitor's targets: namespace, job (the
 * Service's name), endpoint (the port's name), container, and pod (here the process name).
 * Without `service`: the chart's honorLabels keeps the metrics' own service label, which the local scrape then keeps as well.
 */
function serviceMonitorLabels(objects: { kind: string }[]): Map<string, Record<string, string>> {
  const monitors = objects.filter((o) => o.kind === 'ServiceMonitor') as unknown as ServiceMonitor[];
  const services = objects.filter((o) => o.kind === 'Service') as unknown as Service[];
  const labels = new Map<string, Record<string, string>>();
  for (const monitor of monitors) {
    const selector = Object.entries(monitor.spec.selector.matchLabels);
    const service = services.find((s) => selector.every(([k, v]) => s.metadata.labels[k] === v));
    const endpoint = monitor.spec.endpoints[0];
    assert.ok(service && endpoint, `a Service for ${JSON.stringify(selector)}`);
    assert.equal(endpoint.honorLabels, true);
    const component = monitor.metadata.labels['app.kubernetes.io/component'] ?? '';
    labels.set(component, {
      namespace: NAMESPACE,
      job: service.metadata.name,
      endpoint: endpoint.port,
      container: component,
    });
  }
  return labels;
}

/** The operator's built-in queries, narrowed to the release namespace, as docs/operator.md advises for a shared Prometheus. */
const namespacedQueries = () =>
  Object.fromEntries(
    Object.entries(defaultQueries()).map(([name, query]) => [
      name,
      query.replace(/\bpulse_[a-z_]+\b/g, (metric) => `${metric}{namespace="${NAMESPACE}"}`),
    ]),
  );

describe('Helm chart charts/pulse at run time: the operator and the PromQL on the local stack', () => {
  let stack: TestStack;
  let prometheus = '';
  let objects: { kind: string; metadata: { name: string } }[] = [];
  let targetLabels = new Map<string, Record<string, string>>();
  const running: RunningService[] = [];
  const fake = new FakeReplicatorMetrics();
  let tokenDir = '';
  let operatorKubeconfig = '';

  const kubectl = (args: string[], input?: string) =>
    ok('kubectl', ['--kubeconfig', stack.env.KUBECONFIG ?? '', ...args], { input });
  const kubectlResult = (args: string[]) =>
    exec('kubectl', ['--kubeconfig', stack.env.KUBECONFIG ?? '', ...args]);

  /** Scrapes a local port as the chart's ServiceMonitor for that component would scrape its pod. */
  const scrapeAsInCluster = (component: string, name: string, port: number) => {
    const labels = targetLabels.get(component);
    assert.ok(labels, `a ServiceMonitor for ${component}`);
    addScrapeTarget(stack.info.runDir, name, port, { ...labels, pod: name });
  };

  /** A Pulse service of this suite, scraped under the chart's labels instead of the harness's. */
  const track = (component: ServiceName, service: RunningService) => {
    running.push(service);
    // Same file name as the harness's registration: it replaces it rather than scraping twice.
    scrapeAsInCluster(component, service.process.spec.name, Number(new URL(service.url).port));
    return service;
  };

  const query = async (expr: string) => {
    const url = `${prometheus}/api/v1/query?query=${encodeURIComponent(expr)}`;
    const body = (await (await fetch(url)).json()) as {
      status: string;
      error?: string;
      data: { result: { value: [number, string] }[] };
    };
    assert.equal(body.status, 'success', `${expr}: ${body.error}`);
    return body.data.result;
  };

  before(async () => {
    ensureTools(['helm', 'prometheus', 'crds']);
    stack = await testStack(['postgres', 'kafka', 'prometheus', 'controlplane']);
    prometheus = stack.env.PULSE_PROMETHEUS_URL ?? '';
    await installCrds(kubectl, kubectlResult);
    await kubectl(['create', 'namespace', NAMESPACE]);

    const yaml = await renderChart(NAMESPACE, [
      '--skip-tests',
      '--set',
      `replicationLag.prometheusAddress=${prometheus}`,
      '--set',
      'replicationLag.pollIntervalSeconds=2',
      '--set-json',
      `replicationLag.queries=${JSON.stringify(namespacedQueries())}`,
    ]);
    await kubectl(['apply', '--server-side', '--field-manager=pulse-chart', '-f', '-'], yaml);
    const list = JSON.parse(await kubectl(['get', '-n', NAMESPACE, '-o', 'json', '-f', '-'], yaml)) as {
      items: typeof objects;
    };
    objects = list.items;
    targetLabels = serviceMonitorLabels(objects);

    // The operator as its pod would be: the chart's ServiceAccount's token, nothing more.
    const serviceAccount = `${RELEASE}-operator`;
    const token = (await kubectl(['create', 'token', serviceAccount, '-n', NAMESPACE])).trim();
    const admin = parseYaml(await kubectl(['config', 'view', '--raw', '--minify', '-o', 'yaml'])) as {
      clusters: unknown[];
    };
    tokenDir = mkdtempSync(join(tmpdir(), 'pulse-operator-sa-'));
    const kubeconfig = join(tokenDir, 'kubeconfig');
    operatorKubeconfig = kubeconfig;
    writeFileSync(
      kubeconfig,
      stringifyYaml({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: admin.clusters,
        users: [{ name: serviceAccount, user: { token } }],
        contexts: [
          {
            name: serviceAccount,
            context: { cluster: (admin.clusters[0] as { name: string }).name, user: serviceAccount },
          },
        ],
        'current-context': serviceAccount,
      }),
      { mode: 0o600 },
    );
    track(
      'operator',
      await startService({ ...stack.info, env: stack.env }, 'operator', {
        instance: `${NAMESPACE}-operator`,
        port: await freePort(),
        env: {
          KUBECONFIG: kubeconfig,
          PULSE_OPERATOR_NAMESPACE: NAMESPACE,
          PULSE_LEADER_ELECTION_LEASE_DURATION_SECONDS: '6',
          PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '4',
          PULSE_LEADER_ELECTION_RETRY_PERIOD_SECONDS: '1',
        },
      }),
    );
  });
  after(async () => {
    for (const service of running.reverse()) await service.stop();
    await fake.close();
    if (tokenDir !== '') rmSync(tokenDir, { recursive: true, force: true });
    await kubectlResult(['delete', 'namespace', NAMESPACE, '--wait=false']);
    await stack.release();
  });

  it('scales the chart replicator Deployment through its scale subresource, with the chart RBAC only', async () => {
    const replicas = async () =>
      Number(
        await kubectl([
          'get',
          '-n',
          NAMESPACE,
          'deployment',
          `${RELEASE}-replicator`,
          '-o',
          'jsonpath={.spec.replicas}',
        ]),
      );
    // The chart sets no replicas: the API server's default.
    assert.equal(await replicas(), 1);

    // λ 100/s, μ 200/s and 20 000 events waiting: 11 replicas. The default scale-up policies
    // (the larger of +4 pods and +100% per 15 s) allow 5 in the first step; later steps depend on
    // timing and on the tolerance, so only the first is asserted.
    fake.load = BACKLOGGED;
    scrapeAsInCluster('replicator', `${NAMESPACE}-replicator-fake`, await fake.listen());
    await waitFor('the replicator Deployment to be scaled up', async () => (await replicas()) >= 5, WAIT);

    // The operator's credentials may change a Deployment only through its scale subresource.
    const asOperator = (verb: string, ...extra: string[]) =>
      exec('kubectl', [
        '--kubeconfig',
        operatorKubeconfig,
        'auth',
        'can-i',
        '-n',
        NAMESPACE,
        verb,
        'deployments',
        ...extra,
      ]);
    assert.equal((await asOperator('patch')).stdout.trim(), 'no');
    assert.equal((await asOperator('patch', '--subresource=scale')).stdout.trim(), 'yes');
    const status = JSON.parse(await kubectl(['get', '-n', NAMESPACE, 'rlag', RELEASE, '-o', 'json'])) as {
      status?: { desiredReplicas?: number; lastDecision?: { recommendation?: number } };
    };
    assert.ok((status.status?.desiredReplicas ?? 0) >= 5, JSON.stringify(status.status));
    assert.equal(status.status?.lastDecision?.recommendation, 11);
    // Its series go stale when their target stops answering; the real replicator takes over below.
    await fake.close();
  });

  it('returns data for every dashboard and alert expression while traffic flows', async () => {
    const scope = await suiteScope(stack, 'chart_runtime');
    const adminKey = newAdminKey();
    const env = { ...stack.env, ...scope };
    const write = track(
      'write',
      await startService({ ...stack.info, env }, 'write', {
        instance: `${NAMESPACE}-write`,
        port: await freePort(),
        env: { PULSE_BOOTSTRAP_ADMIN_KEY: adminKey },
      }),
    );
    track('replicator', await startReplicator(stack, scope, `${NAMESPACE}-replicator`));
    const read = track(
      'read',
      await startService({ ...stack.info, env }, 'read', {
        instance: `${NAMESPACE}-read`,
        port: await freePort(),
      }),
    );
    const tenant = await createTenant(write.url, adminKey);
    const registered = await expectStatus(
      call(write.url, 'POST', '/services', {
        key: tenant.key,
        body: {
          name: 'chart-runtime',
          hostname: 'chart-runtime.local',
        },
      }),
      201,
    );
    const serviceId = String(registered.id);

    const rules = (
      objects.find((o) => o.kind === 'PrometheusRule') as unknown as { spec: { groups: { rules: Rule[] }[] } }
    ).spec.groups.flatMap((group) => group.rules);
    // An alert's expression returns nothing while its condition is false, which is the healthy
    // state here: `bool` makes each comparison return its verdict for every series it judges.
    const alerts: PanelExpression[] = rules.map((rule) => ({
      name: `alert ${rule.alert}`,
      expr: rule.expr.replace(/ (>|<|==|!=|>=|<=) (?!bool )/g, ' $1 bool '),
    }));
    // Grafana's $__rate_interval with the chart's 30 s scrape interval: four intervals.
    const expressions = [...dashboardExpressions(NAMESPACE, '2m'), ...alerts];
    assert.ok(expressions.length >= 30);
    const excluded = expressions.filter((e) => NOT_LOCAL.test(e.expr));
    assert.deepEqual(
      excluded.map((e) => e.name),
      [
        'pipeline-overview.json "Lag per stage" #3',
        'pipeline-overview.json "Replicator replicas vs desired" #0',
        'pipeline-overview.json "Replicator replicas vs desired" #1',
        'service-health.json "Container restarts (1h)" #0',
        'alert PulseReadReplicaLagHigh',
      ],
    );
    const checked = expressions.filter((e) => !excluded.includes(e));

    /**
     * What returns nothing: an expression with no finite value, or any series selector in it that
     * selects nothing (an `or vector(0)` or an `or` branch would hide that in the result).
     */
    const missing = async () => {
      const empty: string[] = [];
      for (const { name, expr } of checked) {
        const values = (await query(expr)).map((sample) => Number(sample.value[1]));
        if (!values.some(Number.isFinite) && !ONLY_ON_FAILURE.test(expr)) empty.push(`${name}: ${expr}`);
        for (const [selector] of expr.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\}/g)) {
          if (ONLY_ON_FAILURE.test(selector)) continue;
          if ((await query(selector)).length === 0) empty.push(`${name}: selector ${selector}`);
        }
      }
      return empty;
    };
    let empty: string[] = [];
    const traffic = async () => {
      const now = Date.now();
      const samples = Array.from({ length: 20 }, (_, i) => ({
        service_id: serviceId,
        observed_at: new Date(now - i * 100).toISOString(),
        cpu_usage: 10 + i,
        memory_usage: 40,
        disk_usage: 30,
        load_avg: 0.5,
        network_rx_bytes: 1000,
        network_tx_bytes: 2000,
      }));
      await expectStatus(
        call(write.url, 'POST', '/metrics/system/batch', { key: tenant.key, body: { samples } }),
        202,
      );
      await expectStatus(call(read.url, 'GET', '/services', { key: tenant.key }), 200);
    };
    try {
      await waitFor(
        'every expression to return data',
        async () => {
          await traffic();
          empty = await missing();
          return empty.length === 0;
        },
        { timeoutMs: 180_000, intervalMs: 1_000 },
      );
    } catch (error) {
      assert.fail(`${(error as Error).message}; still empty:\n${empty.join('\n')}`);
    }
  });
});
