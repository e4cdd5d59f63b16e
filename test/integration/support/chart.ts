/**
 * What the chart suites share: running the tools, rendering charts/pulse, the CRDs it needs in the
 * local control plane, and the PromQL of its dashboards.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, toolPaths } from '../../harness/tools.js';
import { waitFor } from '../../harness/wait.js';

export const chartDir = join(repoRoot, 'charts', 'pulse');
export const RELEASE = 'pulse';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string;
  env?: Record<string, string>;
}

/** Runs a command to its end; never throws on a non-zero exit, so tests can assert on it. */
export function exec(command: string, args: string[], options: ExecOptions = {}) {
  return new Promise<Result>((resolve, reject) => {
    const child = execFile(
      command,
      args,
      { maxBuffer: 512 * 1024 * 1024, env: { ...process.env, ...options.env } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(new Error(`${command}: ${error.message}`));
        else resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
    child.stdin?.end(options.input ?? '');
  });
}

export async function ok(command: string, args: string[], options: ExecOptions = {}) {
  const result = await exec(command, args, options);
  assert.equal(result.code, 0, `${command} ${args.join(' ')} failed:\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

export const renderChart = (namespace: string, set: string[]) =>
  ok(toolPaths.helm, ['template', RELEASE, chartDir, '--namespace', namespace, ...set]);

/** The YAML documents of a render, each with its top-level apiVersion and kind. */
export function documents(yaml: string): { apiVersion: string; kind: string; text: string }[] {
  return yaml
    .split(/^---$/m)
    .map((text) => ({
      text,
      apiVersion: /^apiVersion: (\S+)$/m.exec(text)?.[1] ?? '',
      kind: /^kind: (\S+)$/m.exec(text)?.[1] ?? '',
    }))
    .filter((doc) => doc.kind !== '');
}

export type Kubectl = (args: string[], input?: string) => Promise<string>;

/** The upstream CRDs (CloudNativePG, Prometheus Operator, k6) and the chart's own, established. */
export async function installCrds(
  kubectl: Kubectl,
  kubectlResult: (args: string[]) => Promise<Result>,
): Promise<void> {
  const crdsDir = execFileSync('bash', [join(repoRoot, 'tools', 'crds.sh'), '--dir'], {
    encoding: 'utf8',
  }).trim();
  // Server-side: the CloudNativePG CRD is too large for the last-applied annotation.
  const crds: string[] = [];
  for (const dir of [crdsDir, join(chartDir, 'crds')]) {
    const out = await kubectl(['apply', '--server-side', '--force-conflicts', '-o', 'name', '-f', dir]);
    crds.push(...out.split('\n').filter((line) => line !== ''));
  }
  // A CRD just created may not have its conditions yet: kubectl wait fails on that instead of waiting.
  await waitFor(
    'the CRDs to be established',
    async () =>
      (await kubectlResult(['wait', '--for=condition=Established', '--timeout=5s', ...crds])).code === 0,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

/** A dashboard panel's query, named for messages. */
export interface PanelExpression {
  name: string;
  expr: string;
}

/**
 * Every panel query of the chart's dashboards with Grafana's variables substituted as Grafana
 * would: the namespace picked in the variable, and $__rate_interval for the given scrape interval.
 */
export function dashboardExpressions(namespace: string, rateInterval: string): PanelExpression[] {
  const dir = join(chartDir, 'dashboards');
  return readdirSync(dir).flatMap((file) => {
    const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    return dashboard.panels.flatMap((panel) =>
      panel.targets.map((target, i) => ({
        name: `${file} "${panel.title}" #${i}`,
        expr: target.expr.replaceAll('$__rate_interval', rateInterval).replaceAll('$namespace', namespace),
      })),
    );
  });
}
