/**
 * Read-your-writes on demand: a request carrying the position token of a write is answered only
 * once the projection has applied that position, or fails clearly after a bounded wait.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { badRequest, HttpError, parsePosition, type Position } from '@pulse/core';
import type pg from 'pg';
import { Counter, Histogram, type Registry } from 'prom-client';
import { isApplied } from './repositories/positions.js';

export const MIN_POSITION_HEADER = 'X-Pulse-Min-Position';

/** The header's position, undefined without the header; a malformed token is a 400 naming the header. */
export function minPositionOf(header: string | undefined): Position | undefined {
  if (header === undefined) return undefined;
  const position = parsePosition(header);
  if (!position) {
    throw badRequest('invalid header', [
      {
        field: MIN_POSITION_HEADER,
        message: 'expected a position token <txid>.<events> as a write returned it',
      },
    ]);
  }
  return position;
}

/** Polls from a few ms up to this interval: a fresh write is usually applied within tens of ms. */
const MAX_POLL_MS = 50;

export interface PositionWaiter {
  wait: (position: Position) => Promise<void>;
}

export function positionWaiter(projection: pg.Pool, timeoutMs: number, registry: Registry): PositionWaiter {
  const waited = new Histogram({
    name: 'pulse_read_position_wait_seconds',
    help: 'Time a read-your-writes request waited for the projection to apply its position',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const timeouts = new Counter({
    name: 'pulse_read_position_timeouts_total',
    help: 'Read-your-writes requests answered 504 because the position was not applied in time',
    registers: [registry],
  });
  return {
    async wait(position) {
      const started = Date.now();
      const deadline = started + timeoutMs;
      for (let pause = 2; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
        if (await isApplied(projection, position)) {
          waited.observe((Date.now() - started) / 1000);
          return;
        }
        const left = deadline - Date.now();
        if (left <= 0) break;
        await delay(Math.min(pause, left));
      }
      timeouts.inc();
      throw new HttpError(
        504,
        'Gateway Timeout',
        `position ${position.txid}.${position.events} was not applied within ${timeoutMs} ms; retry later`,
        {
          errors: [{ field: MIN_POSITION_HEADER, message: `not applied within ${timeoutMs} ms` }],
          headers: { 'Retry-After': '1' },
        },
      );
    },
  };
}
