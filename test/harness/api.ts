/** A minimal JSON client of Pulse's HTTP APIs, for the harness and the suites. */
export interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

export async function call(
  baseUrl: string,
  method: string,
  path: string,
  key: string,
  body?: unknown,
): Promise<Reply> {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
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

/** A tenant and a write+read key for it, through the admin API (the key's secret is shown only here). */
export async function createTenant(
  writeUrl: string,
  adminKey: string,
  name: string,
): Promise<{ tenantId: string; key: string }> {
  const tenant = await expectStatus(call(writeUrl, 'POST', '/tenants', adminKey, { name }), 201);
  const tenantId = String(tenant.id);
  const keyRequest = { name, scopes: ['write', 'read'] };
  const key = await expectStatus(
    call(writeUrl, 'POST', `/tenants/${tenantId}/api-keys`, adminKey, keyRequest),
    201,
  );
  return { tenantId, key: String(key.key) };
}
