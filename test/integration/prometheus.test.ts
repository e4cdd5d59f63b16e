import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
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
});
