// Smoke: one tenant, one service, one sample written and read back through the read API with its
// position token (read-your-writes). Bounded in time; any failed check or request fails the run,
// so `k6 run` exits non-zero. Used by `helm test` and runnable against `make up`:
//   k6 run -e PULSE_WRITE_URL=... -e PULSE_READ_URL=... -e PULSE_ADMIN_KEY=... load/smoke.js
// With PULSE_API_KEY (write and read scopes) no tenant is created.
import http from 'k6/http';
import { check, fail } from 'k6';

const writeUrl = baseUrl('PULSE_WRITE_URL');
const readUrl = baseUrl('PULSE_READ_URL');

export const options = {
  scenarios: {
    smoke: { executor: 'shared-iterations', vus: 1, iterations: 1, maxDuration: '60s' },
  },
  setupTimeout: '30s',
  thresholds: {
    checks: ['rate==1'],
    http_req_failed: ['rate==0'],
    'http_req_duration{name:read-your-write}': ['max<30000'],
  },
};

function baseUrl(name) {
  return (__ENV[name] || '').replace(/\/+$/, '');
}

function post(url, key, body) {
  return http.post(url, JSON.stringify(body), {
    headers: { 'content-type': 'application/json', 'x-api-key': key },
  });
}

function json(response, what) {
  if (!check(response, { [`${what}: 2xx`]: (r) => r.status >= 200 && r.status < 300 })) {
    fail(`${what}: HTTP ${response.status} ${response.body}`);
  }
  return response.json();
}

export function setup() {
  if (!writeUrl || !readUrl) fail('set PULSE_WRITE_URL and PULSE_READ_URL');
  if (__ENV.PULSE_API_KEY) return { key: __ENV.PULSE_API_KEY };
  const admin = __ENV.PULSE_ADMIN_KEY || fail('set PULSE_API_KEY, or PULSE_ADMIN_KEY to create a tenant');
  const tenant = json(
    post(`${writeUrl}/api/v1/tenants`, admin, { name: `k6-smoke-${Date.now()}` }),
    'create tenant',
  );
  const created = json(
    post(`${writeUrl}/api/v1/tenants/${tenant.id}/api-keys`, admin, {
      name: 'k6-smoke',
      scopes: ['write', 'read'],
    }),
    'create api key',
  );
  return { key: created.key };
}

export default function (data) {
  const service = json(
    post(`${writeUrl}/api/v1/services`, data.key, { name: 'k6-smoke', hostname: `k6-${__VU}-${Date.now()}` }),
    'register service',
  );
  const sample = {
    service_id: service.id,
    observed_at: new Date().toISOString(),
    cpu_usage: 42.5,
    memory_usage: 61.25,
    disk_usage: 70,
    load_avg: 1.5,
    network_rx_bytes: 1024,
    network_tx_bytes: 2048,
  };
  const written = json(post(`${writeUrl}/api/v1/metrics/system`, data.key, sample), 'write sample');
  check(written, {
    'write answers a position': (body) => typeof body.position === 'string' && body.position !== '',
  });

  const latest = http.get(`${readUrl}/api/v1/services/${service.id}/metrics/latest`, {
    headers: { 'x-api-key': data.key, 'x-pulse-min-position': written.position },
    tags: { name: 'read-your-write' },
    timeout: '30s',
  });
  const body = json(latest, 'read latest');
  check(body, {
    'read returns the written sample': (b) =>
      b.service_id === service.id &&
      Date.parse(b.observed_at) === Date.parse(sample.observed_at) &&
      b.cpu_usage === sample.cpu_usage &&
      b.memory_usage === sample.memory_usage,
  });
}
