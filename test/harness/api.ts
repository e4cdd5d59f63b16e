/** A minimal JSON client of Pulse's HTTP APIs, for the harness, the suites and the benchmarks. */
import { randomBytes } from 'node:crypto';

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

/** The answer's body when it has the expected status; otherwise an error that shows the answer. */
export async function expectStatus(reply: Promise<Reply>, status: number): Promise<Record<string, unknown>> {
  const answer = await reply;
  if (answer.status !== status)
    throw new Error(`expected ${status}, got ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** A bootstrap admin key for a write service started by a test or the harness. */
export const newAdminKey = (): string => `admin-${randomBytes(16).toString('hex')}`;

/** Issues a key with these scopes for a tenant; returns its secret (shown only in this answer). */
export async function issueKey(
  writeUrl: string,
  adminKey: string,
  tenantId: string,
  scopes: string[],
): Promise<string> {
  const body = { name: scopes.join('+'), scopes };
  const key = await expectStatus(
    call(writeUrl, 'POST', `/tenants/${tenantId}/api-keys`, { key: adminKey, body }),
    201,
  );
  return String(key.key);
}

/** A tenant and a write+read key for it, through the admin API. */
export async function createTenant(
  writeUrl: string,
  adminKey: string,
  name: string,
): Promise<{ tenantId: string; key: string }> {
  const tenant = await expectStatus(
    call(writeUrl, 'POST', '/tenants', { key: adminKey, body: { name } }),
    201,
  );
  const tenantId = String(tenant.id);
  return { tenantId, key: await issueKey(writeUrl, adminKey, tenantId, ['write', 'read']) };
}
