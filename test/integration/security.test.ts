/**
 * Security of write and read against the real parts: every route of both services (taken from
 * their /openapi.json, so a new route is covered without editing this suite) refuses a missing,
 * unknown or revoked key and a key without its scope, and denies one tenant every other tenant's
 * data; keys are stored only as hashes; no secret appears in any log line; `npm audit` of the
 * production dependencies has no high or critical finding.
 * Needs `make build` first.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { serviceEntry, type RunningService } from '../harness/services.js';
import { suiteScope, testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import { repoRoot } from '../harness/tools.js';
import { startReplicator } from './support/pipeline.js';
import { call, newAdminKey, startRead, startWrite, type Reply } from './support/read-api.js';
import { openApiRoutes, type ApiRoute } from './support/security.js';

const run = promisify(execFile);
const SCOPES = ['write', 'read', 'admin'] as const;
const READ_KEY_CACHE_TTL_MS = 1_000;

interface Tenant {
  id: string;
  name: string;
  serviceId: string;
  /** A key per scope set: the key with every scope but `write` is keys['read+admin']. */
  keys: Record<string, string>;
  keyIds: Record<string, string>;
}

describe('security: keys, scopes and tenant isolation on every route', () => {
  let stack: TestStack;
  let scope: Record<string, string>;
  let write: RunningService;
  let read: RunningService;
  const running: RunningService[] = [];
  const adminKey = newAdminKey();
  const tenants: Tenant[] = [];
  let revokedKey = '';
  const routes: { service: 'write' | 'read'; route: ApiRoute }[] = [];
  const base = (service: 'write' | 'read') => (service === 'write' ? write.url : read.url);
  /** Every secret this suite knows: none may appear in a log line or a table. */
  const secrets = () => [adminKey, revokedKey, ...tenants.flatMap((t) => Object.values(t.keys))];

  const scopeSets = [
    ['write'],
    ['read'],
    ['admin'],
    ['read', 'admin'],
    ['write', 'admin'],
    ['write', 'read'],
  ];

  async function makeTenant(label: string): Promise<Tenant> {
    const created = await call(write.url, 'POST', '/tenants', {
      key: adminKey,
      body: { name: `${label}-${Date.now()}` },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const tenant: Tenant = {
      id: String(created.body.id),
      name: String(created.body.name),
      serviceId: '',
      keys: {},
      keyIds: {},
    };
    for (const scopes of scopeSets) {
      const issued = await call(write.url, 'POST', `/tenants/${tenant.id}/api-keys`, {
        key: adminKey,
        body: { name: scopes.join('+'), scopes },
      });
      assert.equal(issued.status, 201, JSON.stringify(issued.body));
      tenant.keys[scopes.join('+')] = String(issued.body.key);
      tenant.keyIds[scopes.join('+')] = String(issued.body.id);
    }
    const key = tenant.keys['write+read'] ?? '';
    const service = await call(write.url, 'POST', '/services', {
      key,
      body: { name: `${label}-svc`, hostname: `${label}-host`, labels: { owner: label } },
    });
    tenant.serviceId = String(service.body.id);
    const at = new Date().toISOString();
    const sample = { observed_at: at, cpu_usage: 99, memory_usage: 50, disk_usage: 50, load_avg: 1 };
    const writes: [string, unknown][] = [
      [
        '/metrics/system',
        { ...sample, service_id: tenant.serviceId, network_rx_bytes: 1, network_tx_bytes: 1 },
      ],
      [`/services/${tenant.serviceId}/heartbeats`, { observed_at: at }],
      [
        '/metrics/process',
        {
          service_id: tenant.serviceId,
          observed_at: at,
          processes: [{ process_name: `${label}-proc`, pid: 1, cpu_usage: 1, memory_usage: 1 }],
        },
      ],
    ];
    let position = '';
    for (const [path, body] of writes) {
      const reply = await call(write.url, 'POST', path, { key, body });
      assert.equal(reply.status, 202, JSON.stringify(reply.body));
      position = String(reply.body.position);
    }
    // Projected (with an open cpu alert), so that the read routes have something to leak.
    const synced = await call(read.url, 'GET', `/services/${tenant.serviceId}/metrics/latest`, {
      key,
      headers: { 'X-Pulse-Min-Position': position },
    });
    assert.equal(synced.status, 200, JSON.stringify(synced.body));
    return tenant;
  }

  before(async () => {
    stack = await testStack(['postgres', 'kafka']);
    scope = await suiteScope(stack, 'security');
    write = await startWrite(stack, scope, adminKey);
    running.push(write, await startReplicator(stack, scope, `replicator-sec-${process.pid}`));
    read = await startRead(stack, scope, {
      PULSE_READ_YOUR_WRITES_TIMEOUT_MS: '30000',
      PULSE_AUTH_CACHE_TTL_MS: String(READ_KEY_CACHE_TTL_MS),
    });
    running.push(read);
    tenants.push(await makeTenant('alpha'), await makeTenant('beta'));
    const revoked = await call(write.url, 'POST', `/tenants/${tenants[0]?.id}/api-keys`, {
      key: adminKey,
      body: { name: 'revoked', scopes: [...SCOPES] },
    });
    revokedKey = String(revoked.body.key);
    const gone = await call(
      write.url,
      'DELETE',
      `/tenants/${tenants[0]?.id}/api-keys/${String(revoked.body.id)}`,
      {
        key: adminKey,
      },
    );
    assert.equal(gone.status, 204);
    for (const service of ['write', 'read'] as const)
      for (const route of await openApiRoutes(base(service))) routes.push({ service, route });
  });

  after(async () => {
    for (const service of running.reverse()) await service.stop();
    await stack.release();
  });

  const label = ({ service, route }: { service: string; route: ApiRoute }) =>
    `${service} ${route.method} ${route.path}`;

  it('every route of both services requires a scope', () => {
    assert.ok(routes.length >= 15, `routes found: ${routes.map(label).join(', ')}`);
    assert.deepEqual(
      routes.filter((r) => !SCOPES.includes(r.route.scope as never)).map(label),
      [],
      'a route without a scope is open to anyone',
    );
  });

  it('a missing, unknown or revoked key gets 401, a key without the scope 403, on every route', async () => {
    const [alpha] = tenants;
    assert.ok(alpha);
    for (const entry of routes) {
      const { route } = entry;
      const path = fill(route, alpha);
      const body = route.hasBody ? {} : undefined;
      for (const key of [undefined, 'pulse_not-a-key', revokedKey]) {
        const reply = await call(base(entry.service), route.method, path, { key, body });
        assert.equal(reply.status, 401, `${label(entry)} with key ${key}: ${JSON.stringify(reply.body)}`);
      }
      const lacking = SCOPES.filter((s) => s !== route.scope).join('+');
      const reply = await call(base(entry.service), route.method, path, { key: alpha.keys[lacking], body });
      assert.equal(reply.status, 403, `${label(entry)} with ${lacking}: ${JSON.stringify(reply.body)}`);
    }
  });

  /** Path parameters filled with this tenant's resources. */
  function fill(route: ApiRoute, owner: Tenant): string {
    const values: Record<string, string> = {
      id: owner.serviceId,
      tenant_id: owner.id,
      key_id: owner.keyIds.write ?? '',
    };
    return route.path.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const value = values[name];
      assert.ok(value, `${route.path}: no value for path parameter ${name}; add it to the table`);
      return value;
    });
  }

  /** A valid body aimed at the owner's resources, per route with a body. */
  const bodies: Record<string, (owner: Tenant) => unknown> = {
    'POST /services': () => ({ name: 'mallory-svc', hostname: 'mallory-host' }),
    'POST /services/{id}/heartbeats': () => ({}),
    'POST /metrics/system': (owner) => ({
      service_id: owner.serviceId,
      observed_at: new Date().toISOString(),
      cpu_usage: 1,
      memory_usage: 1,
      disk_usage: 1,
      load_avg: 0,
      network_rx_bytes: 0,
      network_tx_bytes: 0,
    }),
    'POST /metrics/system/batch': (owner) => ({
      samples: [bodies['POST /metrics/system']?.(owner)],
    }),
    'POST /metrics/process': (owner) => ({
      service_id: owner.serviceId,
      observed_at: new Date().toISOString(),
      processes: [{ process_name: 'x', pid: 2, cpu_usage: 1, memory_usage: 1 }],
    }),
    'POST /tenants': () => ({ name: `mallory-${Date.now()}` }),
    'POST /tenants/{tenant_id}/api-keys': () => ({ name: 'stolen', scopes: ['read', 'write'] }),
    'PUT /tenants/{tenant_id}/alert-rules': () => ({
      cpu_usage_above: 1,
      memory_usage_above: 1,
      disk_usage_above: 1,
      heartbeat_missing_seconds: 5,
    }),
  };

  /** What one tenant's data looks like through its own eyes: every GET route of the read service. */
  async function ownView(owner: Tenant): Promise<string> {
    const views: string[] = [];
    for (const { route } of routes.filter((r) => r.service === 'read' && r.route.method === 'GET')) {
      if (route.path === '/sync-status') continue; // positions and lag move with every write anywhere
      const reply = await call(read.url, 'GET', fill(route, owner), { key: owner.keys.read });
      // The default time window (from/to) follows the clock; the data inside it must not change.
      const data = JSON.stringify(reply.body, (key, value: unknown) =>
        key === 'from' || key === 'to' ? undefined : value,
      );
      views.push(`${route.path} ${reply.status} ${data}`);
    }
    return views.join('\n');
  }

  it('a key revoked while in use stops working at once on write, and within the key cache TTL on read', async () => {
    const tenant = tenants[1];
    assert.ok(tenant);
    const issued = await call(write.url, 'POST', `/tenants/${tenant.id}/api-keys`, {
      key: adminKey,
      body: { name: 'in-use', scopes: ['write', 'read'] },
    });
    const key = String(issued.body.key);
    const heartbeat = () =>
      call(write.url, 'POST', `/services/${tenant.serviceId}/heartbeats`, {
        key,
        body: { observed_at: new Date().toISOString() },
      });
    const status = () => call(read.url, 'GET', `/services/${tenant.serviceId}`, { key });
    // Both services have now checked the key and hold it in their caches.
    assert.equal((await heartbeat()).status, 202);
    assert.equal((await status()).status, 200);
    const revoked = await call(
      write.url,
      'DELETE',
      `/tenants/${tenant.id}/api-keys/${String(issued.body.id)}`,
      {
        key: adminKey,
      },
    );
    assert.equal(revoked.status, 204);
    assert.equal((await heartbeat()).status, 401, 'the revoking service forgets the key at once');
    await waitFor('the read service to refuse the revoked key', async () => (await status()).status === 401, {
      timeoutMs: READ_KEY_CACHE_TTL_MS * 3,
      intervalMs: 100,
    });
  });

  it("no tenant reaches another's data on any route, and the other tenant's data stays as it was", async (t: TestContext) => {
    const [alpha, beta] = tenants;
    assert.ok(alpha && beta);
    const betaBefore = await ownView(beta);
    // Whatever beta owns that alpha must never see.
    const betaMarks = [beta.id, beta.serviceId, beta.name, `${beta.name}-host`, 'beta-proc'];
    const leaks: string[] = [];
    for (const entry of routes) {
      const { route } = entry;
      const key = alpha.keys[route.scope === 'admin' ? 'admin' : 'write+read'];
      const bodyOf = bodies[`${route.method} ${route.path}`];
      assert.ok(
        !route.hasBody || bodyOf,
        `${label(entry)}: add a body aimed at the other tenant to the table`,
      );
      const query = route.path === '/alerts' ? `?service=${beta.serviceId}` : '';
      const reply: Reply = await call(base(entry.service), route.method, `${fill(route, beta)}${query}`, {
        key,
        body: bodyOf?.(beta),
      });
      const text = JSON.stringify(reply.body);
      const refersToBeta = route.params.length > 0 || text.includes('service_id');
      if (reply.status < 300 && (betaMarks.some((m) => text.includes(m)) || route.params.length > 0))
        leaks.push(`${label(entry)}: ${reply.status} ${text.slice(0, 300)}`);
      else if (reply.status >= 300 && ![403, 404].includes(reply.status))
        leaks.push(`${label(entry)}: unexpected ${reply.status} ${text.slice(0, 300)}`);
      t.diagnostic(`${label(entry)} as alpha on beta: ${reply.status}${refersToBeta ? '' : ' (own scope)'}`);
    }
    assert.deepEqual(leaks, [], 'cross-tenant requests that succeeded or leaked');
    assert.equal(await ownView(beta), betaBefore, "beta's data is unchanged");
  });

  const withDb = async <T>(url: string | undefined, fn: (db: pg.Client) => Promise<T>): Promise<T> => {
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      return await fn(db);
    } finally {
      await db.end();
    }
  };

  /** Rows of any table in the public schema whose text holds the needle. */
  const rowsHolding = (db: pg.Client, needle: string) =>
    db
      .query<{ table: string; n: number }>(
        `select c.relname as table,
                (xpath('/row/n/text()', query_to_xml(format('select count(*) as n from %I t where strpos(t::text, %L) > 0', c.relname, $1::text), false, true, '')))[1]::text::int as n
           from pg_class c join pg_namespace s on s.oid = c.relnamespace
          where s.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition`,
        [needle],
      )
      .then((r) => r.rows.filter((row) => row.n > 0).map((row) => row.table));

  it('keys are stored only as SHA-256 hashes: no table of either database holds a secret', async () => {
    await withDb(scope.PULSE_WRITE_DATABASE_URL, async (db) => {
      for (const secret of secrets()) {
        assert.deepEqual(await rowsHolding(db, secret), [], 'the write DB holds a key in clear');
        const { rows } = await db.query<{ n: string }>(
          "select count(*) as n from api_keys where key_hash = sha256(convert_to($1, 'UTF8'))",
          [secret],
        );
        assert.equal(Number(rows[0]?.n), 1, 'the key is stored as its SHA-256 hash');
      }
    });
    await withDb(scope.PULSE_PROJECTION_DATABASE_URL, async (db) => {
      for (const secret of secrets()) assert.deepEqual(await rowsHolding(db, secret), []);
    });
  });

  it('no secret appears in any log line, including the logs of a refused start', async () => {
    const dbPassword = decodeURIComponent(new URL(stack.env.PULSE_WRITE_DATABASE_URL ?? '').password);
    // Refused starts: a secret that is itself the bad value, and a database that is not there.
    const shortAdminKey = `tooshort${process.pid}`;
    const refused = [
      { PULSE_BOOTSTRAP_ADMIN_KEY: shortAdminKey },
      { PULSE_WRITE_DATABASE_URL: `postgres://pulse:${encodeURIComponent(dbPassword)}@127.0.0.1:1/none` },
    ];
    const outputs: string[] = [];
    for (const env of refused) {
      const output = await run(process.execPath, [serviceEntry('write')], {
        env: {
          ...process.env,
          ...stack.env,
          ...scope,
          PULSE_HTTP_PORT: '0',
          PULSE_HTTP_HOST: '127.0.0.1',
          ...env,
        },
        timeout: 15_000,
      }).then(
        (r) => r.stdout + r.stderr,
        (error: unknown) => {
          const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
          return stdout + stderr;
        },
      );
      assert.ok(output.length > 0, 'the refused start said why');
      outputs.push(output);
    }
    const logDir = join(stack.info.runDir, 'logs');
    const ours = running.map((s) => s.process.logFile);
    const files = [
      ...ours,
      ...readdirSync(logDir)
        .filter((f) => /^(postgres|kafka)/.test(f))
        .map((f) => join(logDir, f)),
    ];
    const texts = [
      ...files.map((f) => ({ name: f, text: readFileSync(f, 'utf8') })),
      ...outputs.map((text, i) => ({ name: `refused start ${i}`, text })),
    ];
    const found: string[] = [];
    for (const secret of [...secrets(), shortAdminKey, dbPassword])
      for (const { name, text } of texts)
        if (text.includes(secret)) found.push(`${name} holds ${secret.slice(0, 6)}…`);
    assert.deepEqual(found, []);
  });

  it('npm audit of the production dependencies: no high or critical finding', async (t: TestContext) => {
    const result = await run('npm', ['audit', '--omit=dev', '--json'], {
      cwd: repoRoot,
      timeout: 120_000,
    }).then(
      (r) => r.stdout,
      (error: unknown) => (error as { stdout?: string }).stdout ?? '',
    );
    const report = JSON.parse(result || '{}') as {
      statusCode?: number;
      message?: string;
      metadata?: { vulnerabilities: Record<string, number> };
    };
    if (!report.metadata) {
      t.skip(`the registry's audit endpoint did not answer: ${report.message ?? 'no report'}`);
      return;
    }
    const { high = 0, critical = 0 } = report.metadata.vulnerabilities;
    assert.equal(high + critical, 0, JSON.stringify(report.metadata.vulnerabilities));
  });
});
