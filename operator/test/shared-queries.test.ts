import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SharedQueries, type AskPrometheus } from '../src/metrics/shared-queries.js';

/** A Prometheus of the test's: counts the requests and answers what `answer` says. */
function prometheus(answer: (promql: string) => Promise<number | undefined>) {
  const asked: string[] = [];
  const ask: AskPrometheus = (address, promql) => {
    asked.push(`${address} ${promql}`);
    return answer(promql);
  };
  return { ask, asked };
}

const HOUR_MS = 3_600_000;

describe('SharedQueries', () => {
  it('shares an answer among askers of the same query of the same Prometheus', async () => {
    const { ask, asked } = prometheus((promql) => Promise.resolve(promql.length));
    const queries = new SharedQueries({ ttlMs: HOUR_MS, ask });
    assert.equal(await queries.query('http://a', 'up'), 2);
    assert.equal(await queries.query('http://a', 'up'), 2);
    assert.equal(await queries.query('http://a', 'sum(up)'), 7);
    assert.equal(await queries.query('http://b', 'up'), 2);
    assert.deepEqual(asked, ['http://a up', 'http://a sum(up)', 'http://b up']);
  });

  it('sends one request for concurrent askers', async () => {
    let release: (value: number) => void = () => undefined;
    const { ask, asked } = prometheus(() => new Promise((resolve) => (release = resolve)));
    const queries = new SharedQueries({ ttlMs: HOUR_MS, ask });
    const answers = Promise.all([1, 2, 3].map(() => queries.query('http://a', 'up')));
    release(42);
    assert.deepEqual(await answers, [42, 42, 42]);
    assert.equal(asked.length, 1);
  });

  it('shares "no series" too, but never a failure', async () => {
    let fail = true;
    const { ask, asked } = prometheus((promql) =>
      promql === 'missing'
        ? Promise.resolve(undefined)
        : fail
          ? Promise.reject(new Error('connection refused'))
          : Promise.resolve(1),
    );
    const queries = new SharedQueries({ ttlMs: HOUR_MS, ask });
    assert.equal(await queries.query('http://a', 'missing'), undefined);
    assert.equal(await queries.query('http://a', 'missing'), undefined);
    await assert.rejects(queries.query('http://a', 'up'), /connection refused/);
    fail = false;
    assert.equal(await queries.query('http://a', 'up'), 1);
    assert.deepEqual(asked, ['http://a missing', 'http://a up', 'http://a up']);
  });

  it('asks again for an asker that accepts no answer as old as the shared one', async () => {
    let value = 1;
    const { ask, asked } = prometheus(() => Promise.resolve(value++));
    const queries = new SharedQueries({ ttlMs: HOUR_MS, ask });
    assert.equal(await queries.query('http://a', 'up', HOUR_MS), 1);
    assert.equal(await queries.query('http://a', 'up', HOUR_MS), 1);
    assert.equal(await queries.query('http://a', 'up', -1), 2, 'no answer is younger than -1 ms');
    assert.equal(
      await queries.query('http://a', 'up', HOUR_MS),
      2,
      'the fresh answer is shared from then on',
    );
    assert.equal(asked.length, 2);
  });

  it('asks every time with a TTL of 0', async () => {
    const { ask, asked } = prometheus(() => Promise.resolve(1));
    const queries = new SharedQueries({ ttlMs: 0, ask });
    await queries.query('http://a', 'up');
    await queries.query('http://a', 'up');
    assert.equal(asked.length, 2);
  });
});
