/**
 * `make up`'s second half: Pulse's own services on top of the local stack, supervised, with a demo
 * tenant and bounded demo traffic, so the dashboards have something to show.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createTenant } from './api.js';
import { ManagedProcess } from './process.js';
import { startService } from './services.js';
import type { StackInfo } from './stack.js';
import { repoRoot } from './tools.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

/** Start order; `make down` stops them in reverse, before the stack under them. */
export const pipelineProcesses = ['write', 'replicator', 'read', 'operator', 'demo-traffic'];

interface DemoCredentials {
  adminKey: string;
  tenantId: string;
  apiKey: string;
}

export interface PipelineOptions {
  /** Samples per second of demo traffic, and for how long (bounded: it stops by itself). */
  demoRate: number;
  demoDurationSeconds: number;
}

export async function startPipeline(
  stack: StackInfo,
  options: PipelineOptions,
): Promise<Record<string, string>> {
  const adminKey = adminKeyOf(stack.runDir);
  const env: Record<string, string> = {};
  for (const name of ['write', 'replicator', 'read'] as const) {
    const service = await startService({ ...stack, env: { ...stack.env, ...env } }, name, {
      port: stack.ports[name],
      supervised: true,
      env: name === 'write' ? { PULSE_BOOTSTRAP_ADMIN_KEY: adminKey } : {},
    });
    env[`PULSE_${name.toUpperCase()}_URL`] = service.url;
  }
  const writeUrl = env.PULSE_WRITE_URL ?? '';
  const demo = await ensureDemoTenant(stack.runDir, writeUrl, adminKey);
  Object.assign(env, {
    PULSE_API_KEY: demo.apiKey,
    PULSE_ADMIN_KEY: adminKey,
    PULSE_DEMO_TENANT_ID: demo.tenantId,
  });

  if (stack.components.includes('controlplane'))
    await startOperator({ ...stack, env: { ...stack.env, ...env } });

  const cli = join(repoRoot, 'services/write/dist/cli.js');
  const cliEnv = { ...stack.env, ...env };
  const seed = ManagedProcess.start(stack.runDir, {
    name: 'demo-seed',
    command: process.execPath,
    args: [cli, 'seed', '--services', '8', '--hours', '24', '--interval', '60'],
    env: cliEnv,
  });
  await waitFor('the demo seed to finish', () => seed.exit, { timeoutMs: 300_000, intervalMs: 500 });
  if (seed.exit?.code !== 0) throw new Error(`demo seed failed; see ${seed.logFile}`);
  await seed.stop(); // already ended: this only clears its pid file
  ManagedProcess.start(stack.runDir, {
    name: 'demo-traffic',
    command: process.execPath,
    args: [
      cli,
      'live',
      '--rate',
      String(options.demoRate),
      '--duration',
      String(options.demoDurationSeconds),
    ],
    env: cliEnv,
  });
  return env;
}

function adminKeyOf(runDir: string): string {
  const file = join(runDir, 'admin-key');
  if (!existsSync(file))
    writeFileSync(file, `pulse_admin_${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** The demo tenant and its write+read key, created once per run dir and kept there. */
async function ensureDemoTenant(
  runDir: string,
  writeUrl: string,
  adminKey: string,
): Promise<DemoCredentials> {
  const file = join(runDir, 'demo.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as DemoCredentials;
  const { tenantId, key } = await createTenant(writeUrl, adminKey, `demo-${randomBytes(3).toString('hex')}`);
  const credentials = { adminKey, tenantId, apiKey: key };
  writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

/**
 * With the local control plane: the ReplicationLag CRD, a `replicator` Deployment standing in for
 * the local replicator processes (there are no nodes, so it never runs a pod), a ReplicationLag
 * reading the local Prometheus, and the operator, so that `kubectl get rlag` shows the real lag.
 */
async function startOperator(stack: StackInfo): Promise<void> {
  const kubectl = (args: string[], input?: string) => {
    const child = run('kubectl', ['--kubeconfig', stack.env.KUBECONFIG ?? '', ...args]);
    child.child.stdin?.end(input);
    return child;
  };
  await kubectl(['apply', '--server-side', '-f', join(repoRoot, 'charts/pulse/crds')]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/replicationlags.pulse.dev']);
  const resources = [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'replicator', namespace: 'default', labels: { app: 'replicator' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'replicator' } },
        template: {
          metadata: { labels: { app: 'replicator' } },
          spec: { containers: [{ name: 'replicator', image: 'pulse.invalid/replicator:local' }] },
        },
      },
    },
    {
      apiVersion: 'pulse.dev/v1alpha1',
      kind: 'ReplicationLag',
      metadata: { name: 'pulse', namespace: 'default' },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'replicator' },
        prometheus: { address: stack.env.PULSE_PROMETHEUS_URL },
        targetLagSeconds: 5,
        minReplicas: 1,
        maxReplicas: 12,
        pollIntervalSeconds: 5,
      },
    },
  ];
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: resources }));
  await startService(stack, 'operator', {
    port: stack.ports.operator,
    supervised: true,
    env: { PULSE_OPERATOR_NAMESPACE: 'default' },
  });
}
