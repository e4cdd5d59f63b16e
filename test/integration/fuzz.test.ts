/**
 * Bad input against the real services, on an isolated PostgreSQL stack (its primary logs every
 * statement for the SQL check, a setting no shared stack should suffer):
 * - property tests (fast-check) over every write schema: any invalid payload gets a 4xx
 *   problem+json naming the field, and no row of the write DB changes;
 * - a bounded fuzz run against every endpoint of write and read (from their /openapi.json):
 *   random bytes, huge and deeply nested JSON, invalid UTF-8, NaN and Infinity, SQL-like strings,
 *   wrong content types, random path, query and header values: never a 5xx, the processes stay
 *   up, their memory stays bounded; the number of inputs tried is printed;
 * - user input never becomes SQL text: a marker carried by every fuzzed string appears in the
 *   primary's statement log only as a bind parameter (or quoted in an error), never in a statement.
 * Needs `make build` first.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@pulse/core';
import { migrateProjectionDatabase } from '@pulse/replicator';
import fc from 'fast-check';
import pg from 'pg';
import type { RunningService } from '../harness/services.js';
import { isolatedStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';
import { call, createTenant, newAdminKey, startRead, startWrite } from './support/read-api.js';
import { API_PREFIX, openApiRoutes, rssMegabytes, type ApiRoute } from './support/security.js';

/** Inputs per fuzzed endpoint and kind, and per write schema; bounded so the run stays short. */
const FUZZ_RUNS = Number(process.env.PULSE_FUZZ_RUNS ?? '25');
const PROPERTY_RUNS = Number(process.env.PULSE_PROPERTY_RUNS ?? '60');
/** A process above this resident size after the fuzz run fails the suite. */
const RSS_LIMIT_MB = 400;
const MARKER = `pulsemark${randomBytes(4).toString('hex')}`;

const WRITE_TABLES = [
  'tenants',
  'api_keys',
  'services',
  'system_metrics',
  'process_metrics',
  'outbox',
  'idempotency_keys',
];

describe('bad input: property tests, fuzzing, parameterised SQL', () => {
  let stack: TestStack;
  let write: RunningService;
  let read: RunningService;
  let writeDb: pg.Client;
  const adminKey = newAdminKey();
  let tenantId = '';
  let key = '';
  let serviceId = '';
  let inputsTried = 0;

  before(async () => {
    stack = await isolatedStack(['postgres']);
    await migrateProjectionDatabase(
      stack.env.PULSE_PROJECTION_DATABASE_URL ?? '',
      createLogger('test', 'silent'),
    );
    writeDb = new pg.Client({ connectionString: stack.env.PULSE_WRITE_DATABASE_URL });
    await writeDb.connect();
    await writeDb.query("alter system set log_statement = 'all'");
    await writeDb.query('select pg_reload_conf()');
    write = await startWrite(stack, {}, adminKey);
    read = await startRead(stack, {});
    const tenant = await createTenant(write.url, adminKey, 'fuzz');
    tenantId = tenant.id;
    key = tenant.keys.readWrite;
    const registered = await call(write.url, 'POST', '/services', {
      key,
      body: { name: 'fuzzed', hostname: 'host' },
    });
    assert.equal(registered.status, 201);
    serviceId = String(registered.body.id);
  });

  after(async () => {
    console.log(`bad input: ${inputsTried} inputs tried`);
    await read.stop();
    await write.stop();
    await writeDb.end();
    await stack.release();
  });

  const rowCounts = async () => {
    const counts: Record<string, number> = {};
    for (const table of WRITE_TABLES) {
      const { rows } = await writeDb.query<{ n: string }>(`select count(*) as n from ${table}`);
      counts[table] = Number(rows[0]?.n);
    }
    return counts;
  };

  describe('property: an invalid payload of any write schema is refused by name and changes nothing', () => {
    const now = () => new Date().toISOString();
    const sample = () => ({
      service_id: serviceId,
      observed_at: now(),
      cpu_usage: 10,
      memory_usage: 20,
      disk_usage: 30,
      load_avg: 0.5,
      network_rx_bytes: 1,
      network_tx_bytes: 2,
      gpu_usage: 5,
    });
    const processSample = (pid: number) => ({ process_name: 'node', pid, cpu_usage: 150, memory_usage: 3 });

    // Invalid values by kind of field. JSON has no NaN or Infinity: those travel as null or 1e999.
    const notNumber = fc.oneof(
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constant([]),
      fc.constant({}),
    );
    // -0 is below 0 for fast-check but serialises as 0, a valid value.
    const below = (max: number) =>
      fc.double({ max, maxExcluded: true, noNaN: true }).filter((v) => !Object.is(v, -0));
    const outside = (min: number, max: number) =>
      fc.oneof(below(min), fc.double({ min: max, minExcluded: true, noNaN: true }));
    const kinds = {
      percent: fc.oneof(notNumber, outside(0, 100)),
      nonNegative: fc.oneof(notNumber, below(0)),
      counter: fc.oneof(
        notNumber,
        fc.integer({ max: -1 }),
        fc.double({ min: 0.001, max: 1e6, noInteger: true }),
        fc.constant(2 ** 53),
      ),
      pid: fc.oneof(notNumber, fc.integer({ max: -1 }), fc.constant(2 ** 31), fc.constant(1.5)),
      processCpu: fc.oneof(notNumber, outside(0, 100 * 1024)),
      uuid: fc.oneof(
        fc.string().filter((s) => !/^[0-9a-f-]{36}$/i.test(s)),
        fc.integer(),
        fc.constant(null),
      ),
      time: fc.oneof(
        fc.string(),
        fc.constant('2026-01-01T00:00:00'), // no offset
        fc.constant('2000-01-01T00:00:00Z'), // before retention
        fc.constant('2999-01-01T00:00:00Z'), // the future
        fc.integer(),
      ),
      label: fc.oneof(fc.constant(''), fc.string({ minLength: 201, maxLength: 400 }), fc.integer()),
      hostname: fc.oneof(fc.constant(''), fc.string({ minLength: 256, maxLength: 400 }), fc.boolean()),
      tenantName: fc.oneof(
        fc.constant(''),
        fc.string().map((s) => `${s} /'`),
        fc.integer(),
      ),
      scopes: fc.oneof(
        fc.constant([]),
        fc.constant(['root']),
        fc.constant('write'),
        fc.constant(['read', 'read', 'write', 'admin']),
      ),
      heartbeatSeconds: fc.oneof(
        notNumber,
        fc.integer({ max: 4 }),
        fc.integer({ min: 86_401 }),
        fc.constant(5.5),
      ),
      processName: fc.oneof(fc.constant(''), fc.string({ minLength: 257, maxLength: 300 }), fc.integer()),
    } as const;
    type Kind = keyof typeof kinds;
    const sampleFields: Record<string, Kind> = {
      service_id: 'uuid',
      observed_at: 'time',
      cpu_usage: 'percent',
      memory_usage: 'percent',
      disk_usage: 'percent',
      load_avg: 'nonNegative',
      network_rx_bytes: 'counter',
      network_tx_bytes: 'counter',
      gpu_usage: 'percent',
    };
    const required = (fields: Record<string, Kind>, optional: string[] = []) =>
      Object.keys(fields).filter((f) => !optional.includes(f));

    interface Schema {
      method: string;
      path: () => string;
      key: () => string;
      valid: () => Record<string, unknown>;
      /** Field path (as the problem names it) -> kind; `[i]` marks an array item. */
      fields: Record<string, Kind>;
      requiredFields: string[];
    }
    const processFields: Record<string, Kind> = {
      'processes[1].process_name': 'processName',
      'processes[1].pid': 'pid',
      'processes[1].cpu_usage': 'processCpu',
      'processes[1].memory_usage': 'percent',
    };
    const ruleFields: Record<string, Kind> = {
      cpu_usage_above: 'percent',
      memory_usage_above: 'percent',
      disk_usage_above: 'percent',
      heartbeat_missing_seconds: 'heartbeatSeconds',
    };
    const schemas: Record<string, Schema> = {
      'POST /services': {
        method: 'POST',
        path: () => '/services',
        key: () => key,
        valid: () => ({ name: 'n', hostname: 'h', os: 'linux', version: '1', labels: { a: 'b' } }),
        fields: { name: 'label', hostname: 'hostname', os: 'label', version: 'label' },
        requiredFields: ['name', 'hostname'],
      },
      'POST /services/{id}/heartbeats': {
        method: 'POST',
        path: () => `/services/${serviceId}/heartbeats`,
        key: () => key,
        valid: () => ({ observed_at: now() }),
        fields: { observed_at: 'time' },
        requiredFields: [],
      },
      'POST /metrics/system': {
        method: 'POST',
        path: () => '/metrics/system',
        key: () => key,
        valid: sample,
        fields: sampleFields,
        requiredFields: required(sampleFields, ['gpu_usage']),
      },
      'POST /metrics/system/batch': {
        method: 'POST',
        path: () => '/metrics/system/batch',
        key: () => key,
        valid: () => ({
          samples: [sample(), { ...sample(), observed_at: new Date(Date.now() - 1000).toISOString() }],
        }),
        fields: Object.fromEntries(Object.entries(sampleFields).map(([f, k]) => [`samples[1].${f}`, k])),
        requiredFields: required(sampleFields, ['gpu_usage']).map((f) => `samples[1].${f}`),
      },
      'POST /metrics/process': {
        method: 'POST',
        path: () => '/metrics/process',
        key: () => key,
        valid: () => ({
          service_id: serviceId,
          observed_at: now(),
          processes: [processSample(1), processSample(2)],
        }),
        fields: { service_id: 'uuid', observed_at: 'time', ...processFields },
        requiredFields: ['service_id', 'observed_at', 'processes', ...Object.keys(processFields)],
      },
      'POST /tenants': {
        method: 'POST',
        path: () => '/tenants',
        key: () => adminKey,
        valid: () => ({ name: `t-${randomBytes(4).toString('hex')}` }),
        fields: { name: 'tenantName' },
        requiredFields: ['name'],
      },
      'POST /tenants/{tenant_id}/api-keys': {
        method: 'POST',
        path: () => `/tenants/${tenantId}/api-keys`,
        key: () => adminKey,
        valid: () => ({ name: 'k', scopes: ['read'] }),
        fields: { name: 'label', scopes: 'scopes' },
        requiredFields: ['name', 'scopes'],
      },
      'PUT /tenants/{tenant_id}/alert-rules': {
        method: 'PUT',
        path: () => `/tenants/${tenantId}/alert-rules`,
        key: () => adminKey,
        valid: () => ({
          cpu_usage_above: 90,
          memory_usage_above: 90,
          disk_usage_above: 95,
          heartbeat_missing_seconds: 60,
        }),
        fields: ruleFields,
        requiredFields: Object.keys(ruleFields),
      },
    };

    /** Sets (or with `undefined` deletes) the value at a path such as `samples[1].cpu_usage`. */
    function mutate(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
      const keys = path.replace(/\[(\d+)\]/g, '.$1').split('.');
      let node = body;
      for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
      const last = keys.at(-1) ?? '';
      if (value === undefined) Reflect.deleteProperty(node, last);
      else node[last] = value;
      return body;
    }

    it('covers every write route with a body', async () => {
      const routes = await openApiRoutes(write.url);
      const withBody = routes.filter((r) => r.hasBody).map((r) => `${r.method} ${r.path}`);
      assert.deepEqual(
        withBody.sort(),
        Object.keys(schemas).sort(),
        'a new write route needs its schema here',
      );
    });

    for (const [name, schema] of Object.entries(schemas)) {
      it(name, async () => {
        const valid = await call(write.url, schema.method, schema.path(), {
          key: schema.key(),
          body: schema.valid(),
        });
        assert.ok(valid.status < 300, `the valid example is accepted: ${JSON.stringify(valid.body)}`);
        const mutation = fc.oneof(
          fc
            .constantFrom(...Object.keys(schema.fields))
            .chain((field) => kinds[schema.fields[field] as Kind].map((value) => ({ field, value }))),
          ...(schema.requiredFields.length > 0
            ? [fc.constantFrom(...schema.requiredFields).map((field) => ({ field, value: undefined }))]
            : []),
        );
        await fc.assert(
          fc.asyncProperty(mutation, async ({ field, value }) => {
            inputsTried++;
            const body = mutate(schema.valid(), field, value);
            const before = await rowCounts();
            const reply = await call(write.url, schema.method, schema.path(), { key: schema.key(), body });
            assert.ok([400, 422].includes(reply.status), `${reply.status} ${JSON.stringify(reply.body)}`);
            assert.match(reply.headers.get('content-type') ?? '', /^application\/problem\+json/);
            const fields = ((reply.body.errors ?? []) as { field: string }[]).map((e) => e.field);
            assert.ok(
              fields.some((f) => f === field || f.startsWith(`${field}.`) || f.startsWith(`${field}[`)),
              `the problem names ${field}: ${JSON.stringify(reply.body)}`,
            );
            const after = await rowCounts();
            assert.deepEqual(
              after,
              before,
              `a refused request changed rows: ${JSON.stringify({ before, after })}`,
            );
          }),
          { numRuns: PROPERTY_RUNS },
        );
      });
    }
  });

  describe('fuzz: no input makes any endpoint fail', () => {
    const sqlLike = fc.constantFrom(
      `'; drop table services; -- ${MARKER}`,
      `${MARKER}' or '1'='1`,
      `${MARKER}"); select pg_sleep(10); --`,
      `${MARKER}\\'; delete from api_keys; --`,
      `${MARKER} $1 $$ $body$ ; commit;`,
    );
    const anyString = fc.oneof(
      sqlLike,
      fc.string({ unit: 'grapheme' }).map((s) => `${MARKER}${s}`),
    );
    const anyValue = fc.oneof(
      anyString,
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 3 }),
    );

    /** Raw request bodies with their content type: what no JSON client would send. */
    const rawBodies = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }).map((b) => ({ type: 'application/json', body: Buffer.from(b) })),
      fc.constantFrom(
        // Nested far beyond any schema; V8's parser recurses.
        { type: 'application/json', body: Buffer.from('['.repeat(200_000) + ']'.repeat(200_000)) },
        { type: 'application/json', body: Buffer.from(`${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`) },
        // Over the 4 MB body limit.
        { type: 'application/json', body: Buffer.from(`{"name":"${'x'.repeat(5 * 1024 * 1024)}"}`) },
        // Invalid UTF-8 inside a JSON string.
        {
          type: 'application/json',
          body: Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d]),
        },
        // A lone surrogate, escaped.
        { type: 'application/json', body: Buffer.from('{"name":"\\ud800","hostname":"\\udfff"}') },
        // NaN and Infinity: not JSON, and 1e999 parses to Infinity.
        { type: 'application/json', body: Buffer.from('{"cpu_usage": NaN, "memory_usage": Infinity}') },
        {
          type: 'application/json',
          body: Buffer.from('{"cpu_usage": 1e999, "load_avg": -1e999, "network_rx_bytes": 1e999}'),
        },
        { type: 'text/plain', body: Buffer.from('{"name":"a","hostname":"b"}') },
        { type: 'application/x-www-form-urlencoded', body: Buffer.from('name=a&hostname=b') },
        { type: 'multipart/form-data; boundary=x', body: Buffer.from('--x\r\n\r\nname\r\n--x--') },
        { type: 'application/json; charset=latin1', body: Buffer.from('{"name":"\xe9"}', 'latin1') },
        { type: 'application/xml', body: Buffer.from('<a>1</a>') },
        { type: '', body: Buffer.from('{}') },
      ),
      fc
        .dictionary(
          fc.constantFrom(
            'name',
            'hostname',
            'service_id',
            'observed_at',
            'samples',
            'processes',
            'labels',
            'cpu_usage',
            'scopes',
          ),
          anyValue,
        )
        .map((o) => ({ type: 'application/json', body: Buffer.from(JSON.stringify(o)) })),
    );
    const pathValue = fc.oneof(
      fc.constant(() => serviceId),
      fc.constant(() => tenantId),
      anyString.map((s) => () => s),
      fc.uuid().map((s) => () => s),
    );
    const queryNames = [
      'from',
      'to',
      'limit',
      'cursor',
      'label',
      'health',
      'state',
      'service',
      'severity',
      'sort',
    ];
    const query = fc.dictionary(
      fc.constantFrom(...queryNames),
      fc.oneof(anyString, fc.integer().map(String)),
      { maxKeys: 4 },
    );
    const headerValue = fc.oneof(anyString, fc.string()).map((s) => s.replace(/[^\x20-\x7e]/g, '?'));

    /** Failing answers by route and status, with one input that caused each. */
    const failures = new Map<string, string>();
    const seed = Number(process.env.PULSE_FUZZ_SEED ?? Date.now() % 2 ** 31);

    async function fuzz(route: ApiRoute, base: string): Promise<number> {
      const requests = fc.sample(
        fc.record({
          params: fc.array(pathValue, { minLength: 3, maxLength: 3 }),
          query,
          raw: rawBodies,
          minPosition: fc.option(headerValue),
          idempotencyKey: fc.option(headerValue),
        }),
        { numRuns: FUZZ_RUNS, seed },
      );
      for (const { params, query, raw, minPosition, idempotencyKey } of requests) {
        let i = 0;
        const path = route.path.replace(/\{[^}]+\}/g, () =>
          encodeURIComponent((params[i++] ?? (() => ''))()),
        );
        const search = new URLSearchParams(query).toString();
        const headers: Record<string, string> = { 'X-API-Key': route.scope === 'admin' ? adminKey : key };
        if (raw.type) headers['Content-Type'] = raw.type;
        if (minPosition !== null) headers['X-Pulse-Min-Position'] = minPosition;
        if (idempotencyKey !== null) headers['Idempotency-Key'] = idempotencyKey;
        const target = `${base}${API_PREFIX}${path}${search ? `?${search}` : ''}`;
        const response = await fetch(target, {
          method: route.method,
          headers,
          ...(route.method === 'GET' ? {} : { body: raw.body }),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await response.text();
        if (response.status >= 500)
          failures.set(
            `${route.method} ${route.path} ${response.status}`,
            `${target} ${raw.type} ${raw.body.subarray(0, 120).toString('latin1')}: ${text.slice(0, 200)}`,
          );
      }
      return requests.length;
    }

    it('write and read: every endpoint, random and hostile input, no 5xx, processes up, memory bounded', async () => {
      let tried = 0;
      const peak = { write: 0, read: 0 };
      for (const service of [write, read]) {
        const routes = await openApiRoutes(service.url);
        assert.ok(routes.length > 0);
        for (const route of routes) {
          tried += await fuzz(route, service.url);
          for (const [name, s] of [
            ['write', write],
            ['read', read],
          ] as const)
            peak[name] = Math.max(peak[name], rssMegabytes(s.process.pid));
        }
        for (const path of ['/livez', '/readyz', '/metrics', '/openapi.json'])
          assert.equal((await fetch(`${service.url}${path}`)).status, 200, `${path} still answers`);
        assert.equal(service.process.exit, undefined, 'the process is still up');
      }
      inputsTried += tried;
      console.log(
        `fuzz: ${tried} inputs (seed ${seed}), peak RSS write ${peak.write} MB, read ${peak.read} MB`,
      );
      assert.deepEqual(Object.fromEntries(failures), {}, 'inputs answered with a 5xx');
      assert.ok(peak.write < RSS_LIMIT_MB && peak.read < RSS_LIMIT_MB, JSON.stringify(peak));
    });

    it('SQL-like strings in valid commands are stored verbatim', async () => {
      const name = `x'; drop table services; -- ${MARKER}`;
      const labels = { [`k'${MARKER}`]: `v"); delete from outbox; --` };
      const reply = await call(write.url, 'POST', '/services', {
        key,
        body: { name, hostname: `${MARKER}$$`, labels },
      });
      assert.equal(reply.status, 201, JSON.stringify(reply.body));
      const { rows } = await writeDb.query<{ name: string; hostname: string; labels: unknown }>(
        'select name, hostname, labels from services where id = $1',
        [reply.body.id],
      );
      assert.deepEqual(rows[0], { name, hostname: `${MARKER}$$`, labels });
      inputsTried++;
    });
  });

  it('user input reaches PostgreSQL only as bind parameters, never as SQL text', async () => {
    const log = join(stack.info.runDir, 'logs', 'postgres-primary.log');
    // Log lines start with the log_line_prefix timestamp; continuation lines belong to the entry before.
    const entries = await waitFor(
      'the marker in the statement log',
      () => {
        const all = readFileSync(log, 'utf8').split(/\n(?=\d{4}-\d\d-\d\d )/);
        const marked = all.filter((entry) => entry.includes(MARKER));
        return marked.length > 0 ? marked : undefined;
      },
      { timeoutMs: 10_000 },
    );
    const asText = entries.filter(
      (entry) =>
        !/ (DETAIL: {2}parameters: |ERROR: {2}|CONTEXT: {2})/.test(entry) || / STATEMENT: {2}/.test(entry),
    );
    assert.deepEqual(asText, [], 'no statement text carries user input');
    assert.ok(
      entries.some((entry) => entry.includes('DETAIL:  parameters: ')),
      'the marker was sent as parameters',
    );
    console.log(`SQL check: ${entries.length} log entries carry the marker, all as bind parameters`);
  });
});
