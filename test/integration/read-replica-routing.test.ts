/**
 * Raw-history routing with bounded staleness, on an isolated PostgreSQL stack (this suite pauses
 * and stops its replica, which no shared stack may suffer): the replica serves while its replay
 * lag is within the bound; with replay paused past the bound, the primary serves; resumed, the
 * replica again; replay of WAL that commits nothing, after an idle spell, is not taken for lag; a
 * replica that is down, or an address where none listens, is skipped without failing the request.
 * Needs `make build` first (it runs services/<name>/dist/main.js).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@pulse/core';
import { migrateProjectionDatabase } from '@pulse/replicator';
import pg from 'pg';
import { freePort } from '../harness/ports.js';
import type { RunningService } from '../harness/services.js';
import { isolatedStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import { call, createTenant, newAdminKey, startRead, startWrite, type Reply } from './support/read-api.js';

const MAX_LAG_SECONDS = 1;

describe('read service: raw history routing', () => {
  let stack: TestStack;
  let write: RunningService;
  const running: RunningService[] = [];
  let replicaAdmin: pg.Client;
  let replicaUrl: string;
  let key: string;
  let writeKey: string;
  let serviceId: string;
  const adminKey = newAdminKey();
  const since = new Date(Date.now() - 3_600_000).toISOString();

  const raw = (read: RunningService) =>
    call(read.url, 'GET', `/services/${serviceId}/metrics/raw?from=${encodeURIComponent(since)}`, { key });
  const servedBy = (reply: Reply) => {
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.headers.get('x-pulse-served-by');
  };
  const cpuValues = (reply: Reply) => (reply.body.samples as { cpu_usage: number }[]).map((s) => s.cpu_usage);
  const record = async (cpu: number) => {
    const reply = await call(write.url, 'POST', '/metrics/system', {
      key: writeKey,
      body: {
        service_id: serviceId,
        observed_at: new Date().toISOString(),
        cpu_usage: cpu,
        memory_usage: 40,
        disk_usage: 30,
        load_avg: 1,
        network_rx_bytes: 1,
        network_tx_bytes: 2,
      },
    });
    assert.equal(reply.status, 202, JSON.stringify(reply.body));
  };
  /** A port where nothing listens: a replica that is down without a trace. */
  const deadReplicaUrl = async () => {
    const url = new URL(replicaUrl);
    url.port = String(await freePort());
    return url.toString();
  };

  before(async () => {
    stack = await isolatedStack(['postgres']);
    // /sync-status reads the projection's tables; no replicator runs here to create them.
    await migrateProjectionDatabase(
      stack.env.PULSE_PROJECTION_DATABASE_URL ?? '',
      createLogger('test', 'silent'),
    );
    replicaUrl = stack.env.PULSE_REPLICA_DATABASE_URL ?? '';
    assert.ok(replicaUrl, 'the stack has a replica');
    write = await startWrite(stack, {}, adminKey);
    running.push(write);
    const tenant = await createTenant(write.url, adminKey, 'routing');
    key = tenant.keys.read;
    writeKey = tenant.keys.readWrite;
    const registered = await call(write.url, 'POST', '/services', {
      key: writeKey,
      body: { name: 'history', hostname: 'h1' },
    });
    serviceId = String(registered.body.id);
    await record(11);
    replicaAdmin = new pg.Client({ connectionString: replicaUrl });
    await replicaAdmin.connect();
  });

  after(async () => {
    await replicaAdmin.end().catch(() => undefined);
    for (const started of running.reverse()) await started.stop();
    await stack.release();
  });

  it('skips a replica where nothing listens, for the next replica or the primary', async () => {
    const deadOnly = await startRead(stack, {}, { PULSE_REPLICA_DATABASE_URL: await deadReplicaUrl() });
    running.push(deadOnly);
    const reply = await raw(deadOnly);
    assert.equal(servedBy(reply), 'primary');
    assert.equal(reply.headers.get('x-pulse-staleness-seconds'), '0.000');
    assert.deepEqual(cpuValues(reply), [11]);

    const deadThenLive = await startRead(
      stack,
      {},
      {
        PULSE_REPLICA_DATABASE_URL: `${await deadReplicaUrl()},${replicaUrl}`,
      },
    );
    running.push(deadThenLive);
    // Both orders of the rotation: the dead one first, then the live one first.
    for (let i = 0; i < 2; i++) {
      const answer = await waitFor(
        'the live replica to serve',
        async () => {
          const r = await raw(deadThenLive);
          return servedBy(r) === 'replica' ? r : undefined;
        },
        { timeoutMs: 15_000 },
      );
      assert.deepEqual(cpuValues(answer), [11]);
    }
  });

  it('serves from the primary while replay is paused past the bound, and from the replica once resumed', async () => {
    const read = await startRead(
      stack,
      {},
      {
        PULSE_REPLICA_DATABASE_URL: replicaUrl,
        PULSE_REPLICA_MAX_LAG_SECONDS: String(MAX_LAG_SECONDS),
      },
    );
    running.push(read);
    await waitFor('the replica to serve', async () => servedBy(await raw(read)) === 'replica', {
      timeoutMs: 15_000,
    });

    await replicaAdmin.query('select pg_wal_replay_pause()');
    try {
      await record(22);
      const fromPrimary = await waitFor(
        'the primary to serve while replay is paused',
        async () => {
          const r = await raw(read);
          return servedBy(r) === 'primary' ? r : undefined;
        },
        { timeoutMs: 15_000 },
      );
      assert.deepEqual(cpuValues(fromPrimary), [11, 22], 'the primary has the new sample');
      // The replica is indeed behind: it does not have the sample yet.
      const { rows } = await replicaAdmin.query<{ n: number }>(
        'select count(*)::int as n from system_metrics',
      );
      assert.equal(rows[0]?.n, 1);
    } finally {
      await replicaAdmin.query('select pg_wal_replay_resume()');
    }
    const fromReplica = await waitFor(
      'the replica to serve again',
      async () => {
        const r = await raw(read);
        return servedBy(r) === 'replica' ? r : undefined;
      },
      { timeoutMs: 15_000 },
    );
    assert.deepEqual(cpuValues(fromReplica), [11, 22]);
    assert.ok(Number(fromReplica.headers.get('x-pulse-staleness-seconds')) <= MAX_LAG_SECONDS);

    const status = await call(read.url, 'GET', '/sync-status', { key });
    const replica = (status.body.stages as { name: string; detail: { replicas: { up: boolean }[] } }[]).find(
      (stage) => stage.name === 'replica',
    );
    assert.deepEqual(
      replica?.detail.replicas.map((r) => r.up),
      [true],
    );
  });

  it('does not take the replay of WAL without commits after an idle spell for lag, yet keeps the bound', async () => {
    const read = await startRead(
      stack,
      {},
      {
        PULSE_REPLICA_DATABASE_URL: replicaUrl,
        PULSE_REPLICA_MAX_LAG_SECONDS: String(MAX_LAG_SECONDS),
        PULSE_REPLICA_PROBE_INTERVAL_MS: '100',
      },
    );
    running.push(read);
    await waitFor('the replica to serve', async () => servedBy(await raw(read)) === 'replica', {
      timeoutMs: 15_000,
    });
    await waitFor(
      'the last commit the replica replayed to be older than the bound',
      async () => {
        const { rows } = await replicaAdmin.query<{ age: number }>(
          'select extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp())::float8 as age',
        );
        return (rows[0]?.age ?? 0) > 2 * MAX_LAG_SECONDS;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );

    const primaryAdmin = new pg.Client({ connectionString: stack.env.PULSE_WRITE_DATABASE_URL });
    await primaryAdmin.connect();
    await replicaAdmin.query('select pg_wal_replay_pause()');
    try {
      // WAL that commits nothing, as autovacuum or a checkpoint writes.
      await primaryAdmin.query(`select pg_logical_emit_message(false, 'pulse-test', 'no commit')`);
      await waitFor(
        'the replica to hold WAL it has not replayed',
        async () => {
          const { rows } = await replicaAdmin.query<{ behind: boolean }>(
            'select pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() as behind',
          );
          return rows[0]?.behind === true;
        },
        { timeoutMs: 5_000, intervalMs: 10 },
      );
      const reply = await raw(read);
      assert.equal(servedBy(reply), 'replica', 'seen caught up a moment ago, and nothing committed since');
      assert.ok(Number(reply.headers.get('x-pulse-staleness-seconds')) <= MAX_LAG_SECONDS);
      // Still replaying after longer than the bound: for all the router can tell, it is behind.
      await waitFor('the primary to serve', async () => servedBy(await raw(read)) === 'primary', {
        timeoutMs: 10_000,
      });
    } finally {
      await replicaAdmin.query('select pg_wal_replay_resume()');
      await primaryAdmin.end();
    }
    await waitFor('the replica to serve again', async () => servedBy(await raw(read)) === 'replica', {
      timeoutMs: 15_000,
    });
  });

  it('falls back to the primary when the replica is stopped', async () => {
    const read = await startRead(stack, {}, { PULSE_REPLICA_DATABASE_URL: replicaUrl });
    running.push(read);
    await waitFor('the replica to serve', async () => servedBy(await raw(read)) === 'replica', {
      timeoutMs: 15_000,
    });
    await replicaAdmin.end();
    // SIGINT is PostgreSQL's fast shutdown; the pid file is the harness's record of the server.
    const [pid] = readFileSync(join(stack.info.runDir, 'run', 'postgres-replica.pid'), 'utf8').split('\n');
    process.kill(Number(pid), 'SIGINT');
    await waitFor(
      'the replica to stop',
      async () => {
        const probe = new pg.Client({ connectionString: replicaUrl, connectionTimeoutMillis: 1_000 });
        try {
          await probe.connect();
          await probe.end();
          return false;
        } catch {
          return true;
        }
      },
      { timeoutMs: 30_000 },
    );
    const reply = await raw(read);
    // Should it fail, the service's log says why.
    assert.equal(reply.status, 200, readFileSync(read.process.logFile, 'utf8'));
    assert.equal(servedBy(reply), 'primary');
    assert.deepEqual(cpuValues(reply), [11, 22]);
    const status = await call(read.url, 'GET', '/sync-status', { key });
    assert.equal(status.status, 200);
    const replica = (status.body.stages as { name: string; lag_seconds: number | null }[]).find(
      (stage) => stage.name === 'replica',
    );
    assert.equal(replica?.lag_seconds, null, 'no replica up: replica lag unknown');
  });
});
