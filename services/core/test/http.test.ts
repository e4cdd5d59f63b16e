import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { z } from 'zod';
import { createHttpApp, HttpError, type PreparedAnswer } from '../src/http.js';
import { createLogger } from '../src/logger.js';
import { directRoutes, mountRoutes, prepareAnswer, routeBuilder, type MountOptions } from '../src/routes.js';
import { createTelemetry } from '../src/telemetry.js';
import { rawGet, rawRequest, type RawAnswer } from './raw-get.js';

/** Serves a listener on a free loopback port for the suite; `url` is set once it listens. */
function serveForSuite(listener: RequestListener): { url: string } {
  const server = createServer(listener);
  const served = { url: '' };
  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    served.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.close();
  });
  return served;
}

/** The requests answered on a route (with one status, if given), as /metrics counts them. */
async function requestsCounted(url: string, route: string, status?: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('pulse_http_requests_total{') &&
        l.includes(`route="${route}"`) &&
        (status === undefined || l.includes(`status_code="${status}"`)),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

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
  const served = serveForSuite(
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

  const requestsOf = (route: string) => requestsCounted(served.url, route);

  it('sends a prepared answer as it is, counted under its route', async () => {
    const before = await requestsOf('/things/:id');
    const response = await fetch(`${served.url}/things/kept`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('x-kept'), 'yes');
    assert.equal(response.headers.get('content-length'), String(kept.body.length));
    assert.deepEqual(await response.json(), { kept: true });
    assert.equal(await requestsOf('/things/:id'), before + 1);
  });

  it('sends a large prepared answer gzipped to a client that accepts it, as it is to one that does not', async () => {
    const gzipped = await rawGet(`${served.url}/things/large`, { 'Accept-Encoding': 'gzip' });
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.equal(gzipped.headers['content-length'], String(gzipped.body.length));
    assert.equal(gzipped.headers.vary, 'X-API-Key, Accept-Encoding');
    assert.deepEqual(gunzipSync(gzipped.body), large.body);
    assert.ok(gzipped.body.length < large.body.length / 2);
    const plain = await rawGet(`${served.url}/things/large`);
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'X-API-Key, Accept-Encoding');
    assert.deepEqual(plain.body, large.body);
  });

  it('leaves a request it does not answer to the app', async () => {
    const response = await fetch(`${served.url}/things/7`);
    assert.deepEqual(await response.json(), { from: 'app', id: '7' });
  });

  it('leaves a request to the app when the shortcut throws, and keeps serving', async () => {
    const response = await fetch(`${served.url}/things/broken`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { from: 'app', id: 'broken' });
    assert.equal((await fetch(`${served.url}/things/kept`)).status, 200);
  });
});

describe('createHttpApp direct routes', () => {
  const telemetry = createTelemetry('direct-test');
  const route = routeBuilder<{ caller: string }>();
  const routes = [
    route({
      method: 'post',
      path: '/things',
      summary: 'Make a thing',
      body: z.object({ name: z.string().min(1), size: z.number().int().optional() }),
      responses: { 201: { description: 'Made' } },
      handler: ({ body, context, request }) =>
        Promise.resolve({
          status: 201,
          body: {
            made: body.name,
            by: context.caller,
            path: request.path,
            key: request.header('x-thing-key'),
          },
          headers: { 'X-Made': 'yes' },
        }),
    }),
    route({
      method: 'post',
      path: '/things/{id}/touch',
      summary: 'Touch a thing',
      params: z.object({ id: z.string() }),
      responses: { 204: { description: 'Touched' } },
      handler: () => Promise.resolve({ status: 204 }),
    }),
  ];
  const mounted: MountOptions<{ caller: string }> = {
    prefix: '/api',
    prepare: (_route, request) => {
      const caller = request.header('x-caller');
      if (!caller) return Promise.reject(new HttpError(401, 'Unauthorized', 'no caller'));
      return Promise.resolve({ caller });
    },
  };
  const httpApp = createHttpApp({
    logger: createLogger('direct-test', 'silent'),
    telemetry,
    bodyLimit: '1kb',
    readiness: () => Promise.resolve(),
    openapi: () => ({}),
    mount: (app) => {
      mountRoutes(app, routes, mounted);
    },
    direct: directRoutes(routes, mounted),
  });
  // Counts the requests that reach Express at all, before its body parser, at its entry point.
  let viaExpress = 0;
  const expressEntry = httpApp.app as unknown as { handle: (...args: unknown[]) => void };
  const handle = expressEntry.handle.bind(expressEntry);
  expressEntry.handle = (...args) => {
    viaExpress++;
    handle(...args);
  };
  const served = serveForSuite(httpApp.listener);

  const json = { 'Content-Type': 'application/json' };
  const caller = { 'X-Caller': 'ana' };
  /** Sends the body whole with its length (the direct path), and chunked (which only Express reads). */
  const bothWays = async (path: string, body: Buffer, headers: Record<string, string> = {}) => {
    const before = viaExpress;
    const direct = await rawRequest(`${served.url}${path}`, {
      method: 'POST',
      headers: { ...headers, 'Content-Length': String(body.length) },
      chunks: [body],
    });
    assert.equal(viaExpress, before, 'the whole body went the direct way');
    const chunked = await rawRequest(`${served.url}${path}`, {
      method: 'POST',
      headers,
      chunks: [body.subarray(0, 3), body.subarray(3)],
    });
    assert.equal(viaExpress, before + 1, 'the chunked body went through Express');
    return { direct, chunked };
  };
  /** What a client sees of an answer: not the Date, and not the ETag Express adds to problems. */
  const seen = ({ status, headers, body }: RawAnswer) => ({
    status,
    type: headers['content-type'],
    made: headers['x-made'],
    retry: headers['retry-after'],
    body: body.length > 0 ? (JSON.parse(body.toString('utf8')) as unknown) : undefined,
  });

  const cases: {
    name: string;
    path?: string;
    body: string;
    headers?: Record<string, string>;
    status: number;
  }[] = [
    { name: 'a valid body', body: '{"name":"lamp","size":3}', headers: { ...json, ...caller }, status: 201 },
    {
      name: 'a query string, ignored',
      path: '/api/things?x=1',
      body: '{"name":"q"}',
      headers: { ...json, ...caller },
      status: 201,
    },
    {
      name: 'a UTF-8 byte order mark',
      body: '\ufeff{"name":"bom"}',
      headers: { 'Content-Type': 'application/json; charset=UTF-8', ...caller },
      status: 201,
    },
    {
      name: 'a field that fails validation',
      body: '{"name":""}',
      headers: { ...json, ...caller },
      status: 422,
    },
    { name: 'an empty body, read as {}', body: '', headers: { ...json, ...caller }, status: 422 },
    { name: 'malformed JSON', body: '{"name":', headers: { ...json, ...caller }, status: 400 },
    {
      name: 'a body over the limit',
      body: JSON.stringify({ name: 'x'.repeat(2_000) }),
      headers: { ...json, ...caller },
      status: 413,
    },
    { name: 'no caller', body: '{"name":"lamp"}', headers: json, status: 401 },
  ];
  for (const { name, path = '/api/things', body, headers = {}, status } of cases) {
    it(`answers ${name} with ${status}, the same by both ways`, async () => {
      const { direct, chunked } = await bothWays(path, Buffer.from(body, 'utf8'), headers);
      assert.equal(direct.status, status, direct.body.toString('utf8'));
      assert.deepEqual(seen(direct), seen(chunked));
      if (status >= 400) assert.match(String(direct.headers['content-type']), /^application\/problem\+json/);
    });
  }

  it('hands the handler the header, path and caller of the request', async () => {
    const { direct } = await bothWays('/api/things?x=1', Buffer.from('{"name":"lamp"}'), {
      ...json,
      ...caller,
      'X-Thing-Key': 'k1',
    });
    assert.deepEqual(JSON.parse(direct.body.toString('utf8')), {
      made: 'lamp',
      by: 'ana',
      path: '/api/things',
      key: 'k1',
    });
  });

  it('leaves a compressed body, another type and a route with a path parameter to Express', async () => {
    const before = viaExpress;
    const gzipped = await rawRequest(`${served.url}/api/things`, {
      method: 'POST',
      headers: { ...json, ...caller, 'Content-Encoding': 'gzip' },
      chunks: [gzipSync('{"name":"zipped"}')],
    });
    assert.equal(gzipped.status, 201, gzipped.body.toString('utf8'));
    const text = await rawRequest(`${served.url}/api/things`, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', ...caller },
      chunks: [Buffer.from('name=x')],
    });
    assert.equal(text.status, 415);
    const touched = await rawRequest(`${served.url}/api/things/7/touch`, { method: 'POST', headers: caller });
    assert.equal(touched.status, 204);
    assert.equal(viaExpress, before + 3);
  });

  it('counts a direct request under its route, as Express would', async () => {
    const count = () => requestsCounted(served.url, '/api/things', '201');
    const before = await count();
    await bothWays('/api/things', Buffer.from('{"name":"counted"}'), { ...json, ...caller });
    assert.equal(await count(), before + 2);
  });
});
