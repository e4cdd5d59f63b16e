import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { groupAlive, startedProcesses } from '../harness/process.js';
import { Stack } from '../harness/stack.js';
import { serviceEntry } from '../harness/services.js';
import { repoRoot } from '../harness/tools.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);

/** `make up`/`make down` as a person runs them, in a run dir of the test's own. */
const stackCli =
  (runDir: string, env: Record<string, string> = {}) =>
  (args: string[]) =>
    run('node', ['--import', 'tsx', join(repoRoot, 'test/harness/cli.ts'), ...args, '--run-dir', runDir], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
    });

/** The niceness of a process, field 19 of /proc/<pid>/stat (after the name, which may hold ") "). */
function nicenessOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(') ') + 2).split(' ')[16]);
}

const pidOf = (runDir: string, name: string) =>
  Number(readFileSync(join(runDir, 'run', `${name}.pid`), 'utf8').split('\n')[0]);

function assertNothingLeft(runDir: string, expected: string[]): void {
  const started = startedProcesses(runDir);
  assert.deepEqual(
    started.map((p) => p.name).sort(),
    [...expected].sort(),
    'the processes that were started',
  );
  for (const { name, pid } of started) assert.equal(groupAlive(pid), false, `${name} (pid ${pid}) is gone`);
}

describe('local stack harness', () => {
  it('stops everything when a component fails, naming it and its log', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const takenPort = (blocker.address() as AddressInfo).port;
    const runDir = mkdtempSync(join(tmpdir(), 'pulse-fail-'));
    try {
      await assert.rejects(
        Stack.start({
          runDir,
          components: ['postgres', 'prometheus'],
          portOverrides: { prometheus: takenPort },
        }),
        (error: Error) => {
          assert.match(error.message, /prometheus failed to start/);
          assert.match(error.message, new RegExp(join(runDir, 'logs')));
          assert.match(error.message, /address already in use/);
          return true;
        },
      );
      assertNothingLeft(runDir, [
        'postgres-primary',
        'postgres-replica',
        'postgres-projection',
        'prometheus',
      ]);
    } finally {
      blocker.close();
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  it('`up` writes a sourceable env and pid files; `down` leaves no process behind', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'pulse-cli-'));
    const cli = stackCli(runDir);
    try {
      const up = await cli(['up', '--base-port', '18400', '--infra-only']);
      assert.match(up.stdout, /PULSE_KAFKA_BROKERS=127\.0\.0\.1:18410/);
      const env = readFileSync(join(runDir, 'env'), 'utf8');
      for (const key of [
        'PULSE_WRITE_DATABASE_URL',
        'PULSE_REPLICA_DATABASE_URL',
        'PULSE_PROJECTION_DATABASE_URL',
        'PULSE_KAFKA_BROKERS',
        'PULSE_PROMETHEUS_URL',
      ]) {
        assert.match(env, new RegExp(`^export ${key}='[^']+'$`, 'm'), key);
      }
      const sourced = await run('bash', [
        '-c',
        `source ${join(runDir, 'env')} && echo "$PULSE_PROMETHEUS_URL"`,
      ]);
      assert.equal(sourced.stdout.trim(), 'http://127.0.0.1:18420');
      for (const name of [
        'postgres-primary',
        'postgres-replica',
        'postgres-projection',
        'kafka',
        'prometheus',
      ]) {
        assert.ok(existsSync(join(runDir, 'run', `${name}.pid`)), `${name}.pid`);
      }
      await assert.rejects(cli(['up']), /already up/);

      const down = await cli(['down']);
      assert.match(
        down.stdout,
        /stopped: prometheus, kafka, postgres-projection, postgres-replica, postgres-primary/,
      );
      assertNothingLeft(runDir, [
        'postgres-primary',
        'postgres-replica',
        'postgres-projection',
        'kafka',
        'prometheus',
      ]);
    } finally {
      await cli(['down']).catch(() => undefined);
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  it('`up` runs the pipeline with demo traffic under a supervisor, the background niced; `down` stops it all', async () => {
    const runDir = mkdtempSync(join(tmpdir(), 'pulse-up-'));
    const cli = stackCli(runDir, { PULSE_BACKGROUND_NICENESS: '10' });
    try {
      const up = await cli([
        'up',
        '--base-port',
        '18500',
        '--with',
        'controlplane',
        '--demo-rate',
        '10',
        '--demo-duration',
        '300',
      ]);
      assert.match(
        up.stdout,
        /curl -s -H "X-API-Key: [^"]+" http:\/\/127\.0\.0\.1:18541\/api\/v1\/dashboard/,
      );
      const env = Object.fromEntries(
        readFileSync(join(runDir, 'env'), 'utf8')
          .trim()
          .split('\n')
          .map((line) => /^export ([A-Z_]+)='(.*)'$/.exec(line)?.slice(1) ?? []),
      ) as Record<string, string>;
      const dashboard = async () => {
        const response = await fetch(`${env.PULSE_READ_URL}/api/v1/dashboard`, {
          headers: { 'x-api-key': env.PULSE_API_KEY ?? '' },
        });
        return (await response.json()) as { services: { total: number; by_health: { healthy: number } } };
      };
      const seen = await waitFor(
        'the demo services on the dashboard',
        async () => {
          const body = await dashboard();
          return body.services.by_health.healthy === 8 ? body : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      assert.equal(seen.services.total, 8);

      // What catches up behind the requests yields the CPU to them; the request path does not.
      const niceness = Object.fromEntries(
        [
          'postgres-primary',
          'postgres-replica',
          'postgres-projection',
          'kafka',
          'write',
          'replicator',
          'read',
        ].map((name) => [name, nicenessOf(pidOf(runDir, name))]),
      );
      assert.deepEqual(niceness, {
        'postgres-primary': 0,
        'postgres-replica': 10,
        'postgres-projection': 10,
        kafka: 10,
        write: 0,
        replicator: 10,
        read: 0,
      });

      // With the control plane, the operator publishes the pipeline's lag on the ReplicationLag.
      const rlag = await waitFor(
        'kubectl get rlag to show the lag',
        async () => {
          const out = (await run('kubectl', ['--kubeconfig', env.KUBECONFIG ?? '', 'get', 'rlag', 'pulse']))
            .stdout;
          return /deploy\/replicator\s+\d+(\.\d+)?m?s\s+\d+/.test(out) ? out : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 1_000 },
      );
      assert.match(
        rlag,
        /^NAME\s+TARGET\s+LAG\s+BACKLOG\s+RATE\/S\s+REPLICAS\s+DESIRED\s+REPLICA-LAG\s+AGE/m,
      );

      // The supervisor brings a killed service back.
      const supervisor = pidOf(runDir, 'write');
      // The supervisor's children that run the service: tsx keeps an esbuild service beside them.
      const children = async () =>
        (
          await run('pgrep', ['-P', String(supervisor), '-f', serviceEntry('write')]).catch(() => ({
            stdout: '',
          }))
        ).stdout
          .split('\n')
          .filter(Boolean)
          .map(Number);
      // The service the supervisor runs now (one child; none for a moment while it restarts one).
      let seenChildren: number[] = [];
      const child = await waitFor(
        'the supervised write service',
        async () => {
          seenChildren = await children();
          return seenChildren.length === 1 ? seenChildren[0] : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      ).catch((error: unknown) => {
        // Name what was seen instead: the supervisor's children and the end of its log.
        const log = readFileSync(join(runDir, 'logs', 'write.log'), 'utf8')
          .split('\n')
          .slice(-40)
          .join('\n');
        throw new Error(
          `${String(error)}; children of supervisor ${supervisor}: [${seenChildren.join(', ')}]; write.log ends:\n${log}`,
        );
      });
      process.kill(child, 'SIGKILL');
      await waitFor(
        'the write service restarted',
        async () => {
          const now = await children();
          return (
            now.length === 1 &&
            now[0] !== child &&
            (await fetch(`${env.PULSE_WRITE_URL}/readyz`).then(
              (r) => r.ok,
              () => false,
            ))
          );
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );

      const down = await cli(['down']);
      assert.match(
        down.stdout,
        /stopped: .*demo-traffic, operator, read, replicator, write, kube-controller-manager/,
      );
      for (const { name, pid } of startedProcesses(runDir))
        assert.equal(groupAlive(pid), false, `${name} is gone`);
      assert.deepEqual(await children(), [], 'the supervised service is gone too');
    } finally {
      await cli(['down']).catch(() => undefined);
      rmSync(runDir, { recursive: true, force: true });
    }
  });
});
