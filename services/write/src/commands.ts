/**
 * The frame of every command: one transaction holding the domain rows, the outbox events and the
 * idempotency record (written last, with the events); the answer carries the position token of
 * that transaction.
 */
import { createHash, randomUUID } from 'node:crypto';
import { currentTraceparent, formatPosition, HttpError, withTransaction, type Queryable } from '@pulse/core';
import type pg from 'pg';
import type { Counter } from 'prom-client';
import { appendEvents, type PendingEvent } from './repositories/outbox.js';
import { findStoredResponse } from './repositories/idempotency.js';

export interface CommandOutcome {
  status: number;
  body: Record<string, unknown>;
  events: PendingEvent[];
  /** A command that changed nothing can point at the transaction that did (a repeated registration). */
  position?: string;
}

export interface CommandRequest {
  tenantId: string;
  /** The client's Idempotency-Key, if it sent one. */
  idempotencyKey: string | undefined;
  /** Identifies the request's content, so a key reused for a different request is refused. */
  fingerprint: string;
}

export interface CommandResult {
  status: number;
  body: Record<string, unknown>;
  position: string;
  replayed: boolean;
}

export interface CommandDeps {
  pool: pg.Pool;
  /** Called after a commit that wrote events. */
  wakeRelay: () => void;
  retries: Counter;
  events: Counter<'type'>;
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return `${method} ${path}\n${JSON.stringify(body ?? null)}`;
}

/** Thrown inside the transaction when the key belongs to a committed command, to roll this one back. */
class KeyTaken extends Error {}

export async function runCommand(
  deps: CommandDeps,
  request: CommandRequest,
  command: (tx: Queryable) => Promise<CommandOutcome>,
): Promise<CommandResult> {
  // Without a client key the command still gets one, made here once and reused by every retry:
  // when a connection breaks during COMMIT, the next attempt finds the key if COMMIT did succeed.
  const key = request.idempotencyKey ?? `auto:${randomUUID()}`;
  const requestHash = createHash('sha256').update(request.fingerprint).digest();
  const traceparent = currentTraceparent();
  let committedEvents: PendingEvent[] = [];
  try {
    const result = await withTransaction(
      deps.pool,
      async (tx): Promise<CommandResult> => {
        const outcome = await command(tx);
        const body = outcome.position ? { ...outcome.body, position: outcome.position } : outcome.body;
        const { txid, recorded } = await appendEvents(tx, outcome.events, traceparent, {
          tenantId: request.tenantId,
          key,
          requestHash,
          status: outcome.status,
          body,
        });
        if (!recorded) throw new KeyTaken();
        const position = outcome.position ?? formatPosition({ txid, events: outcome.events.length });
        committedEvents = outcome.events;
        return { status: outcome.status, body: { ...body, position }, position, replayed: false };
      },
      {
        onRetry: () => {
          deps.retries.inc();
        },
      },
    );
    // Counted after COMMIT: an attempt that was rolled back and retried must not count twice.
    for (const event of committedEvents) deps.events.inc({ type: event.type });
    if (committedEvents.length > 0) deps.wakeRelay();
    return result;
  } catch (error) {
    if (!(error instanceof KeyTaken)) throw error;
    return replay(deps.pool, request.tenantId, key, requestHash);
  }
}

/** The answer of the committed command that holds the key, if it was the same request. */
async function replay(
  pool: pg.Pool,
  tenantId: string,
  key: string,
  requestHash: Buffer,
): Promise<CommandResult> {
  const stored = await findStoredResponse(pool, tenantId, key);
  // Purged between the two statements: only after the retention of idempotency keys, far beyond any retry.
  if (!stored) throw new Error(`idempotency key ${key} vanished after it was found taken`);
  if (!stored.requestHash.equals(requestHash)) {
    throw new HttpError(
      422,
      'Unprocessable Content',
      'the Idempotency-Key was used for a different request',
      {
        errors: [{ field: 'Idempotency-Key', message: 'was used for a different request' }],
      },
    );
  }
  return {
    status: stored.status,
    body: { ...stored.body, position: stored.position },
    position: stored.position,
    replayed: true,
  };
}
