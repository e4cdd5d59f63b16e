import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { createHttpApp, type PreparedAnswer } from '../src/http.js';
import { createLogger } from '../src/logger.js';
import { prepareAnswer } from '../src/routes.js';
import { createTelemetry } from '../src/telemetry.js';
import { rawGet } from './raw-get.js';

describe('createHttpApp shortcut', () => {
  const telemetry = createTelemetry('http-test');
  const kept: PreparedAnswer = {
    route: '/things/:id',
    status: 200,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'X-Kept': 'yes' },
    body: Buffer.from('{"kept":true}'),
  };
  const large = prepareAnswer('/things/:id', {
    status: 200,
    body: { things: Array.from({ length: 200 }, (_, i) => ({ id: i, name: `thing ${i}` })) },
    headers: { Vary: 'X-API-Key' },
  });
  let url = '';
  const server = createServer(
    createHttpApp({
      logger: createLogger('http-test', 'silent'),
      telemetry,
      bodyLimit: '1kb',
      readiness: () => Promise.resolve(),
      openapi: () => ({}),
      mount: (app) => {
        app.get('/things/:id', (req, res) => {
          res.json({ from: 'app', id: req.params.id });
        });
      },
      shortcut: (req) => {
        if (req.url === '/things/kept') return kept;
        if (req.url === '/things/large') return large;
        if (req.url === '/things/broken') throw new Error('shortcut bug');
        return undefined;
      },
    }).listener,
  );

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
  });

  const requestsOf = async (route: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('pulse_http_requests_total{') && l.includes(`route="${route}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('sends a prepared answer as it is, counted under its route', async () => {
    const before = await requestsOf('/things/:id');
    const response = await fetch(`${url}/things/kept`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-kept'), 'yes');
    assert.equal(response.headers.get('content-length'), String(kept.body.length));
    assert.deepEqual(await response.json(), { kept: true });
    assert.equal(await requestsOf('/things/:id'), before + 1);
  });

  it('sends a large prepared answer gzipped to a client that accepts it, as it is to one that does not', async () => {
    const gzipped = await rawGet(`${url}/things/large`, { 'Accept-Encoding': 'gzip' });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.equal(gzipped.headers['content-length'], String(gzipped.body.length));
    assert.equal(gzipped.headers.vary, 'X-API-Key, Accept-Encoding');
    assert.deepEqual(gunzipSync(gzipped.body), large.body);
    assert.ok(gzipped.body.length < large.body.length / 2);
    const plain = await rawGet(`${url}/things/large`);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'X-API-Key, Accept-Encoding');
    assert.deepEqual(plain.body, large.body);
  });

  it('leaves a request it does not answer to the app', async () => {
    const response = await fetch(`${url}/things/7`);
    assert.deepEqual(await response.json(), { from: 'app', id: '7' });
  });

  it('leaves a request to the app when the shortcut throws, and keeps serving', async () => {
    const response = await fetch(`${url}/things/broken`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { from: 'app', id: 'broken' });
    assert.equal((await fetch(`${url}/things/kept`)).status, 200);
  });
});
