import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH_LABEL, QueryBatcher } from '../src/metrics/batched-queries.js';
import { QueryError, type QueryData } from '../src/metrics/prometheus.js';

const TAGGED = new RegExp(`label_replace\\(\\((.*?)\\), "${BATCH_LABEL}", "(\\d+)", "", ""\\)`, 'g');

/**
 * A Prometheus of the test's that understands the batcher's expressions: every query answers its
 * own length, `scalar` cannot be tagged, `fail` does not parse. The real union semantics are
 * checked against a real Prometheus in test/integration/prometheus.test.ts.
 */
function prometheus(down = false) {
  const requests: string[] = [];
  const query = (address: string, promql: string): Promise<QueryData> => {
    requests.push(`${address} ${promql}`);
    if (down) return Promise.reject(new Error('connection refused'));
    const parts = [...promql.matchAll(TAGGED)];
    const bad = (inner: string, tagged: boolean) => inner === 'fail' || (tagged && inner === 'scalar');
    if (parts.length === 0) {
      if (bad(promql, false)) return Promise.reject(new QueryError('parse error', 'bad_data'));
      return Promise.resolve({
        resultType: 'vector',
        result: [{ metric: {}, value: [0, String(promql.length)] }],
      });
    }
    if (parts.some(([, inner = '']) => bad(inner, true))) {
      return Promise.reject(new QueryError('expected type instant vector', 'bad_data'));
    }
    return Promise.resolve({
      resultType: 'vector',
      result: parts.map(([, inner = '', tag = '']) => ({
        metric: { [BATCH_LABEL]: tag, job: 'x' },
        value: [0, String(inner.length)],
      })),
    });
  };
  return { query, requests };
}

const settled = (promise: Promise<number | undefined>) =>
  promise.catch((error: unknown) => `error: ${(error as Error).message}`);

describe('QueryBatcher', () => {
  it('sends the queries asked within the window to one Prometheus as one request', async () => {
    const { query, requests } = prometheus();
    const batcher = new QueryBatcher({ windowMs: 10, maxBatch: 100, timeoutMs: 1_000, query });
    const answers = await Promise.all([
      batcher.ask('http://a', 'up'),
      batcher.ask('http://a', 'sum(up)'),
      batcher.ask('http://b', 'up'),
    ]);
    assert.deepEqual(answers, [2, 7, 2]);
    assert.equal(requests.length, 2, 'one request per Prometheus');
    assert.equal(requests.filter((request) => request.startsWith('http://b ')).length, 1);
    assert.equal(
      requests.find((request) => request.startsWith('http://b ')),
      'http://b up',
      'one query is sent as written',
    );
  });

  it('sends a full batch at once and starts another', async () => {
    const { query, requests } = prometheus();
    const batcher = new QueryBatcher({ windowMs: 60_000, maxBatch: 2, timeoutMs: 1_000, query });
    assert.deepEqual(
      await Promise.all([batcher.ask('http://a', 'a'), batcher.ask('http://a', 'bb')]),
      [1, 2],
    );
    assert.equal(requests.length, 1);
  });

  it('splits a batch that a query breaks until that query is alone, and asks it alone from then on', async () => {
    const { query, requests } = prometheus();
    const batcher = new QueryBatcher({ windowMs: 5, maxBatch: 100, timeoutMs: 1_000, query });
    const queries = ['up', 'scalar', 'sum(up)', 'fail', 'rate(x[1m])'];
    const ask = () => Promise.all(queries.map((promql) => settled(batcher.ask('http://a', promql))));
    const expected = [2, 6, 7, 'error: parse error', 11];
    assert.deepEqual(await ask(), expected);
    requests.length = 0;
    assert.deepEqual(await ask(), expected);
    assert.deepEqual(requests.filter((request) => !request.includes(BATCH_LABEL)).sort(), [
      'http://a fail',
      'http://a scalar',
    ]);
    assert.equal(requests.length, 3);
  });

  it('fails every query of a batch that did not reach Prometheus, without splitting it', async () => {
    const { query, requests } = prometheus(true);
    const batcher = new QueryBatcher({ windowMs: 5, maxBatch: 100, timeoutMs: 1_000, query });
    const answers = await Promise.all(
      ['a', 'b', 'c'].map((promql) => settled(batcher.ask('http://a', promql))),
    );
    assert.deepEqual(answers, Array(3).fill('error: connection refused'));
    assert.equal(requests.length, 1);
  });

  it('sends every query alone with a window of 0', async () => {
    const { query, requests } = prometheus();
    const batcher = new QueryBatcher({ windowMs: 0, maxBatch: 100, timeoutMs: 1_000, query });
    assert.deepEqual(
      await Promise.all([batcher.ask('http://a', 'a'), batcher.ask('http://a', 'bb')]),
      [1, 2],
    );
    assert.deepEqual(requests, ['http://a a', 'http://a bb']);
  });
});
