/**
 * Resources that watch different replicators ask different PromQL, so SharedQueries cannot merge
 * their questions: 500 of them at a 15 s poll still sent 300 requests a second, and those requests
 * were most of the operator's CPU (docs/benchmarks/2026-11-22-operator-66c39c2.md).
 *
 * Prometheus has no multi-query endpoint, but one instant query can carry many: each is tagged
 * with a label of its own (`label_replace`) and the tagged queries are joined with `or`, which keeps
 * every series of both sides when their label sets differ, as the tag makes them. The answer is
 * split by the tag and each query's part is read by the rules of a query of its own
 * (`singleNumber`). Questions to one Prometheus are collected for `windowMs` after the first one.
 *
 * A query that cannot be tagged (one that answers a scalar, or does not parse) fails the whole
 * request. The batch is then split in halves and asked again, down to that query alone, which is
 * then sent as it was written and asked alone from then on.
 */
import { LRUCache } from 'lru-cache';
import { instantQuery, QueryError, queryKey, singleNumber, type QueryData } from './prometheus.js';

/** The tag; a query's own series keep their labels, this one is added beside them. */
export const BATCH_LABEL = 'pulse_batch_query';

export interface QueryBatcherOptions {
  /** How long questions to one Prometheus are collected before they are sent; 0 sends each alone. */
  windowMs: number;
  /** The most queries in one request. */
  maxBatch: number;
  /** Bound on each request to Prometheus. */
  timeoutMs: number;
  /** The HTTP query: the real one, or a test's. */
  query?: (address: string, promql: string, signal: AbortSignal) => Promise<QueryData>;
}

interface Question {
  promql: string;
  resolve: (value: number | undefined) => void;
  reject: (error: unknown) => void;
}

interface Pending {
  questions: Question[];
  timer: NodeJS.Timeout;
}

export class QueryBatcher {
  private readonly pending = new Map<string, Pending>();
  /** Queries that broke a batch: asked alone, as written. Bounded, as the set of queries is. */
  private readonly solo = new LRUCache<string, true>({ max: 10_000 });
  private readonly query: NonNullable<QueryBatcherOptions['query']>;

  constructor(private readonly options: QueryBatcherOptions) {
    this.query = options.query ?? instantQuery;
  }

  /** The number `promql` answers at `address`, by the rules of `singleNumber`. */
  ask = (address: string, promql: string): Promise<number | undefined> => {
    if (this.options.windowMs <= 0 || this.solo.has(queryKey(address, promql))) {
      return this.askAlone(address, promql);
    }
    return new Promise((resolve, reject) => {
      let pending = this.pending.get(address);
      if (!pending) {
        const timer = setTimeout(() => {
          this.flush(address);
        }, this.options.windowMs);
        pending = { questions: [], timer };
        this.pending.set(address, pending);
      }
      pending.questions.push({ promql, resolve, reject });
      if (pending.questions.length >= this.options.maxBatch) this.flush(address);
    });
  };

  private flush(address: string): void {
    const pending = this.pending.get(address);
    if (!pending) return;
    this.pending.delete(address);
    clearTimeout(pending.timer);
    const { questions } = pending;
    if (questions.length === 1) {
      const [question] = questions as [Question];
      this.askAlone(address, question.promql).then(question.resolve, question.reject);
    } else void this.send(address, questions);
  }

  private async send(address: string, questions: Question[]): Promise<void> {
    if (questions.length === 1) {
      await this.sendOne(address, questions[0] as Question);
      return;
    }
    let data: QueryData;
    try {
      data = await this.query(address, tagged(questions), AbortSignal.timeout(this.options.timeoutMs));
    } catch (error) {
      if (!(error instanceof QueryError && error.isQueryFault)) {
        for (const question of questions) question.reject(error);
        return;
      }
      const half = Math.ceil(questions.length / 2);
      await Promise.all([
        this.send(address, questions.slice(0, half)),
        this.send(address, questions.slice(half)),
      ]);
      return;
    }
    let parts: Series[];
    try {
      parts = splitByTag(data, questions.length);
    } catch (error) {
      for (const question of questions) question.reject(error);
      return;
    }
    questions.forEach((question, index) => {
      settle(question, () => singleNumber({ resultType: 'vector', result: parts[index] ?? [] }));
    });
  }

  /** One question of a failed batch: tagged it may still work (a sibling broke the batch). */
  private async sendOne(address: string, question: Question): Promise<void> {
    try {
      const data = await this.query(address, tagged([question]), AbortSignal.timeout(this.options.timeoutMs));
      settle(question, () => singleNumber({ resultType: 'vector', result: splitByTag(data, 1)[0] ?? [] }));
    } catch (error) {
      if (!(error instanceof QueryError && error.isQueryFault)) {
        question.reject(error);
        return;
      }
      this.solo.set(queryKey(address, question.promql), true);
      this.askAlone(address, question.promql).then(question.resolve, question.reject);
    }
  }

  private async askAlone(address: string, promql: string): Promise<number | undefined> {
    return singleNumber(await this.query(address, promql, AbortSignal.timeout(this.options.timeoutMs)));
  }
}

/** The questions as one expression: `label_replace((q0), "tag", "0", "", "") or ...`. */
function tagged(questions: Question[]): string {
  return questions
    .map(({ promql }, index) => `label_replace((${promql}), "${BATCH_LABEL}", "${index}", "", "")`)
    .join(' or ');
}

type Series = Extract<QueryData, { resultType: 'vector' }>['result'];

/** Each question's series, the tag taken off again. */
function splitByTag(data: QueryData, count: number): Series[] {
  if (data.resultType !== 'vector') throw new QueryError(`a batch returned a ${data.resultType}`);
  const parts: Series[] = Array.from({ length: count }, () => []);
  for (const sample of data.result) {
    const { [BATCH_LABEL]: tag, ...metric } = sample.metric;
    parts[Number(tag)]?.push({ metric, value: sample.value });
  }
  return parts;
}

function settle(question: Question, read: () => number | undefined): void {
  try {
    question.resolve(read());
  } catch (error) {
    question.reject(error);
  }
}
