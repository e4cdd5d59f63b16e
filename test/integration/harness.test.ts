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
import { repoRoot } from '../harness/tools.js';

const run = promisify(execFile);

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
    const cli = (args: string[]) =>
      run('node', ['--import', 'tsx', join(repoRoot, 'test/harness/cli.ts'), ...args, '--run-dir', runDir], {
        cwd: repoRoot,
      });
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
});
