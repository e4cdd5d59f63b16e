/**
 * `make bench-operator`: the operator at scale, against issue #6's target: "One operator handles 500
 * ReplicationLag resources at a 15 s poll with under 5% of one core and under 150 MB RSS."
 *
 * Starts a stack of its own (Prometheus and the control plane: etcd, kube-apiserver,
 * kube-controller-manager; run dir `.pulse-bench-operator`, ports from 19800, loopback), serves the
 * replicator's metrics from the integration suite's fake exporter (Prometheus scrapes it), creates N
 * Deployments and N ReplicationLags (one per Deployment) in namespace `pulse-bench`, starts one
 * operator (`operator/dist/main.js`, as deployed), waits until every ReplicationLag has a status, then
 * samples the operator's CPU time and RSS from /proc every 5 s for the window, counts its reconciles,
 * Prometheus' queries and the API server's requests, and writes docs/benchmarks/<date>-operator.md
 * and the raw samples beside it (.json). Before the stack starts and again before the operator
 * starts it waits (15 min at most) for the 1-minute load average to fall below 1.5 (--max-load):
 * the machine is shared.
 *
 *   node --import tsx bench/operator.ts [--resources 500] [--seconds 300] [--poll 15] [--profile]
 *     [--queries distinct|identical] [--operator-ref COMMIT] [--name NAME] [--run-dir DIR]
 *     [--base-port N] [--max-load 1.5] [--operator-env NAME=VALUE ...]
 *   node --import tsx bench/operator.ts --render docs/benchmarks/<date>-operator.json
 *
 * --queries distinct (the default) gives every ReplicationLag PromQL of its own, as resources that
 * watch different replicators have; identical runs the built-in queries for all, the best case for
 * an operator that shares answers. --operator-ref measures a commit's operator, built in the run
 * dir, instead of the working tree's operator/dist (which others may be rebuilding).
 *
 * --profile adds, after the measurement, a second operator under `node --cpu-prof` (settled, then
 * sampled for up to 120 s) and reports what dominates its CPU time. The profiler costs CPU of its
 * own, which is why it never runs in the measured window.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type * as OperatorModule from '@pulse/operator';
import { addScrapeTarget } from '../test/harness/components/prometheus.js';
import type { RunningService } from '../test/harness/services.js';
import { readStackInfo, Stack } from '../test/harness/stack.js';
import { repoRoot, versions } from '../test/harness/tools.js';
import { waitFor } from '../test/harness/wait.js';
import { FakeReplicatorMetrics } from '../test/integration/support/fake-replicator.js';
import { commit, machine, statusKb } from './host.js';
import { counters } from './operator/exposition.js';
import {
  applyFixtures,
  distinctQueries,
  INITIAL_REPLICAS,
  listReplicationLags,
  LOAD,
  MAX_REPLICAS,
  NAMESPACE,
  resourceName,
  statusSummary,
  TARGET_LAG_SECONDS,
  type Fixture,
  type QueryMode,
} from './operator/fixtures.js';
import { waitForQuietMachine, type LoadGate } from './operator/load-gate.js';
import { countLog, fileSize } from './operator/log.js';
import {
  prepareOperator,
  settle,
  startOperator,
  waitForLease,
  waitForStatuses,
} from './operator/operator-process.js';
import { CLK_TCK, pidOf, SAMPLE_INTERVAL_MS, sampleWindow } from './operator/proc.js';
import { monotonicUs, PROFILE_WINDOW_SECONDS, profileRun, type ProfileRun } from './operator/profile.js';
import { markdown } from './operator/report.js';
import {
  CPU_WINDOW_MS,
  results,
  TARGET_CPU_PERCENT,
  TARGET_RSS_MB,
  verdict,
  type Raw,
} from './operator/results.js';
import { round } from './operator/round.js';

const { values } = parseArgs({
  options: {
    resources: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '300' },
    poll: { type: 'string', default: '15' },
    profile: { type: 'boolean', default: false },
    name: { type: 'string' },
    'run-dir': { type: 'string', default: join(repoRoot, '.pulse-bench-operator') },
    'base-port': { type: 'string', default: '19800' },
    'max-load': { type: 'string', default: '1.5' },
    'operator-ref': { type: 'string' },
    queries: { type: 'string', default: 'distinct' },
    'operator-env': { type: 'string', multiple: true, default: [] },
    render: { type: 'string' },
  },
});

function integerArg(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(`--${name} must be an integer from ${min} to ${max}, not ${text}`);
  return value;
}

const RESOURCES = integerArg('resources', values.resources, 1, 5_000);
const SECONDS = integerArg('seconds', values.seconds, 30, 3_600);
// The CRD's bounds (SPEC_BOUNDS.pollIntervalSeconds); the API server enforces them too.
const POLL = integerArg('poll', values.poll, 1, 3_600);
const PROFILE = values.profile;
if (values.queries !== 'distinct' && values.queries !== 'identical')
  throw new Error(`--queries must be distinct or identical, not ${values.queries}`);
const QUERY_MODE: QueryMode = values.queries;
/** Extra environment of the measured operator (NODE_OPTIONS, say); the report lists it with the rest. */
const OPERATOR_ENV = Object.fromEntries(
  values['operator-env'].map((pair) => {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--operator-env must be NAME=VALUE, not ${pair}`);
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
);
const NAME = values.name ?? 'operator';
const runDir = resolve(values['run-dir']);
const basePort = integerArg('base-port', values['base-port'], 1_024, 65_000);
const reportDir = join(repoRoot, 'docs', 'benchmarks');
/** The modules take the run's size and shape from here rather than importing this entry point. */
const fixture: Fixture = { resources: RESOURCES, pollSeconds: POLL, queryMode: QUERY_MODE };

/** The machine is shared: start, and start measuring, only below this 1-minute load average. */
const LOAD_MAX = Number(values['max-load']);
if (!(LOAD_MAX > 0)) throw new Error(`--max-load must be a positive number, not ${values['max-load']}`);
/** The stack's processes whose CPU is sampled beside the operator's, for context. */
const STACK_PROCESSES = ['prometheus', 'etcd', 'kube-apiserver', 'kube-controller-manager'];

let cleanup: (() => Promise<void>) | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench-operator: ${signal}; stopping what it started`);
    void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

/** --render: writes the markdown of a report again from its raw JSON (after a change of wording). */
function render(file: string): void {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Raw;
  const md = file.replace(/\.json$/, '.md');
  writeFileSync(md, markdown(raw, basename(file), LOAD_MAX));
  console.log(`wrote ${md}`);
}

async function main(): Promise<void> {
  if (values.render !== undefined) {
    render(resolve(values.render));
    return;
  }
  const startedAt = new Date();
  const startedMono = performance.now();
  if (readStackInfo(runDir))
    throw new Error(
      `a stack is up in ${runDir}; stop it with: node --import tsx test/harness/cli.ts down --run-dir ${runDir}`,
    );
  console.log(
    `bench-operator: ${RESOURCES} ReplicationLags, poll ${POLL} s, window ${SECONDS} s${PROFILE ? ', profiled' : ''}; run dir ${runDir}`,
  );
  const loadStart = loadavg().map((v) => round(v, 2));
  const loadGates: LoadGate[] = [await waitForQuietMachine('before starting the stack', LOAD_MAX)];

  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(join(runDir, 'manifests'), { recursive: true });
  const profileDir = join(runDir, 'cpu-profile');
  if (PROFILE) mkdirSync(profileDir, { recursive: true });

  const build = await prepareOperator(values['operator-ref'], runDir);
  // The CRD, the built-in queries and the query function of the build under test.
  const api = (await import(
    pathToFileURL(join(dirname(build.entry), 'index.js')).href
  )) as typeof OperatorModule;
  const bounds = api.SPEC_BOUNDS.pollIntervalSeconds;
  if (POLL < bounds.min || POLL > bounds.max)
    throw new Error(`--poll must be from ${bounds.min} to ${bounds.max} s for this operator`);
  console.log(
    `operator: ${build.source === 'commit' ? `commit ${build.commit}` : `working tree at ${build.commit}`}, build ${build.distSha256} of ${build.builtAt}` +
      (build.uncommitted.length > 0 ? `, uncommitted: ${build.uncommitted.join('; ')}` : ''),
  );

  const stackStarted = performance.now();
  const stack = await Stack.start({ runDir, basePort, components: ['prometheus', 'controlplane'] });
  const stackSeconds = round((performance.now() - stackStarted) / 1000);
  const fake = new FakeReplicatorMetrics();
  let fakeListening = false;
  let operator: RunningService | undefined;
  let stopping: Promise<void> | undefined;
  const stopAll = () => {
    stopping ??= (async () => {
      await operator?.stop();
      operator = undefined;
      await stack.stop();
      // After Prometheus, whose keep-alive connections would otherwise hold the server open.
      if (fakeListening) await fake.close();
    })();
    return stopping;
  };
  cleanup = stopAll;
  try {
    const kubeconfig = stack.env.KUBECONFIG ?? '';
    const prometheusUrl = stack.env.PULSE_PROMETHEUS_URL ?? '';
    for (const [name, url] of [
      ['KUBECONFIG', kubeconfig],
      ['PULSE_PROMETHEUS_URL', prometheusUrl],
    ] as const) {
      if (url === '') throw new Error(`the stack did not provide ${name}`);
    }
    if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(prometheusUrl))
      throw new Error(`PULSE_PROMETHEUS_URL=${prometheusUrl}: the benchmark stays on loopback`);

    // The replicator's metrics, scraped by Prometheus; the operator's queries need them answered.
    fake.load = LOAD;
    const fakePort = await fake.listen();
    fakeListening = true;
    addScrapeTarget(runDir, 'replicator', fakePort, { service: 'replicator' });
    const queries: Record<string, string> =
      QUERY_MODE === 'distinct' ? distinctQueries(api, resourceName(1)) : api.defaultQueries();
    await waitFor(
      'Prometheus to answer the policy inputs from the fake replicator',
      async () => {
        const inputs = ['arrivalRate', 'perReplicaRate', 'projectionBacklog', 'partitions'].map(
          (input) => queries[input] ?? '',
        );
        const answers = await Promise.all(
          inputs.map((promql) => api.queryNumber(prometheusUrl, promql, AbortSignal.timeout(5_000))),
        );
        return answers.every((value) => value !== undefined);
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );

    const { applyDeploymentsSeconds, applyReplicationLagsSeconds, controlPlaneSettleSeconds } =
      await applyFixtures(api, kubeconfig, prometheusUrl, runDir, fixture);

    const env: Record<string, string> = {
      PULSE_OPERATOR_NAMESPACE: NAMESPACE,
      PULSE_LEADER_ELECTION_IDENTITY: 'bench-operator',
      PULSE_LOG_LEVEL: 'info',
      ...OPERATOR_ENV,
    };
    // The gate comes before the operator starts: once it runs, the system under test is part of the
    // load (at 500 resources it may keep the 1-minute figure above the bar on its own).
    loadGates.push(await waitForQuietMachine('before starting the operator', LOAD_MAX));
    console.log('starting the operator');
    const operatorStarted = performance.now();
    operator = await startOperator(stack.info, build, env);
    const running = operator;
    const operatorPid = running.process.pid;
    const logFile = running.process.logFile;
    await waitForLease(running);
    await waitForStatuses(kubeconfig, running, fixture);
    const warmupSeconds = round((performance.now() - operatorStarted) / 1000);
    console.log(`warm-up done in ${warmupSeconds} s; waiting for one more round of ${RESOURCES} reconciles`);
    const settleSeconds = await settle(running, fixture);
    const otherPids = Object.fromEntries(
      STACK_PROCESSES.flatMap((name) => {
        const pid = pidOf(runDir, name);
        return pid === undefined ? [] : [[name, pid] as const];
      }),
    );

    console.log(`measuring for ${SECONDS} s`);
    const loadWindowStart = loadavg().map((v) => round(v, 2));
    const logWindowStart = fileSize(logFile);
    const before = await counters(running.url, prometheusUrl, kubeconfig);
    const samples = await sampleWindow(running, otherPids, SECONDS);
    const after = await counters(running.url, prometheusUrl, kubeconfig);
    const loadWindowEnd = loadavg().map((v) => round(v, 2));
    const statusAfter = statusSummary(await listReplicationLags(kubeconfig), Date.now());
    const peakKb = statusKb(operatorPid, 'VmHWM');
    // A fresh run dir: the log holds this operator's lines only.
    const log = { window: countLog(logFile, logWindowStart), wholeRun: countLog(logFile, 0) };
    await running.stop();
    operator = undefined;

    let profile: ProfileRun | null = null;
    if (PROFILE) {
      // A second operator under the profiler, after the measurement: the profiler's own cost must
      // not reach the measured figures. The same identity takes the lease the first one released.
      const seconds = Math.min(SECONDS, PROFILE_WINDOW_SECONDS);
      console.log(`profiling: a second operator under node --cpu-prof, settled, then ${seconds} s`);
      operator = await startOperator(stack.info, build, env, profileDir);
      const profiled = operator;
      await waitForLease(profiled);
      await settle(profiled, fixture);
      const startUs = monotonicUs();
      const profiledSamples = await sampleWindow(profiled, {}, seconds);
      const endUs = monotonicUs();
      // The profile is written when the process exits.
      await profiled.stop();
      operator = undefined;
      profile = profileRun(profileDir, seconds, profiledSamples, [startUs, endUs]);
    }

    const finished = new Date();
    const raw: Raw = {
      name: NAME,
      date: startedAt.toISOString(),
      finished: finished.toISOString(),
      durationSeconds: round((performance.now() - startedMono) / 1000),
      commit: commit(),
      operator: build,
      machine: { ...machine(), node: process.version },
      tools: {
        kubernetes: versions.KUBERNETES_VERSION,
        etcd: versions.ETCD_VERSION,
        prometheus: versions.PROMETHEUS_VERSION,
      },
      target: { cpuPercentOfOneCore: TARGET_CPU_PERCENT, rssMb: TARGET_RSS_MB },
      parameters: {
        resources: RESOURCES,
        pollSeconds: POLL,
        windowSeconds: SECONDS,
        sampleIntervalSeconds: SAMPLE_INTERVAL_MS / 1000,
        cpuWindowSeconds: CPU_WINDOW_MS / 1000,
        profile: PROFILE,
        namespace: NAMESPACE,
        load: LOAD,
        spec: {
          initialReplicas: INITIAL_REPLICAS,
          targetLagSeconds: TARGET_LAG_SECONDS,
          maxReplicas: MAX_REPLICAS,
        },
        operatorEnv: env,
        queriesPerReconcile: Object.keys(queries).length,
        queryMode: QUERY_MODE,
        loadMax: LOAD_MAX,
        clkTck: CLK_TCK,
      },
      loadGates,
      loadAverage: { start: loadStart, windowStart: loadWindowStart, windowEnd: loadWindowEnd },
      setup: {
        stackSeconds,
        applyDeploymentsSeconds,
        applyReplicationLagsSeconds,
        controlPlaneSettleSeconds,
        warmupSeconds,
        settleSeconds,
      },
      samples,
      results: results(samples, before, after, fixture, Object.keys(queries).length),
      counters: { before, after },
      statusAfter,
      log,
      peakRssMbSinceStart: peakKb === undefined ? null : round(peakKb / 1024),
      profile,
    };
    const base = `${raw.date.slice(0, 10)}-${NAME}`;
    writeFileSync(join(reportDir, `${base}.json`), `${JSON.stringify(raw, null, 2)}\n`);
    writeFileSync(join(reportDir, `${base}.md`), markdown(raw, `${base}.json`, LOAD_MAX));
    const v = verdict(raw.results);
    console.log(`wrote docs/benchmarks/${base}.md and ${base}.json`);
    console.log(
      `CPU mean ${raw.results.cpu.meanPercentOfOneCore} % (max 30 s ${raw.results.cpu.max30sPercentOfOneCore} %), ` +
        `RSS max ${raw.results.rssMb.max} MB, reconciles/s ${raw.results.reconciles.perSecond} ` +
        `(expected ${raw.results.reconciles.expectedPerSecond}): target ${v.met ? 'met' : 'missed'}`,
    );
  } finally {
    await stopAll();
  }
}

await main();
