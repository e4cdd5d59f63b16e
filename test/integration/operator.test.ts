/**
 * The operator against a real kube-apiserver (with etcd and kube-controller-manager) and a real
 * Prometheus. What is faked is only the replicator's load: a small HTTP endpoint of this test serves
 * the replicator's metric names with values the test sets, Prometheus scrapes it, and the operator
 * (`node operator/dist/main.js`, as deployed) reads them through PromQL and scales a real Deployment
 * through its scale subresource.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { addScrapeTarget } from '../harness/components/prometheus.js';
import { freePort } from '../harness/ports.js';
import { isAlive, ManagedProcess } from '../harness/process.js';
import { isolatedStack, testStack, type TestStack } from '../harness/testing.js';
import { repoRoot } from '../harness/tools.js';
import { probe, waitFor } from '../harness/wait.js';
import { BACKLOGGED, FakeReplicatorMetrics, type Load } from './support/fake-replicator.js';

const run = promisify(execFile);

/** λ 10/s, nothing waiting: one replica is plenty. */
const QUIET: Load = { ...BACKLOGGED, publishedPerSecond: 10, backlogPerPartition: [0, 0, 0, 0] };

const LEASE_DURATION_SECONDS = 6;
const RETRY_PERIOD_SECONDS = 1;

interface Condition {
  type: string;
  status: string;
  reason: string;
  lastTransitionTime: string;
}
interface Decision {
  time: string;
  basis: string;
  recommendation: number;
  desired: number;
  limitedBy?: string;
  reason: string;
}
interface Status {
  observedGeneration?: number;
  desiredReplicas?: number;
  lastScaleTime?: string;
  lastDecision?: Decision;
  conditions?: Condition[];
}
interface ReplicationLagObject {
  metadata: { generation: number };
  status?: Status;
}

/** One namespace of a (shared or isolated) stack, and what the tests do in it. */
class OperatorScene {
  readonly namespace = `operator-${randomBytes(4).toString('hex')}`;
  readonly operators: { process: ManagedProcess; url: string; identity: string }[] = [];

  constructor(readonly stack: TestStack) {}

  async kubectl(args: string[], input?: string): Promise<string> {
    const child = run('kubectl', [
      '--kubeconfig',
      this.stack.env.KUBECONFIG ?? '',
      '-n',
      this.namespace,
      ...args,
    ]);
    if (input !== undefined) child.child.stdin?.end(input);
    return (await child).stdout;
  }

  async setUp(): Promise<void> {
    const crd = await run(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'operator/src/api/render-crd.ts')],
      {
        cwd: repoRoot,
      },
    );
    await this.kubectl(['apply', '-f', '-'], crd.stdout);
    await this.kubectl([
      'wait',
      '--for=condition=Established',
      '--timeout=30s',
      'crd/replicationlags.pulse.dev',
    ]);
    await this.kubectl(['create', 'namespace', this.namespace]);
    await this.kubectl([
      'create',
      'deployment',
      'replicator',
      '--image=registry.invalid/none:0',
      '--replicas=1',
    ]);
  }

  async startOperator(
    env: Record<string, string> = {},
  ): Promise<{ process: ManagedProcess; url: string; identity: string }> {
    const port = await freePort();
    const identity = `operator-${this.operators.length}-${randomBytes(2).toString('hex')}`;
    const process_ = ManagedProcess.start(this.stack.info.runDir, {
      name: `${this.namespace}-${identity}`,
      command: process.execPath,
      args: [join(repoRoot, 'operator/dist/main.js')],
      cwd: repoRoot,
      env: {
        KUBECONFIG: this.stack.env.KUBECONFIG ?? '',
        PULSE_OPERATOR_NAMESPACE: this.namespace,
        PULSE_HTTP_PORT: String(port),
        PULSE_HTTP_HOST: '127.0.0.1',
        PULSE_LEADER_ELECTION_IDENTITY: identity,
        PULSE_LEADER_ELECTION_LEASE_DURATION_SECONDS: String(LEASE_DURATION_SECONDS),
        PULSE_LEADER_ELECTION_RENEW_DEADLINE_SECONDS: '4',
        PULSE_LEADER_ELECTION_RETRY_PERIOD_SECONDS: String(RETRY_PERIOD_SECONDS),
        ...env,
      },
    });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`the operator at ${url} to be ready`, async () => (await probe(`${url}/readyz`)).ok, {
      timeoutMs: 30_000,
      abortIf: () => process_.exitedError(),
    });
    const operator = { process: process_, url, identity };
    this.operators.push(operator);
    return operator;
  }

  async metric(url: string, name: string): Promise<number> {
    const text = await (await fetch(`${url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }

  async replicas(): Promise<number> {
    return Number(await this.kubectl(['get', 'deployment', 'replicator', '-o', 'jsonpath={.spec.replicas}']));
  }

  async resource(name: string): Promise<ReplicationLagObject> {
    return JSON.parse(await this.kubectl(['get', 'rlag', name, '-o', 'json'])) as ReplicationLagObject;
  }

  /** The status, which must have been written, and its last decision. */
  async status(name: string): Promise<{ status: Status; decision: Decision }> {
    const { status } = await this.resource(name);
    assert.ok(status?.lastDecision, `status.lastDecision of ${name}`);
    return { status, decision: status.lastDecision };
  }

  async condition(name: string, type: string): Promise<Condition | undefined> {
    return (await this.resource(name)).status?.conditions?.find((c) => c.type === type);
  }

  async leaseHolder(leaseName = 'pulse-operator'): Promise<string> {
    return this.kubectl(['get', 'lease', leaseName, '-o', 'jsonpath={.spec.holderIdentity}']);
  }

  async events(reason: string): Promise<{ note: string; type: string; regarding: { name: string } }[]> {
    const list = JSON.parse(await this.kubectl(['get', 'events.events.k8s.io', '-o', 'json'])) as {
      items: { note: string; type: string; reason: string; regarding: { name: string } }[];
    };
    return list.items.filter((event) => event.reason === reason);
  }

  async tearDown(): Promise<void> {
    for (const operator of this.operators) await operator.process.stop();
    await this.kubectl(['delete', 'namespace', this.namespace, '--wait=false']).catch(() => undefined);
  }
}

/** A ReplicationLag on `replicator`; `queries` scope the PromQL to this test's metrics. */
function replicationLag(name: string, prometheus: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'pulse.dev/v1alpha1',
    kind: 'ReplicationLag',
    metadata: { name },
    spec: {
      scaleTargetRef: { name: 'replicator' },
      prometheus: { address: prometheus },
      targetLagSeconds: 10,
      maxReplicas: 10,
      pollIntervalSeconds: 2,
      ...extra,
    },
  });
}

/**
 * The built-in queries, narrowed to this test's target (a shared Prometheus also scrapes other
 * suites' replicators) and with 10 s rate windows: rate() over a series younger than its window
 * understates the rate, and the built-in 1 m would make the test wait a minute for true values.
 * The isolated suite below runs the built-in queries unchanged.
 */
function scopedQueries(instance: string): Record<string, string> {
  const s = (metric: string) => `${metric}{instance_name="${instance}"}`;
  const rate = (metric: string) => `sum(rate(${s(metric)}[10s]))`;
  const backlog = `max by (partition) (${s('pulse_projection_backlog_events')})`;
  return {
    arrivalRate: rate('pulse_relay_published_total'),
    perReplicaRate: `${rate('pulse_projection_applied_total')} / ${rate('pulse_projection_apply_duration_seconds_sum')}`,
    partitions: `count(${backlog})`,
    relayLagSeconds: `max(${s('pulse_relay_lag_seconds')})`,
    relayBacklog: `max(${s('pulse_relay_unpublished_events')})`,
    projectionLagSeconds: `max(${s('pulse_projection_current_lag_seconds')})`,
    projectionBacklog: `sum(${backlog})`,
    replicaLagSeconds: `max(${s('pulse_replica_lag_seconds')})`,
    replicaLagBytes: `max(${s('pulse_replica_lag_bytes')})`,
  };
}

const WAIT = { timeoutMs: 60_000, intervalMs: 500 };

describe('operator: scaling the replicator on a real API server and Prometheus', () => {
  let scene: OperatorScene;
  const fake = new FakeReplicatorMetrics();
  const instance = `operator-fake-${randomBytes(4).toString('hex')}`;
  const name = 'pulse';
  let leader: { process: ManagedProcess; url: string; identity: string };
  let follower: { process: ManagedProcess; url: string; identity: string };

  before(async () => {
    scene = new OperatorScene(await testStack(['controlplane', 'prometheus']));
    await scene.setUp();
    fake.load = BACKLOGGED;
    addScrapeTarget(scene.stack.info.runDir, instance, await fake.listen());
    leader = await scene.startOperator();
    // The first process has the lease before the second one starts competing.
    await waitFor(
      'the first operator to hold the lease',
      async () => (await scene.leaseHolder()) === leader.identity,
      WAIT,
    );
    follower = await scene.startOperator();
  });
  after(async () => {
    await scene.tearDown();
    await fake.close();
    await scene.stack.release();
  });

  it('rejects a ReplicationLag whose minReplicas exceeds maxReplicas (CEL rule)', async () => {
    const invalid = replicationLag('invalid', 'http://prometheus:9090', { minReplicas: 5, maxReplicas: 2 });
    await assert.rejects(
      scene.kubectl(['create', '-f', '-'], invalid),
      /minReplicas must be less than or equal to maxReplicas/,
    );
  });

  it('scales up on a backlog within the partition count, explains it in status, columns and an Event', async () => {
    const prometheus = scene.stack.env.PULSE_PROMETHEUS_URL ?? '';
    await scene.kubectl(
      ['create', '-f', '-'],
      replicationLag(name, prometheus, {
        prometheus: { address: prometheus, queries: scopedQueries(instance) },
        behavior: { scaleDown: { stabilizationWindowSeconds: 20 } },
      }),
    );
    await waitFor('the Deployment to be scaled to 4', async () => (await scene.replicas()) === 4, WAIT);

    const { status, decision } = await scene.status(name);
    assert.deepEqual(
      [decision.basis, decision.recommendation, decision.desired, decision.limitedBy, status.desiredReplicas],
      ['throughput', 11, 4, 'partitions', 4],
    );
    assert.match(decision.reason, /4 partitions/);
    assert.ok(status.lastScaleTime, 'lastScaleTime is set');
    const conditions = Object.fromEntries(
      (status.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]),
    );
    assert.deepEqual(conditions, {
      Ready: 'True/Scaling',
      MetricsAvailable: 'True/MetricsAvailable',
      ScalingLimited: 'True/PartitionCount',
      LagWithinTarget: 'True/LagWithinTarget',
    });

    // LAG = relay 1.5 s + projection 3 s; BACKLOG = 30 unpublished + 20 000 offsets. RATE/S is
    // Prometheus' rate() of the fake's 100/s: the fake counts by the time between its answers,
    // Prometheus by its scrape timestamps, and on a busy machine they differ (a CI rehearsal read
    // 99.5 for a whole minute).
    const row = await waitFor(
      'kubectl get rlag to show 4 current replicas at the full rate',
      async () => {
        const out = await scene.kubectl(['get', 'rlag', name, '--no-headers']);
        const columns = out.trim().split(/\s+/);
        if (Math.abs(Number(columns[4]) - 100) <= 2 && columns[5] === '4') return columns;
        throw new Error(`the row is: ${out.trim()}`);
      },
      WAIT,
    );
    assert.deepEqual(
      [...row.slice(0, 4), ...row.slice(5, 8)],
      [name, 'deploy/replicator', '4.5s', '20030', '4', '4', '0.1s'],
    );
    const header = (await scene.kubectl(['get', 'rlag', name, '-o', 'wide'])).split('\n')[0] ?? '';
    assert.deepEqual(header.trim().split(/\s+/), [
      'NAME',
      'TARGET',
      'LAG',
      'BACKLOG',
      'RATE/S',
      'REPLICAS',
      'DESIRED',
      'REPLICA-LAG',
      'AGE',
      'LIMITED-BY',
      'READY',
    ]);

    const scaledUp = await waitFor('a ScaledUp event', async () => (await scene.events('ScaledUp'))[0], WAIT);
    assert.equal(scaledUp.type, 'Normal');
    assert.equal(scaledUp.regarding.name, name);
    assert.match(scaledUp.note, /from 1 to 4 replicas/);
  });

  it('acts only through the lease holder', async () => {
    assert.equal(await scene.leaseHolder(), leader.identity);
    assert.equal(await scene.metric(leader.url, 'pulse_operator_leader'), 1);
    assert.ok((await scene.metric(leader.url, 'pulse_operator_reconciles_total')) > 0);
    assert.equal(await scene.metric(follower.url, 'pulse_operator_leader'), 0);
    assert.equal(await scene.metric(follower.url, 'pulse_operator_reconciles_total'), 0);
  });

  it('holds the replica count with MetricsAvailable=False when the metrics disappear', async () => {
    fake.load = undefined;
    const missing = await waitFor(
      'MetricsAvailable=False',
      async () => {
        const condition = await scene.condition(name, 'MetricsAvailable');
        return condition?.status === 'False' ? condition : undefined;
      },
      WAIT,
    );
    assert.equal(missing.reason, 'MetricsMissing');
    const { status, decision } = await scene.status(name);
    assert.deepEqual([decision.basis, status.desiredReplicas], ['hold', 4]);
    assert.equal(await scene.replicas(), 4);
    assert.equal((await scene.condition(name, 'Ready'))?.status, 'False');
    const warning = await waitFor(
      'a MetricsMissing event',
      async () => (await scene.events('MetricsMissing'))[0],
      WAIT,
    );
    assert.equal(warning.type, 'Warning');
  });

  it('scales down only after the scale-down stabilization window', async () => {
    fake.load = QUIET;
    const firstQuiet = await waitFor(
      'a decision that asks for 1 replica',
      async () => {
        const decision = (await scene.resource(name)).status?.lastDecision;
        return decision?.basis === 'throughput' && decision.recommendation === 1 ? decision : undefined;
      },
      WAIT,
    );
    assert.equal(firstQuiet.limitedBy, 'stabilization');
    assert.equal(await scene.replicas(), 4);
    await waitFor('the Deployment to be scaled down to 1', async () => (await scene.replicas()) === 1, WAIT);
    const { status } = await scene.status(name);
    const waited = (Date.parse(status.lastScaleTime ?? '') - Date.parse(firstQuiet.time)) / 1000;
    // The window (20 s) counts from the last recommendation of 4, at most one poll (2 s) earlier.
    assert.ok(waited >= 17, `scaled down ${waited}s after the first quiet decision`);
    const scaledDown = await waitFor(
      'a ScaledDown event',
      async () => (await scene.events('ScaledDown'))[0],
      WAIT,
    );
    assert.match(scaledDown.note, /from 4 to 1 replica\b/);
  });

  it('fails over to the other process within the lease duration when the leader is killed', async () => {
    const killed = Date.now();
    process.kill(-leader.process.pid, 'SIGKILL');
    await waitFor(
      'the follower to hold the lease',
      async () => (await scene.leaseHolder()) === follower.identity,
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    const seconds = (Date.now() - killed) / 1000;
    // Expiry is judged by the follower's clock from the last renewal it saw, which can be up to one
    // retry period older than the kill.
    assert.ok(seconds <= LEASE_DURATION_SECONDS + 2 * RETRY_PERIOD_SECONDS, `took over after ${seconds}s`);
    await waitFor(
      'the new leader to reconcile',
      async () => Date.parse((await scene.status(name)).decision.time) > killed + seconds * 1000,
      WAIT,
    );
    assert.equal(await scene.metric(follower.url, 'pulse_operator_leader'), 1);
  });

  it('releases the lease on SIGTERM', async () => {
    await follower.process.stop();
    const exit = await waitFor('the exit status', () => follower.process.exit, WAIT);
    assert.equal(exit.code, 0);
    assert.equal(await scene.leaseHolder(), '');
  });
});

describe('operator: surviving an API server restart', () => {
  let scene: OperatorScene;
  const fake = new FakeReplicatorMetrics();
  let apiserver: ManagedProcess | undefined;

  before(async () => {
    // Its own control plane and Prometheus: the API server goes down, and the built-in queries run
    // unscoped, which only an isolated Prometheus makes exact.
    scene = new OperatorScene(await isolatedStack(['controlplane', 'prometheus']));
    await scene.setUp();
    fake.load = BACKLOGGED;
    addScrapeTarget(scene.stack.info.runDir, 'replicator', await fake.listen());
  });
  after(async () => {
    await scene.tearDown();
    await apiserver?.stop();
    await fake.close();
    await scene.stack.release();
  });

  it('recovers its watch and keeps reconciling after kube-apiserver restarts', async () => {
    const operator = await scene.startOperator();
    const prometheus = scene.stack.env.PULSE_PROMETHEUS_URL ?? '';
    await scene.kubectl(['create', '-f', '-'], replicationLag('pulse', prometheus));
    await waitFor('the Deployment to be scaled to 4', async () => (await scene.replicas()) === 4, WAIT);

    apiserver = await restartApiServer(scene.stack.info.runDir);
    await waitFor(
      'kubectl to answer again',
      async () => (await scene.kubectl(['get', '--raw', '/readyz'])).trim() === 'ok',
      WAIT,
    );

    // Only a watch (or re-list) that works again can bring this spec change to the operator.
    await scene.kubectl([
      'patch',
      'rlag',
      'pulse',
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { maxReplicas: 3 } }),
    ]);
    await waitFor(
      'the Deployment to be scaled down to the new maximum',
      async () => (await scene.replicas()) === 3,
      WAIT,
    );
    const { metadata } = await scene.resource('pulse');
    const { status, decision } = await scene.status('pulse');
    assert.deepEqual([status.observedGeneration, decision.limitedBy], [metadata.generation, 'max']);
    assert.ok((await scene.metric(operator.url, 'pulse_operator_watch_restarts_total')) >= 1);
    await waitFor(
      'the watch to be healthy',
      async () => (await scene.metric(operator.url, 'pulse_operator_watch_healthy')) === 1,
      WAIT,
    );
  });
});

/** Stops kube-apiserver and starts the same binary with the same arguments, as a restart would. */
async function restartApiServer(runDir: string): Promise<ManagedProcess> {
  const pid = Number(readFileSync(join(runDir, 'run', 'kube-apiserver.pid'), 'utf8').split('\n')[0]);
  const [command = '', ...args] = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  // A crash rather than a clean stop: the harsher case, and the connections drop at once.
  process.kill(-pid, 'SIGKILL');
  await waitFor('kube-apiserver to exit', () => !isAlive(pid), { timeoutMs: 30_000, intervalMs: 100 });
  return ManagedProcess.start(runDir, { name: 'kube-apiserver', command, args });
}
