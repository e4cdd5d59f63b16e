/**
 * API-key authentication shared by every service that answers tenants: keys live in the write DB
 * (table api_keys, issued by the write service), stored only as SHA-256 hashes, bound to a tenant
 * and scopes. The read service checks the same keys, so both use this one lookup.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
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

const unauthorized = (detail: string) =>
  new HttpError(401, 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': `ApiKey header="${API_KEY_HEADER}"` },
  });

export interface ApiKeyCacheOptions {
  /** How long an active key is trusted without asking the database again; 0 asks every time. */
  ttlMs: number;
  maxKeys?: number;
}

/**
 * Checks API keys against `api_keys` on `keys` (the write primary, or one of its replicas).
 * Active keys are remembered for `ttlMs`, so a request does not cost a round trip to the primary:
 * a revoked key therefore keeps working for at most `ttlMs` on other processes, and stops at once
 * on the process that revoked it (`forget`). Unknown keys are never remembered, so a key issued a
 * moment ago works at once, and a flood of made-up keys cannot push real ones out.
 */
export class ApiKeyAuthenticator {
  private readonly cache: LRUCache<string, Principal> | undefined;

  constructor(
    private readonly keys: pg.Pool,
    options: ApiKeyCacheOptions,
  ) {
    this.cache =
      options.ttlMs > 0
        ? new LRUCache<string, Principal>({
            max: options.maxKeys ?? 10_000,
            ttl: options.ttlMs,
            // Concurrent requests with the same new key share one lookup.
            fetchMethod: (hash) => this.lookup(Buffer.from(hash, 'hex')),
          })
        : undefined;
  }

  async authenticate(secret: string | undefined): Promise<Principal> {
    if (!secret) throw unauthorized(`the ${API_KEY_HEADER} header is missing`);
    const hash = hashApiKey(secret);
    const principal = this.cache ? await this.cache.fetch(hash.toString('hex')) : await this.lookup(hash);
    if (!principal) throw unauthorized('the API key is unknown or revoked');
    return principal;
  }

  /**
   * The principal of a key this process trusts right now (checked within the TTL), without asking
   * the database; undefined for any other key, which `authenticate` then settles.
   */
  trusted(secret: string | undefined): Principal | undefined {
    if (!secret || !this.cache) return undefined;
    return this.cache.get(hashApiKey(secret).toString('hex'));
  }

  /** Drops a revoked key from this process's memory at once. */
  forget(keyId: string): void {
    for (const [hash, principal] of this.cache?.entries() ?? []) {
      if (principal.keyId === keyId) this.cache?.delete(hash);
    }
  }

  private async lookup(keyHash: Buffer): Promise<Principal | undefined> {
    const { rows } = await this.keys.query<ApiKeyRow>(
      'select id, tenant_id, scopes from api_keys where key_hash = $1 and revoked_at is null',
      [keyHash],
    );
    const key = rows[0];
    return key && { keyId: key.id, tenantId: key.tenant_id, scopes: key.scopes };
  }
}

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.includes(scope)) {
    throw new HttpError(403, 'Forbidden', `the API key lacks the '${scope}' scope`);
  }
}
