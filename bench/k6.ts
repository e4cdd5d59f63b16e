/**
 * Runs one k6 script of the suite with its summary exported to JSON (the scripts' handleSummary
 * writes PULSE_K6_SUMMARY). k6's own output goes to a log; a run that exceeds its time bound is
 * killed. Every URL handed to k6 must be on loopback.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, toolPaths } from '../test/harness/tools.js';

export interface K6Metric {
  type: string;
  values: Record<string, number>;
  thresholds?: Record<string, { ok: boolean }>;
}

export interface K6Summary {
  metrics: Record<string, K6Metric | undefined>;
  state: { testRunDurationMs: number };
}

export interface K6Run {
  script: string;
  /** 0: every threshold held; 99: a threshold failed (k6's exit codes). */
  exitCode: number;
  summary: K6Summary;
  log: string;
}

export async function runK6(
  script: string,
  env: Record<string, string>,
  options: { outDir: string; label?: string; timeoutSeconds: number },
): Promise<K6Run> {
  for (const [name, value] of Object.entries(env)) {
    if (name.endsWith('_URL') && !/^http:\/\/127\.0\.0\.1:\d+(\/|$)/.test(value))
      throw new Error(`${name}=${value}: the benchmarks target loopback (127.0.0.1) only`);
  }
  const label = options.label ?? script.replace(/^.*\//, '').replace(/\.js$/, '');
  const summaryFile = join(options.outDir, `${label}.summary.json`);
  const log = join(options.outDir, `${label}.log`);
  rmSync(summaryFile, { force: true });
  const logFd = openSync(log, 'w');
  const child = spawn(toolPaths.k6, ['run', '--quiet', '--no-color', join(repoRoot, script)], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      ...env,
      PULSE_K6_SUMMARY: summaryFile,
    },
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, options.timeoutSeconds * 1000);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      resolve(code ?? (signal ? 128 : 1));
    });
  });
  clearTimeout(timer);
  if (!existsSync(summaryFile))
    throw new Error(
      `k6 ${label}: no summary (exit ${exitCode}); see ${log}:\n${readFileSync(log, 'utf8').slice(-3000)}`,
    );
  // setup_data holds the run's API key: it stays out of the report.
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as K6Summary & { setup_data?: unknown };
  delete summary.setup_data;
  console.log(
    `k6 ${label}: exit ${exitCode} (${exitCode === 0 ? 'every threshold held' : 'see thresholds'})`,
  );
  return { script, exitCode, summary, log };
}

/** A value of a metric of the summary (e.g. `p(99)`, `count`), or null when k6 did not record it. */
export function metricValue(summary: K6Summary, metric: string, stat: string): number | null {
  return summary.metrics[metric]?.values[stat] ?? null;
}

/** Every threshold of the run with its verdict, `metric: expression`. */
export function thresholds(summary: K6Summary): { name: string; ok: boolean }[] {
  return Object.entries(summary.metrics).flatMap(([metric, value]) =>
    Object.entries(value?.thresholds ?? {}).map(([expression, verdict]) => ({
      name: `${metric}: ${expression}`,
      ok: verdict.ok,
    })),
  );
}
