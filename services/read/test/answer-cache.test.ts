import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RouteInput, RouteResult, RouteSpec } from '@pulse/core';
import { z } from 'zod';
import { AnswerCache, answerCaching, CACHE_HEADER, type CacheableContext } from '../src/answer-cache.js';

/** A promise settled from outside, to hold a computation in flight. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function fakeClock() {
  let now = 1_000;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

const TTL = 1_000;

function cacheOf(clock = fakeClock(), options: { maxEntries?: number; maxSize?: number } = {}) {
  return new AnswerCache<string>({
    ttlMs: TTL,
    maxEntries: options.maxEntries ?? 100,
    keep: (value) => !value.startsWith('error'),
    clock: clock.now,
    ...(options.maxSize ? { maxSize: { total: options.maxSize, sizeOf: (value) => value.length } } : {}),
  });
}

/** A computation that counts its calls. */
function counted(value: string | (() => string)) {
  const compute = () => {
    compute.calls++;
    return Promise.resolve(typeof value === 'string' ? value : value());
  };
  compute.calls = 0;
  return compute;
}

describe('answer cache', () => {
  it('serves a kept answer within the TTL and computes a new one after it', async () => {
    const clock = fakeClock();
    const cache = cacheOf(clock);
    let version = 0;
    const compute = counted(() => `v${++version}`);
    assert.deepEqual(await cache.get('k', compute), { value: 'v1', outcome: 'miss' });
    clock.advance(TTL - 1);
    assert.deepEqual(await cache.get('k', compute), { value: 'v1', outcome: 'hit' });
    clock.advance(2);
    assert.deepEqual(await cache.get('k', compute), { value: 'v2', outcome: 'miss' });
    assert.equal(compute.calls, 2);
  });

  it('peeks at a kept answer only while it is fresh, never at one in flight', async () => {
    const clock = fakeClock();
    const cache = cacheOf(clock);
    const slow = deferred<string>();
    const pending = cache.get('k', () => slow.promise);
    assert.equal(cache.peek('k'), undefined, 'in flight');
    slow.resolve('v1');
    await pending;
    assert.equal(cache.peek('k'), 'v1');
    clock.advance(TTL + 1);
    assert.equal(cache.peek('k'), undefined, 'expired');
    await cache.get('e', counted('error'));
    assert.equal(cache.peek('e'), undefined, 'not kept');
  });

  it('counts the TTL from when the computation began', async () => {
    const clock = fakeClock();
    const cache = cacheOf(clock);
    const slow = deferred<string>();
    const pending = cache.get('k', () => slow.promise);
    clock.advance(600);
    slow.resolve('read at 0');
    assert.equal((await pending).outcome, 'miss');
    clock.advance(399);
    assert.equal((await cache.get('k', counted('new'))).value, 'read at 0');
    clock.advance(2);
    assert.equal((await cache.get('k', counted('new'))).value, 'new');

    // A computation slower than the TTL is not kept at all.
    const slower = deferred<string>();
    const late = cache.get('late', () => slower.promise);
    clock.advance(TTL);
    slower.resolve('too old');
    await late;
    assert.deepEqual(await cache.get('late', counted('fresh')), { value: 'fresh', outcome: 'miss' });
  });

  it('keys answers apart', async () => {
    const cache = cacheOf();
    await cache.get('tenant-a /x', counted('a'));
    assert.deepEqual(await cache.get('tenant-b /x', counted('b')), { value: 'b', outcome: 'miss' });
    assert.deepEqual(await cache.get('tenant-a /x', counted('other')), { value: 'a', outcome: 'hit' });
  });

  it('lets concurrent misses share one computation', async () => {
    const cache = cacheOf();
    const slow = deferred<string>();
    let calls = 0;
    const compute = () => {
      calls++;
      return slow.promise;
    };
    const all = Promise.all([cache.get('k', compute), cache.get('k', compute), cache.get('k', compute)]);
    slow.resolve('shared');
    const results = await all;
    assert.equal(calls, 1);
    assert.deepEqual(
      results.map((r) => r.outcome),
      ['miss', 'hit', 'hit'],
    );
    assert.ok(results.every((r) => r.value === 'shared'));
  });

  it('shares a failure with the concurrent requests but keeps nothing of it', async () => {
    const cache = cacheOf();
    const slow = deferred<string>();
    const first = cache.get('k', () => slow.promise);
    const second = cache.get('k', counted('unused'));
    slow.reject(new Error('boom'));
    await assert.rejects(first, /boom/);
    await assert.rejects(second, /boom/);
    assert.deepEqual(await cache.get('k', counted('ok')), { value: 'ok', outcome: 'miss' });
  });

  it('does not keep an answer its keep predicate refuses', async () => {
    const cache = cacheOf();
    const compute = counted('error 404');
    await cache.get('k', compute);
    assert.deepEqual(await cache.get('k', compute), { value: 'error 404', outcome: 'miss' });
    assert.equal(compute.calls, 2);
    assert.equal(cache.size, 0);
  });

  it('computes a bypassing request itself, and keeps its answer over older ones', async () => {
    const clock = fakeClock();
    const cache = cacheOf(clock);
    await cache.get('k', counted('old'));
    // Neither the kept answer nor one in flight serves a bypassing request.
    const inFlight = deferred<string>();
    clock.advance(TTL + 1);
    const older = cache.get('k', () => inFlight.promise);
    clock.advance(10);
    assert.deepEqual(await cache.get('k', counted('newest'), { bypass: true }), {
      value: 'newest',
      outcome: 'miss',
    });
    // The older computation ends after it: it does not replace the newer answer.
    inFlight.resolve('in flight');
    assert.equal((await older).value, 'in flight');
    assert.deepEqual(await cache.get('k', counted('unused')), { value: 'newest', outcome: 'hit' });
  });

  it('bounds the number of entries, dropping the least recently used', async () => {
    const cache = cacheOf(fakeClock(), { maxEntries: 2 });
    await cache.get('a', counted('a'));
    await cache.get('b', counted('b'));
    await cache.get('a', counted('unused'));
    await cache.get('c', counted('c'));
    assert.equal(cache.size, 2);
    assert.equal((await cache.get('a', counted('a2'))).outcome, 'hit');
    assert.equal((await cache.get('b', counted('b2'))).outcome, 'miss');
  });

  it('bounds the total size and does not keep an answer larger than it', async () => {
    const cache = cacheOf(fakeClock(), { maxSize: 10 });
    await cache.get('big', counted('x'.repeat(11)));
    assert.equal(cache.size, 0);
    await cache.get('a', counted('aaaaaa'));
    await cache.get('b', counted('bbbbbb'));
    assert.equal(cache.size, 1, 'the older one made room');
    assert.equal((await cache.get('b', counted('unused'))).outcome, 'hit');
  });
});

type Context = CacheableContext;
type Route = RouteSpec<z.ZodObject, z.ZodType, Context>;

describe('answer caching of routes', () => {
  const routeAnswering = (answer: (tenant: string) => RouteResult) => {
    let calls = 0;
    const route: Route = {
      method: 'get',
      path: '/things',
      summary: 'Things',
      responses: { 200: { description: 'The things' }, 404: { description: 'None' } },
      handler: ({ context }) => {
        calls++;
        return Promise.resolve(answer(context.principal.tenantId));
      },
    };
    return { route, calls: () => calls };
  };
  const input = (
    tenantId: string,
    url: string,
    minPosition?: unknown,
    headers: Record<string, string> = {},
  ): RouteInput<never, never, Context> =>
    ({
      context: { principal: { tenantId }, minPosition },
      request: {
        method: 'GET',
        path: url.split('?', 1)[0] ?? url,
        url,
        route: '/api/v1/things',
        header: (name: string) => headers[name.toLowerCase()],
      },
    }) as RouteInput<never, never, Context>;
  const ok = (tenant: string): RouteResult => ({
    status: 200,
    body: { tenant },
    headers: { 'Cache-Control': 'no-cache' },
  });

  it('is the identity with a TTL of 0', () => {
    const { route } = routeAnswering(ok);
    assert.equal(answerCaching({ ttlMs: 0 }).route(route), route);
  });

  it('keys by tenant and full URL, and says hit or miss in a header', async () => {
    const { route, calls } = routeAnswering(ok);
    const cached = answerCaching({ ttlMs: 60_000 }).route(route);
    const first = await cached.handler(input('t1', '/api/v1/things?a=1'));
    assert.deepEqual(first, {
      status: 200,
      body: { tenant: 't1' },
      headers: { 'Cache-Control': 'no-cache', [CACHE_HEADER]: 'miss' },
    });
    const again = await cached.handler(input('t1', '/api/v1/things?a=1'));
    assert.equal(again.headers?.[CACHE_HEADER], 'hit');
    assert.deepEqual(again.body, { tenant: 't1' });
    const otherTenant = await cached.handler(input('t2', '/api/v1/things?a=1'));
    assert.deepEqual([otherTenant.body, otherTenant.headers?.[CACHE_HEADER]], [{ tenant: 't2' }, 'miss']);
    const otherQuery = await cached.handler(input('t1', '/api/v1/things?a=2'));
    assert.equal(otherQuery.headers?.[CACHE_HEADER], 'miss');
    assert.equal(calls(), 3);
  });

  it('bypasses the kept answer for a request with a minimum position', async () => {
    const { route, calls } = routeAnswering(ok);
    const cached = answerCaching({ ttlMs: 60_000 }).route(route);
    await cached.handler(input('t1', '/api/v1/things'));
    const waited = await cached.handler(input('t1', '/api/v1/things', { txid: '1', events: 1 }));
    assert.equal(waited.headers?.[CACHE_HEADER], 'miss');
    assert.equal(calls(), 2);
  });

  it('bypasses the kept answer for a request with Cache-Control: no-cache, and only that directive', async () => {
    const { route, calls } = routeAnswering(ok);
    const cached = answerCaching({ ttlMs: 60_000 }).route(route);
    await cached.handler(input('t1', '/api/v1/things'));
    const asked = async (cacheControl: string) =>
      (await cached.handler(input('t1', '/api/v1/things', undefined, { 'cache-control': cacheControl })))
        .headers?.[CACHE_HEADER];
    assert.equal(await asked('no-cache'), 'miss');
    assert.equal(await asked('max-age=0, No-Cache'), 'miss');
    assert.equal(await asked('no-cache-please'), 'hit');
    assert.equal(await asked('max-age=5'), 'hit');
    assert.equal(calls(), 3);
  });

  it('hands out a kept answer ready to send, as a hit under its route, and nothing else', async () => {
    const { route, calls } = routeAnswering(ok);
    const caching = answerCaching({ ttlMs: 60_000 });
    const cached = caching.route(route);
    assert.equal(caching.kept('t1', '/api/v1/things?a=1'), undefined, 'nothing computed yet');
    const first = await cached.handler(input('t1', '/api/v1/things?a=1'));
    const kept = caching.kept('t1', '/api/v1/things?a=1');
    assert.ok(kept);
    assert.equal(kept.route, '/api/v1/things');
    assert.equal(kept.status, 200);
    assert.deepEqual(JSON.parse(kept.body.toString('utf8')), first.body);
    assert.equal(kept.headers['Cache-Control'], 'no-cache');
    assert.equal(kept.headers[CACHE_HEADER], 'hit');
    assert.equal(kept.headers['Content-Type'], 'application/json; charset=utf-8');
    assert.match(String(kept.headers.ETag), /^W\/"/);
    assert.equal(caching.kept('t1', '/api/v1/things?a=1'), kept, 'prepared once for all its hits');
    assert.equal(caching.kept('t2', '/api/v1/things?a=1'), undefined, "another tenant's");
    assert.equal(caching.kept('t1', '/api/v1/things?a=2'), undefined, 'another query');
    assert.equal(calls(), 1);
  });

  it('keeps only 200 answers', async () => {
    const { route, calls } = routeAnswering(() => ({ status: 202, body: {} }));
    const cached = answerCaching({ ttlMs: 60_000 }).route(route);
    await cached.handler(input('t1', '/api/v1/things'));
    assert.equal((await cached.handler(input('t1', '/api/v1/things'))).headers?.[CACHE_HEADER], 'miss');
    assert.equal(calls(), 2);
  });

  it('documents the bounded staleness on the 200 answer', () => {
    const { route } = routeAnswering(ok);
    const cached = answerCaching({ ttlMs: 1_500 }).route(route);
    assert.match(String(cached.responses[200]?.description), /^The things \(.*1500 ms.*X-Pulse-Cache/);
    assert.equal(cached.responses[404]?.description, 'None');
  });
});
