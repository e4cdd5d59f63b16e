/**
 * Helpers for the read-service suites: HTTP calls to the Pulse services, and tenants with keys made
 * through the write service's admin API, as an operator would make them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../harness/ports.js';
import { startService, type RunningService } from '../../harness/services.js';
import type { TestStack } from '../../harness/testing.js';
import { createTenant as createTenantWithKey, issueKey, type Reply } from '../../harness/api.js';

export { call, newAdminKey, type CallOptions, type Reply } from '../../harness/api.js';

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
  const { tenantId: id, key: readWrite } = await createTenantWithKey(
    writeUrl,
    adminKey,
    `${name}-${randomBytes(4).toString('hex')}`,
  );
  return {
    id,
    keys: {
      readWrite,
      read: await issueKey(writeUrl, adminKey, id, ['read']),
      writeOnly: await issueKey(writeUrl, adminKey, id, ['write']),
    },
  };
}
