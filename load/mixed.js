// Mixed load: 90% reads (GET /dashboard, /services, /services/{id}/metrics/latest in turn) and 10%
// single-sample writes, at one arrival rate. Targets: the read target (p99 < 20 ms) and the write
// target (p99 < 25 ms) hold together.
// Scale: PULSE_MIXED_RATE (1000 req/s), PULSE_MIXED_SECONDS (120), PULSE_MIXED_SERVICES (100).
import exec from 'k6/execution';
import { check } from 'k6';
import {
  apiKey,
  get,
  num,
  post,
  postBatch,
  readUrl,
  registerServices,
  sample,
  summaryHandler,
  summaryTrendStats,
  waitForPosition,
  writeUrl,
} from './lib/pulse.js';

const rate = num('PULSE_MIXED_RATE', 1000);
const seconds = num('PULSE_MIXED_SECONDS', 120);
const serviceCount = num('PULSE_MIXED_SERVICES', 100);

export const options = {
  scenarios: {
    mixed: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: `${seconds}s`,
      preAllocatedVUs: Math.max(2, Math.ceil(rate / 100)),
      maxVUs: 400,
      gracefulStop: '2s',
    },
  },
  setupTimeout: '120s',
  summaryTrendStats,
  thresholds: {
    'http_req_duration{kind:read}': ['p(99)<20'],
    'http_req_duration{kind:write}': ['p(99)<25'],
    http_reqs: [`count>=${Math.floor(0.95 * rate * seconds)}`],
    http_req_failed: ['rate<0.001'],
  },
};

export function setup() {
  const key = apiKey('mixed');
  const services = registerServices(key, 'mixed', serviceCount);
  // One sample each first, so that every /metrics/latest has an answer.
  const now = Date.now();
  const first = postBatch(
    key,
    services.map((id, n) => sample(id, now - 1000, n)),
  );
  waitForPosition(key, services[0], first.response.json().position, 60);
  return { key, services };
}

const READS = [
  () => ({ path: '/api/v1/dashboard', name: 'dashboard' }),
  () => ({ path: '/api/v1/services?limit=50', name: 'services' }),
  (id) => ({ path: `/api/v1/services/${id}/metrics/latest`, name: 'latest' }),
];

export default function (data) {
  const i = exec.scenario.iterationInTest;
  const serviceId = data.services[i % data.services.length];
  if (i % 10 === 0) {
    const response = post(`${writeUrl}/api/v1/metrics/system`, data.key, sample(serviceId, Date.now(), i), {
      tags: { name: 'single', kind: 'write' },
    });
    check(response, { 'write: 202': (r) => r.status === 202 });
    return;
  }
  const read = READS[i % READS.length](serviceId);
  const response = get(`${readUrl}${read.path}`, data.key, { tags: { name: read.name, kind: 'read' } });
  check(response, { 'read: 200': (r) => r.status === 200 });
}

export const handleSummary = summaryHandler('mixed');
