/**
 * Fault injection on an isolated stack under a steady, bounded HTTP write load: kill -9 and restart
 * of write, replicator and read; Kafka and the projection DB stopped for an outage; the replica
 * stopped; failover to the promoted replica behind a stand-in for the `-rw` Service. After every
 * fault the load pauses and the case ends in an exact reconciliation: every acknowledged position
 * applied, every acknowledged sample in the write DB, every unacknowledged command there wholly or
 * not at all, every outbox event applied exactly once, and `pulse-replicator verify` reporting
 * zero differences.
 *
 * The outage lasts PULSE_FAULT_OUTAGE_SECONDS (default 30): that is the fault's length, not a way
 * of waiting for something; every wait for a state is a `waitFor` with a deadline.
 * Needs `make build` first (it runs services/<name>/dist/*.js).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Position } from '@pulse/core';
import pg from 'pg';
import { kafkaServes } from '../harness/components/kafka.js';
import { freePort } from '../harness/ports.js';
import { startService, type RunningService } from '../harness/services.js';
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js';
import { isolatedStack, suiteScope, type IsolatedStack } from '../harness/testing.js';
import { repoRoot } from '../harness/tools.js';
import { waitFor } from '../harness/wait.js';
import { positionOf, positionsApplied } from './support/api.js';
import { call, createTenant, newAdminKey } from './support/read-api.js';

const run = promisify(execFile);
/** The services under test (the operator has no part in this pipeline's data path). */
type Piece = 'write' | 'replicator' | 'read';
const OUTAGE_MS = Number(process.env.PULSE_FAULT_OUTAGE_SECONDS ?? '30') * 1000;
const SERVICES = 5;
/** Per writer: one command every this many ms (2 writers: about 20 commands, 70 samples a second). */
const PACE_MS = 100;
/** The load stops by itself after this many commands, whatever happens to the test. */
const MAX_COMMANDS = 40_000;

interface Command {
  position?: Position;
  /** The samples it carries, to find in the write DB: [service_id, observed_at]. */
  samples: [string, string][];
}

interface Figures {
  fault: string;
  outage_ms?: number;
  acknowledged: number;
  unacknowledged: number;
  unacknowledged_committed: number;
  resumed_after_ms?: number;
}

describe('faults: the pipeline under load survives crashes, outages and failover with nothing lost or doubled', () => {
  let stack: IsolatedStack;
  let scope: Record<string, string>;
  let proxy: TcpProxy;
  /** The write primary, directly: the truth the checks compare with (the new primary after failover). */
  let writeDbUrl = '';
  const running = new Map<Piece, RunningService>();
  const ports = new Map<Piece, number>();
  const adminKey = newAdminKey();
  let tenantId = '';
  let key = '';
  const serviceIds: string[] = [];
  const acknowledged: Command[] = [];
  const unacknowledged: Command[] = [];
  const figures: Figures[] = [];
  let load: { pause: () => Promise<void>; resume: () => void; stop: () => Promise<void> } | undefined;

  const serviceEnv = () => ({ ...stack.env, ...scope, PULSE_WRITE_DATABASE_URL: viaProxy(scope) });
  const viaProxy = (env: Record<string, string>) => {
    const url = new URL(env.PULSE_WRITE_DATABASE_URL ?? '');
    url.port = String(proxy.port);
    return url.toString();
  };

  async function start(name: Exclude<Piece, 'operator'>): Promise<RunningService> {
    const port = ports.get(name) ?? (await freePort());
    ports.set(name, port);
    const service = await startService({ ...stack.info, env: serviceEnv() }, name, {
      port,
      env: {
        write: { PULSE_BOOTSTRAP_ADMIN_KEY: adminKey, PULSE_RATE_LIMIT_PER_SECOND: '0' },
        replicator: {
          PULSE_KAFKA_PARTITIONS: '4',
          PULSE_RELAY_POLL_INTERVAL_MS: '200',
          PULSE_HEARTBEAT_CHECK_INTERVAL_MS: '500',
        },
        read: {},
      }[name],
    });
    running.set(name, service);
    return service;
  }

  const url = (name: Piece) => running.get(name)?.url ?? '';

  before(async () => {
    stack = await isolatedStack(['postgres', 'kafka']);
    proxy = await startTcpProxy(stack.info.ports.postgresPrimary);
    scope = await suiteScope(stack, 'faults');
    writeDbUrl = scope.PULSE_WRITE_DATABASE_URL ?? '';
    for (const name of ['write', 'replicator', 'read'] as const) await start(name);
    const tenant = await createTenant(url('write'), adminKey, 'faults');
    tenantId = tenant.id;
    key = tenant.keys.readWrite;
    for (let i = 0; i < SERVICES; i++) {
      const reply = await call(url('write'), 'POST', '/services', {
        key,
        body: { name: `svc-${i}`, hostname: `host-${i}` },
      });
      assert.equal(reply.status, 201, JSON.stringify(reply.body));
      serviceIds.push(String(reply.body.id));
      acknowledged.push({ position: positionOf(reply.body), samples: [] });
    }
    load = startLoad();
  });

  after(async () => {
    await load?.stop();
    const total = figures.reduce(
      (sum, f) => ({ acknowledged: sum.acknowledged + f.acknowledged, unack: sum.unack + f.unacknowledged }),
      { acknowledged: 0, unack: 0 },
    );
    console.log(
      `fault figures: ${JSON.stringify({ faults_survived: figures.length, ...total, cases: figures })}`,
    );
    for (const service of running.values()) await service.stop();
    await proxy.close();
    await stack.release();
  });

  /** Two writers: system batches across every service, heartbeats and process lists, paced. */
  function startLoad() {
    let sequence = 0;
    let stopped = false;
    let paused: Promise<void> | undefined;
    let unpause = () => {};
    const idle = new Set<number>();
    let idleChanged = () => {};
    const base = Date.now() - 3_600_000;

    async function send(path: string, body: unknown, samples: [string, string][]): Promise<void> {
      try {
        const reply = await call(url('write'), 'POST', path, { key, body, timeoutMs: 30_000 });
        if (reply.status >= 200 && reply.status < 300) {
          acknowledged.push({ position: positionOf(reply.body), samples });
          return;
        }
        if (reply.status < 500) throw new Error(`the load sent a bad command: ${JSON.stringify(reply.body)}`);
      } catch (error) {
        if (error instanceof Error && error.message.startsWith('the load sent')) throw error;
      }
      unacknowledged.push({ samples });
    }

    async function writer(id: number): Promise<void> {
      while (!stopped && sequence < MAX_COMMANDS) {
        if (paused) {
          idle.add(id);
          idleChanged();
          await paused;
          idle.delete(id);
          continue;
        }
        const n = sequence++;
        const at = new Date(base + n).toISOString();
        const serviceId = serviceIds[n % SERVICES] ?? '';
        if (n % 10 === 3) {
          await send(`/services/${serviceId}/heartbeats`, { observed_at: at }, []);
        } else if (n % 10 === 7) {
          const processes = [
            { process_name: 'node', pid: 100 + (n % 3), cpu_usage: n % 100, memory_usage: 10 },
            { process_name: 'pg', pid: 200, cpu_usage: 5, memory_usage: (n * 7) % 100 },
          ];
          await send('/metrics/process', { service_id: serviceId, observed_at: at, processes }, []);
        } else {
          const samples = serviceIds.map((id, i) => ({
            service_id: id,
            observed_at: at,
            cpu_usage: (n * 13 + i) % 101,
            memory_usage: (n + i * 3) % 101,
            disk_usage: (n % 7) * 10,
            load_avg: (n % 10) / 4,
            network_rx_bytes: n * 1000,
            network_tx_bytes: n * 2000,
          }));
          await send(
            '/metrics/system/batch',
            { samples },
            samples.map((s) => [s.service_id, s.observed_at]),
          );
        }
        await delay(PACE_MS); // the load's rate, not a wait for a state
      }
      idle.add(id);
      idleChanged();
    }

    const writers = Promise.all([0, 1].map((id) => writer(id)));
    const allIdle = () =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (idle.size === 2) resolve();
        };
        idleChanged = check;
        check();
      });
    return {
      pause: async () => {
        paused = new Promise((resolve) => (unpause = resolve));
        await allIdle();
      },
      resume: () => {
        paused = undefined;
        unpause();
      },
      stop: async () => {
        stopped = true;
        paused = undefined;
        unpause();
        await writers;
      },
    };
  }

  const acknowledgedCount = () => acknowledged.length;

  /** Waits until the load has had `n` more commands acknowledged (writes flow). */
  const writesFlow = (what: string, n = 20, timeoutMs = 30_000) => {
    const mark = acknowledgedCount();
    return waitFor(what, () => acknowledgedCount() >= mark + n, { timeoutMs, intervalMs: 50 });
  };

  /** A connection per check: a server the test stops and starts breaks every open one. */
  const withDb = async <T>(url: string | undefined, fn: (db: pg.Client) => Promise<T>): Promise<T> => {
    const db = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    await db.connect();
    try {
      return await fn(db);
    } finally {
      await db.end();
    }
  };

  /** How many of these samples the write DB holds. */
  const stored = (db: pg.Client, samples: [string, string][]) =>
    db
      .query<{ n: string }>(
        `select count(*) as n from system_metrics m
           join unnest($1::uuid[], $2::timestamptz[]) as s(service_id, observed_at)
             on m.service_id = s.service_id and m.observed_at = s.observed_at`,
        [samples.map((s) => s[0]), samples.map((s) => s[1])],
      )
      .then((r) => Number(r.rows[0]?.n));

  /**
   * The exact reconciliation that ends every case; the load is paused meanwhile so that the write
   * DB and the projection can be compared at rest. Returns how many unacknowledged commands had
   * committed anyway (wholly).
   */
  async function reconcile(fault: string, from: { acknowledged: number; unacknowledged: number }) {
    assert.ok(load);
    await load.pause();
    try {
      const positions = acknowledged.map((c) => c.position).filter((p): p is Position => p !== undefined);
      await waitFor(
        `every acknowledged position applied after ${fault}`,
        () => withDb(scope.PULSE_PROJECTION_DATABASE_URL, (db) => positionsApplied(db, positions)),
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      const committed = await withDb(writeDbUrl, async (db) => {
        const ackSamples = acknowledged.flatMap((c) => c.samples);
        assert.equal(await stored(db, ackSamples), ackSamples.length, 'every acknowledged sample is stored');
        let whole = 0;
        for (const command of unacknowledged.slice(from.unacknowledged)) {
          const n = await stored(db, command.samples);
          assert.ok(
            n === 0 || n === command.samples.length,
            `an unacknowledged batch is all or nothing (${n})`,
          );
          if (n > 0) whole++;
        }
        return whole;
      });
      // Acknowledged or not, every event that committed is applied, once.
      await waitFor(
        `every committed event applied after ${fault}`,
        async () => {
          const outbox = await withDb(writeDbUrl, (db) =>
            db.query<{ id: string }>('select id::text from outbox where tenant_id = $1 order by id', [
              tenantId,
            ]),
          );
          const applied = await withDb(scope.PULSE_PROJECTION_DATABASE_URL, (db) =>
            db.query<{ id: string }>(
              'select event_id::text as id from applied_events where tenant_id = $1 order by event_id',
              [tenantId],
            ),
          );
          assert.deepEqual(
            applied.rows.map((r) => r.id),
            outbox.rows.map((r) => r.id),
          );
          return true;
        },
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      const verified = await run(
        process.execPath,
        [join(repoRoot, 'services/replicator/dist/cli.js'), 'verify', '--tenant', tenantId],
        {
          env: {
            ...process.env,
            ...stack.env,
            ...scope,
            PULSE_WRITE_DATABASE_URL: writeDbUrl,
            PULSE_LOG_LEVEL: 'warn',
          },
        },
      );
      assert.match(verified.stdout, /^0 differences$/m, verified.stdout);
      return {
        acknowledged: acknowledged.length - from.acknowledged,
        unacknowledged: unacknowledged.length - from.unacknowledged,
        unacknowledged_committed: committed,
      };
    } finally {
      load.resume();
    }
  }

  /** Runs one fault under load, then reconciles and records the figures. */
  async function faultCase(fault: string, inject: () => Promise<Partial<Figures>>): Promise<void> {
    const from = { acknowledged: acknowledged.length, unacknowledged: unacknowledged.length };
    await writesFlow(`writes to flow before ${fault}`);
    const extra = await inject();
    // A service that died of the fault is a failure of the case; it is restarted (as Kubernetes
    // would) so that the reconciliation, and the cases after this one, still run.
    const died: string[] = [];
    for (const [name, service] of running) {
      const exited = service.process.exitedError();
      if (!exited) continue;
      died.push(exited.message);
      await service.stop();
      await start(name);
    }
    await writesFlow(`writes to flow after ${fault}`, 20, 60_000);
    figures.push({ fault, ...extra, ...(await reconcile(fault, from)) });
    assert.deepEqual(died, [], `services died during ${fault}`);
  }

  for (const name of ['write', 'replicator', 'read'] as const) {
    it(`kill -9 and restart of ${name}`, async () => {
      await faultCase(`kill -9 ${name}`, async () => {
        const victim = running.get(name);
        assert.ok(victim);
        process.kill(victim.process.pid, 'SIGKILL');
        await victim.stop();
        await start(name);
        return {};
      });
      // Read-your-writes through the restarted read service.
      const last = acknowledged.at(-1)?.position;
      assert.ok(last);
      const reply = await call(url('read'), 'GET', `/services/${serviceIds[0]}/metrics/latest`, {
        key,
        headers: { 'X-Pulse-Min-Position': `${last.txid}.${last.events}` },
        timeoutMs: 30_000,
      });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
    });
  }

  /** Stops a server of the stack for the outage while writes go on, then starts it again. */
  async function outage(name: string, serving: () => Promise<boolean>) {
    const started = Date.now();
    await stack.stopProcess(name);
    await writesFlow(`writes acknowledged while ${name} is down`);
    await delay(Math.max(0, OUTAGE_MS - (Date.now() - started))); // the outage itself
    stack.startProcess(name);
    await waitFor(`${name} to serve again`, serving, { timeoutMs: 120_000, intervalMs: 500 });
    return { outage_ms: Date.now() - started };
  }

  const accepts = (connectionString: string) => async () => {
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 2_000 });
    await client.connect();
    await client.end();
    return true;
  };

  it(`Kafka stopped for ${OUTAGE_MS / 1000} s`, () =>
    faultCase('Kafka stopped', () =>
      outage('kafka', () => kafkaServes(stack.env.PULSE_KAFKA_BROKERS ?? '')),
    ));

  it(`projection DB stopped for ${OUTAGE_MS / 1000} s`, () =>
    faultCase('projection DB stopped', () =>
      outage('postgres-projection', accepts(scope.PULSE_PROJECTION_DATABASE_URL ?? '')),
    ));

  it('replica stopped: raw history is served by the primary meanwhile', () =>
    faultCase('replica stopped', async () => {
      const started = Date.now();
      await stack.stopProcess('postgres-replica');
      const from = encodeURIComponent(new Date(Date.now() - 7_200_000).toISOString());
      const reply = await waitFor(
        'raw history served while the replica is down',
        async () => {
          const r = await call(url('read'), 'GET', `/services/${serviceIds[0]}/metrics/raw?from=${from}`, {
            key,
            timeoutMs: 10_000,
          });
          return r.status === 200 ? r : undefined;
        },
        { timeoutMs: 30_000 },
      );
      assert.equal(reply.headers.get('x-pulse-served-by'), 'primary');
      assert.ok((reply.body.samples as unknown[]).length > 0);
      stack.startProcess('postgres-replica');
      await waitFor(
        'the replica to stream again',
        () =>
          withDb(writeDbUrl, async (db) => {
            const { rows } = await db.query(
              "select 1 from pg_stat_replication where state = 'streaming' and application_name <> ''",
            );
            return rows.length > 0;
          }),
        { timeoutMs: 60_000 },
      );
      return { outage_ms: Date.now() - started };
    }));

  it('failover: primary stopped, replica promoted, -rw switched: writes resume within seconds, no acknowledged write lost', () =>
    faultCase('failover', async () => {
      const started = Date.now();
      await stack.stopProcess('postgres-primary');
      const replicaUrl = scope.PULSE_REPLICA_DATABASE_URL ?? '';
      const replica = new pg.Client({ connectionString: replicaUrl });
      await replica.connect();
      try {
        const { rows } = await replica.query<{ promoted: boolean }>(
          'select pg_promote(true, 60) as promoted',
        );
        assert.equal(rows[0]?.promoted, true);
      } finally {
        await replica.end();
      }
      proxy.retarget(stack.info.ports.postgresReplica);
      writeDbUrl = replicaUrl;
      const switched = Date.now();
      await writesFlow('writes to resume on the new primary', 1, 15_000);
      return { outage_ms: switched - started, resumed_after_ms: Date.now() - switched };
    }));
});
