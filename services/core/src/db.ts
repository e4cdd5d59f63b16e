/**
 * PostgreSQL pools and transactions that survive a primary failover: a command whose connection
 * breaks, or that lands on a server that has just become read-only, is rolled back by the server
 * and run again on a fresh connection. Re-running is only safe when the command itself is
 * idempotent across attempts (the write service records an idempotency key in the same
 * transaction, so an attempt whose COMMIT did succeed is recognised by the next one).
 */
import pg from 'pg';
import type { Logger } from 'pino';

export type Queryable = pg.PoolClient;

/** The single row a statement must return (an INSERT ... RETURNING, an aggregate). */
export function onlyRow<T>(rows: T[]): T {
  const [row] = rows;
  if (row === undefined) throw new Error('the statement returned no row');
  return row;
}

/**
 * A statement each connection parses and plans once and afterwards only executes (a named
 * prepared statement of node-postgres). It is for the statements run for every command group,
 * relay batch and projected fetch: parsing and planning them on each run cost the write primary
 * about a fifth of its CPU at 1,000 POSTs/s (docs/benchmarks/2026-11-22-hand-measurements.md,
 * session 12). A name stands for one text: node-postgres refuses a name reused with another.
 */
export function prepared(name: string, text: string, values: unknown[]): pg.QueryConfig {
  return { name, text, values };
}

export interface PoolOptions {
  applicationName: string;
  max?: number;
  /** How long to wait for a connection; a read that has somewhere else to go wants this short. */
  connectionTimeoutMs?: number;
  logger: Logger;
}

export function createPool(connectionString: string, options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    application_name: options.applicationName,
    // Times rendered by the server (to_json, text casts) are then RFC 3339 in UTC, as the API promises.
    options: '-c TimeZone=UTC',
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client whose server goes away emits 'error' on the pool; unhandled, that would crash
  // the process during every failover. The pool already discards the broken client.
  pool.on('error', (error) => {
    options.logger.warn({ err: error }, 'idle database connection lost');
  });
  // A checked-out client has no pool listener: a connection reset while its holder awaits something
  // else (the projector asks Kafka for offsets mid-transaction) would be an unhandled 'error' event
  // and kill the process. The holder's next query fails and handles the loss.
  pool.on('connect', (client) => {
    client.on('error', (error) => {
      options.logger.warn({ err: error }, 'database connection lost');
    });
  });
  return pool;
}

/**
 * SQLSTATEs after which the transaction is known not to have committed and a new connection may
 * succeed: the server shut down or was terminated (57P01-57P03), the connection failed (08xxx),
 * the server is a replica now (25006), or the transaction lost a conflict (40001, 40P01).
 */
const RETRYABLE_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '25006',
  '40001',
  '40P01',
]);
const RETRYABLE_NODE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

export function isRetryableError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (RETRYABLE_SQLSTATES.has(code) || RETRYABLE_NODE_CODES.has(code)))
    return true;
  // node-postgres reports a socket closed under it without a code.
  return /^Connection terminated/.test(error.message);
}

export interface RetryPolicy {
  /** Give up (rethrow) when the next attempt would start after this many ms. */
  deadlineMs: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  deadlineMs: 15_000,
  initialDelayMs: 50,
  maxDelayMs: 1_000,
};

/** Exponential backoff with full jitter, so that many clients reconnecting after a failover spread out. */
export function retryDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + random() / 2));
}

export interface TransactionOptions {
  retry?: RetryPolicy;
  /** Called before each retry, e.g. to count retries in a metric. */
  onRetry?: (error: unknown, attempt: number) => void;
}

/** Runs fn in BEGIN/COMMIT on one pooled connection, retrying the whole transaction on failover errors. */
export function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: Queryable) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  return withRetries(() => transactionOnce(pool, fn), options);
}

/**
 * Runs an attempt again after failover errors, with backoff, until the policy's deadline. The
 * attempt must be a whole transaction: one statement outside BEGIN, or a `withTransaction`'s.
 */
export async function withRetries<T>(
  attemptOnce: () => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const policy = options.retry ?? DEFAULT_RETRY_POLICY;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptOnce();
    } catch (error) {
      const delay = retryDelayMs(policy, attempt);
      if (!isRetryableError(error) || Date.now() + delay - started > policy.deadlineMs) throw error;
      options.onRetry?.(error, attempt);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

async function transactionOnce<T>(pool: pg.Pool, fn: (client: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (error) {
    if (isRetryableError(error)) {
      broken = error as Error; // never hand this connection out again
    } else {
      await client.query('rollback').catch((rollbackError: unknown) => {
        broken = rollbackError as Error;
      });
    }
    throw error;
  } finally {
    client.release(broken);
  }
}
