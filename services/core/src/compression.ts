/**
 * gzip for JSON answers, for clients that accept it (browsers and Grafana send Accept-Encoding).
 *
 * Unlike a per-response compression middleware, a body's gzip is made once and kept with its bytes:
 * an answer the read service keeps for its TTL (see encodeBody) is sent to thousands of requests as
 * the same buffer, and they all share one compression. A dashboard answer of ~17 kB goes out as
 * a few kB. That is for clients across a network: on loopback it saved no CPU, neither the
 * server's nor k6's (hand measurements, session 10), as `writev` costs per call, not per byte.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import Negotiator from 'negotiator';

/** Below this a body fits in one packet either way, and gzip's header and CPU buy nothing. */
export const GZIP_MIN_BYTES = 1024;

/**
 * The fastest level, as nginx's default: a body not kept (raw history, ~320 kB for a day) is
 * compressed for each request, and there level 1 took 3.5 ms against 5.0 ms for the default 6, for
 * 12 % more bytes (a day of random samples; hand measurement of 2026-12-06). Kept answers do not care.
 */
const GZIP_LEVEL = 1;

const ENCODINGS = ['gzip', 'identity'];

/** Whether the request's Accept-Encoding takes gzip at least as gladly as the body as it is. */
export function acceptsGzip(req: { headers: IncomingHttpHeaders }): boolean {
  if (req.headers['accept-encoding'] === undefined) return false;
  return new Negotiator(req).encoding(ENCODINGS) === 'gzip';
}

export function compressible(body: Buffer): boolean {
  return body.length >= GZIP_MIN_BYTES;
}

const gzipped = new WeakMap<Buffer, Buffer>();

/** The gzip of `body`, made on the first call for these bytes and kept as long as they are. */
export function gzipOf(body: Buffer): Buffer {
  let compressed = gzipped.get(body);
  if (!compressed) {
    compressed = gzipSync(body, { level: GZIP_LEVEL });
    gzipped.set(body, compressed);
  }
  return compressed;
}

const GZIP_HEADERS: Readonly<Record<string, string>> = { 'Content-Encoding': 'gzip' };
const AS_IT_IS: Readonly<Record<string, string>> = {};

/**
 * What to send of a prepared body to this request: its gzip with the Content-Encoding header when
 * the body is worth compressing and the client accepts it, else the body as it is.
 */
export function contentFor(
  req: { headers: IncomingHttpHeaders },
  body: Buffer,
): { bytes: Buffer; headers: Readonly<Record<string, string>> } {
  if (compressible(body) && acceptsGzip(req)) return { bytes: gzipOf(body), headers: GZIP_HEADERS };
  return { bytes: body, headers: AS_IT_IS };
}

/** Adds Accept-Encoding to a Vary header value: a compressible answer differs by it, gzipped or not. */
export function varyOnEncoding(vary: string | undefined): string {
  return vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding';
}
