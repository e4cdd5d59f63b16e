/** API keys: random secrets, stored only as SHA-256 hashes, bound to a tenant and scopes. */
import { createHash, randomBytes } from 'node:crypto';
import { HttpError } from '@pulse/core';
import type pg from 'pg';
import { findActiveKey } from './repositories/api-keys.js';
import type { Scope } from './schemas.js';

export const API_KEY_HEADER = 'X-API-Key';

export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: Scope[];
}

/**
 * 32 random bytes: far beyond guessing, which is also why a fast unsalted hash is enough to
 * store it (slow salted hashes protect low-entropy passwords, not random keys).
 */
export function generateApiKey(): string {
  return `pulse_${randomBytes(32).toString('base64url')}`;
}

export function hashApiKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

const unauthorized = (detail: string) =>
  new HttpError(401, 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': `ApiKey header="${API_KEY_HEADER}"` },
  });

export async function authenticate(pool: pg.Pool, secret: string | undefined): Promise<Principal> {
  if (!secret) throw unauthorized(`the ${API_KEY_HEADER} header is missing`);
  const key = await findActiveKey(pool, hashApiKey(secret));
  if (!key) throw unauthorized('the API key is unknown or revoked');
  return { keyId: key.id, tenantId: key.tenant_id, scopes: key.scopes };
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.includes(scope)) {
    throw new HttpError(403, 'Forbidden', `the API key lacks the '${scope}' scope`);
  }
}
