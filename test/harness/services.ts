/**
 * Pulse's own services as processes of the local stack: `node services/<name>/dist/main.js`
 * (built by `make build`), configured from the stack's environment, ready when /readyz says so.
 * `make up` runs each under a supervisor that restarts it with backoff; tests run them bare, so
 * that a kill -9 stays dead until the test restarts it.
 */
import { join } from 'node:path';
import type { StackInfo } from './stack.js';
import { ManagedProcess } from './process.js';
import { addScrapeTarget } from './components/prometheus.js';
import { repoRoot } from './tools.js';
import { probe, waitFor } from './wait.js';

export type ServiceName = 'write' | 'replicator' | 'read' | 'operator';

export const serviceEntry = (name: ServiceName): string =>
  join(repoRoot, name === 'operator' ? 'operator' : join('services', name), 'dist', 'main.js');

export interface ServiceOptions {
  /** Process name (pid file, log): defaults to the service name; use another for a second replica. */
  instance?: string;
  port: number;
  env?: Record<string, string>;
  supervised?: boolean;
}

export interface RunningService {
  process: ManagedProcess;
  url: string;
  stop: () => Promise<void>;
}

export async function startService(
  stack: StackInfo,
  name: ServiceName,
  options: ServiceOptions,
): Promise<RunningService> {
  const instance = options.instance ?? name;
  const env = {
    ...stack.env,
    PULSE_HTTP_PORT: String(options.port),
    // Loopback only on a developer's machine (a pod binds every interface).
    PULSE_HTTP_HOST: '127.0.0.1',
    PULSE_LOG_LEVEL: 'info',
    ...options.env,
  };
  const command = options.supervised
    ? [
        '--import',
        'tsx',
        join(repoRoot, 'test/harness/supervise.ts'),
        instance,
        '--',
        process.execPath,
        serviceEntry(name),
      ]
    : [serviceEntry(name)];
  const managed = ManagedProcess.start(stack.runDir, {
    name: instance,
    command: process.execPath,
    args: command,
    env,
    cwd: repoRoot,
    // The replicator relays and projects behind the writes (ProcessSpec.background).
    background: name === 'replicator',
  });
  const url = `http://127.0.0.1:${options.port}`;
  try {
    await waitForReady(instance, url, options.supervised ? undefined : managed);
  } catch (error) {
    await managed.stop();
    throw error;
  }
  if (stack.components.includes('prometheus'))
    addScrapeTarget(stack.runDir, instance, options.port, { service: name });
  return { process: managed, url, stop: () => managed.stop() };
}

export async function waitForReady(
  name: string,
  url: string,
  managed?: ManagedProcess,
  timeoutMs = 60_000,
): Promise<void> {
  await waitFor(`${name} to be ready at ${url}/readyz`, async () => (await probe(`${url}/readyz`)).ok, {
    timeoutMs,
    intervalMs: 200,
    abortIf: () => managed?.exitedError(),
  });
}
