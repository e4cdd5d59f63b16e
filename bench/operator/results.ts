/**
 * A run's raw record (the JSON beside each report), what its samples and counters come to over the
 * window, and the verdict against issue #6's target.
 */
import type { Load } from '../../test/integration/support/fake-replicator.js';
import type { Machine } from '../report.js';
import { API_REQUESTS, type Counters } from './exposition.js';
import type { Fixture, QueryMode, statusSummary } from './fixtures.js';
import type { LoadGate } from './load-gate.js';
import type { LogCount } from './log.js';
import type { OperatorBuild } from './operator-process.js';
import { CLK_TCK, cpuPercent, SAMPLE_INTERVAL_MS, type Sample } from './proc.js';
import type { ProfileRun } from './profile.js';
import { round } from './round.js';

/** Issue #6's target. */
export const TARGET_CPU_PERCENT = 5;
export const TARGET_RSS_MB = 150;

export const CPU_WINDOW_MS = 30_000;

export interface Raw {
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
    queryMode?: QueryMode;
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
  results: Results;
  counters: { before: Counters; after: Counters };
  statusAfter: ReturnType<typeof statusSummary>;
  log: { window: LogCount; wholeRun: LogCount };
  peakRssMbSinceStart: number | null;
  profile: ProfileRun | null;
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])].sort();
  return Object.fromEntries(keys.map((key) => [key, round((after[key] ?? 0) - (before[key] ?? 0), 3)]));
}

export function results(
  samples: Sample[],
  before: Counters,
  after: Counters,
  fixture: Fixture,
  queriesPerReconcile: number,
) {
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
      expectedPerSecond: round(fixture.resources / fixture.pollSeconds, 2),
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
      unsharedPerSecond: round((fixture.resources * queriesPerReconcile) / fixture.pollSeconds, 2),
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

export function verdict(r: Results) {
  const cpuMean = r.cpu.meanPercentOfOneCore < TARGET_CPU_PERCENT;
  const cpuEvery30s =
    r.cpu.max30sPercentOfOneCore !== null && r.cpu.max30sPercentOfOneCore < TARGET_CPU_PERCENT;
  const rss = r.rssMb.max < TARGET_RSS_MB;
  // 150 MB read as 10^6 bytes is 143.1 MiB: the stricter reading.
  const rssDecimal = r.rssMb.max < (TARGET_RSS_MB * 1e6) / 2 ** 20;
  const kept = r.reconciles.perSecond >= 0.9 * r.reconciles.expectedPerSecond;
  return { cpuMean, cpuEvery30s, rss, rssDecimal, keptUp: kept, met: cpuMean && rss && kept };
}
