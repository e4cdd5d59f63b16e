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
 *     [--base-port N] [--max-load 1.5]
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
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { loadavg } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import type * as OperatorModule from '@pulse/operator';
import { addScrapeTarget } from '../test/harness/components/prometheus.js';
import { ManagedProcess } from '../test/harness/process.js';
import { serviceEntry, startService, waitForReady, type RunningService } from '../test/harness/services.js';
import { readStackInfo, Stack, type StackInfo } from '../test/harness/stack.js';
import { repoRoot, versions } from '../test/harness/tools.js';
import { waitFor } from '../test/harness/wait.js';
import { FakeReplicatorMetrics, type Load } from '../test/integration/support/fake-replicator.js';
import { commit, machine, statusKb } from './host.js';
import type { Machine } from './report.js';

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
/**
 * distinct: every ReplicationLag's PromQL differs (the built-in queries with a matcher of its own
 * that every series passes), as resources watching different replicators would; no two can share
 * an answer. identical: all of them run the built-in queries, the best case for any sharing.
 */
const QUERY_MODE: 'distinct' | 'identical' = values.queries;
const NAME = values.name ?? 'operator';
const runDir = resolve(values['run-dir']);
const basePort = integerArg('base-port', values['base-port'], 1_024, 65_000);
const reportDir = join(repoRoot, 'docs', 'benchmarks');

/** Issue #6's target. */
const TARGET_CPU_PERCENT = 5;
const TARGET_RSS_MB = 150;

const NAMESPACE = 'pulse-bench';
const SAMPLE_INTERVAL_MS = 5_000;
/** --profile: V8's default sampling interval, and the profiled window's length at most. */
const PROFILE_INTERVAL_US = 1_000;
const PROFILE_WINDOW_SECONDS = 120;
const CPU_WINDOW_MS = 30_000;
/** The machine is shared: start, and start measuring, only below this 1-minute load average. */
const LOAD_MAX = Number(values['max-load']);
if (!(LOAD_MAX > 0)) throw new Error(`--max-load must be a positive number, not ${values['max-load']}`);
const LOAD_POLL_MS = 10_000;
const LOAD_WAIT_MS = 15 * 60_000;
/** The stack's processes whose CPU is sampled beside the operator's, for context. */
const STACK_PROCESSES = ['prometheus', 'etcd', 'kube-apiserver', 'kube-controller-manager'];

/**
 * What the fake replicator reports: λ 100/s, μ = 120 applied/s over 0.4 busy s/s = 300/s, and 400
 * events waiting on 4 partitions, so (100 + 400 / 10 s) / 300 = 0.47: one replica, which every
 * Deployment has. Each poll runs every query and the whole policy on real numbers and decides to
 * stay, as a ReplicationLag does most of the time: no scale write and no Event in the window.
 */
const LOAD: Load = {
  publishedPerSecond: 100,
  appliedPerSecond: 120,
  busyFraction: 0.4,
  backlogPerPartition: [100, 100, 100, 100],
  relayLagSeconds: 0.5,
  relayUnpublished: 10,
  projectionLagSeconds: 1.2,
  replicaLagSeconds: 0.1,
};
const INITIAL_REPLICAS = 1;
const TARGET_LAG_SECONDS = 10;
const MAX_REPLICAS = 12;

const execFileAsync = promisify(execFile);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------------------------------------
// /proc

/** utime + stime of a process, in clock ticks; undefined once it is gone. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5); fields[0] is field 3.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** The machine's CPU time from /proc/stat, in clock ticks: all, and not idle (idle + iowait). */
function machineTicks(): { busy: number; total: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, steal };
}

function pidOf(name: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(runDir, 'run', `${name}.pid`), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

interface Sample {
  /** Wall clock, for the record. */
  atMs: number;
  /** Monotonic, for the intervals. */
  monoMs: number;
  operator: { cpuTicks: number; rssKb: number };
  /** The stack's processes' CPU time (ticks), for context. */
  others: Record<string, number | null>;
  machine: { busy: number; total: number; steal: number };
}

function sample(operatorPid: number, others: Record<string, number>): Sample {
  const ticks = cpuTicks(operatorPid);
  const rssKb = statusKb(operatorPid, 'VmRSS');
  if (ticks === undefined || rssKb === undefined)
    throw new Error(`the operator (pid ${operatorPid}) is gone`);
  return {
    atMs: Date.now(),
    monoMs: performance.now(),
    operator: { cpuTicks: ticks, rssKb },
    others: Object.fromEntries(Object.entries(others).map(([name, pid]) => [name, cpuTicks(pid) ?? null])),
    machine: machineTicks(),
  };
}

/** CPU time between two samples as a percentage of one core. */
const cpuPercent = (ticksA: number, ticksB: number, a: Sample, b: Sample) =>
  ((ticksB - ticksA) / CLK_TCK / ((b.monoMs - a.monoMs) / 1000)) * 100;

// ---------------------------------------------------------------------------------------------
// The Prometheus text format, for the counters of the operator, Prometheus and the API server

interface Series {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string, only?: string): Series[] {
  const series: Series[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || (only !== undefined && !line.startsWith(only))) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match?.[1] || match[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      if (pair[1] !== undefined) labels[pair[1]] = pair[2] ?? '';
    }
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return series;
}

function matching(series: Series[], name: string, labels: Record<string, string> = {}): Series[] {
  return series.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
}

const total = (series: Series[]) => series.reduce((sum, s) => sum + s.value, 0);

function totalBy(series: Series[], label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of series) out[s.labels[label] ?? ''] = (out[s.labels[label] ?? ''] ?? 0) + s.value;
  return out;
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])].sort();
  return Object.fromEntries(keys.map((key) => [key, round((after[key] ?? 0) - (before[key] ?? 0), 3)]));
}

async function fetchText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  return response.text();
}

/** The API server requests the operator makes per reconcile (and for its lease), by status code. */
const API_REQUESTS = {
  statusPatches: { resource: 'replicationlags', subresource: 'status', verb: 'PATCH' },
  scaleReads: { resource: 'deployments', subresource: 'scale', verb: 'GET' },
  scaleWrites: { resource: 'deployments', subresource: 'scale', verb: 'PATCH' },
  leaseUpdates: { resource: 'leases', verb: 'PUT' },
  eventsCreated: { resource: 'events', verb: 'POST' },
} as const;

interface Counters {
  monoMs: number;
  reconciles: Record<string, number>;
  reconcileSeconds: { sum: number; count: number };
  watchRestarts: number;
  leader: number;
  /** prom-client's process metrics of the operator, in MiB. */
  memory: { heapUsedMb: number; heapTotalMb: number; externalMb: number };
  prometheusQueries: Record<string, number>;
  apiserver: Record<keyof typeof API_REQUESTS, Record<string, number>>;
}

async function counters(operatorUrl: string, prometheusUrl: string, kubeconfig: string): Promise<Counters> {
  const [operatorText, prometheusText, apiserverText] = await Promise.all([
    fetchText(`${operatorUrl}/metrics`),
    fetchText(`${prometheusUrl}/metrics`),
    kubectl(kubeconfig, ['get', '--raw', '/metrics'], 60_000),
  ]);
  const op = parseExposition(operatorText).filter(
    (s) => s.name.startsWith('pulse_operator_') || s.name.startsWith('nodejs_'),
  );
  const prom = parseExposition(prometheusText, 'prometheus_http_requests_total');
  const api = parseExposition(apiserverText, 'apiserver_request_total{');
  const apiserver = Object.fromEntries(
    Object.entries(API_REQUESTS).map(([key, labels]) => [
      key,
      totalBy(matching(api, 'apiserver_request_total', labels), 'code'),
    ]),
  ) as Counters['apiserver'];
  return {
    monoMs: performance.now(),
    reconciles: totalBy(matching(op, 'pulse_operator_reconciles_total'), 'result'),
    reconcileSeconds: {
      sum: total(matching(op, 'pulse_operator_reconcile_duration_seconds_sum')),
      count: total(matching(op, 'pulse_operator_reconcile_duration_seconds_count')),
    },
    watchRestarts: total(matching(op, 'pulse_operator_watch_restarts_total')),
    leader: total(matching(op, 'pulse_operator_leader')),
    memory: {
      heapUsedMb: round(total(matching(op, 'nodejs_heap_size_used_bytes')) / 2 ** 20),
      heapTotalMb: round(total(matching(op, 'nodejs_heap_size_total_bytes')) / 2 ** 20),
      externalMb: round(total(matching(op, 'nodejs_external_memory_bytes')) / 2 ** 20),
    },
    prometheusQueries: totalBy(
      matching(prom, 'prometheus_http_requests_total', { handler: '/api/v1/query' }),
      'code',
    ),
    apiserver,
  };
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

async function kubectl(kubeconfig: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await execFileAsync('kubectl', ['--kubeconfig', kubeconfig, ...args], {
    timeout: timeoutMs,
    maxBuffer: 512 * 1024 * 1024,
  });
  return stdout;
}

const resourceName = (index: number) => `replicator-${String(index).padStart(4, '0')}`;

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
function distinctQueries(api: typeof OperatorModule, name: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(api.defaultQueries()).map(([input, promql]) => [
      input,
      promql.replace(/\b(pulse_[a-z0-9_]+)\b(?!\{)/g, `$1{bench_resource!="${name}"}`),
    ]),
  );
}

function replicationLag(api: typeof OperatorModule, name: string, prometheusUrl: string): object {
  return {
    apiVersion: api.API_VERSION,
    kind: api.KIND,
    metadata: { name, namespace: NAMESPACE },
    spec: {
      scaleTargetRef: { name },
      // This Prometheus scrapes one replicator, the fake: the built-in queries find its metrics.
      prometheus:
        QUERY_MODE === 'distinct'
          ? { address: prometheusUrl, queries: distinctQueries(api, name) }
          : { address: prometheusUrl },
      targetLagSeconds: TARGET_LAG_SECONDS,
      maxReplicas: MAX_REPLICAS,
      pollIntervalSeconds: POLL,
    },
  };
}

/** Writes the objects as one List into the run dir and applies it server-side in one kubectl call. */
async function applyAll(kubeconfig: string, file: string, items: object[]): Promise<number> {
  const path = join(runDir, 'manifests', file);
  writeFileSync(path, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
  const started = performance.now();
  await kubectl(kubeconfig, ['apply', '--server-side', '--field-manager=pulse-bench', '-f', path], 900_000);
  return round((performance.now() - started) / 1000);
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

async function listReplicationLags(kubeconfig: string): Promise<RlagItem[]> {
  const out = await kubectl(kubeconfig, ['-n', NAMESPACE, 'get', 'replicationlags', '-o', 'json'], 120_000);
  return (JSON.parse(out) as { items: RlagItem[] }).items;
}

/** What the statuses say right after the window: every resource decided recently, on what basis. */
function statusSummary(items: RlagItem[], nowMs: number) {
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

// ---------------------------------------------------------------------------------------------
// The operator's log: warnings and errors (pino levels 40 and 50+)

interface LogCount {
  warnings: number;
  errors: number;
  /** Distinct messages of level >= 40, with how often each came. */
  messages: Record<string, number>;
}

const LOG_LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

function countLog(file: string, fromByte: number): LogCount {
  const result: LogCount = { warnings: 0, errors: 0, messages: {} };
  let text: string;
  try {
    text = readFileSync(file).subarray(fromByte).toString('utf8');
  } catch {
    return result;
  }
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) {
      // Not pino's JSON: something on stderr (a crash, a Node warning).
      if (line.trim() !== '') {
        result.errors++;
        const key = line.slice(0, 160);
        result.messages[key] = (result.messages[key] ?? 0) + 1;
      }
      continue;
    }
    let entry: { level?: number | string; msg?: string };
    try {
      entry = JSON.parse(line) as { level?: number | string; msg?: string };
    } catch {
      continue;
    }
    // pino writes numbers by default; @pulse/core's logger writes the labels.
    const level = typeof entry.level === 'string' ? (LOG_LEVELS[entry.level] ?? 0) : (entry.level ?? 0);
    if (level < 40) continue;
    if (level >= 50) result.errors++;
    else result.warnings++;
    const key = entry.msg ?? '(no msg)';
    result.messages[key] = (result.messages[key] ?? 0) + 1;
  }
  return result;
}

const fileSize = (file: string) => (existsSync(file) ? statSync(file).size : 0);

// ---------------------------------------------------------------------------------------------
// The load gate

interface LoadGate {
  before: string;
  waitedSeconds: number;
  met: boolean;
  loadAverage: number[];
}

async function waitForQuietMachine(before: string): Promise<LoadGate> {
  const started = performance.now();
  let lastLog = 0;
  let met = true;
  try {
    await waitFor(
      `the 1-minute load average to fall below ${LOAD_MAX}`,
      () => {
        const [one = 0] = loadavg();
        if (one < LOAD_MAX) return true;
        if (performance.now() - lastLog >= 60_000) {
          lastLog = performance.now();
          console.log(
            `  load average ${loadavg()
              .map((v) => v.toFixed(2))
              .join(' ')}: waiting (${before})`,
          );
        }
        return false;
      },
      { timeoutMs: LOAD_WAIT_MS, intervalMs: LOAD_POLL_MS },
    );
  } catch {
    met = false;
    console.log(
      `  the load average stayed at or above ${LOAD_MAX} for ${LOAD_WAIT_MS / 60_000} min: going on`,
    );
  }
  return {
    before,
    waitedSeconds: round((performance.now() - started) / 1000),
    met,
    loadAverage: loadavg().map((v) => round(v, 2)),
  };
}

// ---------------------------------------------------------------------------------------------
// The CPU profile (--profile)

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface ProfileSummary {
  file: string;
  /** Whether the samples could be cut to the window (same monotonic clock), else the whole run. */
  scope: 'window' | 'whole run';
  sampledMs: number;
  busyMs: number;
  byCategory: { category: string; ms: number; shareOfBusy: number }[];
  topFunctions: ProfileFunction[];
  /**
   * Self time charged to the nearest caller outside Node's core and V8's natives: which library or
   * which of the operator's functions made Node do the work (a TLS handshake, a fetch, a parse).
   */
  byCallerCategory: { category: string; ms: number; shareOfBusy: number }[];
  topCallers: ProfileFunction[];
}

interface ProfileFunction {
  function: string;
  where: string;
  category: string;
  ms: number;
  shareOfBusy: number;
}

const SPECIAL_NODES = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Which part of Node's own JavaScript a frame belongs to. */
function nodeArea(url: string): string {
  if (/tls/.test(url)) return 'TLS';
  if (/zlib/.test(url)) return 'zlib';
  if (/undici/.test(url)) return 'undici (fetch)';
  if (/_http_|internal\/http/.test(url)) return 'http';
  if (/abort_controller|domexception|event_target|js_transferable/.test(url))
    return 'AbortSignal, EventTarget';
  if (/net|stream|dns/.test(url)) return 'net, streams';
  if (/async_hooks|task_queues|timers|process\/|events/.test(url)) return 'event loop, timers, events';
  return 'other';
}

function category(frame: ProfileNode['callFrame']): string {
  if (SPECIAL_NODES.has(frame.functionName) && frame.url === '') return frame.functionName;
  const { url } = frame;
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return `node core: ${nodeArea(url)}`;
  // undici's HTTP parser (llhttp) is WebAssembly: the global fetch, which the Prometheus queries use.
  if (url.startsWith('wasm://')) return 'node core: undici (fetch)';
  const modules = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (modules?.[1]) return modules[1];
  if (url.includes('/operator/dist/')) return 'operator';
  if (url.includes('/services/core/dist/')) return '@pulse/core';
  return url.replace(/^file:\/\//, '');
}

function shortWhere(frame: ProfileNode['callFrame']): string {
  if (frame.url === '') return '';
  const path = frame.url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '');
  return `${path.replace(/^.*\/node_modules\//, '')}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function and per category over the samples between two points of the monotonic
 * clock (V8's profile timestamps and process.hrtime both read CLOCK_MONOTONIC, in µs here).
 */
function summarizeProfile(file: string, windowUs: [number, number]): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const inWindow = profile.startTime <= windowUs[0] && profile.endTime >= windowUs[1];
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample stands for the interval until the next one.
    const span = profile.timeDeltas[i + 1] ?? 0;
    if (inWindow && (at < windowUs[0] || at > windowUs[1])) continue;
    const id = profile.samples[i] ?? -1;
    selfUs.set(id, (selfUs.get(id) ?? 0) + span);
  }
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const lowLevel = (cat: string) => cat.startsWith('node core') || cat === '(native / V8)';
  /** The node itself unless it is Node core or a V8 native; then its nearest caller that is not. */
  const caller = (node: ProfileNode): ProfileNode => {
    if (!lowLevel(category(node.callFrame))) return node;
    for (let id = parents.get(node.id); id !== undefined; id = parents.get(id)) {
      const up = nodes.get(id);
      if (up === undefined || up.callFrame.functionName === '(root)') break;
      if (!lowLevel(category(up.callFrame))) return up;
    }
    return node;
  };
  const byFunction = new Map<string, { frame: ProfileNode['callFrame']; us: number }>();
  const byCaller = new Map<string, { frame: ProfileNode['callFrame']; us: number }>();
  const byCategory = new Map<string, number>();
  const byCallerCategory = new Map<string, number>();
  const add = (map: typeof byFunction, frame: ProfileNode['callFrame'], us: number) => {
    const key = `${frame.functionName}@${frame.url}:${frame.lineNumber}`;
    const entry = map.get(key) ?? { frame, us: 0 };
    entry.us += us;
    map.set(key, entry);
  };
  let sampledUs = 0;
  for (const [id, us] of selfUs) {
    const node = nodes.get(id);
    if (node === undefined) continue;
    sampledUs += us;
    const cat = category(node.callFrame);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
    add(byFunction, node.callFrame, us);
    const by = caller(node);
    const callerCat = category(by.callFrame);
    byCallerCategory.set(callerCat, (byCallerCategory.get(callerCat) ?? 0) + us);
    add(byCaller, by.callFrame, us);
  }
  const busyUs = sampledUs - (byCategory.get('(idle)') ?? 0);
  const share = (us: number) => (busyUs > 0 ? round((us / busyUs) * 100) : 0);
  const categories = (map: Map<string, number>) =>
    [...map]
      .filter(([cat]) => cat !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([cat, us]) => ({ category: cat, ms: round(us / 1000), shareOfBusy: share(us) }));
  const functions = (map: typeof byFunction, top: number): ProfileFunction[] =>
    [...map.values()]
      .filter(({ frame }) => frame.functionName !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ frame, us }) => ({
        function: frame.functionName || '(anonymous)',
        where: shortWhere(frame),
        category: category(frame),
        ms: round(us / 1000),
        shareOfBusy: share(us),
      }));
  return {
    file: file.replace(`${repoRoot}/`, ''),
    scope: inWindow ? 'window' : 'whole run',
    sampledMs: round(sampledUs / 1000),
    busyMs: round(busyUs / 1000),
    byCategory: categories(byCategory),
    topFunctions: functions(byFunction, 25),
    byCallerCategory: categories(byCallerCategory),
    topCallers: functions(byCaller, 20),
  };
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

// ---------------------------------------------------------------------------------------------
// The run

interface Raw {
  name: string;
  date: string;
  finished: string;
  durationSeconds: number;
  commit: string;
  operator: OperatorBuild;
  machine: Machine & { node: string };
  tools: Record<string, string | undefined>;
  target: { cpuPercentOfOneCore: number; rssMb: number };
  parameters: {
    resources: number;
    pollSeconds: number;
    windowSeconds: number;
    sampleIntervalSeconds: number;
    cpuWindowSeconds: number;
    profile: boolean;
    namespace: string;
    load: Load;
    spec: { initialReplicas: number; targetLagSeconds: number; maxReplicas: number };
    operatorEnv: Record<string, string>;
    queriesPerReconcile: number;
    /** Absent in reports written before the option existed: those ran identical queries. */
    queryMode?: 'distinct' | 'identical';
    loadMax?: number;
    clkTck: number;
  };
  loadGates: LoadGate[];
  loadAverage: { start: number[]; windowStart: number[]; windowEnd: number[] };
  setup: {
    stackSeconds: number;
    applyDeploymentsSeconds: number;
    applyReplicationLagsSeconds: number;
    /** Until every Deployment had its pod (absent in reports written before this wait existed). */
    controlPlaneSettleSeconds?: number;
    /** From the operator's start until every ReplicationLag had a status of its generation. */
    warmupSeconds: number;
    /** From then until N more reconciles had run: the window starts after that. */
    settleSeconds: number;
  };
  samples: Sample[];
  results: ReturnType<typeof results>;
  counters: { before: Counters; after: Counters };
  statusAfter: ReturnType<typeof statusSummary>;
  log: { window: LogCount; wholeRun: LogCount };
  peakRssMbSinceStart: number | null;
  profile: ProfileRun | null;
}

/** --profile: a second operator, profiled after the measurement. */
interface ProfileRun {
  windowSeconds: number;
  /** The profiled process' CPU over its window: the measured figure plus the profiler's cost. */
  cpuPercentOfOneCore: number | null;
  summary: ProfileSummary;
}

function results(samples: Sample[], before: Counters, after: Counters, queriesPerReconcile: number) {
  const first = samples[0];
  const last = samples.at(-1);
  if (first === undefined || last === undefined || samples.length < 2) throw new Error('too few samples');
  const windowSeconds = (last.monoMs - first.monoMs) / 1000;
  const step = Math.round(CPU_WINDOW_MS / SAMPLE_INTERVAL_MS);
  const windows: number[] = [];
  for (let i = 0; i + step < samples.length; i++) {
    const a = samples[i];
    const b = samples[i + step];
    if (a && b) windows.push(round(cpuPercent(a.operator.cpuTicks, b.operator.cpuTicks, a, b), 2));
  }
  const cpuMean = cpuPercent(first.operator.cpuTicks, last.operator.cpuTicks, first, last);
  const rss = samples.map((s) => s.operator.rssKb / 1024);
  const others = Object.fromEntries(
    Object.keys(first.others).map((name) => {
      const a = first.others[name];
      const b = last.others[name];
      return [name, a == null || b == null ? null : round(cpuPercent(a, b, first, last))];
    }),
  );
  const machineTicksBusy = last.machine.busy - first.machine.busy;
  const counterSeconds = (after.monoMs - before.monoMs) / 1000;
  const reconciles = difference(after.reconciles, before.reconciles);
  const reconcileCount = Object.values(reconciles).reduce((sum, n) => sum + n, 0);
  const durationCount = after.reconcileSeconds.count - before.reconcileSeconds.count;
  const queries = difference(after.prometheusQueries, before.prometheusQueries);
  const queryCount = Object.values(queries).reduce((sum, n) => sum + n, 0);
  const api = Object.fromEntries(
    Object.keys(API_REQUESTS).map((key) => {
      const k = key as keyof typeof API_REQUESTS;
      const byCode = difference(after.apiserver[k], before.apiserver[k]);
      const count = Object.values(byCode).reduce((sum, n) => sum + n, 0);
      return [key, { byCode, perSecond: round(count / counterSeconds, 2) }];
    }),
  ) as Record<keyof typeof API_REQUESTS, { byCode: Record<string, number>; perSecond: number }>;
  const apiErrors = Object.values(api).reduce(
    (sum, { byCode }) =>
      sum + Object.entries(byCode).reduce((n, [code, count]) => (code.startsWith('2') ? n : n + count), 0),
    0,
  );
  return {
    windowSeconds: round(windowSeconds),
    cpu: {
      meanPercentOfOneCore: round(cpuMean, 2),
      max30sPercentOfOneCore: windows.length === 0 ? null : Math.max(...windows),
      min30sPercentOfOneCore: windows.length === 0 ? null : Math.min(...windows),
      windows30s: windows,
      cpuSecondsInWindow: round((last.operator.cpuTicks - first.operator.cpuTicks) / CLK_TCK, 2),
    },
    rssMb: {
      start: round(rss[0] ?? 0),
      max: round(Math.max(...rss)),
      end: round(rss.at(-1) ?? 0),
      growthPerMinute: round((((rss.at(-1) ?? 0) - (rss[0] ?? 0)) / windowSeconds) * 60),
    },
    othersPercentOfOneCore: others,
    machine: {
      busyCores: round(machineTicksBusy / CLK_TCK / windowSeconds, 2),
      stealPercent: round(
        ((last.machine.steal - first.machine.steal) / Math.max(1, last.machine.total - first.machine.total)) *
          100,
        2,
      ),
    },
    counterSeconds: round(counterSeconds, 2),
    reconciles: {
      byResult: reconciles,
      perSecond: round(reconcileCount / counterSeconds, 2),
      expectedPerSecond: round(RESOURCES / POLL, 2),
      meanSeconds:
        durationCount > 0
          ? round((after.reconcileSeconds.sum - before.reconcileSeconds.sum) / durationCount, 4)
          : null,
    },
    prometheusQueries: {
      byCode: queries,
      perSecond: round(queryCount / counterSeconds, 2),
      perReconcile: reconcileCount > 0 ? round(queryCount / reconcileCount, 2) : null,
      /** Each reconcile asking each of its queries itself (no answer shared between resources). */
      unsharedPerSecond: round((RESOURCES * queriesPerReconcile) / POLL, 2),
    },
    apiserver: api,
    errors: {
      reconcileErrors: reconciles.error ?? 0,
      prometheusNon2xx: Object.entries(queries).reduce(
        (n, [code, c]) => (code.startsWith('2') ? n : n + c),
        0,
      ),
      apiserverNon2xx: apiErrors,
      watchRestarts: round(after.watchRestarts - before.watchRestarts),
      leaderAtEnd: after.leader,
    },
  };
}

type Results = ReturnType<typeof results>;

function verdict(r: Results) {
  const cpuMean = r.cpu.meanPercentOfOneCore < TARGET_CPU_PERCENT;
  const cpuEvery30s =
    r.cpu.max30sPercentOfOneCore !== null && r.cpu.max30sPercentOfOneCore < TARGET_CPU_PERCENT;
  const rss = r.rssMb.max < TARGET_RSS_MB;
  // 150 MB read as 10^6 bytes is 143.1 MiB: the stricter reading.
  const rssDecimal = r.rssMb.max < (TARGET_RSS_MB * 1e6) / 2 ** 20;
  const kept = r.reconciles.perSecond >= 0.9 * r.reconciles.expectedPerSecond;
  return { cpuMean, cpuEvery30s, rss, rssDecimal, keptUp: kept, met: cpuMean && rss && kept };
}

// ---------------------------------------------------------------------------------------------
// The report

const n = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined
    ? 'n/a'
    : value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const mark = (ok: boolean) => (ok ? 'met' : '**missed**');
/** A profile table's rows: time by where the code lives, and by function. */
const categoryRow = (c: { category: string; ms: number; shareOfBusy: number }) =>
  `| ${c.category} | ${n(c.ms, 0)} | ${n(c.shareOfBusy, 1)} % |`;
const functionRow = (f: ProfileFunction) =>
  `| \`${f.function}\` | ${f.where === '' ? f.category : `\`${f.where}\``} | ${n(f.ms, 0)} | ${n(f.shareOfBusy, 1)} % |`;
const codes = (byCode: Record<string, number>) =>
  Object.keys(byCode).length === 0
    ? 'none'
    : Object.entries(byCode)
        .map(([code, count]) => `${code}: ${n(count, 0)}`)
        .join(', ');
const mem = (c: Counters) =>
  `${n(c.memory.heapUsedMb)} / ${n(c.memory.heapTotalMb)} / ${n(c.memory.externalMb)}`;
const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([key, count]) => `${key} ${n(count, 0)}`)
    .join(', ');

function markdown(raw: Raw, jsonFile: string): string {
  const r = raw.results;
  const v = verdict(r);
  const p = raw.parameters;
  const loadMax = p.loadMax ?? LOAD_MAX;
  const queryMode = p.queryMode ?? 'identical';
  const gate = (g: LoadGate) =>
    `${g.before}: ${g.met ? 'below' : '**not below**'} ${loadMax} after ${n(g.waitedSeconds, 0)} s (then ${g.loadAverage.join(', ')})`;
  const errorLines = [
    `reconciles that failed: ${n(r.errors.reconcileErrors, 0)}`,
    `Prometheus queries answered other than 2xx: ${n(r.errors.prometheusNon2xx, 0)}`,
    `API server requests of the kinds above answered other than 2xx: ${n(r.errors.apiserverNon2xx, 0)}`,
    `watch restarts: ${n(r.errors.watchRestarts, 0)}; leader at the end: ${r.errors.leaderAtEnd === 1 ? 'yes' : '**no**'}`,
    `operator log in the window: ${raw.log.window.warnings} warnings, ${raw.log.window.errors} errors` +
      `; whole run: ${raw.log.wholeRun.warnings} warnings, ${raw.log.wholeRun.errors} errors`,
    ...Object.entries(raw.log.wholeRun.messages)
      .slice(0, 10)
      .map(([message, count]) => `  - ${count} x \`${message.replace(/`/g, "'")}\``),
  ];
  const cpuSentence = v.cpuEvery30s
    ? `every 30 s window stayed below ${TARGET_CPU_PERCENT} %`
    : `the busiest 30 s window reached ${n(r.cpu.max30sPercentOfOneCore, 2)} %`;
  const lines = [
    `# Operator scale benchmark ${raw.date.slice(0, 10)}`,
    '',
    `Issue #6's target: "One operator handles 500 ReplicationLag resources at a 15 s poll with under 5% of one core and under 150 MB RSS."`,
    `This run: **${p.resources} ReplicationLags at a ${p.pollSeconds} s poll**, measured for ${n(r.windowSeconds, 0)} s once every`,
    `resource had a status. The driver ran at commit \`${raw.commit}\`, started ${raw.date}, finished ${raw.finished} (${n(raw.durationSeconds / 60, 1)} min`,
    `in all). Raw samples and counters: [${jsonFile}](${jsonFile}). Re-run with \`make bench-operator\``,
    `(\`node --import tsx bench/operator.ts --resources ${p.resources} --seconds ${p.windowSeconds} --poll ${p.pollSeconds}${p.profile ? ' --profile' : ''}${raw.operator.source === 'commit' ? ` --operator-ref ${raw.operator.commit}` : ''}\`).`,
    '',
    raw.operator.source === 'commit'
      ? `**The operator measured:** commit \`${raw.operator.commit}\` (its \`operator/\` and \`services/core/\`, built in the run dir for this run; build \`${raw.operator.distSha256}\`), whatever the working tree held.`
      : `**The operator measured:** the working tree's \`operator/dist\` (build \`${raw.operator.distSha256}\` of ${raw.operator.builtAt}) at HEAD \`${raw.operator.commit}\`` +
        (raw.operator.uncommitted.length > 0
          ? `, with uncommitted changes: ${raw.operator.uncommitted.map((line) => `\`${line.trim()}\``).join(', ')}.`
          : ', no uncommitted changes under operator/ or services/core/.'),
    '',
    '## Verdict',
    '',
    `**Target ${v.met ? 'met' : 'missed'}.** The operator used ${n(r.cpu.meanPercentOfOneCore, 2)} % of one core on average over the`,
    `window (${cpuSentence}) and at most ${n(r.rssMb.max)} MB RSS, while reconciling ${n(r.reconciles.perSecond, 2)} resources/s`,
    `(${p.resources} / ${p.pollSeconds} s = ${n(r.reconciles.expectedPerSecond, 2)} expected).`,
    ...(raw.profile
      ? [
          `In the CPU profile (below), the largest shares of the non-idle time are ${raw.profile.summary.byCategory
            .slice(0, 4)
            .map((c) => `${c.category} ${n(c.shareOfBusy, 0)} %`)
            .join(
              ', ',
            )}; charged to their nearest caller outside Node and V8: ${raw.profile.summary.byCallerCategory
            .slice(0, 3)
            .map((c) => `${c.category} ${n(c.shareOfBusy, 0)} %`)
            .join(', ')}.`,
        ]
      : []),
    '',
    '| figure | measured | target | |',
    '| --- | --- | --- | --- |',
    `| operator CPU, mean over the window | ${n(r.cpu.meanPercentOfOneCore, 2)} % of one core (${n(r.cpu.cpuSecondsInWindow, 2)} CPU s in ${n(r.windowSeconds, 0)} s) | < ${TARGET_CPU_PERCENT} % | ${mark(v.cpuMean)} |`,
    `| operator CPU, busiest / quietest 30 s window | ${n(r.cpu.max30sPercentOfOneCore, 2)} / ${n(r.cpu.min30sPercentOfOneCore, 2)} % | < ${TARGET_CPU_PERCENT} % | ${mark(v.cpuEvery30s)} |`,
    `| operator RSS at start / max / end of the window | ${n(r.rssMb.start)} / ${n(r.rssMb.max)} / ${n(r.rssMb.end)} MB | < ${TARGET_RSS_MB} MB | ${mark(v.rss)} |`,
    `| operator RSS growth over the window | ${n(r.rssMb.growthPerMinute)} MB/min | | |`,
    `| operator peak RSS since its start (VmHWM, includes the warm-up) | ${n(raw.peakRssMbSinceStart)} MB | | |`,
    `| operator V8 heap used / heap total / external at start → end of the window | ${mem(raw.counters.before)} → ${mem(raw.counters.after)} MB | | |`,
    `| reconciles/s | ${n(r.reconciles.perSecond, 2)} (expected ${n(r.reconciles.expectedPerSecond, 2)}) | keeps up with the poll | ${mark(v.keptUp)} |`,
    '',
    `CPU is the operator process' utime + stime from \`/proc/<pid>/stat\` (CLK_TCK ${p.clkTck}), sampled every`,
    `${p.sampleIntervalSeconds} s; "30 s windows" slide over consecutive samples. RSS is \`VmRSS\` from \`/proc/<pid>/status\`;`,
    `MB here means MiB (kB / 1024), as in the other reports. Read as 10^6 bytes, 150 MB is 143.1 MiB: that stricter`,
    `reading is ${v.rssDecimal ? 'met too' : '**missed**'}. "Keeps up" means at least 90 % of N / poll reconciles per second.`,
    '',
    '## The work done in the window',
    '',
    `Counters read from the operator's, Prometheus' and the API server's \`/metrics\` right before the first and right`,
    `after the last sample (${n(r.counterSeconds, 1)} s apart).`,
    '',
    '| what | count | per second | expected per second |',
    '| --- | --- | --- | --- |',
    `| reconciles, by result | ${counts(r.reconciles.byResult)} | ${n(r.reconciles.perSecond, 2)} | ${n(r.reconciles.expectedPerSecond, 2)} (N / poll) |`,
    `| Prometheus instant queries (\`/api/v1/query\`), by code | ${codes(r.prometheusQueries.byCode)} | ${n(r.prometheusQueries.perSecond, 2)} | ${n(r.prometheusQueries.unsharedPerSecond, 2)} if every reconcile asked its ${p.queriesPerReconcile} queries itself; measured ${n(r.prometheusQueries.perReconcile, 2)} per reconcile |`,
    `| status PATCHes of replicationlags, by code | ${codes(r.apiserver.statusPatches.byCode)} | ${n(r.apiserver.statusPatches.perSecond, 2)} | ${n(r.reconciles.expectedPerSecond, 2)} (one per reconcile) |`,
    `| GETs of deployments/scale, by code | ${codes(r.apiserver.scaleReads.byCode)} | ${n(r.apiserver.scaleReads.perSecond, 2)} | ${n(r.reconciles.expectedPerSecond, 2)} (one per reconcile) |`,
    `| PATCHes of deployments/scale (scaling) | ${codes(r.apiserver.scaleWrites.byCode)} | ${n(r.apiserver.scaleWrites.perSecond, 2)} | 0 (the decision is to stay) |`,
    `| Events created (any client) | ${codes(r.apiserver.eventsCreated.byCode)} | ${n(r.apiserver.eventsCreated.perSecond, 2)} | |`,
    `| lease updates (any client) | ${codes(r.apiserver.leaseUpdates.byCode)} | ${n(r.apiserver.leaseUpdates.perSecond, 2)} | |`,
    '',
    `Mean reconcile time (the operator's histogram): ${n((r.reconciles.meanSeconds ?? 0) * 1000, 1)} ms.`,
    `After the window, ${raw.statusAfter.current} of ${raw.statusAfter.resources} ReplicationLags had a status of their current`,
    `generation; the oldest last decision was ${n(raw.statusAfter.maxDecisionAgeSeconds, 1)} s old (poll ${p.pollSeconds} s).`,
    `Decision basis: ${counts(raw.statusAfter.basis)}; desired replicas: ${counts(raw.statusAfter.desired)};`,
    `Ready: ${counts(raw.statusAfter.ready)}; MetricsAvailable: ${counts(raw.statusAfter.metricsAvailable)}.`,
    '',
    '**Errors**',
    '',
    ...errorLines.map((line) => (line.startsWith('  -') ? line : `- ${line}`)),
    '',
    '## The machine and what else ran',
    '',
    `**Machine:** ${raw.machine.cores} cores (${raw.machine.cpu_model}), ${raw.machine.mem_gib} GiB, Node ${raw.machine.node};`,
    `Kubernetes ${raw.tools.kubernetes ?? '?'}, etcd ${raw.tools.etcd ?? '?'}, Prometheus ${raw.tools.prometheus ?? '?'}, kubectl on PATH.`,
    `The operator, kube-apiserver, etcd, kube-controller-manager, Prometheus and this driver (which also serves the`,
    `fake replicator's metrics) share these cores, and other work on the machine may too.`,
    '',
    `**Load average** (1, 5, 15 min) at the start: ${raw.loadAverage.start.join(', ')}; when the window started:`,
    `${raw.loadAverage.windowStart.join(', ')}; when it ended: ${raw.loadAverage.windowEnd.join(', ')}. The driver waits (at most`,
    `${LOAD_WAIT_MS / 60_000} min, polling every ${LOAD_POLL_MS / 1000} s, then going on regardless) for the 1-minute figure to fall`,
    `below ${loadMax}:`,
    ...raw.loadGates.map((g) => `- ${gate(g)}`),
    '',
    `During the window the whole machine was busy ${n(r.machine.busyCores, 2)} cores' worth on average (steal`,
    `${n(r.machine.stealPercent, 2)} %). CPU of the stack's processes over the same window, % of one core:`,
    Object.entries(r.othersPercentOfOneCore)
      .map(([name, value]) => `${name} ${n(value, 1)}`)
      .join(', ') + '.',
    '',
    '## Setup',
    '',
    `- A local control plane without nodes (etcd, kube-apiserver, kube-controller-manager, as \`make up WITH=controlplane\``,
    `  starts it) and a Prometheus (scrape interval 2 s), on loopback, in a run dir of their own, created fresh;`,
    `  everything in namespace \`${raw.parameters.namespace}\`.`,
    `- ${p.resources} Deployments (${p.spec.initialReplicas} replica each, an image that is never pulled) and ${p.resources} ReplicationLags, each`,
    `  targeting its own Deployment with \`pollIntervalSeconds: ${p.pollSeconds}\`, \`targetLagSeconds: ${p.spec.targetLagSeconds}\`,`,
    `  \`maxReplicas: ${p.spec.maxReplicas}\` (queries below), applied server-side in two kubectl calls`,
    `  (${n(raw.setup.applyDeploymentsSeconds)} s and ${n(raw.setup.applyReplicationLagsSeconds)} s).` +
      (raw.setup.controlPlaneSettleSeconds === undefined
        ? r.apiserver.eventsCreated.perSecond > 0
          ? ' This run did not wait for kube-controller-manager to create a ReplicaSet and a pod per Deployment (at its own pace) before starting the operator: that creation went on into the window (the Events created in it are its ScalingReplicaSet and SuccessfulCreate), a load on the API server that later runs avoid.'
          : ' This run did not wait for kube-controller-manager to create the pods before starting the operator, but it had finished before the window (no Events in it).'
        : ` The operator started once kube-controller-manager had created a ReplicaSet and a pod for every Deployment (${n(raw.setup.controlPlaneSettleSeconds)} s).`),
    `- The replicator's metrics come from the integration suite's fake exporter, which Prometheus scrapes: λ ${p.load.publishedPerSecond}/s,`,
    `  μ ${n(p.load.appliedPerSecond / p.load.busyFraction, 0)}/s per replica, a backlog of ${p.load.backlogPerPartition.join(' + ')} on ${p.load.backlogPerPartition.length} partitions. Every`,
    `  reconcile runs the ${p.queriesPerReconcile} instant queries (or shares their answers, if the build does), the policy computes a`,
    `  throughput decision of 1 replica (what every Deployment has), and the status is patched; nothing is scaled.`,
    queryMode === 'distinct'
      ? `- **Queries: distinct.** Each ReplicationLag's queries are the built-in ones with a matcher of its own that every series passes (\`{bench_resource!="<its name>"}\`): the same answers, but no two resources ask the same PromQL, as resources watching different replicators would not.`
      : `- **Queries: identical.** Every ReplicationLag runs the built-in queries unchanged, so all ${p.resources} ask the same PromQL of the same Prometheus: the best case for an operator that shares answers between resources (this build ${r.prometheusQueries.perReconcile !== null && r.prometheusQueries.perReconcile >= p.queriesPerReconcile * 0.9 ? 'shares none: it asked every query for every reconcile' : 'does share them'}).`,
    `- One operator process (\`node ${raw.operator.source === 'commit' ? `.pulse-bench-operator/operator-${raw.operator.commit}/` : ''}operator/dist/main.js\`), configured only by: ${Object.entries(
      p.operatorEnv,
    )
      .map(([k, val]) => `\`${k}=${val}\``)
      .join(', ')}; the rest`,
    `  are the defaults (concurrency 4, leader election on with client-go's timings). Prometheus scrapes its`,
    `  \`/metrics\` every 2 s, as it does every service of the local stack.`,
    `- The load gate came right before the operator started (once it runs, the system under test is part of the`,
    `  load). The window started once every ReplicationLag had a status of its generation (the warm-up:`,
    `  ${n(raw.setup.warmupSeconds)} s from the operator's start) and the operator had run ${p.resources} more reconciles after that`,
    `  (${n(raw.setup.settleSeconds)} s), so that it measures the periodic regime, not the start-up burst.`,
    '',
  ];
  if (raw.profile) {
    const prof = raw.profile.summary;
    lines.push(
      '## What dominates: a CPU profile',
      '',
      `After the measurement (and outside it) a second operator ran under \`node --cpu-prof\` (sampling every`,
      `${PROFILE_INTERVAL_US / 1000} ms) on the same ${p.resources} resources; once settled, ${raw.profile.windowSeconds} s of it were profiled. It used`,
      `${n(raw.profile.cpuPercentOfOneCore, 2)} % of one core in that window, the profiler's own cost included (measured above without it:`,
      `${n(r.cpu.meanPercentOfOneCore, 2)} %). Profile ${prof.scope === 'window' ? 'samples of that window only' : 'of the whole process (the window could not be cut out)'}:`,
      `${n(prof.busyMs / 1000, 1)} s of ${n(prof.sampledMs / 1000, 1)} s sampled were not idle. Self time by where the code lives:`,
      '',
      '| where | self ms | share of non-idle |',
      '| --- | --- | --- |',
      ...prof.byCategory.map(categoryRow),
      '',
      'The functions with the most self time:',
      '',
      '| function | where | self ms | share of non-idle |',
      '| --- | --- | --- | --- |',
      ...prof.topFunctions.map(functionRow),
      '',
      'The same self time charged to the nearest caller outside Node core and V8 natives (who made Node do the work):',
      '',
      '| caller lives in | ms | share of non-idle |',
      '| --- | --- | --- |',
      ...prof.byCallerCategory.map(categoryRow),
      '',
      '| caller | where | ms | share of non-idle |',
      '| --- | --- | --- | --- |',
      ...prof.topCallers.map(functionRow),
      '',
      `The profile itself: \`${prof.file}\` (in the run dir, which the next run replaces; not kept in the repository).`,
      '',
    );
  }
  lines.push(
    '## What this does not show',
    '',
    "- **No nodes, no pods running.** The Deployments' pods stay Pending (no scheduler, no kubelet). The operator reads only",
    '  the scale subresource, so this does not change its work, but a real API server is busier, farther away (no',
    '  loopback) and may throttle; its latency would show as longer reconciles, not as more operator CPU.',
    '- **One Prometheus on loopback with one tiny target.** Every query evaluates over a handful of series. A',
    '  production Prometheus with many series and a network in between answers more slowly, so more queries are in',
    '  flight at once; what that costs the operator is not measured here.',
    `- **${p.resources} resources, one replicator's metrics.** All ReplicationLags read the same series${queryMode === 'distinct' ? ' (through PromQL of their own)' : ' with the same built-in PromQL'};`,
    '  in a real cluster they would watch different replicators, whose series differ: more work for Prometheus, and',
    queryMode === 'distinct'
      ? '  for the operator the same number of queries as here.'
      : '  no answer an operator could share between resources. `--queries distinct` measures that case.',
    '- **The steady state only.** The decision equals the current count, so there is no scaling, no Event and no',
    '  conflict in the window. Startup (listing and reconciling all N at once) is reported as the warm-up time, not',
    '  measured for CPU. No leader failover, no second (follower) replica, no API server restart.',
    `- **A ${n(r.windowSeconds, 0)} s window.** Enough for a CPU average over ${n(r.windowSeconds / p.pollSeconds, 0)} polls of every resource, not for a slow memory`,
    '  leak: RSS at start and end of the window says little about hours or days.',
    "- **Scraped every 2 s.** The local stack's Prometheus scrapes the operator's `/metrics` every 2 s; the chart's",
    '  default is 30 s, so the operator renders its metrics 15 times as often here as in a cluster: a slight overstatement.',
    "- **A shared 2-core machine.** The operator's CPU time is its own whatever else runs, but contention lengthens",
    '  reconciles and can shift work between windows; the load averages above say how busy the machine was. The host',
    `  runs Node ${raw.machine.node}, not necessarily the image's Node, with no container CPU or memory limit.`,
    '',
  );
  return lines.join('\n');
}

/** What the benchmark runs as the operator: the working tree's build, or a commit built for it. */
interface OperatorBuild {
  /** `operator/dist/main.js` of the working tree, or of the commit's copy in the run dir. */
  entry: string;
  source: 'working tree' | 'commit';
  /** The commit it was built from; for the working tree, HEAD. */
  commit: string;
  /** For the working tree: uncommitted changes under operator/ and services/core/ (git status). */
  uncommitted: string[];
  /** sha256 over the build's JavaScript files (path and content), to tell two builds apart. */
  distSha256: string;
  /** The newest file of the build. */
  builtAt: string;
}

function distFingerprint(dist: string): { sha256: string; builtAt: string } {
  const hash = createHash('sha256');
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) {
        hash.update(path.slice(dist.length)).update(readFileSync(path));
        newest = Math.max(newest, statSync(path).mtimeMs);
      }
    }
  };
  walk(dist);
  return { sha256: hash.digest('hex').slice(0, 16), builtAt: new Date(newest).toISOString() };
}

/**
 * The working tree's operator (as `make build` left it), or with --operator-ref the operator and
 * @pulse/core of that commit, extracted into the run dir and built there: a fixed subject while
 * others edit the tree. The copy finds the repository's node_modules by walking up, except for
 * @pulse/core, which a link of its own points at the commit's copy.
 */
async function prepareOperator(ref: string | undefined): Promise<OperatorBuild> {
  const git = (args: string[]) => execFileSync('git', args, { cwd: repoRoot }).toString().trim();
  if (ref === undefined) {
    const dist = join(repoRoot, 'operator', 'dist');
    const { sha256, builtAt } = distFingerprint(dist);
    return {
      entry: serviceEntry('operator'),
      source: 'working tree',
      commit: git(['rev-parse', '--short=12', 'HEAD']),
      uncommitted: git(['status', '--porcelain', '--', 'operator', 'services/core'])
        .split('\n')
        .filter(Boolean),
      distSha256: sha256,
      builtAt,
    };
  }
  const commit = git(['rev-parse', '--short=12', '--verify', `${ref}^{commit}`]);
  const root = join(runDir, `operator-${commit}`);
  mkdirSync(join(root, 'node_modules', '@pulse'), { recursive: true });
  const archive = join(runDir, `operator-${commit}.tar`);
  const sources = ['operator', 'services/core'];
  git([
    'archive',
    '--output',
    archive,
    commit,
    'tsconfig.base.json',
    ...sources.flatMap((dir) => [`${dir}/package.json`, `${dir}/tsconfig.json`, `${dir}/src`]),
  ]);
  execFileSync('tar', ['-xf', archive, '-C', root]);
  rmSync(archive);
  symlinkSync('../../services/core', join(root, 'node_modules', '@pulse', 'core'));
  console.log(`building the operator of ${commit} in ${root}`);
  await execFileAsync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-b', join(root, 'operator')], {
    cwd: root,
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  // Only the build stays: `eslint .` would otherwise find TypeScript of no project in the run dir.
  for (const dir of sources) rmSync(join(root, dir, 'src'), { recursive: true, force: true });
  const { sha256, builtAt } = distFingerprint(join(root, 'operator', 'dist'));
  return {
    entry: join(root, 'operator', 'dist', 'main.js'),
    source: 'commit',
    commit,
    uncommitted: [],
    distSha256: sha256,
    builtAt,
  };
}

/**
 * The operator as startService starts it (same environment, readiness wait and scrape target), from
 * the given build, and with `node --cpu-prof` when a profile directory is given (NODE_OPTIONS does
 * not accept it). The working tree's build without the profiler goes through startService itself.
 */
async function startOperator(
  info: StackInfo,
  build: OperatorBuild,
  env: Record<string, string>,
  profileDir?: string,
): Promise<RunningService> {
  const port = info.ports.operator;
  if (build.source === 'working tree' && profileDir === undefined)
    return startService(info, 'operator', { port, env });
  const profiler =
    profileDir === undefined
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_US}`];
  const managed = ManagedProcess.start(info.runDir, {
    name: 'operator',
    command: process.execPath,
    args: [...profiler, build.entry],
    env: {
      ...info.env,
      PULSE_HTTP_PORT: String(port),
      PULSE_HTTP_HOST: '127.0.0.1',
      PULSE_LOG_LEVEL: 'info',
      ...env,
    },
    cwd: repoRoot,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForReady('operator', url, managed);
  } catch (error) {
    await managed.stop();
    throw error;
  }
  addScrapeTarget(info.runDir, 'operator', port, { service: 'operator' });
  return { process: managed, url, stop: () => managed.stop() };
}

async function operatorMetric(running: RunningService, name: string): Promise<number> {
  return total(matching(parseExposition(await fetchText(`${running.url}/metrics`), name), name));
}

async function waitForLease(running: RunningService): Promise<void> {
  await waitFor(
    'the operator to hold the lease',
    async () => (await operatorMetric(running, 'pulse_operator_leader')) === 1,
    { timeoutMs: 60_000, intervalMs: 500, abortIf: () => running.process.exitedError() },
  );
}

/** The warm-up: until every ReplicationLag has a status of its generation. */
async function waitForStatuses(kubeconfig: string, running: RunningService): Promise<void> {
  let lastProgress = 0;
  await waitFor(
    `all ${RESOURCES} ReplicationLags to have a status of their generation (the warm-up)`,
    async () => {
      const out = await kubectl(kubeconfig, [
        '-n',
        NAMESPACE,
        'get',
        'replicationlags',
        '-o',
        'jsonpath={range .items[*]}{.metadata.generation} {.status.observedGeneration}{"\\n"}{end}',
      ]);
      const rows = out.trim().split('\n').filter(Boolean);
      const done = rows.filter((row) => {
        const [generation, observed] = row.split(' ');
        return observed !== undefined && observed !== '' && observed === generation;
      }).length;
      if (performance.now() - lastProgress > 10_000) {
        lastProgress = performance.now();
        console.log(`  warm-up: ${done} of ${RESOURCES} have a status`);
      }
      return rows.length === RESOURCES && done === RESOURCES;
    },
    {
      timeoutMs: Math.min(30 * 60_000, 120_000 + RESOURCES * 1_000),
      intervalMs: 2_000,
      abortIf: () => running.process.exitedError(),
    },
  );
}

/**
 * Settling: a starting operator reconciles everything at once; one more full round of N reconciles
 * puts the window into the periodic regime, each resource once per poll. Returns its seconds.
 */
async function settle(running: RunningService): Promise<number> {
  const metric = 'pulse_operator_reconciles_total';
  const from = await operatorMetric(running, metric);
  const started = performance.now();
  await waitFor(
    `the operator to reconcile ${RESOURCES} more times`,
    async () => (await operatorMetric(running, metric)) >= from + RESOURCES,
    {
      timeoutMs: Math.min(30 * 60_000, 4 * POLL * 1_000 + RESOURCES * 1_000),
      intervalMs: 1_000,
      abortIf: () => running.process.exitedError(),
    },
  );
  return round((performance.now() - started) / 1000);
}

/** Samples the operator (and the given processes) every 5 s for `seconds`; fails if it exits. */
async function sampleWindow(
  running: RunningService,
  otherPids: Record<string, number>,
  seconds: number,
): Promise<Sample[]> {
  const pid = running.process.pid;
  const first = sample(pid, otherPids);
  const samples: Sample[] = [first];
  const count = Math.ceil((seconds * 1000) / SAMPLE_INTERVAL_MS);
  for (let i = 1; i <= count; i++) {
    // A measurement clock, not a synchronisation: each sample is due at a fixed time after the first.
    await delay(Math.max(0, first.monoMs + i * SAMPLE_INTERVAL_MS - performance.now()));
    const exited = running.process.exitedError();
    if (exited) throw exited;
    const last = sample(pid, otherPids);
    samples.push(last);
    const prev = samples.at(-7);
    if (i % 6 === 0 && prev !== undefined) {
      const cpu = cpuPercent(prev.operator.cpuTicks, last.operator.cpuTicks, prev, last);
      console.log(
        `  ${Math.round((last.monoMs - first.monoMs) / 1000)} s: CPU ${cpu.toFixed(2)} % over 30 s, RSS ${(last.operator.rssKb / 1024).toFixed(1)} MB`,
      );
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------

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
  writeFileSync(md, markdown(raw, basename(file)));
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
  const loadGates: LoadGate[] = [await waitForQuietMachine('before starting the stack')];

  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(join(runDir, 'manifests'), { recursive: true });
  const profileDir = join(runDir, 'cpu-profile');
  if (PROFILE) mkdirSync(profileDir, { recursive: true });

  const build = await prepareOperator(values['operator-ref']);
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
    const names = Array.from({ length: RESOURCES }, (_, i) => resourceName(i + 1));
    const applyDeploymentsSeconds = await applyAll(kubeconfig, 'deployments.json', names.map(deployment));
    const applyReplicationLagsSeconds = await applyAll(
      kubeconfig,
      'replicationlags.json',
      names.map((name) => replicationLag(api, name, prometheusUrl)),
    );
    const created = (await listReplicationLags(kubeconfig)).length;
    if (created !== RESOURCES) throw new Error(`${created} ReplicationLags exist, not ${RESOURCES}`);
    // kube-controller-manager creates a ReplicaSet and a pod per Deployment at its own pace (client
    // QPS 20): let it finish, so that its requests do not share the API server with the window.
    const settledStarted = performance.now();
    await waitFor(
      `kube-controller-manager to create the pods of all ${RESOURCES} Deployments`,
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
        return replicas.length === RESOURCES && replicas.every((r) => r === String(INITIAL_REPLICAS));
      },
      { timeoutMs: Math.min(30 * 60_000, 120_000 + RESOURCES * 500), intervalMs: 2_000 },
    );
    const controlPlaneSettleSeconds = round((performance.now() - settledStarted) / 1000);

    const env: Record<string, string> = {
      PULSE_OPERATOR_NAMESPACE: NAMESPACE,
      PULSE_LEADER_ELECTION_IDENTITY: 'bench-operator',
      PULSE_LOG_LEVEL: 'info',
    };
    // The gate comes before the operator starts: once it runs, the system under test is part of the
    // load (at 500 resources it may keep the 1-minute figure above the bar on its own).
    loadGates.push(await waitForQuietMachine('before starting the operator'));
    console.log('starting the operator');
    const operatorStarted = performance.now();
    operator = await startOperator(stack.info, build, env);
    const running = operator;
    const operatorPid = running.process.pid;
    const logFile = running.process.logFile;
    await waitForLease(running);
    await waitForStatuses(kubeconfig, running);
    const warmupSeconds = round((performance.now() - operatorStarted) / 1000);
    console.log(`warm-up done in ${warmupSeconds} s; waiting for one more round of ${RESOURCES} reconciles`);
    const settleSeconds = await settle(running);
    const otherPids = Object.fromEntries(
      STACK_PROCESSES.flatMap((name) => {
        const pid = pidOf(name);
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
      await settle(profiled);
      const startUs = monotonicUs();
      const profiledSamples = await sampleWindow(profiled, {}, seconds);
      const endUs = monotonicUs();
      // The profile is written when the process exits.
      await profiled.stop();
      operator = undefined;
      const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error(`node --cpu-prof wrote no profile into ${profileDir}`);
      const firstSample = profiledSamples[0];
      const lastSample = profiledSamples.at(-1);
      profile = {
        windowSeconds: seconds,
        cpuPercentOfOneCore:
          firstSample && lastSample
            ? round(
                cpuPercent(
                  firstSample.operator.cpuTicks,
                  lastSample.operator.cpuTicks,
                  firstSample,
                  lastSample,
                ),
                2,
              )
            : null,
        summary: summarizeProfile(join(profileDir, file), [startUs, endUs]),
      };
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
      results: results(samples, before, after, Object.keys(queries).length),
      counters: { before, after },
      statusAfter,
      log,
      peakRssMbSinceStart: peakKb === undefined ? null : round(peakKb / 1024),
      profile,
    };
    const base = `${raw.date.slice(0, 10)}-${NAME}`;
    writeFileSync(join(reportDir, `${base}.json`), `${JSON.stringify(raw, null, 2)}\n`);
    writeFileSync(join(reportDir, `${base}.md`), markdown(raw, `${base}.json`));
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
