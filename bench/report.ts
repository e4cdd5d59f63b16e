/**
 * From the raw results of a bench run to `latest.json` (the issue's schema) and the dated
 * markdown report. Pure: no I/O.
 */
import { metricValue, thresholds, type K6Run, type K6Summary } from './k6.js';
import type { Part, Profile } from './profiles.js';
import type { LagPercentiles, CommitLag } from './commit-lag.js';
import type { CpuShare } from './cpu.js';

export interface Machine {
  cores: number;
  mem_gib: number;
  cpu_model: string;
}

export interface RssSample {
  atMs: number;
  process: string;
  rssMb: number;
}

export interface BenchRaw {
  date: string;
  commit: string;
  profile: Profile;
  machine: Machine;
  /** The niceness of the replica, the projection database, Kafka and the replicator (absent before it was set). */
  backgroundNiceness?: number;
  loadAverage: { before: number[]; after: number[] };
  limits: {
    pgCopy: { value: number; raw: unknown };
    kafka: { value: number; raw: unknown };
    hello: { value: number; raw: K6Run };
  };
  k6: Record<string, K6Run>;
  /** The parts run with `--only`; absent when the whole suite ran. */
  parts?: Part[];
  /** The replication-lag phase read from the databases' commit times; absent in reports of runs before it was measured. */
  commitLag?: CommitLag;
  rss: RssSample[];
  /** CPU per process during each k6 script and each stepped script's top step; absent in reports before 2026-12-07. */
  cpu?: Record<string, CpuShare>;
  verify: { exitCode: number; differences: number | null; output: string };
}

/** The top rate step of a stepped script, from the scenario names in its thresholds. */
function topStep(summary: K6Summary, prefix: string): number | null {
  const pattern = new RegExp(`^http_reqs\\{scenario:${prefix}_(\\d+)\\}$`);
  const steps = Object.keys(summary.metrics).flatMap((name) => {
    const match = pattern.exec(name);
    return match?.[1] ? [Number(match[1])] : [];
  });
  return steps.length ? Math.max(...steps) : null;
}

/** The clock window of a stepped script's top step, from the start its setup announced (markTopStepStart). */
export function topStepWindow(
  summary: K6Summary,
  stepSeconds: number,
): { fromMs: number; toMs: number } | null {
  const fromMs = metricValue(summary, 'top_step_starts_at_ms', 'value');
  return fromMs === null ? null : { fromMs, toMs: fromMs + stepSeconds * 1000 };
}

const round = (value: number | null, digits = 1) =>
  value === null ? null : Math.round(value * 10 ** digits) / 10 ** digits;

/** Growth of each process's RSS from the end of the first tenth of the soak to its end (MB). */
export function rssGrowth(samples: RssSample[]): Record<string, number> {
  const growth: Record<string, number> = {};
  for (const name of new Set(samples.map((s) => s.process))) {
    const own = samples.filter((s) => s.process === name).sort((a, b) => a.atMs - b.atMs);
    const first = own[Math.floor(own.length / 10)];
    const last = own.at(-1);
    if (first && last) growth[name] = round(last.rssMb - first.rssMb) ?? 0;
  }
  return growth;
}

export function latest(raw: BenchRaw) {
  const m = (script: string, metric: string, stat: string) => {
    const run = raw.k6[script];
    return run ? metricValue(run.summary, metric, stat) : null;
  };
  const perSecond = (count: number | null, seconds: number) =>
    count === null ? null : Math.round(count / seconds);
  const write = raw.k6['write-load'];
  const read = raw.k6['read-load'];
  const writeTop = write ? topStep(write.summary, 'single') : null;
  const readTop = read ? topStep(read.summary, 'read') : null;
  const step = raw.profile.stepSeconds;
  const growth = Object.values(rssGrowth(raw.rss));
  const batchSamples = m('write-load', 'samples_accepted{scenario:batch}', 'count');
  const catchUp = m('write-load', 'batch_catch_up_seconds', 'max');
  return {
    date: raw.date,
    commit: raw.commit,
    profile: raw.profile.name,
    machine: raw.machine,
    results: {
      ingest_batch_samples_per_s: perSecond(batchSamples, step),
      projection_samples_per_s: catchUp === null ? null : perSecond(batchSamples, step + catchUp),
      ingest_single_rps: perSecond(m('write-load', `http_reqs{scenario:single_${writeTop}}`, 'count'), step),
      ingest_single_p99_ms: round(m('write-load', `http_req_duration{scenario:single_${writeTop}}`, 'p(99)')),
      e2e_lag_ms: {
        p50: round(m('replication-lag', 'commit_to_visible_ms', 'med')),
        p95: round(m('replication-lag', 'commit_to_visible_ms', 'p(95)')),
        p99: round(m('replication-lag', 'commit_to_visible_ms', 'p(99)')),
        at_samples_per_s: perSecond(
          m('replication-lag', 'samples_accepted', 'count'),
          raw.profile.lagSeconds,
        ),
      },
      e2e_lag_commit_to_commit_ms: {
        published: raw.commitLag?.publishedMs ?? null,
        applied: raw.commitLag?.appliedMs ?? null,
        not_applied: raw.commitLag?.notApplied ?? null,
      },
      read_rps: perSecond(m('read-load', `http_reqs{scenario:read_${readTop}}`, 'count'), step),
      read_p99_ms: round(m('read-load', `http_req_duration{scenario:read_${readTop}}`, 'p(99)')),
      raw_history_p99_ms: round(m('read-load', 'http_req_duration{name:raw-history}', 'p(99)')),
      backlog_drain_samples_per_s: round(m('backlog-drain', 'drain_events_per_s', 'avg'), 0),
      relay_drain_events_per_s: round(m('relay-drain', 'drain_events_per_s', 'avg'), 0),
      projector_drain_events_per_s: round(m('projector-drain', 'drain_events_per_s', 'avg'), 0),
      soak: {
        rss_growth_mb: growth.length ? Math.max(...growth) : null,
        max_lag_s: round(m('soak', 'pipeline_lag_seconds', 'max'), 2),
        lost: raw.verify.differences,
      },
    },
    limits: {
      pg_copy_rows_per_s: raw.limits.pgCopy.value,
      kafka_produce_msgs_per_s: raw.limits.kafka.value,
      http_hello_rps: raw.limits.hello.value,
    },
  };
}

export type Latest = ReturnType<typeof latest>;

const show = (value: number | null | undefined, unit = '') =>
  value === null || value === undefined ? 'n/a' : `${value.toLocaleString('en-US')}${unit}`;
const lagRow = (lag: LagPercentiles | null) =>
  lag ? `${show(lag.p50)} / ${show(lag.p90)} / ${show(lag.p99)} ms over ${show(lag.events)} events` : 'n/a';
const ratio = (value: number | null, limit: number) =>
  value === null || limit === 0 ? 'n/a' : `${((100 * value) / limit).toFixed(1)}%`;

/** The columns of the CPU table, in the order of a request's path; whatever else ran is "other". */
const CPU_GROUPS = [
  'k6',
  'write',
  'postgres-primary',
  'postgres-replica',
  'replicator',
  'kafka',
  'postgres-projection',
  'read',
  'prometheus',
  'other',
];

function cpuSection(raw: BenchRaw): string[] {
  if (!raw.cpu || Object.keys(raw.cpu).length === 0) return [];
  const cores = raw.machine.cores * 100;
  return [
    '## Where the CPU went',
    '',
    `CPU time over wall time, in percent of one core (the machine has ${cores}), read from \`/proc\` once a second:`,
    "each process is charged to the stack process it descends from (a PostgreSQL server's backends to that",
    'server); "other" is everything else (the driver, the system). Steal is time the hypervisor gave these',
    'virtual CPUs to someone else. A machine near its maximum queues every request behind the others.',
    '',
    `| window | s | machine busy | steal | ${CPU_GROUPS.join(' | ')} |`,
    `| --- | --- | --- | --- | ${CPU_GROUPS.map(() => '---').join(' | ')} |`,
    ...Object.entries(raw.cpu).map(
      ([window, share]) =>
        `| ${window} | ${share.seconds} | ${share.machineBusy} | ${share.steal} | ${CPU_GROUPS.map((g) => share.groups[g] ?? 0).join(' | ')} |`,
    ),
    '',
  ];
}

export function markdown(raw: BenchRaw, result: Latest, rawFile: string): string {
  const r = result.results;
  const l = result.limits;
  const lines = [
    `# Benchmark ${raw.date.slice(0, 10)} (${raw.profile.name} run${raw.parts ? `, only ${raw.parts.join(', ')}` : ''})`,
    '',
    `Commit \`${raw.commit}\`, started ${raw.date}. Raw results (every k6 summary, the limit tools' output, the RSS samples, the CPU per process, verify's output): [${rawFile}](${rawFile}).`,
    '',
    `**Machine:** ${raw.machine.cores} cores (${raw.machine.cpu_model}), ${raw.machine.mem_gib} GiB. The load generator (k6), the`,
    'whole local stack (PostgreSQL primary + replica + projection, Kafka, Prometheus) and the three services share these cores,',
    'all on loopback.',
    ...(raw.backgroundNiceness
      ? [
          `The replica, the projection database, Kafka and the replicator ran at niceness ${raw.backgroundNiceness}, the write`,
          'service, the primary, the read service and k6 at 0: under contention the requests get the CPU first.',
        ]
      : []),
    `**Load average** (1, 5, 15 min) before the run: ${raw.loadAverage.before.map((v) => v.toFixed(2)).join(', ')};`,
    `after: ${raw.loadAverage.after.map((v) => v.toFixed(2)).join(', ')}. Anything above 0 before the run is other work on the machine.`,
    '',
  ];
  if (raw.parts)
    lines.push(
      `**Partial run:** only ${raw.parts.join(', ')} ran (\`--only\`), with the limits and verify; the figures of the`,
      'other parts are n/a, and latest.json was left as it was.',
      '',
    );
  if (raw.profile.name === 'quick')
    lines.push(
      `**Quick run:** rate steps of ${raw.profile.stepSeconds} s, replication-lag ${raw.profile.lagSeconds} s, mixed ${raw.profile.mixedSeconds} s,`,
      `${raw.profile.readServices} services with ${raw.profile.readDays} days of hourly data (the target says 30), a backlog of`,
      `${raw.profile.backlogSamples.toLocaleString('en-US')} samples (the target says 1,000,000), a soak of ${raw.profile.soakSeconds} s (the target says 30 min).`,
      'Short steps make p99 rest on few samples, and a 60 s soak says nothing about slow leaks: these numbers are',
      'indications, not the evidence the full run (`make bench`) gives.',
      '',
    );
  lines.push(
    '## Results',
    '',
    '| figure | measured | target | machine limit | share of the limit |',
    '| --- | --- | --- | --- | --- |',
    `| batch ingest, samples/s committed | ${show(r.ingest_batch_samples_per_s)} | >= 20,000 | PostgreSQL COPY ${show(l.pg_copy_rows_per_s)} rows/s | ${ratio(r.ingest_batch_samples_per_s, l.pg_copy_rows_per_s)} |`,
    `| sustained end-to-end projection: the batch phase's samples over its length plus the catch-up after it, samples/s | ${show(r.projection_samples_per_s)} | >= 20,000 | | |`,
    `| single-sample POST, req/s held at the top step | ${show(r.ingest_single_rps)} | 1,000 | bare Node HTTP ${show(l.http_hello_rps)} req/s | ${ratio(r.ingest_single_rps, l.http_hello_rps)} |`,
    `| single-sample POST p99 at that step | ${show(r.ingest_single_p99_ms, ' ms')} | < 25 ms | | |`,
    `| commit-to-visible p50 / p95 / p99 | ${show(r.e2e_lag_ms.p50)} / ${show(r.e2e_lag_ms.p95)} / ${show(r.e2e_lag_ms.p99)} ms at ${show(r.e2e_lag_ms.at_samples_per_s)} samples/s | p50 < 15, p99 < 50 ms at 1,000 samples/s | | |`,
    `| the same phase from the databases' commit times: write commit to marked published (relay) p50 / p90 / p99 | ${lagRow(r.e2e_lag_commit_to_commit_ms.published)} | | | |`,
    `| the same phase: write commit to projection commit p50 / p90 / p99 | ${lagRow(r.e2e_lag_commit_to_commit_ms.applied)}${r.e2e_lag_commit_to_commit_ms.not_applied ? ` (${show(r.e2e_lag_commit_to_commit_ms.not_applied)} not applied 30 s after the phase)` : ''} | p50 < 15, p99 < 50 ms at 1,000 samples/s | | |`,
    `| /services + /dashboard, req/s held at the top step | ${show(r.read_rps)} | 5,000 | bare Node HTTP ${show(l.http_hello_rps)} req/s | ${ratio(r.read_rps, l.http_hello_rps)} |`,
    `| /services + /dashboard p99 at that step | ${show(r.read_p99_ms, ' ms')} | < 20 ms | | |`,
    `| 24 h raw history p99 | ${show(r.raw_history_p99_ms, ' ms')} | < 50 ms | | |`,
    `| backlog drain, outbox to projection by one replicator (both roles), events (= samples)/s | ${show(r.backlog_drain_samples_per_s)} | | Kafka produce ${show(l.kafka_produce_msgs_per_s)} msgs/s | ${ratio(r.backlog_drain_samples_per_s, l.kafka_produce_msgs_per_s)} |`,
    `| the same backlog, outbox to Kafka by the relay alone, events/s | ${show(r.relay_drain_events_per_s)} | | Kafka produce ${show(l.kafka_produce_msgs_per_s)} msgs/s | ${ratio(r.relay_drain_events_per_s, l.kafka_produce_msgs_per_s)} |`,
    `| the same backlog, Kafka to projection by one projector, events/s | ${show(r.projector_drain_events_per_s)} | >= 20,000 | | |`,
    `| soak: RSS growth (worst service) | ${show(r.soak.rss_growth_mb, ' MB')} | flat | | |`,
    `| soak: max pipeline lag | ${show(r.soak.max_lag_s, ' s')} | flat, < 5 s | | |`,
    `| lost (verify differences after the run) | ${show(r.soak.lost)} | 0 | | |`,
    '',
    "The limits: PostgreSQL `\\copy` of samples into an empty table with system_metrics' columns and primary key,",
    "on the write primary (which streams to its replica); Kafka's `ProducerPerformance` (acks=all, idempotent) on a",
    'fresh topic with the pipeline\'s partition count; a bare `node:http` server answering "hello", driven by k6 with',
    "50 closed-loop VUs. A Pulse figure as a share of its limit says how much of the machine's ceiling the",
    'pipeline reaches: a batch is validated, written with its outbox rows in one transaction and replicated; a',
    'request runs auth, validation and SQL; a drained event is read from the outbox, published, consumed and',
    'projected.',
    '',
  );
  lines.push(...cpuSection(raw), '## Thresholds per script', '');
  for (const [name, run] of Object.entries(raw.k6)) {
    lines.push(
      `**${name}** (exit ${run.exitCode}${run.exitCode === 0 ? ', every threshold held' : ''}):`,
      '',
    );
    for (const t of thresholds(run.summary)) lines.push(`- ${t.ok ? 'ok' : '**failed**'}: \`${t.name}\``);
    lines.push('');
  }
  const growth = rssGrowth(raw.rss);
  lines.push(
    '## Soak memory and verify',
    '',
    `RSS growth per process over the soak (after its first tenth): ${
      Object.entries(growth)
        .map(([name, mb]) => `${name} ${mb} MB`)
        .join(', ') || 'no samples'
    }.`,
    `\`pulse-replicator verify\` over the bench tenant after the backlog drained: exit ${raw.verify.exitCode}, ${show(raw.verify.differences)} differences.`,
    '',
    'See [README.md](README.md) for what these numbers do not show.',
    '',
  );
  return lines.join('\n');
}
