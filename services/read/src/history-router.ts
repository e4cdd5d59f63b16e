/**
 * Routes raw-history reads to the write cluster's read replicas with bounded staleness: a replica
 * serves a read only when its replay lag is within the bound (and, for a read-your-writes read,
 * when it has replayed the client's transaction); otherwise the next replica is tried, and the
 * primary serves when none qualifies. A replica that cannot be reached, or that fails the read,
 * is skipped and rested for a while, so a dead replica costs requests neither errors nor timeouts.
 * Each replica is probed on a timer as well, so that the router knows when it last saw it caught
 * up: the staleness of a replica replaying WAL is at most the time since then.
 */
import { createPool, isRetryableError, type Logger } from '@pulse/core';
import type pg from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { replayState, type ReplayState } from './repositories/history.js';

export interface Served<T> {
  result: T;
  servedBy: 'replica' | 'primary';
  /** Which server: host:port/database. */
  server: string;
  /** Upper bound on how far behind the primary the answer may be. */
  stalenessSeconds: number;
}

export interface ReplicaReport {
  replica: string;
  up: boolean;
  lag_seconds: number | null;
  lag_bytes: number | null;
  error?: string;
}

interface Replica {
  name: string;
  pool: pg.Pool;
  restingUntil: number;
  /** When a probe or a read last found it caught up (ms since the epoch); 0 for never. */
  caughtUpAt: number;
}

export interface HistoryRouterOptions {
  primary: pg.Pool;
  primaryUrl: string;
  replicaUrls: string[];
  maxLagSeconds: number;
  retryAfterMs: number;
  connectTimeoutMs: number;
  /** How often each replica's replay state is probed besides the reads. */
  probeIntervalMs: number;
  poolSize: number;
  logger: Logger;
  registry: Registry;
}

/** host:port/database, without the credentials, for headers, logs and metric labels. */
export function serverName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.host}${parsed.pathname}`;
}

export class HistoryRouter {
  private readonly replicas: Replica[];
  private next = 0;
  private readonly probe: NodeJS.Timeout;
  private readonly reads: Counter<'served_by'>;
  private readonly skips: Counter<'replica' | 'reason'>;
  private readonly lag: Gauge<'replica'>;

  constructor(private readonly options: HistoryRouterOptions) {
    this.replicas = options.replicaUrls.map((url) => {
      const pool = createPool(url, {
        applicationName: 'pulse-read',
        max: options.poolSize,
        // A replica that is down must fail fast: the primary is waiting to serve instead.
        connectionTimeoutMs: options.connectTimeoutMs,
        logger: options.logger,
      });
      return { name: serverName(url), pool, restingUntil: 0, caughtUpAt: 0 };
    });
    const registers = [options.registry];
    this.reads = new Counter({
      name: 'pulse_read_history_reads_total',
      help: 'Raw-history reads, by the kind of server that answered',
      labelNames: ['served_by'],
      registers,
    });
    this.skips = new Counter({
      name: 'pulse_read_replica_skips_total',
      help: 'Times a replica was passed over for a raw-history read, by reason (lagging, unreachable, failed)',
      labelNames: ['replica', 'reason'],
      registers,
    });
    this.lag = new Gauge({
      name: 'pulse_replica_lag_seconds',
      help: 'Replay lag of each read replica, as last measured by the read service',
      labelNames: ['replica'],
      registers,
    });
    this.probe = setInterval(() => {
      void this.report();
    }, options.probeIntervalMs);
    this.probe.unref();
  }

  /** The replica's staleness bound from a state just read, remembering when it was caught up. */
  private staleness(replica: Replica, state: ReplayState): number {
    const now = Date.now();
    if (state.caughtUp) replica.caughtUpAt = now;
    const sinceCaughtUp =
      replica.caughtUpAt > 0 ? (now - replica.caughtUpAt) / 1000 : Number.POSITIVE_INFINITY;
    const seconds = Math.min(state.lagSeconds, sinceCaughtUp);
    this.lag.set({ replica: replica.name }, seconds);
    return seconds;
  }

  /** Runs the read on the first qualifying replica, else on the primary. */
  async read<T>(txid: string | undefined, fn: (db: pg.ClientBase) => Promise<T>): Promise<Served<T>> {
    const start = this.next;
    this.next = (this.next + 1) % Math.max(1, this.replicas.length);
    for (let i = 0; i < this.replicas.length; i++) {
      const replica = this.replicas[(start + i) % this.replicas.length];
      if (!replica || replica.restingUntil > Date.now()) continue;
      const served = await this.tryReplica(replica, txid, fn);
      if (served) return served;
    }
    const db = await this.options.primary.connect();
    try {
      const result = await fn(db);
      this.reads.inc({ served_by: 'primary' });
      return {
        result,
        servedBy: 'primary',
        server: serverName(this.options.primaryUrl),
        stalenessSeconds: 0,
      };
    } finally {
      db.release();
    }
  }

  private async tryReplica<T>(
    replica: Replica,
    txid: string | undefined,
    fn: (db: pg.ClientBase) => Promise<T>,
  ): Promise<Served<T> | undefined> {
    let db: pg.PoolClient | undefined;
    let reading = false;
    let broken: Error | undefined;
    try {
      db = await replica.pool.connect();
      const state = await replayState(db, txid);
      const staleness = this.staleness(replica, state);
      if (staleness > this.options.maxLagSeconds || !state.sees) {
        this.skips.inc({ replica: replica.name, reason: 'lagging' });
        return undefined;
      }
      reading = true;
      const result = await fn(db);
      this.reads.inc({ served_by: 'replica' });
      return { result, servedBy: 'replica', server: replica.name, stalenessSeconds: staleness };
    } catch (error) {
      // Whatever stops the replica answering its probe is the replica's fault; during the read
      // itself only server failures are (a conflict with recovery, a lost connection): a bug in
      // the read would fail on the primary too, and should fail the request.
      if (reading && !isRetryableError(error)) throw error;
      broken = error as Error;
      replica.restingUntil = Date.now() + this.options.retryAfterMs;
      this.skips.inc({ replica: replica.name, reason: reading ? 'failed' : 'unreachable' });
      this.options.logger.warn(
        { err: error, replica: replica.name, restMs: this.options.retryAfterMs },
        'replica skipped for raw history',
      );
      return undefined;
    } finally {
      db?.release(broken);
    }
  }

  /** Every replica's state, reachable or not, for /sync-status. */
  async report(): Promise<ReplicaReport[]> {
    return Promise.all(
      this.replicas.map(async (replica): Promise<ReplicaReport> => {
        let state: ReplayState;
        try {
          const db = await replica.pool.connect();
          try {
            state = await replayState(db, undefined);
          } finally {
            db.release();
          }
        } catch (error) {
          return {
            replica: replica.name,
            up: false,
            lag_seconds: null,
            lag_bytes: null,
            error: (error as Error).message,
          };
        }
        const staleness = this.staleness(replica, state);
        return { replica: replica.name, up: true, lag_seconds: staleness, lag_bytes: state.lagBytes };
      }),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    await Promise.all(this.replicas.map((replica) => replica.pool.end()));
  }
}
