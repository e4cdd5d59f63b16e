/**
 * What the operator works on: N Deployments and N ReplicationLags (one per Deployment) in namespace
 * `pulse-bench`, applied with kubectl, the fake replicator's load their queries read, and what their
 * statuses say after the window.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type * as OperatorModule from '@pulse/operator';
import { waitFor } from '../../test/harness/wait.js';
import type { Load } from '../../test/integration/support/fake-replicator.js';
import { round } from './round.js';

export const NAMESPACE = 'pulse-bench';

/**
 * What the fake replicator reports: λ 100/s, μ = 120 applied/s over 0.4 busy s/s = 300/s, and 400
 * events waiting on 4 partitions, so (100 + 400 / 10 s) / 300 = 0.47: one replica, which every
 * Deployment has. Each poll runs every query and the whole policy on real numbers and decides to
 * stay, as a ReplicationLag does most of the time: no scale write and no Event in the window.
 */
export const LOAD: Load = {
  publishedPerSecond: 100,
  appliedPerSecond: 120,
  busyFraction: 0.4,
  backlogPerPartition: [100, 100, 100, 100],
  relayLagSeconds: 0.5,
  relayUnpublished: 10,
  projectionLagSeconds: 1.2,
  replicaLagSeconds: 0.1,
};
export const INITIAL_REPLICAS = 1;
export const TARGET_LAG_SECONDS = 10;
export const MAX_REPLICAS = 12;

/**
 * distinct: every ReplicationLag's PromQL differs (the built-in queries with a matcher of its own
 * that every series passes), as resources watching different replicators would; no two can share
 * an answer. identical: all of them run the built-in queries, the best case for any sharing.
 */
export type QueryMode = 'distinct' | 'identical';

/** The fixture's size and shape, from the command line: the waits and the results depend on them too. */
export interface Fixture {
  resources: number;
  pollSeconds: number;
  queryMode: QueryMode;
}

const execFileAsync = promisify(execFile);

export async function kubectl(kubeconfig: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    timeout: timeoutMs,
    maxBuffer: 512 * 1024 * 1024,
  });
  return stdout;
}

export const resourceName = (index: number) => `replicator-${String(index).padStart(4, '0')}`;

function deployment(name: string): object {
  const labels = { app: name };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NAMESPACE, labels },
    spec: {
      replicas: INITIAL_REPLICAS,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        // No node runs it: the pods stay Pending, and the operator reads only the scale subresource.
        spec: { containers: [{ name: 'replicator', image: 'registry.invalid/none:0' }] },
      },
    },
  };
}

/**
 * The built-in queries with a matcher of the resource's own on every selector: `bench_resource`
 * is on no series, so `!=` keeps them all and the answers stay the built-in ones; only the text
 * differs from every other resource's.
 */
export function distinctQueries(api: typeof OperatorModule, name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(api.defaultQueries()).map(([input, promql]) => [
      input,
      promql.replace(/\b(pulse_[a-z0-9_]+)\b(?!\{)/g, `$1{bench_resource!="${name}"}`),
    ]),
  );
}

function replicationLag(
  api: typeof OperatorModule,
  name: string,
  prometheusUrl: string,
  fixture: Fixture,
): object {
  return {
    apiVersion: api.API_VERSION,
    kind: api.KIND,
    metadata: { name, namespace: NAMESPACE },
    spec: {
      scaleTargetRef: { name },
      // This Prometheus scrapes one replicator, the fake: the built-in queries find its metrics.
      prometheus:
        fixture.queryMode === 'distinct'
          ? { address: prometheusUrl, queries: distinctQueries(api, name) }
          : { address: prometheusUrl },
      targetLagSeconds: TARGET_LAG_SECONDS,
      maxReplicas: MAX_REPLICAS,
      pollIntervalSeconds: fixture.pollSeconds,
    },
  };
}

/** Writes the objects as one List into the run dir and applies it server-side in one kubectl call. */
async function applyAll(kubeconfig: string, runDir: string, file: string, items: object[]): Promise<number> {
  const path = join(runDir, 'manifests', file);
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  const started = performance.now();
  await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=pulse-bench', '-f', path], 900_000);
  return round((performance.now() - started) / 1000);
}

/**
 * Applies the CRD, the namespace, the Deployments and the ReplicationLags (manifests in
 * `<runDir>/manifests`), then waits for the control plane to settle; returns the seconds of each.
 */
export async function applyFixtures(
  api: typeof OperatorModule,
  kubeconfig: string,
  prometheusUrl: string,
  runDir: string,
  fixture: Fixture,
): Promise<{
  applyDeploymentsSeconds: number;
  applyReplicationLagsSeconds: number;
  controlPlaneSettleSeconds: number;
}> {
  const { resources } = fixture;
  console.log('applying the CRD, the namespace, the Deployments and the ReplicationLags');
  const crdFile = join(runDir, 'manifests', 'crd.json');
  writeFileSync(crdFile, JSON.stringify(api.replicationLagCrd));
  await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=pulse-bench', '-f', crdFile]);
  await kubectl(
    kubeconfig,
    ['wait', '--for=condition=Established', '--timeout=60s', `crd/${api.CRD_NAME}`],
    90_000,
  );
  await kubectl(kubeconfig, ['create', 'namespace', NAMESPACE]);
  const names = Array.from({ length: resources }, (_, i) => resourceName(i + 1));
  const applyDeploymentsSeconds = await applyAll(
    kubeconfig,
    runDir,
    'deployments.json',
    names.map(deployment),
  );
  const applyReplicationLagsSeconds = await applyAll(
    kubeconfig,
    runDir,
    'replicationlags.json',
    names.map((name) => replicationLag(api, name, prometheusUrl, fixture)),
  );
  const created = (await listReplicationLags(kubeconfig)).length;
  if (created !== resources) throw new Error(`${created} ReplicationLags exist, not ${resources}`);
  // kube-controller-manager creates a ReplicaSet and a pod per Deployment at its own pace (client
  // QPS 20): let it finish, so that its requests do not share the API server with the window.
  const settledStarted = performance.now();
  await waitFor(
    `kube-controller-manager to create the pods of all ${resources} Deployments`,
    async () => {
      const out = await kubectl(kubeconfig, [
        '-n',
        NAMESPACE,
        'get',
        'deployments',
        '-o',
        'jsonpath={range .items[*]}{.status.replicas}{"\\n"}{end}',
      ]);
      const replicas = out.trim().split('\n').filter(Boolean);
      return replicas.length === resources && replicas.every((r) => r === String(INITIAL_REPLICAS));
    },
    { timeoutMs: Math.min(30 * 60_000, 120_000 + resources * 500), intervalMs: 2_000 },
  );
  const controlPlaneSettleSeconds = round((performance.now() - settledStarted) / 1000);
  return { applyDeploymentsSeconds, applyReplicationLagsSeconds, controlPlaneSettleSeconds };
}

interface RlagItem {
  metadata: { name: string; generation?: number };
  status?: {
    observedGeneration?: number;
    desiredReplicas?: number;
    lastDecision?: { time: string; basis: string; desired: number; limitedBy?: string };
    conditions?: { type: string; status: string; reason: string }[];
  };
}

export async function listReplicationLags(kubeconfig: string): Promise<RlagItem[]> {
  const out = await kubectl(kubeconfig, ['-n', NAMESPACE, 'get', 'replicationlags', '-o', 'json'], 120_000);
  return (JSON.parse(out) as { items: RlagItem[] }).items;
}

/** What the statuses say right after the window: every resource decided recently, on what basis. */
export function statusSummary(items: RlagItem[], nowMs: number) {
  const count = (values: string[]) => {
    const out: Record<string, number> = {};
    for (const value of values) out[value] = (out[value] ?? 0) + 1;
    return out;
  };
  const ages = items.map((item) => {
    const time = item.status?.lastDecision?.time;
    return time === undefined ? Number.POSITIVE_INFINITY : (nowMs - Date.parse(time)) / 1000;
  });
  const condition = (item: RlagItem, type: string) => {
    const found = item.status?.conditions?.find((c) => c.type === type);
    return found === undefined ? 'none' : `${found.status}/${found.reason}`;
  };
  return {
    resources: items.length,
    current: items.filter(
      (item) =>
        item.status?.observedGeneration !== undefined &&
        item.status.observedGeneration === item.metadata.generation,
    ).length,
    maxDecisionAgeSeconds: items.length === 0 ? null : round(Math.max(...ages)),
    basis: count(items.map((item) => item.status?.lastDecision?.basis ?? 'none')),
    desired: count(items.map((item) => String(item.status?.desiredReplicas ?? 'none'))),
    ready: count(items.map((item) => condition(item, 'Ready'))),
    metricsAvailable: count(items.map((item) => condition(item, 'MetricsAvailable'))),
  };
}
