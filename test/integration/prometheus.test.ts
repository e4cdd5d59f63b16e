import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { instantQuery as operatorQuery, QueryBatcher, queryNumber } from '@pulse/operator';
import { addScrapeTarget } from '../harness/components/prometheus.js';
import { testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';

interface QueryResponse {
  status: string;
  data: { result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe('local stack: Prometheus', () => {
  let stack: TestStack;
  let target: Server;
  const value = Math.floor(Math.random() * 1_000_000);
  before(async () => {
    stack = await testStack(['prometheus']);
    target = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE pulse_harness_smoke_value gauge\npulse_harness_smoke_value ${value}\n`);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    await new Promise((resolve) => target.close(resolve));
    await stack.release();
  });

  const instantQuery = async (promql: string) => {
    const url = `${stack.env.PULSE_PROMETHEUS_URL}/api/v1/query?query=${encodeURIComponent(promql)}`;
    return (await (await fetch(url)).json()) as QueryResponse;
  };

  it('is ready and reports the pinned v3 build', async () => {
    const ready = await fetch(`${stack.env.PULSE_PROMETHEUS_URL}/-/ready`);
    assert.equal(ready.status, 200);
    const info = (await (
      await fetch(`${stack.env.PULSE_PROMETHEUS_URL}/api/v1/status/buildinfo`)
    ).json()) as {
      data: { version: string };
    };
    assert.match(info.data.version, /^3\./);
  });

  it('scrapes a target registered through the file discovery dir', async () => {
    const port = (target.address() as AddressInfo).port;
    const name = `smoke-${process.pid}`;
    addScrapeTarget(stack.info.runDir, name, port);
    const scraped = await waitFor(
      'the smoke metric in Prometheus',
      async () => {
        const body = await instantQuery(`pulse_harness_smoke_value{instance_name="${name}"}`);
        return body.data.result[0]?.value[1];
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(Number(scraped), value);
  });

  it("answers the operator's batched queries as each would be answered alone", async () => {
    const port = (target.address() as AddressInfo).port;
    const name = `batch-${process.pid}`;
    addScrapeTarget(stack.info.runDir, name, port);
    const smoke = `pulse_harness_smoke_value{instance_name="${name}"}`;
    await waitFor(
      'the batch smoke metric',
      async () => (await instantQuery(smoke)).data.result.length === 1,
      {
        timeoutMs: 30_000,
        intervalMs: 500,
      },
    );
    const address = stack.env.PULSE_PROMETHEUS_URL;
    assert.ok(address);
    const good = [smoke, `sum(${smoke}) * 2`, `max(${smoke}) / 0 - max(${smoke}) / 0`, `${smoke} > Inf`];
    // A scalar cannot carry the batch's label, and the last query answers two series.
    const scalar = `scalar(${smoke}) + 1`;
    const twoSeries = `label_replace(${smoke}, "copy", "a", "", "") or label_replace(${smoke}, "copy", "b", "", "")`;
    const broken = 'sum(';
    const alone = async (promql: string) => {
      try {
        return await queryNumber(address, promql, AbortSignal.timeout(5_000));
      } catch (error) {
        return `error: ${(error as Error).message}`;
      }
    };
    const requests: string[] = [];
    const batcher = new QueryBatcher({
      windowMs: 200,
      maxBatch: 100,
      timeoutMs: 5_000,
      query: (at, promql, signal) => {
        requests.push(promql);
        return operatorQuery(at, promql, signal);
      },
    });
    const askAll = (queries: string[]) =>
      Promise.all(
        queries.map((promql) =>
          batcher.ask(address, promql).catch((error: unknown) => `error: ${(error as Error).message}`),
        ),
      );

    assert.deepEqual(await askAll(good), [value, value * 2, undefined, undefined]);
    assert.equal(requests.length, 1, 'four queries, one request');

    const all = [...good, scalar, twoSeries, broken];
    const expected = await Promise.all(all.map(alone));
    assert.deepEqual(expected.slice(4, 6), [value + 1, 'error: returned 2 series, not one']);
    assert.match(String(expected[6]), /^error: .*parse error/);
    requests.length = 0;
    assert.deepEqual(await askAll(all), expected, 'the batch split until the culprits were alone');
    requests.length = 0;
    assert.deepEqual(await askAll(all), expected);
    assert.deepEqual(
      requests.filter((promql) => promql === scalar || promql === broken).sort(),
      [scalar, broken],
      'the queries that broke a batch are asked alone from then on',
    );
    assert.equal(requests.length, 3, 'the rest in one request');
  });
});
