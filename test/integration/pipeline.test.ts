/**
 * The whole write path against the real parts: HTTP commands from concurrent writers, the
 * transactional outbox, the relay, Kafka and the projectors, reconciled with `pulse-replicator
 * verify` (write DB against projections); and a rebuild from the write DB while writes go on.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Position } from '@pulse/core';
import pg from 'pg';
import { freePort } from '../harness/ports.js';
import { startService, type RunningService } from '../harness/services.js';
import { suiteScope, testStack, type TestStack } from '../harness/testing.js';
import { repoRoot } from '../harness/tools.js';
import { waitFor } from '../harness/wait.js';
import {
  call,
  createTenant,
  expectStatus,
  newAdminKey,
  positionOf,
  positionsApplied,
} from './support/api.js';
import { startReplicator } from './support/pipeline.js';

const run = promisify(execFile);

describe('pipeline: write service -> outbox -> relay -> Kafka -> projection, reconciled', () => {
  let stack: TestStack;
  let scope: Record<string, string>;
  let projectionDb: pg.Client;
  const services: RunningService[] = [];
  let writeUrl = '';
  let tenant: { tenantId: string; key: string };
  const serviceIds: string[] = [];
  const positions: Position[] = [];

  before(async () => {
    stack = await testStack(['postgres', 'kafka']);
    scope = await suiteScope(stack, 'pipeline');
    const adminKey = newAdminKey();
    const write = await startService({ ...stack.info, env: { ...stack.env, ...scope } }, 'write', {
      port: await freePort(),
      env: { PULSE_BOOTSTRAP_ADMIN_KEY: adminKey, PULSE_RATE_LIMIT_PER_SECOND: '0' },
    });
    services.push(write, await startReplicator(stack, scope));
    writeUrl = write.url;
    tenant = await createTenant(writeUrl, adminKey);
    projectionDb = new pg.Client({ connectionString: scope.PULSE_PROJECTION_DATABASE_URL });
    await projectionDb.connect();
    for (let i = 0; i < 10; i++) {
      const body = await expectStatus(
        call(writeUrl, 'POST', '/services', {
          key: tenant.key,
          body: {
            name: `svc-${i}`,
            hostname: `host-${i}`,
            labels: { team: i % 2 ? 'a' : 'b' },
          },
        }),
        201,
      );
      serviceIds.push(String(body.id));
      positions.push(positionOf(body));
    }
  });
  after(async () => {
    for (const service of services.reverse()) await service.stop();
    await projectionDb.end();
    await stack.release();
  });

  const verify = () =>
    run(
      process.execPath,
      [join(repoRoot, 'services/replicator/dist/cli.js'), 'verify', '--tenant', tenant.tenantId],
      {
        env: { ...process.env, ...stack.env, ...scope, PULSE_LOG_LEVEL: 'warn' },
      },
    );

  /** One writer: `batches` batches of samples across every service, with heartbeats and process lists. */
  async function writer(seed: number, batches: number, stopped: () => boolean = () => false): Promise<void> {
    for (let b = 0; b < batches && !stopped(); b++) {
      const at = Date.now() - 3_600_000 + seed * 100_000 + b * 1_000;
      const samples = serviceIds.map((serviceId, i) => ({
        service_id: serviceId,
        observed_at: new Date(at + i).toISOString(),
        cpu_usage: (seed * 13 + b * 7 + i) % 101,
        memory_usage: (seed + b + i * 3) % 101,
        disk_usage: 50,
        load_avg: (b % 10) / 4,
        network_rx_bytes: b * 1000,
        network_tx_bytes: b * 2000,
      }));
      positions.push(
        positionOf(
          await expectStatus(
            call(writeUrl, 'POST', '/metrics/system/batch', { key: tenant.key, body: { samples } }),
            202,
          ),
        ),
      );
      const serviceId = serviceIds[b % serviceIds.length] ?? '';
      positions.push(
        positionOf(
          await expectStatus(
            call(writeUrl, 'POST', `/services/${serviceId}/heartbeats`, { key: tenant.key, body: {} }),
            202,
          ),
        ),
      );
      const processes = [{ process_name: 'node', pid: 100 + seed, cpu_usage: b % 100, memory_usage: 10 }];
      positions.push(
        positionOf(
          await expectStatus(
            call(writeUrl, 'POST', '/metrics/process', {
              key: tenant.key,
              body: {
                service_id: serviceId,
                observed_at: new Date(at).toISOString(),
                processes,
              },
            }),
            202,
          ),
        ),
      );
    }
  }

  const allApplied = () =>
    waitFor('every acknowledged write applied', () => positionsApplied(projectionDb, positions), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });

  it('projects every acknowledged write of concurrent writers exactly once: verify finds no difference', async () => {
    await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => writer(seed, 20)));
    await allApplied();
    const verified = await verify();
    assert.match(verified.stdout, /^0 differences$/m);
    const { rows } = await projectionDb.query<{ samples: string }>(
      'select sum(samples) as samples from metrics_hourly where tenant_id = $1',
      [tenant.tenantId],
    );
    assert.equal(Number(rows[0]?.samples), 6 * 20 * serviceIds.length);
  });

  it('verify reports a projection that differs from the write DB', async () => {
    await projectionDb.query('update metrics_hourly set samples = samples + 1 where service_id = $1', [
      serviceIds[0],
    ]);
    try {
      await assert.rejects(verify(), (error: { stdout: string; code: number }) => {
        assert.equal(error.code, 1);
        assert.match(error.stdout, /"what":"hourly count"/);
        assert.match(error.stdout, new RegExp(serviceIds[0] ?? 'missing'));
        return true;
      });
    } finally {
      await projectionDb.query('update metrics_hourly set samples = samples - 1 where service_id = $1', [
        serviceIds[0],
      ]);
    }
  });

  it('rebuilds from the write DB while writes go on, and ends with no difference', async () => {
    const writes = { on: true };
    const writing = Promise.all([7, 8].map((seed) => writer(seed, 200, () => !writes.on)));
    const rebuilt = await run(
      process.execPath,
      [join(repoRoot, 'services/replicator/dist/cli.js'), 'rebuild', '--from', 'write-db'],
      {
        env: { ...process.env, ...stack.env, ...scope, PULSE_LOG_LEVEL: 'warn' },
      },
    );
    writes.on = false;
    await writing;
    assert.match(rebuilt.stdout, /rebuilt from the write DB/);
    await allApplied();
    const verified = await verify();
    assert.match(verified.stdout, /^0 differences$/m);
  });
});
