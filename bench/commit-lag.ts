/**
 * The pipeline's lag read from the databases, beside what the k6 probe sees through the read API
 * (which adds its 5 ms poll and a read round trip): from the commit of the write transaction that
 * recorded an event to the commit of the relay transaction that marked it published, and to the
 * commit of the projection transaction that applied it. The stack runs its PostgreSQL servers with
 * `track_commit_timestamp`, and all of them on one machine, so the commit times share a clock.
 */
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';

const APPLY_WAIT_MS = 30_000;
const APPLY_POLL_MS = 500;

export interface LagPercentiles {
  p50: number;
  p90: number;
  p99: number;
  events: number;
}

export interface CommitLag {
  /** Write commit to the commit of the relay's mark (after Kafka acknowledged the event). */
  publishedMs: LagPercentiles | null;
  /** Write commit to the commit of the projection transaction. */
  appliedMs: LagPercentiles | null;
  /** Events of the window not applied 30 s after it ended (lost or stuck: should be 0). */
  notApplied: number;
}

async function rows<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[]): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** Nearest-rank percentiles of lags in ms, to 0.1 ms. */
export function percentiles(lags: number[]): LagPercentiles | null {
  if (lags.length === 0) return null;
  const sorted = [...lags].sort((a, b) => a - b);
  const at = (q: number) => {
    const value = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
    return Math.round(value * 10) / 10;
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), events: sorted.length };
}

type Commit = { event_id: string; committed_ms: number };

/** Events whose write transaction committed in [from, to). */
export async function lagFromCommitTimes(
  urls: { write: string; projection: string },
  from: Date,
  to: Date,
): Promise<CommitLag> {
  // An outbox row's txid is its write transaction; it was published by the first mark at or after
  // it, whose xmin is the mark's transaction.
  const writtenCommits = () =>
    rows<Commit & { published_ms: number | null }>(
      urls.write,
      `select id as event_id, extract(epoch from written)::float8 * 1000 as committed_ms,
              (select extract(epoch from pg_xact_commit_timestamp(m.xmin))::float8 * 1000
                 from relay_marks m where (m.txid, m.id) >= (o.txid, o.id)
                order by m.txid, m.id limit 1) as published_ms
       from (select id, txid, pg_xact_commit_timestamp((txid::text::bigint % 4294967296)::text::xid) as written
               from outbox
              where created_at >= $1::timestamptz - interval '1 minute' and created_at < $2) o
      where written >= $1 and written < $2`,
      [from, to],
    );
  const ids = (await writtenCommits()).map((row) => row.event_id);
  // The phase has just ended: give its last events time to reach the projection.
  const deadline = Date.now() + APPLY_WAIT_MS;
  const appliedCommits = () =>
    rows<Commit>(
      urls.projection,
      `select event_id, extract(epoch from pg_xact_commit_timestamp(xmin))::float8 * 1000 as committed_ms
         from applied_events where event_id = any($1::uuid[])`,
      [ids],
    );
  let applied = await appliedCommits();
  while (applied.length < ids.length && Date.now() < deadline) {
    await delay(APPLY_POLL_MS);
    applied = await appliedCommits();
  }
  // Read again for the marks: an event may be applied a moment before the relay marks it.
  const written = await writtenCommits();
  const appliedAt = new Map(applied.map((row) => [row.event_id, row.committed_ms]));
  const publishedLags: number[] = [];
  const appliedLags: number[] = [];
  for (const row of written) {
    if (row.published_ms !== null) publishedLags.push(row.published_ms - row.committed_ms);
    const appliedMs = appliedAt.get(row.event_id);
    if (appliedMs !== undefined) appliedLags.push(appliedMs - row.committed_ms);
  }
  return {
    publishedMs: percentiles(publishedLags),
    appliedMs: percentiles(appliedLags),
    notApplied: written.length - appliedLags.length,
  };
}
