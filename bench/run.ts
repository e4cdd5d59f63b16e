/**
 * `make bench` / `make bench-quick`: starts a local stack of its own (run dir `.pulse-bench`, ports
 * from 19400, loopback only), measures the machine's limits, runs the k6 suite of load/, times a
 * backlog drain through the whole replicator and then through the relay alone and one projector
 * alone, samples RSS and lag during the soak, reconciles the
 * write DB with the projections, and writes docs/benchmarks/<date>-<name>.md, the raw results
 * beside it and docs/benchmarks/latest.json. `--only` runs some parts of the suite (and still the
 * limits and verify), for a figure that must be measured again while the machine is fast: such a
 * report is named after its parts and leaves latest.json alone.
 *   node --import tsx bench/run.ts [--quick] [--only PART,...] [--name NAME] [--run-dir DIR] [--base-port N]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { backgroundNiceness, startedProcesses } from '../test/harness/process.js';
import { startService, type RunningService, type ServiceName } from '../test/harness/services.js';
import { createTenant } from '../test/harness/api.js';
import { readStackInfo, Stack } from '../test/harness/stack.js';
import { ensureTools, repoRoot } from '../test/harness/tools.js';
import { waitFor } from '../test/harness/wait.js';
import { CpuSampler, type CpuShare } from './cpu.js';
import { commit, machine, statusKb } from './host.js';
import { runK6, type K6Run } from './k6.js';
import { httpHelloRequestsPerSecond, kafkaProduceMessagesPerSecond, pgCopyRowsPerSecond } from './limits.js';
import { PARTS, profiles, scriptEnv, selectedParts, type Part } from './profiles.js';
import { lagFromCommitTimes, type CommitLag } from './commit-lag.js';
import { latest, markdown, topStepWindow, type BenchRaw, type RssSample } from './report.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    name: { type: 'string' },
    'run-dir': { type: 'string', default: join(repoRoot, '.pulse-bench') },
    'base-port': { type: 'string', default: '19400' },
  },
});
const profile = values.quick ? profiles.quick : profiles.full;
const parts = selectedParts(values.only);
const runDir = resolve(values['run-dir']);
const reportDir = join(repoRoot, 'docs', 'benchmarks');
/** The Kafka topic's partitions in the local stack (the relay's default) and one sample event's size. */
const PARTITIONS = 12;
const EVENT_BYTES = 600;
const RSS_INTERVAL_MS = 5_000;

/** The services the benchmark drives. */
type Benched = Extract<ServiceName, 'write' | 'replicator' | 'read'>;

const execFileAsync = promisify(execFile);

/** Waits (bounded) until nothing is unpublished or unprojected, as /sync-status reports it. */
async function waitDrained(readUrl: string, apiKey: string, timeoutMs: number): Promise<void> {
  await waitFor(
    'the pipeline to drain',
    async () => {
      const response = await fetch(`${readUrl}/api/v1/sync-status`, { headers: { 'x-api-key': apiKey } });
      const body = (await response.json()) as { stages: { name: string; backlog: number | null }[] };
      return body.stages.filter((s) => s.name !== 'replica').every((s) => s.backlog === 0);
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** A report is evidence: a second run on the same day gets -2, -3, ... instead of replacing it. */
function unusedReportName(base: string): string {
  const taken = (name: string) => existsSync(join(reportDir, `${name}.md`));
  if (!taken(base)) return base;
  for (let n = 2; ; n++) if (!taken(`${base}-${n}`)) return `${base}-${n}`;
}

async function main(): Promise<void> {
  if (readStackInfo(runDir))
    throw new Error(`a stack is up in ${runDir}; stop it with: cli.ts down --run-dir ${runDir}`);
  rmSync(runDir, { recursive: true, force: true });
  ensureTools(['k6']);
  const outDir = join(runDir, 'k6');
  mkdirSync(outDir, { recursive: true });
  const date = new Date().toISOString();
  const loadBefore = loadavg();
  console.log(
    `bench (${profile.name}): load average before ${loadBefore.map((v) => v.toFixed(2)).join(' ')}`,
  );

  const stack = await Stack.start({ runDir, basePort: Number(values['base-port']) });
  const services = new Map<Benched, RunningService>();
  // Every process the stack started, by the name of its pid file; a later start of a name wins.
  const cpuSampler = new CpuSampler(
    () => new Map(startedProcesses(runDir).map(({ name, pid }) => [pid, name])),
  );
  cpuSampler.start();
  try {
    const adminKey = `pulse_bench_${randomBytes(24).toString('hex')}`;
    const serviceEnv: Record<Benched, Record<string, string>> = {
      write: {
        PULSE_BOOTSTRAP_ADMIN_KEY: adminKey,
        // The benchmark measures the pipeline, not the per-key token bucket.
        PULSE_RATE_LIMIT_PER_SECOND: '0',
        PULSE_RETENTION_DAYS: String(profile.readDays + 2),
        PULSE_LOG_LEVEL: 'warn',
      },
      replicator: { PULSE_LOG_LEVEL: 'warn' },
      read: { PULSE_LOG_LEVEL: 'warn' },
    };
    const start = async (name: Benched, extraEnv: Record<string, string> = {}) => {
      const env: Record<string, string> = { ...stack.env };
      for (const [other, running] of services) env[`PULSE_${other.toUpperCase()}_URL`] = running.url;
      const running = await startService({ ...stack.info, env }, name, {
        port: stack.info.ports[name],
        env: { ...serviceEnv[name], ...extraEnv },
      });
      services.set(name, running);
      return running;
    };
    const stop = async (name: Benched) => {
      await services.get(name)?.stop();
      services.delete(name);
    };
    const writeUrl = (await start('write')).url;
    await start('replicator');
    const readUrl = (await start('read')).url;

    const tenant = await createTenant(writeUrl, adminKey, `bench-${date.replace(/[^0-9]/g, '')}`);
    const k6Env = { PULSE_WRITE_URL: writeUrl, PULSE_READ_URL: readUrl, PULSE_API_KEY: tenant.key };
    const env = scriptEnv(profile);

    console.log('limits: PostgreSQL COPY, Kafka ProducerPerformance, bare Node HTTP');
    const writeDbUrl = stack.env.PULSE_WRITE_DATABASE_URL ?? '';
    const brokers = stack.env.PULSE_KAFKA_BROKERS ?? '';
    const pgCopy = await pgCopyRowsPerSecond(writeDbUrl, runDir, profile.limits.copyRows);
    const kafka = await kafkaProduceMessagesPerSecond(
      brokers,
      profile.limits.kafkaRecords,
      EVENT_BYTES,
      PARTITIONS,
    );
    const hello = await httpHelloRequestsPerSecond(runDir, outDir, profile.limits.helloSeconds);

    const k6: Record<string, K6Run> = {};
    const cpu: Record<string, CpuShare> = {};
    const recordCpu = (window: string, fromMs: number, toMs: number) => {
      const spent = cpuSampler.share(fromMs, toMs);
      if (spent) cpu[window] = spent;
    };
    const suite = async (label: string, script: string, scale: Record<string, string>, seconds: number) => {
      console.log(`k6 ${label}`);
      const startedMs = Date.now();
      const run = await runK6(
        script,
        { ...k6Env, ...scale },
        { outDir, label, timeoutSeconds: seconds + 1200 },
      );
      k6[label] = run;
      recordCpu(label, startedMs, Date.now());
      const top = topStepWindow(run.summary, profile.stepSeconds);
      if (top) recordCpu(`${label}, top step`, top.fromMs, top.toMs);
    };
    const steps = (n: number) => n * (profile.stepSeconds + 2);
    const runs = (part: Part) => parts.includes(part);
    if (runs('write-load'))
      await suite('write-load', 'load/write-load.js', env.writeLoad, steps(3) + profile.stepSeconds);
    let commitLag: CommitLag | undefined;
    if (runs('replication-lag')) {
      const lagFrom = new Date();
      await suite('replication-lag', 'load/replication-lag.js', env.replicationLag, profile.lagSeconds);
      commitLag = await lagFromCommitTimes(
        { write: writeDbUrl, projection: stack.env.PULSE_PROJECTION_DATABASE_URL ?? '' },
        lagFrom,
        new Date(),
      );
    }
    if (runs('mixed')) await suite('mixed', 'load/mixed.js', env.mixed, profile.mixedSeconds);
    if (runs('read-load')) await suite('read-load', 'load/read-load.js', env.readLoad, steps(3));

    if (runs('backlog')) {
      // Backlog: the replicator (relay and projector) stopped while the samples are written, then
      // drained from the outbox to the projection by one replicator running both roles.
      const drain = (label: string, stages: string) =>
        suite(
          label,
          'load/backlog-drain.js',
          { ...env.backlog, PULSE_BACKLOG_PHASE: 'drain', PULSE_DRAIN_STAGES: stages },
          profile.drainTimeoutSeconds,
        );
      await waitDrained(readUrl, k6Env.PULSE_API_KEY, 600_000);
      await stop('replicator');
      await suite(
        'backlog-fill',
        'load/backlog-drain.js',
        { ...env.backlog, PULSE_BACKLOG_PHASE: 'fill' },
        0,
      );
      await start('replicator');
      await drain('backlog-drain', 'relay,projection');
      // The same backlog again, each stage timed alone: the relay role with no projector, then one
      // projector (a replicator with both roles and nothing left to publish).
      await stop('replicator');
      await suite(
        'backlog-fill-staged',
        'load/backlog-drain.js',
        { ...env.backlog, PULSE_BACKLOG_PHASE: 'fill', PULSE_BACKLOG_PREFIX: 'backlog-staged' },
        0,
      );
      await start('replicator', { PULSE_REPLICATOR_ROLES: 'relay' });
      await drain('relay-drain', 'relay');
      await stop('replicator');
      await start('replicator');
      await drain('projector-drain', 'projection');
    }

    const rss: RssSample[] = [];
    if (runs('soak')) {
      const sampler = setInterval(() => {
        for (const [name, running] of services) {
          const kb = statusKb(running.process.pid, 'VmRSS');
          const mb = kb === undefined ? undefined : kb / 1024;
          if (mb !== undefined)
            rss.push({ atMs: Date.now(), process: name, rssMb: Math.round(mb * 10) / 10 });
        }
      }, RSS_INTERVAL_MS);
      try {
        await suite('soak', 'load/soak.js', env.soak, profile.soakSeconds);
      } finally {
        clearInterval(sampler);
      }
    }

    await waitDrained(readUrl, k6Env.PULSE_API_KEY, 600_000);
    const verify = await execFileAsync(
      process.execPath,
      [join(repoRoot, 'services/replicator/dist/cli.js'), 'verify', '--tenant', tenant.tenantId],
      { env: { ...process.env, ...stack.env }, maxBuffer: 64 * 1024 * 1024, timeout: 600_000 },
    ).then(
      ({ stdout }) => ({ exitCode: 0, output: stdout }),
      (error: unknown) => {
        // execFile's error carries the exit code and the output.
        const failed = error as { code?: number; stdout?: string; message?: string };
        return { exitCode: failed.code ?? 1, output: failed.stdout ?? failed.message ?? 'verify failed' };
      },
    );
    const differences = /(\d+) differences\s*$/.exec(verify.output)?.[1];

    const raw: BenchRaw = {
      date,
      commit: commit(),
      profile,
      machine: machine(),
      backgroundNiceness: backgroundNiceness(),
      loadAverage: { before: loadBefore, after: loadavg() },
      limits: { pgCopy, kafka, hello },
      k6,
      ...(parts.length < PARTS.length ? { parts } : {}),
      commitLag,
      rss,
      cpu,
      verify: {
        exitCode: verify.exitCode,
        differences: differences === undefined ? null : Number(differences),
        output: verify.output.slice(-20_000),
      },
    };
    const partial = parts.length < PARTS.length;
    const name = values.name ?? [profile.name, ...(partial ? parts : [])].join('-');
    const base = unusedReportName(`${date.slice(0, 10)}-${name}`);
    const result = latest(raw);
    writeFileSync(join(reportDir, `${base}.json`), `${JSON.stringify(raw, null, 2)}\n`);
    writeFileSync(join(reportDir, `${base}.md`), markdown(raw, result, `${base}.json`));
    // latest.json holds a whole run's figures; a partial run would blank the ones it skipped.
    if (!partial)
      writeFileSync(
        join(reportDir, 'latest.json'),
        `${JSON.stringify({ ...result, report: `${base}.md` }, null, 2)}\n`,
      );
    console.log(`wrote docs/benchmarks/${base}.md and ${base}.json${partial ? '' : ' and latest.json'}`);
    console.log(JSON.stringify(result.results, null, 2));
  } finally {
    cpuSampler.stop();
    for (const running of [...services.values()].reverse()) await running.stop();
    await stack.stop();
  }
}

await main();
