/**
 * The read service as a real process over the whole pipeline: commands go to the write service
 * over HTTP, the replicator carries them through Kafka into the projection DB, and the read
 * service answers from there (raw history from the streaming replica). Covers read-your-writes
 * with the position token, exact hourly aggregates, tenant isolation on every route, conditional
 * GETs, pagination under concurrent writes, bad parameters, and the short answer cache.
 * Needs `make build` first (it runs services/<name>/dist/main.js).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { RunningService } from '../harness/services.js';
import { suiteScope, testStack, type TestStack } from '../harness/testing.js';
import { repoRoot } from '../harness/tools.js';
import { waitFor } from '../harness/wait.js';
import { metricValue, startReplicator } from './support/pipeline.js';
import {
  assertBadField,
  call,
  createTenant,
  newAdminKey,
  startRead,
  startWrite,
  type Reply,
} from './support/read-api.js';

const POSITION = 'X-Pulse-Min-Position';
const run = promisify(execFile);
const RYW_TIMEOUT_MS = 1_500;

describe('read service', () => {
  let stack: TestStack;
  let scope: Record<string, string>;
  let write: RunningService;
  const running: RunningService[] = [];
  let read: RunningService;
  const adminKey = newAdminKey();
  let alpha: Awaited<ReturnType<typeof createTenant>>;
  let beta: Awaited<ReturnType<typeof createTenant>>;

  const get = (path: string, key: string, headers: Record<string, string> = {}) =>
    call(read.url, 'GET', path, { key, headers });
  const post = async (path: string, key: string, body: unknown) => {
    const reply = await call(write.url, 'POST', path, { key, body });
    assert.ok([200, 201, 202].includes(reply.status), JSON.stringify(reply.body));
    assert.equal(typeof reply.body.position, 'string');
    return reply;
  };
  const register = async (key: string, name: string, labels: Record<string, string> = {}) => {
    const reply = await post('/services', key, { name, hostname: `${name}.local`, labels });
    return { id: String(reply.body.id), position: String(reply.body.position) };
  };
  /** Reads with the position a write returned, so the answer reflects that write. */
  const getAt = (path: string, key: string, position: string) => get(path, key, { [POSITION]: position });
  const ok = (reply: Reply) => {
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return reply.body;
  };

  const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000);
  const at = (minutes: number) => new Date(hour.getTime() + minutes * 60_000).toISOString();
  const sample = (serviceId: string, minutes: number, gauges: Record<string, number>) => ({
    service_id: serviceId,
    observed_at: at(minutes),
    cpu_usage: 10,
    memory_usage: 40,
    disk_usage: 30,
    load_avg: 1,
    network_rx_bytes: 1000,
    network_tx_bytes: 2000,
    ...gauges,
  });

  let service: { id: string; position: string };
  let lastPosition: string;

  before(async () => {
    stack = await testStack(['postgres', 'kafka']);
    scope = await suiteScope(stack, 'read');
    write = await startWrite(stack, scope, adminKey);
    running.push(write, await startReplicator(stack, scope));
    read = await startRead(stack, scope, { PULSE_READ_YOUR_WRITES_TIMEOUT_MS: String(RYW_TIMEOUT_MS) });
    running.push(read);
    alpha = await createTenant(write.url, adminKey, 'alpha');
    beta = await createTenant(write.url, adminKey, 'beta');

    service = await register(alpha.keys.readWrite, 'checkout', { env: 'prod', team: 'pay' });
    await post(`/services/${service.id}/heartbeats`, alpha.keys.readWrite, {});
    // One hour of samples whose aggregates are exact in binary floating point.
    await post('/metrics/system/batch', alpha.keys.readWrite, {
      samples: [
        sample(service.id, 5, { cpu_usage: 10, memory_usage: 40, disk_usage: 20, load_avg: 0.5 }),
        sample(service.id, 20, {
          cpu_usage: 60,
          memory_usage: 50,
          disk_usage: 30,
          load_avg: 1.5,
          gpu_usage: 25,
        }),
        sample(service.id, 40, { cpu_usage: 20, memory_usage: 60, disk_usage: 40, load_avg: 1 }),
      ],
    });
    const processes = await post('/metrics/process', alpha.keys.readWrite, {
      service_id: service.id,
      observed_at: at(41),
      processes: [
        { process_name: 'node', pid: 10, cpu_usage: 5, memory_usage: 30 },
        { process_name: 'postgres', pid: 20, cpu_usage: 50, memory_usage: 10 },
        { process_name: 'nginx', pid: 30, cpu_usage: 20, memory_usage: 20 },
      ],
    });
    lastPosition = String(processes.body.position);
  });

  after(async () => {
    for (const started of running.reverse()) await started.stop();
    await stack.release();
  });

  it('answers a read carrying a write position only once the projection has applied it', async () => {
    const status = ok(await getAt(`/services/${service.id}`, alpha.keys.read, lastPosition));
    assert.equal(status.name, 'checkout');
    assert.deepEqual(status.labels, { env: 'prod', team: 'pay' });
    assert.equal(status.health, 'healthy');
    assert.deepEqual(status.latest, {
      observed_at: at(40).replace('Z', '+00:00').replace('.000', ''),
      cpu_usage: 20,
      memory_usage: 60,
      disk_usage: 40,
    });
    const processes = ok(
      await getAt(`/services/${service.id}/processes?sort=memory&limit=2`, alpha.keys.read, lastPosition),
    );
    assert.deepEqual(
      (processes.processes as { pid: number }[]).map((p) => p.pid),
      [10, 30],
    );
    const byCpu = ok(await get(`/services/${service.id}/processes`, alpha.keys.read));
    assert.deepEqual(
      (byCpu.processes as { pid: number }[]).map((p) => p.pid),
      [20, 30, 10],
    );
    const latest = ok(await get(`/services/${service.id}/metrics/latest`, alpha.keys.read));
    assert.equal(latest.cpu_usage, 20);
    assert.equal(latest.gpu_usage, null);
  });

  it('computes hourly count, avg, min and max exactly', async () => {
    const reply = ok(
      await getAt(
        `/services/${service.id}/metrics/hourly?from=${encodeURIComponent(hour.toISOString())}`,
        alpha.keys.read,
        lastPosition,
      ),
    );
    const buckets = reply.buckets as Record<string, unknown>[];
    assert.equal(buckets.length, 1, JSON.stringify(reply));
    assert.deepEqual(buckets[0], {
      hour: hour.toISOString().replace('.000Z', '+00:00'),
      count: 3,
      cpu_usage: { avg: 30, min: 10, max: 60 },
      memory_usage: { avg: 50, min: 40, max: 60 },
      disk_usage: { avg: 30, min: 20, max: 40 },
      load_avg: { avg: 1, min: 0.5, max: 1.5 },
      gpu_usage: { count: 1, avg: 25, min: 25, max: 25 },
    });
  });

  it('waits for a position and times out clearly when it is never applied', async () => {
    const fresh = await post(
      '/metrics/system',
      alpha.keys.readWrite,
      sample(service.id, 50, { cpu_usage: 33 }),
    );
    const latest = ok(
      await getAt(`/services/${service.id}/metrics/latest`, alpha.keys.read, String(fresh.body.position)),
    );
    assert.equal(latest.cpu_usage, 33);

    const started = Date.now();
    const never = await getAt('/services', alpha.keys.read, '999999999999.1');
    assert.ok(Date.now() - started >= RYW_TIMEOUT_MS, 'it waited the whole bound');
    assert.equal(never.status, 504);
    assert.equal(never.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    assert.match(String(never.body.detail), /999999999999\.1 was not applied within 1500 ms/);

    assertBadField(await getAt('/services', alpha.keys.read, 'yesterday'), POSITION);
  });

  it('reports lag per stage and the last applied position', async () => {
    const status = ok(await getAt('/sync-status', alpha.keys.read, lastPosition));
    assert.equal(typeof status.position, 'string');
    const stages = status.stages as { name: string; lag_seconds: number | null; backlog: number | null }[];
    assert.deepEqual(
      stages.map((stage) => stage.name),
      ['relay', 'projection', 'replica'],
    );
    for (const stage of stages) assert.equal(typeof stage.lag_seconds, 'number', JSON.stringify(stage));
    // The projection has caught up with everything written before it.
    const projection = await waitFor(
      'the projection backlog to drain',
      async () => {
        const now = ok(await get('/sync-status', alpha.keys.read));
        const stage = (now.stages as { name: string; backlog: number | null }[]).find(
          (s) => s.name === 'projection',
        );
        return stage?.backlog === 0 ? stage : undefined;
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(projection.backlog, 0);
  });

  it('serves raw history from the replica when it is caught up, saying so in headers', async () => {
    const reply = await waitFor(
      'a raw read served by the replica',
      async () => {
        const r = await get(
          `/services/${service.id}/metrics/raw?from=${encodeURIComponent(hour.toISOString())}`,
          alpha.keys.read,
        );
        return r.headers.get('x-pulse-served-by') === 'replica' ? r : undefined;
      },
      { timeoutMs: 20_000 },
    );
    const body = ok(reply);
    assert.ok(Number(reply.headers.get('x-pulse-staleness-seconds')) <= 5);
    const samples = body.samples as { cpu_usage: number }[];
    assert.deepEqual(
      samples.map((s) => s.cpu_usage),
      [10, 60, 20, 33],
    );
    // Paged by observation time: two pages of two, then nothing left.
    const first = ok(
      await get(
        `/services/${service.id}/metrics/raw?from=${encodeURIComponent(hour.toISOString())}&limit=3`,
        alpha.keys.read,
      ),
    );
    const second = ok(
      await get(
        `/services/${service.id}/metrics/raw?from=${encodeURIComponent(hour.toISOString())}&limit=3&cursor=${String(first.next_cursor)}`,
        alpha.keys.read,
      ),
    );
    assert.deepEqual(
      [...(first.samples as { cpu_usage: number }[]), ...(second.samples as { cpu_usage: number }[])].map(
        (s) => s.cpu_usage,
      ),
      [10, 60, 20, 33],
    );
    assert.equal(second.next_cursor, null);
  });

  it('answers 304 to a conditional GET of an unchanged projection read', async () => {
    // An explicit range: the default one ends now, so its answer changes every moment.
    const range = `from=${encodeURIComponent(hour.toISOString())}&to=${encodeURIComponent(at(60))}`;
    for (const path of [
      '/services',
      `/services/${service.id}`,
      '/dashboard',
      `/services/${service.id}/metrics/hourly?${range}`,
    ]) {
      const first = await get(path, alpha.keys.read);
      assert.equal(first.status, 200, path);
      const etag = first.headers.get('etag');
      assert.ok(etag, `${path} has an ETag`);
      assert.match(String(first.headers.get('cache-control')), /no-cache/);
      // fetch adds Cache-Control: no-cache to a conditional request (which asks for a full answer)
      // unless the request names its own, as a browser revalidating does.
      const again = await get(path, alpha.keys.read, { 'If-None-Match': etag, 'Cache-Control': 'max-age=0' });
      assert.equal(again.status, 304, path);
      const other = await get(path, alpha.keys.read, {
        'If-None-Match': '"something-else"',
        'Cache-Control': 'max-age=0',
      });
      assert.equal(other.status, 200, path);
    }
  });

  it('filters services by label and health and pages them stably while services register', async () => {
    const names = ['a', 'b', 'c', 'd', 'e'].map((letter) => `page-${letter}`);
    // Each service's events travel on its own partition: wait for every registration, not the last.
    for (const name of names) {
      const { position } = await register(alpha.keys.readWrite, name, { tier: 'page' });
      ok(await getAt('/services', alpha.keys.read, position));
    }

    const filtered = ok(await get('/services?label=env:prod&label=team:pay', alpha.keys.read));
    assert.deepEqual(
      (filtered.services as { id: string }[]).map((s) => s.id),
      [service.id],
    );
    const unknown = ok(await get('/services?label=tier:page&health=unknown', alpha.keys.read));
    assert.equal((unknown.services as unknown[]).length, names.length, 'no heartbeat yet: health unknown');
    const healthy = ok(await get('/services?health=healthy,degraded', alpha.keys.read));
    assert.deepEqual(
      (healthy.services as { id: string }[]).map((s) => s.id),
      [service.id],
    );

    // Register services that sort before, between and after the pages while paging.
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    do {
      const page: Record<string, unknown> = ok(
        await get(`/services?label=tier:page&limit=2${cursor ? `&cursor=${cursor}` : ''}`, alpha.keys.read),
      );
      seen.push(...(page.services as { name: string }[]).map((s) => s.name));
      cursor = page.next_cursor as string | null;
      const added = await register(alpha.keys.readWrite, `page-${['0', 'bb', 'zz'][round % 3]}-${round}`, {
        tier: 'page',
      });
      ok(await getAt('/services', alpha.keys.read, added.position));
      round++;
    } while (cursor);
    assert.equal(new Set(seen).size, seen.length, `no service twice: ${seen.join(',')}`);
    for (const name of names) assert.ok(seen.includes(name), `${name} was listed: ${seen.join(',')}`);
    assert.deepEqual(seen, [...seen].sort(), 'in name order');
  });

  it('lists alerts by state and severity, and the dashboard counts them', async () => {
    const hot = await post(
      '/metrics/system',
      alpha.keys.readWrite,
      sample(service.id, 55, { cpu_usage: 99 }),
    );
    const alerts = ok(await getAt('/alerts?state=open', alpha.keys.read, String(hot.body.position)));
    const open = alerts.alerts as { rule: string; severity: string; service_id: string; state: string }[];
    assert.equal(open.length, 1, JSON.stringify(open));
    const [alert] = open;
    assert.ok(alert);
    assert.equal(alert.rule, 'cpu');
    assert.equal(alert.service_id, service.id);
    const severity = alert.severity;
    assert.equal(
      (
        ok(await get(`/alerts?severity=${severity}&service=${service.id}`, alpha.keys.read))
          .alerts as unknown[]
      ).length,
      1,
    );
    assert.equal((ok(await get('/alerts?state=resolved', alpha.keys.read)).alerts as unknown[]).length, 0);

    // With the position: an earlier /dashboard answer may still be shared from the answer cache.
    const dashboard = ok(await getAt('/dashboard', alpha.keys.read, String(hot.body.position)));
    assert.equal((dashboard.alerts as { open: number }).open, 1);
    assert.equal((dashboard.services as { by_health: Record<string, number> }).by_health.degraded, 1);
    assert.equal((dashboard.top_cpu as { id: string }[])[0]?.id, service.id);
    const all = ok(await get('/metrics/latest', alpha.keys.read));
    assert.deepEqual(
      (all.metrics as { service_id: string }[]).map((m) => m.service_id),
      [service.id],
    );

    // A sample back under the threshold resolves the alert, and the counts follow.
    const dashboardAfterCpu = async (minutes: number, cpu: number) => {
      const written = await post(
        '/metrics/system',
        alpha.keys.readWrite,
        sample(service.id, minutes, { cpu_usage: cpu }),
      );
      const answer = ok(await getAt('/dashboard', alpha.keys.read, String(written.body.position)));
      return {
        open: (answer.alerts as { open: number }).open,
        degraded: (answer.services as { by_health: Record<string, number> }).by_health.degraded,
      };
    };
    assert.deepEqual(await dashboardAfterCpu(56, 12), { open: 0, degraded: 0 });
    const resolved = ok(await get(`/alerts?state=resolved&service=${service.id}`, alpha.keys.read))
      .alerts as { rule: string; state: string }[];
    assert.deepEqual(
      resolved.map(({ rule, state }) => ({ rule, state })),
      [{ rule: 'cpu', state: 'resolved' }],
    );
    // Hot again, as the tests below expect: a new alert, counted again.
    assert.deepEqual(await dashboardAfterCpu(57, 99), { open: 1, degraded: 1 });
  });

  it("never shows one tenant another's data", async () => {
    const key = beta.keys.read;
    for (const path of [
      `/services/${service.id}`,
      `/services/${service.id}/metrics/latest`,
      `/services/${service.id}/metrics/hourly`,
      `/services/${service.id}/processes`,
      `/services/${service.id}/metrics/raw`,
    ]) {
      const reply = await get(path, key);
      assert.equal(reply.status, 404, `${path}: ${JSON.stringify(reply.body)}`);
    }
    assert.deepEqual(ok(await get('/services', key)).services, []);
    assert.deepEqual(ok(await get('/metrics/latest', key)).metrics, []);
    assert.deepEqual(ok(await get('/alerts', key)).alerts, []);
    assert.deepEqual(ok(await get(`/alerts?service=${service.id}`, key)).alerts, []);
    const dashboard = ok(await get('/dashboard', key));
    assert.equal((dashboard.services as { total: number }).total, 0);
    assert.equal((dashboard.alerts as { open: number }).open, 0);
    assert.equal(ok(await get('/sync-status', key)).position, null);
  });

  it('refuses a missing key, an unknown key and a key without the read scope', async () => {
    assert.equal((await call(read.url, 'GET', '/services')).status, 401);
    assert.equal((await get('/services', 'pulse_not-a-key')).status, 401);
    const forbidden = await get('/services', alpha.keys.writeOnly);
    assert.equal(forbidden.status, 403);
    assert.match(String(forbidden.body.detail), /read/);
  });

  it('answers 400 problem+json naming each bad parameter', async () => {
    const key = alpha.keys.read;
    const id = service.id;
    const cases: [string, string][] = [
      ['/services?limit=0', 'limit'],
      ['/services?limit=abc', 'limit'],
      ['/services?limit=1001', 'limit'],
      ['/services?health=sick', 'health'],
      ['/services?label=nocolon', 'label'],
      ['/services?cursor=garbage', 'cursor'],
      ['/metrics/latest?cursor=WyJ4Il0', 'cursor'],
      [`/services/${id}/metrics/hourly?from=yesterday`, 'from'],
      [`/services/${id}/metrics/hourly?from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z`, 'from'],
      [`/services/${id}/metrics/hourly?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z`, 'from'],
      [`/services/${id}/metrics/raw?limit=10001`, 'limit'],
      [`/services/${id}/processes?sort=disk`, 'sort'],
      ['/alerts?state=closed', 'state'],
      ['/alerts?severity=fatal', 'severity'],
      ['/alerts?service=not-a-uuid', 'service'],
      [`/services/not-a-uuid`, 'id'],
    ];
    for (const [path, field] of cases) assertBadField(await get(path, key), field);
    // A refused request changed nothing: the same read still answers the same.
    assert.equal((ok(await get(`/services/${id}`, key)) as { id: string }).id, id);
    assert.equal((await get(`/services/${randomUUID()}`, key)).status, 404);
  });

  it('draws one frame of the terminal monitor from the real status and dashboard', async () => {
    const { stdout } = await run(
      process.execPath,
      [join(repoRoot, 'services/read/dist/monitor-cli.js'), '--once'],
      {
        env: { ...process.env, PULSE_READ_URL: read.url, PULSE_API_KEY: alpha.keys.read, NO_COLOR: '1' },
        timeout: 15_000,
      },
    );
    assert.match(stdout, /^relay\s+\d+\.\d\d s/m);
    assert.match(stdout, /^projection\s+\d+\.\d\d s\s+0/m);
    assert.match(stdout, /SERVICES \d+/);
    assert.match(stdout, /checkout@checkout\.local/);
  });

  it('publishes its OpenAPI document with the query parameters', async () => {
    const doc = (await (await fetch(`${read.url}/openapi.json`)).json()) as {
      paths: Partial<Record<string, { get: { parameters: { name: string; in: string }[] } }>>;
    };
    const params = doc.paths['/api/v1/services']?.get.parameters.map((p) => `${p.in}:${p.name}`) ?? [];
    for (const name of ['query:label', 'query:health', 'query:limit', 'query:cursor'])
      assert.ok(params.includes(name), name);
    assert.ok(doc.paths['/api/v1/services/{id}/metrics/raw']);
  });

  describe('answer cache', () => {
    /** Long enough that two requests in a row fall within it even on a busy machine. */
    const TTL_MS = 3_000;
    let cached: RunningService;
    let probe: { id: string; position: string };
    let observedAt = Date.now();

    const cget = (path: string, key: string, headers: Record<string, string> = {}) =>
      call(cached.url, 'GET', path, { key, headers });
    const outcome = (reply: Reply) => reply.headers.get('x-pulse-cache');
    /** Records a sample newer than any before it; returns its position. */
    const record = async (cpu: number) => {
      observedAt = Math.max(observedAt + 1, Date.now());
      const reply = await post('/metrics/system', alpha.keys.readWrite, {
        ...sample(probe.id, 0, { cpu_usage: cpu }),
        observed_at: new Date(observedAt).toISOString(),
      });
      return String(reply.body.position);
    };
    const latestCpu = (reply: Reply) => ok(reply).cpu_usage;

    before(async () => {
      cached = await startRead(stack, scope, { PULSE_READ_CACHE_TTL_MS: String(TTL_MS) });
      running.push(cached);
      probe = await register(alpha.keys.readWrite, 'cache-probe', { cache: 'probe' });
      const position = await record(10);
      ok(await cget(`/services/${probe.id}/metrics/latest`, alpha.keys.read, { [POSITION]: position }));
    });

    it('answers a second GET within the TTL from the cache, for any key of the tenant', async () => {
      const path = `/services/${probe.id}`;
      const first = await cget(path, alpha.keys.read);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(outcome(first), 'miss');
      for (const key of [alpha.keys.read, alpha.keys.readWrite]) {
        const again = await cget(path, key);
        assert.equal(outcome(again), 'hit');
        assert.deepEqual(again.body, first.body);
        assert.equal(again.headers.get('etag'), first.headers.get('etag'));
        assert.match(String(again.headers.get('cache-control')), /no-cache/);
      }
    });

    it('sends a kept answer as the full request path sends it, counted under its route', async () => {
      const path = `/services/${probe.id}/processes?sort=memory`;
      const labels = { method: 'GET', route: '/api/v1/services/:id/processes', status_code: '200' };
      const counts = async () => ({
        requests: (await metricValue(cached.url, 'pulse_http_requests_total', labels)) ?? 0,
        hits:
          (await metricValue(cached.url, 'pulse_read_answer_cache_requests_total', { result: 'hit' })) ?? 0,
      });
      const first = await cget(path, alpha.keys.read);
      assert.equal(outcome(first), 'miss');
      const before = await counts();
      const hits = [await cget(path, alpha.keys.read), await cget(path, alpha.keys.readWrite)];
      for (const hit of hits) {
        assert.equal(outcome(hit), 'hit');
        assert.deepEqual(hit.body, first.body);
        const headers = [
          'content-type',
          'content-length',
          'content-encoding',
          'etag',
          'cache-control',
          'vary',
        ];
        for (const header of headers) {
          assert.equal(hit.headers.get(header), first.headers.get(header), header);
        }
      }
      assert.deepEqual(await counts(), { requests: before.requests + 2, hits: before.hits + 2 });
      // A conditional GET of the kept answer still gets its 304.
      const revalidated = await cget(path, alpha.keys.read, {
        'If-None-Match': String(first.headers.get('etag')),
        'Cache-Control': 'max-age=0',
      });
      assert.equal(revalidated.status, 304);
      // A key without the read scope never gets the kept answer, once known to the process either.
      for (let i = 0; i < 2; i++) assert.equal((await cget(path, alpha.keys.writeOnly)).status, 403);
    });

    it('sends the dashboard gzipped, missed or kept, to a client that accepts gzip', async () => {
      const encodings = async (acceptEncoding: string) => {
        const replies = [];
        for (const expected of ['miss', 'hit']) {
          const reply = await cget('/dashboard', alpha.keys.read, {
            'Accept-Encoding': acceptEncoding,
            'Cache-Control': expected === 'miss' ? 'no-cache' : 'max-age=0',
          });
          assert.equal(outcome(reply), expected);
          assert.match(String(reply.headers.get('vary')), /Accept-Encoding/);
          replies.push(reply);
        }
        return replies;
      };
      const gzipped = await encodings('gzip, deflate');
      const plain = await encodings('identity');
      for (const reply of gzipped) assert.equal(reply.headers.get('content-encoding'), 'gzip');
      for (const reply of plain) assert.equal(reply.headers.get('content-encoding'), null);
      // fetch decompressed it: a kept answer is the answer it kept, however encoded on the wire.
      for (const [miss, hit] of [gzipped, plain]) assert.deepEqual(hit?.body, miss?.body);
      const bytes = (reply: Reply | undefined) => Number(reply?.headers.get('content-length'));
      assert.ok(bytes(gzipped[1]) < bytes(plain[1]) / 2, `${bytes(gzipped[1])} of ${bytes(plain[1])} bytes`);
    });

    it("never serves one tenant's cached answer to another asking the same URL", async () => {
      for (const path of ['/dashboard', '/services']) {
        const alphaFirst = await cget(path, alpha.keys.read);
        const betaFirst = await cget(path, beta.keys.read);
        assert.equal(outcome(betaFirst), 'miss', path);
        assert.notDeepEqual(betaFirst.body, alphaFirst.body, path);
        const betaAgain = await cget(path, beta.keys.read);
        assert.equal(outcome(betaAgain), 'hit', path);
        assert.deepEqual(betaAgain.body, betaFirst.body, path);
        const alphaAgain = await cget(path, alpha.keys.read);
        assert.equal(outcome(alphaAgain), 'hit', path);
        assert.deepEqual(alphaAgain.body, alphaFirst.body, path);
      }
      assert.equal((ok(await cget('/dashboard', beta.keys.read)).services as { total: number }).total, 0);
      assert.deepEqual(ok(await cget('/services', beta.keys.read)).services, []);
    });

    it('answers a read with a newer position fresh despite a cached older answer, and keeps it', async () => {
      const path = `/services/${probe.id}/metrics/latest`;
      await cget(path, alpha.keys.read);
      const kept = await cget(path, alpha.keys.read);
      assert.equal(outcome(kept), 'hit', 'an older answer is cached');
      const older = latestCpu(kept);
      const position = await record(Number(older) + 1);
      const fresh = await cget(path, alpha.keys.read, { [POSITION]: position });
      assert.equal(outcome(fresh), 'miss');
      assert.equal(latestCpu(fresh), Number(older) + 1);
      // The fresh answer replaced the older one for everyone else.
      const after = await cget(path, alpha.keys.read);
      assert.equal(outcome(after), 'hit');
      assert.equal(latestCpu(after), Number(older) + 1);
    });

    it('answers a request with Cache-Control: no-cache fresh, as HTTP lets a client ask past a cache', async () => {
      const path = `/services/${probe.id}/metrics/latest`;
      await cget(path, alpha.keys.read);
      assert.equal(outcome(await cget(path, alpha.keys.read)), 'hit', 'an answer is cached');
      const position = await record(42);
      // Applied (waited for through another URL, which leaves this one cached with the old value).
      ok(await cget(`/services/${probe.id}`, alpha.keys.read, { [POSITION]: position }));
      const fresh = await cget(path, alpha.keys.read, { 'Cache-Control': 'no-cache' });
      assert.equal(outcome(fresh), 'miss');
      assert.equal(latestCpu(fresh), 42);
    });

    it('computes a new answer once the TTL has passed', async () => {
      const path = '/services?label=cache:probe';
      const cpuOf = (reply: Reply) =>
        (ok(reply).services as { latest: { cpu_usage: number } | null }[])[0]?.latest?.cpu_usage;
      const started = Date.now();
      const first = await cget(path, alpha.keys.read);
      assert.equal(outcome(first), 'miss');
      const newCpu = Number(cpuOf(first)) + 7;
      // Applied to the projection (waited for through another URL, which leaves this one cached).
      const position = await record(newCpu);
      ok(await cget(`/services/${probe.id}`, alpha.keys.read, { [POSITION]: position }));

      const hits: Reply[] = [];
      const renewed = await waitFor(
        'an answer computed after the TTL',
        async () => {
          const reply = await cget(path, alpha.keys.read);
          if (outcome(reply) === 'miss') return reply;
          hits.push(reply);
          return undefined;
        },
        { timeoutMs: TTL_MS * 4, intervalMs: 100 },
      );
      // The TTL counts from when the first answer was read, after `started` (1 ms clock rounding).
      assert.ok(Date.now() - started >= TTL_MS - 1, `renewed after ${Date.now() - started} ms`);
      assert.equal(cpuOf(renewed), newCpu);
      for (const hit of hits) assert.deepEqual(hit.body, first.body, 'until then, the same answer');
    });

    it('lets concurrent requests for one uncached URL share a single query', async () => {
      const replies = await Promise.all(
        Array.from({ length: 8 }, () => cget(`/alerts?service=${probe.id}`, alpha.keys.read)),
      );
      assert.deepEqual(replies.map(outcome).sort(), [
        'hit',
        'hit',
        'hit',
        'hit',
        'hit',
        'hit',
        'hit',
        'miss',
      ]);
      for (const reply of replies) assert.deepEqual(ok(reply), replies[0]?.body);
    });

    it('leaves errors, /sync-status and raw history out of it', async () => {
      for (const path of [
        `/services/${randomUUID()}`,
        '/sync-status',
        `/services/${probe.id}/metrics/raw`,
        '/services?limit=0',
      ]) {
        for (let i = 0; i < 2; i++) {
          const reply = await cget(path, alpha.keys.read);
          assert.equal(outcome(reply), null, `${path}: ${String(outcome(reply))}`);
        }
      }
    });

    it('documents the bounded staleness in the OpenAPI document', async () => {
      const doc = (await (await fetch(`${cached.url}/openapi.json`)).json()) as {
        paths: Partial<Record<string, { get: { responses: Record<string, { description: string }> } }>>;
      };
      assert.match(
        String(doc.paths['/api/v1/dashboard']?.get.responses['200']?.description),
        /up to 3000 ms.*X-Pulse-Cache/,
      );
      assert.doesNotMatch(
        String(doc.paths['/api/v1/sync-status']?.get.responses['200']?.description),
        /X-Pulse-Cache/,
      );
    });
  });
});
