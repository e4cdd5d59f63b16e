import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { acceptsGzip, contentFor, GZIP_MIN_BYTES, varyOnEncoding } from '../src/compression.js';

const requestAccepting = (acceptEncoding?: string) => ({
  headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding },
});

describe('acceptsGzip', () => {
  it('follows the Accept-Encoding header and its weights', () => {
    const cases: [string | undefined, boolean][] = [
      [undefined, false],
      ['', false],
      ['gzip', true],
      ['gzip, deflate, br', true],
      ['br;q=1.0, gzip;q=0.8, *;q=0.1', true],
      ['*', true],
      ['deflate', false],
      ['gzip;q=0', false],
      ['*;q=0', false],
      ['identity;q=1, gzip;q=0.5', false],
    ];
    for (const [header, expected] of cases) {
      assert.equal(acceptsGzip(requestAccepting(header)), expected, `Accept-Encoding: ${header}`);
    }
  });
});

describe('contentFor', () => {
  const large = Buffer.from(JSON.stringify({ services: Array.from({ length: 300 }, (_, i) => ({ i })) }));
  assert.ok(large.length >= GZIP_MIN_BYTES);

  it('gzips a large body for a client that accepts it, once for the same bytes', () => {
    const first = contentFor(requestAccepting('gzip'), large);
    assert.deepEqual(first.headers, { 'Content-Encoding': 'gzip' });
    assert.ok(first.bytes.length < large.length);
    assert.deepEqual(gunzipSync(first.bytes), large);
    assert.equal(contentFor(requestAccepting('gzip'), large).bytes, first.bytes);
  });

  it('sends the body as it is to a client without gzip, and a small body to anyone', () => {
    for (const [header, body] of [
      [undefined, large],
      ['gzip;q=0', large],
      ['gzip', Buffer.from('{"small":true}')],
    ] as const) {
      const content = contentFor(requestAccepting(header), body);
      assert.equal(content.bytes, body);
      assert.deepEqual(content.headers, {});
    }
  });
});

describe('varyOnEncoding', () => {
  it('adds Accept-Encoding to what the answer already varies by', () => {
    assert.equal(varyOnEncoding(undefined), 'Accept-Encoding');
    assert.equal(varyOnEncoding('X-API-Key'), 'X-API-Key, Accept-Encoding');
  });
});
