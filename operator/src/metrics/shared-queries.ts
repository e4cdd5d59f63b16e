/**
 * Resources that share a Prometheus and its queries (every resource on the built-in ones) would
 * otherwise each send the same instant queries every poll: 9 per resource, 300 a second for 500
 * resources at a 15 s poll, all answering the same numbers. Here an answer is shared for `ttlMs`
 * by everyone asking the same query of the same Prometheus, concurrent askers share one request,
 * and a failure is never kept, so the next poll asks again.
 */
import { LRUCache } from 'lru-cache';
import { queryKey } from './prometheus.js';

/** The number a query answers (a QueryBatcher's `ask`, or a test's), bounded in time by itself. */
export type AskPrometheus = (address: string, promql: string) => Promise<number | undefined>;

export interface SharedQueriesOptions {
  /** How long an answer is shared; 0 asks Prometheus every time. Keep it well under the poll interval. */
  ttlMs: number;
  maxQueries?: number;
  ask: AskPrometheus;
}

/** lru-cache keeps no undefined values, and "no series" is an answer worth sharing too. */
interface Answer {
  value: number | undefined;
}

export class SharedQueries {
  private readonly answers: LRUCache<string, Answer, { address: string; promql: string }> | undefined;
  constructor(private readonly options: SharedQueriesOptions) {
    this.answers =
      options.ttlMs > 0
        ? new LRUCache<string, Answer, { address: string; promql: string }>({
            max: options.maxQueries ?? 10_000,
            ttl: options.ttlMs,
            fetchMethod: async (_key, _stale, { context }) => ({
              value: await options.ask(context.address, context.promql),
            }),
          })
        : undefined;
  }

  /** The answer, shared when another asker got it at most `maxAgeMs` ago (and within the TTL). */
  async query(address: string, promql: string, maxAgeMs = Infinity): Promise<number | undefined> {
    if (!this.answers) return this.options.ask(address, promql);
    const key = queryKey(address, promql);
    const age = this.options.ttlMs - this.answers.getRemainingTTL(key);
    const answer = await this.answers.fetch(key, {
      context: { address, promql },
      forceRefresh: this.answers.has(key) && age > maxAgeMs,
    });
    return answer?.value;
  }
}
