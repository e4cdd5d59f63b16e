/**
 * A short server-side cache of the read API's projection answers.
 *
 * Dashboards ask the same few questions (the service list, the overview) many times a second, and
 * each answer costs 1-4 SQL statements over every service of the tenant. Those answers are already
 * eventually consistent (the projection trails the write side), so one computed answer is served to
 * every request asking the same question within the TTL: that adds a staleness of at most the TTL
 * on top of the projection lag, and turns N queries per TTL into one.
 *
 * - The key is the caller's tenant and the full original URL (path and query string): tenants never
 *   share an answer. Auth and scope checks run before (in `prepare`), so they are never skipped.
 * - Only 200 answers are kept; errors and any other status are computed anew every time.
 * - Concurrent misses for one key share one computation.
 * - A read-your-writes request (`X-Pulse-Min-Position`) never takes a kept or in-flight answer: it
 *   computes its own, once the projection has applied its position, and that answer (at least as
 *   fresh as any kept one) replaces the kept one. So does a request with `Cache-Control: no-cache`.
 * - The TTL counts from when the computation began, so an answer is never served more than the TTL
 *   after its data was read.
 */
import {
  encodeBody,
  prepareAnswer,
  type PreparedAnswer,
  type RouteResult,
  type RouteSpec,
} from '@pulse/core';
import { LRUCache } from 'lru-cache';
import { Counter, type Registry } from 'prom-client';
import type { z } from 'zod';
import { MIN_POSITION_HEADER } from './read-your-writes.js';

/** `hit` (no query of its own: a kept answer, or a concurrent request's) or `miss`. */
export const CACHE_HEADER = 'X-Pulse-Cache';

export type CacheOutcome = 'hit' | 'miss';

export interface AnswerCacheOptions<V> {
  ttlMs: number;
  maxEntries: number;
  /** Bounds the sum of `sizeOf` over the kept answers; an answer larger than this is not kept. */
  maxSize?: { total: number; sizeOf: (value: V, key: string) => number };
  /** Whether an answer may be kept at all (e.g. only a 200). */
  keep: (value: V) => boolean;
  /** Milliseconds on a monotonic clock; tests pass a fake one. */
  clock?: () => number;
}

interface Entry<V> {
  value: V;
  /** When its computation began: what its staleness counts from. */
  readAt: number;
}

/** Keyed answers kept for a TTL, bounded in number (and total size), concurrent misses sharing one computation. */
export class AnswerCache<V> {
  private readonly entries: LRUCache<string, Entry<V>>;
  private readonly inFlight = new Map<string, Promise<V>>();
  private readonly clock: () => number;

  constructor(private readonly options: AnswerCacheOptions<V>) {
    this.clock = options.clock ?? (() => performance.now());
    const { maxSize } = options;
    this.entries = new LRUCache<string, Entry<V>>({
      max: options.maxEntries,
      ttl: options.ttlMs,
      // Check expiry against the clock itself, not a value it read up to 1 ms ago.
      ttlResolution: 0,
      perf: { now: this.clock },
      ...(maxSize && {
        maxSize: maxSize.total,
        sizeCalculation: (entry: Entry<V>, key: string) => Math.max(1, maxSize.sizeOf(entry.value, key)),
      }),
    });
  }

  /**
   * The kept or in-flight answer for `key`, else `compute`'s (kept when `keep` allows). With
   * `bypass`, always `compute`'s own answer, which still replaces an older kept one.
   */
  async get(
    key: string,
    compute: () => Promise<V>,
    { bypass = false }: { bypass?: boolean } = {},
  ): Promise<{ value: V; outcome: CacheOutcome }> {
    if (!bypass) {
      const kept = this.entries.get(key);
      if (kept) return { value: kept.value, outcome: 'hit' };
      const pending = this.inFlight.get(key);
      if (pending) return { value: await pending, outcome: 'hit' };
    }
    const readAt = this.clock();
    const computation = compute();
    if (!bypass) this.inFlight.set(key, computation);
    try {
      const value = await computation;
      this.keep(key, value, readAt);
      return { value, outcome: 'miss' };
    } finally {
      if (this.inFlight.get(key) === computation) this.inFlight.delete(key);
    }
  }

  /** The kept answer for `key` while it is fresh; never waits for an in-flight one. */
  peek(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  get size(): number {
    return this.entries.size;
  }

  private keep(key: string, value: V, readAt: number): void {
    if (!this.options.keep(value)) return;
    const ttl = Math.floor(this.options.ttlMs - (this.clock() - readAt));
    if (ttl <= 0) return;
    // A read-your-writes answer may have been kept while this older computation ran.
    const kept = this.entries.peek(key);
    if (kept && kept.readAt > readAt) return;
    this.entries.set(key, { value, readAt }, { ttl });
  }
}

/** What the route wrapper needs of a service's request context. */
export interface CacheableContext {
  principal: { tenantId: string };
  /** Set when the request carried X-Pulse-Min-Position: its answer must reflect that position. */
  minPosition: unknown;
}

type Route<C> = RouteSpec<z.ZodObject, z.ZodType, C>;

/** Wraps a route so that its 200 answers are shared for a while; the identity when caching is off. */
export type RouteCaching = <C extends CacheableContext>(route: Route<C>) => Route<C>;

export interface AnswerCaching {
  route: RouteCaching;
  /**
   * The answer kept for a tenant's GET of `url` (path and query string), ready to send as a hit;
   * undefined when none is. The caller has authenticated the tenant's key with the read scope, and
   * leaves to the routes a request that asks past the cache (see `asksPastCache`).
   */
  kept: (tenantId: string, url: string) => PreparedAnswer | undefined;
}

export interface AnswerCachingOptions {
  /** How long an answer is shared; 0 turns caching off. */
  ttlMs: number;
  maxEntries?: number;
  /** Bounds the kept answers' total size as encoded JSON (their bodies' bytes on the wire). */
  maxBodyBytes?: number;
  registry?: Registry;
}

/**
 * A page of services may hold 1,000 of them (~600 kB of JSON): the entry count alone would not
 * bound the memory, so the total JSON size does too (a few times that in heap).
 */
export const DEFAULT_MAX_ENTRIES = 2_000;
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * Whether a request must get an answer of its own: one with a read-your-writes position, or one
 * asking past any cache as HTTP lets it (RFC 9111 5.2.1.4), e.g. a probe timing the pipeline's
 * commit-to-visible latency, or an operator checking.
 */
export function asksPastCache(minPosition: unknown, cacheControl: string | undefined): boolean {
  return minPosition !== undefined || /(^|,)\s*no-cache\s*(,|$)/i.test(cacheControl ?? '');
}

/** An answer kept with the route template it answered (what the request metrics label it). */
interface KeptAnswer {
  result: RouteResult;
  route: string;
  /** The hit as sent, built on the first hit: the same for every hit while the answer is kept. */
  hit?: PreparedAnswer;
}

/** One cache for all the routes it wraps (the key holds the URL, so routes cannot collide). */
export function answerCaching(options: AnswerCachingOptions): AnswerCaching {
  const { ttlMs } = options;
  if (ttlMs <= 0) return { route: (route) => route, kept: () => undefined };
  const cache = new AnswerCache<KeptAnswer>({
    ttlMs,
    maxEntries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
    maxSize: {
      total: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      // The encoding is done once per answer (see encodeBody) and sent to every request it serves.
      sizeOf: ({ result }, key) =>
        key.length + (result.body === undefined ? 0 : encodeBody(result.body).bytes.length),
    },
    keep: ({ result }) => result.status === 200,
  });
  const answers = options.registry
    ? new Counter({
        name: 'pulse_read_answer_cache_requests_total',
        help: 'Projection reads by whether a shared answer served them (hit) or they queried (miss)',
        labelNames: ['result'] as const,
        registers: [options.registry],
      })
    : undefined;
  const keyOf = (tenantId: string, url: string) => `${tenantId} ${url}`;
  const note =
    ` (shared per tenant and URL for up to ${ttlMs} ms, so up to that much older than the projection;` +
    ` ${CACHE_HEADER}: hit|miss says which; a request with ${MIN_POSITION_HEADER} or` +
    ` Cache-Control: no-cache gets a fresh one)`;

  return {
    route: (route) => ({
      ...route,
      responses: Object.fromEntries(
        Object.entries(route.responses).map(([status, response]) => [
          status,
          status === '200' ? { ...response, description: response.description + note } : response,
        ]),
      ),
      handler: async (input) => {
        const { request, context } = input;
        const { value, outcome } = await cache.get(
          keyOf(context.principal.tenantId, request.url),
          async () => ({
            result: await route.handler(input),
            route: request.route,
          }),
          { bypass: asksPastCache(context.minPosition, request.header('cache-control')) },
        );
        answers?.inc({ result: outcome });
        return { ...value.result, headers: { ...value.result.headers, [CACHE_HEADER]: outcome } };
      },
    }),
    kept: (tenantId, url) => {
      const kept = cache.peek(keyOf(tenantId, url));
      if (!kept) return undefined;
      answers?.inc({ result: 'hit' });
      const { result } = kept;
      kept.hit ??= prepareAnswer(kept.route, {
        ...result,
        headers: { ...result.headers, [CACHE_HEADER]: 'hit' },
      });
      return kept.hit;
    },
  };
}
