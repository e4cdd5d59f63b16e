/**
 * Helpers for the read-service suites: HTTP calls to the Pulse services, and tenants with keys made
 * through the write service's admin API, as an operator would make them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../harness/ports.js';
import { startService, type RunningService } from '../../harness/services.js';
import type { TestStack } from '../../harness/testing.js';

export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export interface CallOptions {
  key?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  /** Abort the request after this long (the default: no limit). */
  timeoutMs?: number;
}

export async function call(
  base: string,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      ...(options.key ? { 'X-API-Key': options.key } : {}),
      ...(options.body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    ...(options.timeoutMs === undefined ? {} : { signal: AbortSignal.timeout(options.timeoutMs) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

/** Asserts a 400 problem whose errors name the field (a query parameter or a header). */
export function assertBadField(reply: Reply, field: string): void {
  assert.equal(reply.status, 400, JSON.stringify(reply.body));
  assert.equal(reply.headers.get('content-type'), 'application/problem+json; charset=utf-8');
  const errors = reply.body.errors as { field: string }[] | undefined;
  assert.ok(
    errors?.some((error) => error.field === field),
    `the problem names ${field}: ${JSON.stringify(reply.body)}`,
  );
  assert.match(String(reply.body.detail), new RegExp(field.replace(/[.[\]]/g, '\\$&')));
}

export const newAdminKey = () => `admin-${randomBytes(16).toString('hex')}`;

export async function startWrite(
  stack: TestStack,
  scope: Record<string, string>,
  adminKey: string,
): Promise<RunningService> {
  return startService({ ...stack.info, env: { ...stack.env, ...scope } }, 'write', {
    instance: `write-${randomBytes(3).toString('hex')}`,
    port: await freePort(),
    env: { PULSE_BOOTSTRAP_ADMIN_KEY: adminKey, PULSE_RATE_LIMIT_PER_SECOND: '0' },
  });
}

export async function startRead(
  stack: TestStack,
  scope: Record<string, string>,
  env: Record<string, string> = {},
): Promise<RunningService> {
  return startService({ ...stack.info, env: { ...stack.env, ...scope } }, 'read', {
    instance: `read-${randomBytes(3).toString('hex')}`,
    port: await freePort(),
    env,
  });
}

/** A tenant with a key per scope set, made through the write service's admin API. */
export async function createTenant(
  writeUrl: string,
  adminKey: string,
  name: string,
): Promise<{ id: string; keys: Record<'readWrite' | 'read' | 'writeOnly', string> }> {
  const tenant = await call(writeUrl, 'POST', '/tenants', {
    key: adminKey,
    body: { name: `${name}-${randomBytes(4).toString('hex')}` },
  });
  assert.equal(tenant.status, 201, JSON.stringify(tenant.body));
  const id = String(tenant.body.id);
  const issue = async (scopes: string[]) => {
    const reply = await call(writeUrl, 'POST', `/tenants/${id}/api-keys`, {
      key: adminKey,
      body: { name: scopes.join('+'), scopes },
    });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    return String(reply.body.key);
  };
  return {
    id,
    keys: {
      readWrite: await issue(['write', 'read']),
      read: await issue(['read']),
      writeOnly: await issue(['write']),
    },
  };
}
