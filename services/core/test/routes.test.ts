import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import { z } from 'zod';
import { fieldErrors, fieldName, mountRoutes, routeBuilder } from '../src/routes.js';
import { rawGet } from './raw-get.js';

describe('fieldName', () => {
  it('addresses a field the way the client wrote it', () => {
    assert.equal(fieldName(['samples', 3, 'cpu_usage']), 'samples[3].cpu_usage');
    assert.equal(fieldName(['processes', 0, 'pid']), 'processes[0].pid');
    assert.equal(fieldName([]), 'body');
    assert.equal(fieldName([], 'Idempotency-Key'), 'Idempotency-Key');
  });

  it('names each failing item of a zod error', () => {
    const schema = z.object({ samples: z.array(z.object({ cpu: z.number().max(100) })) });
    const result = schema.safeParse({ samples: [{ cpu: 1 }, { cpu: 101 }] });
    assert.equal(result.success, false);
    assert.deepEqual(
      fieldErrors(result.error).map((e) => e.field),
      ['samples[1].cpu'],
    );
  });
});

describe('mountRoutes answers', () => {
  const answers = async (bodies: () => unknown) => {
    const app = express();
    mountRoutes(
      app,
      [
        routeBuilder<null>()({
          method: 'get',
          path: '/answer',
          summary: 'test',
          responses: { 200: { description: 'ok' } },
          handler: () => Promise.resolve({ status: 200, body: bodies() }),
        }),
      ],
      { prefix: '', prepare: () => Promise.resolve(null) },
    );
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    // fetch sends `Cache-Control: no-cache` with a conditional request unless told otherwise.
    const get = (headers: Record<string, string> = {}) =>
      fetch(`http://127.0.0.1:${port}/answer`, { headers: { 'Cache-Control': 'max-age=0', ...headers } });
    return {
      get,
      raw: (headers?: Record<string, string>) => rawGet(`http://127.0.0.1:${port}/answer`, headers),
      close: () => new Promise((resolve) => server.close(resolve)),
    };
  };

  it('sends JSON with an ETag that a conditional GET of the same answer matches with 304', async () => {
    const shared = { services: [{ id: 'a', cpu: 12.5 }], note: 'ünïcode' };
    const { get, close } = await answers(() => shared);
    try {
      const first = await get();
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('content-type'), 'application/json; charset=utf-8');
      assert.deepEqual(await first.json(), shared);
      const etag = first.headers.get('etag');
      assert.match(etag ?? '', /^W\/"[0-9a-f]+-[\w-]+"$/);
      const again = await get();
      assert.equal(again.headers.get('etag'), etag);
      assert.deepEqual(await again.json(), shared);
      const conditional = await get({ 'If-None-Match': etag ?? '' });
      assert.equal(conditional.status, 304);
    } finally {
      await close();
    }
  });

  it('gives a changed answer another ETag, even when the object is new each time', async () => {
    let cpu = 1;
    const { get, close } = await answers(() => ({ cpu }));
    try {
      const first = await get();
      const same = await get();
      assert.equal(same.headers.get('etag'), first.headers.get('etag'));
      cpu = 2;
      const changed = await get({ 'If-None-Match': first.headers.get('etag') ?? '' });
      assert.equal(changed.status, 200);
      assert.notEqual(changed.headers.get('etag'), first.headers.get('etag'));
      assert.deepEqual(await changed.json(), { cpu: 2 });
    } finally {
      await close();
    }
  });

  it('gzips a large answer for a client that accepts it, with the same ETag, and still answers 304', async () => {
    const shared = { services: Array.from({ length: 100 }, (_, i) => ({ id: `service-${i}`, cpu: i / 3 })) };
    const { raw, close } = await answers(() => shared);
    try {
      const plain = await raw();
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.equal(plain.headers.vary, 'Accept-Encoding');
      const gzipped = await raw({ 'Accept-Encoding': 'gzip, deflate' });
      assert.equal(gzipped.headers['content-encoding'], 'gzip');
      assert.equal(gzipped.headers.vary, 'Accept-Encoding');
      assert.equal(gzipped.headers.etag, plain.headers.etag);
      assert.deepEqual(gunzipSync(gzipped.body), plain.body);
      const conditional = await raw({
        'Accept-Encoding': 'gzip',
        'If-None-Match': String(plain.headers.etag),
      });
      assert.equal(conditional.status, 304);
      assert.equal(conditional.body.length, 0);
    } finally {
      await close();
    }
  });
});
