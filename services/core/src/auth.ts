/**
 * API-key authentication shared by every service that answers tenants: keys live in the write DB
 * (table api_keys, issued by the write service), stored only as SHA-256 hashes, bound to a tenant
 * and scopes. The read service checks the same keys, so both use this one lookup.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { HttpError } from './http.js';

export const API_KEY_HEADER = 'X-API-Key';
export const SCOPES = ['write', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  keyId: string;
  tenantId: string;
  scopes: Scope[];
}

/** Keys are 32 random bytes, which is why a fast unsalted hash is enough to store them. */
export function hashApiKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

interface ApiKeyRow {
  id: string;
  tenant_id: string;
  scopes: Scope[];
}

async function findActiveKey(db: pg.Pool, keyHash: Buffer): Promise<ApiKeyRow | undefined> {
  const { rows } = await db.query<ApiKeyRow>(
    'select id, tenant_id, scopes from api_keys where key_hash = $1 and revoked_at is null',
    [keyHash],
  );
  return rows[0];
}

const unauthorized = (detail: string) =>
  new HttpError(401, 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': `ApiKey header="${API_KEY_HEADER}"` },
  });

/** `keys` is a pool on a database holding api_keys: the write primary, or one of its replicas. */
export async function authenticate(keys: pg.Pool, secret: string | undefined): Promise<Principal> {
  if (!secret) throw unauthorized(`the ${API_KEY_HEADER} header is missing`);
  const key = await findActiveKey(keys, hashApiKey(secret));
  if (!key) throw unauthorized('the API key is unknown or revoked');
  return { keyId: key.id, tenantId: key.tenant_id, scopes: key.scopes };
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.includes(scope)) {
    throw new HttpError(403, 'Forbidden', `the API key lacks the '${scope}' scope`);
  }
}
