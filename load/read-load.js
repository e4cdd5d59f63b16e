// Read load: GET /services and GET /dashboard (alternating) at stepped rates (default 200, 1,000,
// 5,000 req/s), then 24 h raw-history reads of one service at a steady rate for one step: on their
// own, so that their latency is the replica's, not the queue behind an overloaded dashboard step.
// Targets (read service issue): with 1,000 services and 30 days of hourly data, /services and
// /dashboard at 5,000 req/s with p99 < 20 ms; a 24 h raw-history read p99 < 50 ms from the replica.
// Setup writes that data through the write API (hourly samples; one sample a minute for the last
// 24 h of the first PULSE_RAW_SERVICES services) and waits until the projection has applied it.
// The write service must keep PULSE_READ_DAYS of history (PULSE_RETENTION_DAYS >= days + 1).
// Scale: PULSE_READ_RATES (200,1000,5000), PULSE_STEP_SECONDS (60), PULSE_READ_SERVICES (1000),
// PULSE_READ_DAYS (30), PULSE_RAW_SERVICES (10), PULSE_RAW_RATE (20 req/s).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Rate } from 'k6/metrics';
import {
  apiKey,
  markTopStepStart,
  get,
  headers,
  must,
  num,
  numList,
  rateSteps,
  rateStepsSeconds,
  readUrl,
  registerServices,
  sample,
  summaryHandler,
  summaryTrendStats,
  waitForPosition,
  writeUrl,
} from './lib/pulse.js';

const rates = numList('PULSE_READ_RATES', [200, 1000, 5000]);
const stepSeconds = num('PULSE_STEP_SECONDS', 60);
const serviceCount = num('PULSE_READ_SERVICES', 1000);
const days = num('PULSE_READ_DAYS', 30);
const rawServices = Math.min(num('PULSE_RAW_SERVICES', 10), serviceCount);
const rawRate = num('PULSE_RAW_RATE', 20);
const topRate = Math.max(...rates);
const BATCH = 5000;
const HOUR = 3600_000;

const rawFromReplica = new Rate('raw_from_replica');

export const options = {
  scenarios: Object.assign(rateSteps('read', rates, stepSeconds, 'dashboards', 600), {
    raw: {
      executor: 'constant-arrival-rate',
      exec: 'rawHistory',
      rate: rawRate,
      timeUnit: '1s',
      startTime: `${rateStepsSeconds(rates, stepSeconds)}s`,
      duration: `${stepSeconds}s`,
      preAllocatedVUs: 10,
      maxVUs: 50,
      gracefulStop: '2s',
    },
  }),
  setupTimeout: '900s',
  summaryTrendStats,
  thresholds: {
    [`http_req_duration{scenario:read_${topRate}}`]: ['p(99)<20'],
    [`http_reqs{scenario:read_${topRate}}`]: [`count>=${Math.floor(0.95 * topRate * stepSeconds)}`],
    'http_req_duration{name:raw-history}': ['p(99)<50'],
    raw_from_replica: ['rate>0.99'],
    'http_req_failed{scenario:raw}': ['rate<0.001'],
  },
};

/** Every sample of the data set, in batches of at most BATCH, posted 4 at a time. */
function seed(key, services, nowMs) {
  const firstHour = Math.floor(nowMs / HOUR) * HOUR - days * 24 * HOUR;
  const batches = [];
  let current = [];
  const add = (s) => {
    current.push(s);
    if (current.length === BATCH) {
      batches.push(current);
      current = [];
    }
  };
  services.forEach((id, n) => {
    // Hourly samples at hh:30:07, for `days` days up to the last full hour.
    for (let h = 0; h < days * 24; h++) add(sample(id, firstHour + h * HOUR + 1_807_000, n + h));
    // One a minute (at ss = 15) for the last 24 h, for the raw-history services.
    if (n < rawServices) {
      const lastMinute = Math.floor(nowMs / 60_000) * 60_000 - 60_000 + 15_000;
      for (let m = 0; m < 1440; m++) add(sample(id, lastMinute - m * 60_000, m));
    }
  });
  if (current.length) batches.push(current);
  const positions = [];
  for (let b = 0; b < batches.length; b += 4) {
    const requests = batches
      .slice(b, b + 4)
      .map((samples) => [
        'POST',
        `${writeUrl}/api/v1/metrics/system/batch`,
        JSON.stringify({ samples }),
        { headers: headers(key), tags: { name: 'seed' }, timeout: '120s' },
      ]);
    for (const response of http.batch(requests)) positions.push(must(response, 'seed batch').position);
  }
  for (const position of positions) waitForPosition(key, services[0], position, 300);
}

const ACCEPT_GZIP = { 'accept-encoding': 'gzip' };

export function setup() {
  const key = apiKey('read-load');
  const services = registerServices(key, 'read-load', serviceCount);
  seed(key, services, Date.now());
  markTopStepStart(rates, stepSeconds);
  return { key, rawServices: services.slice(0, rawServices) };
}

// Every read asks for gzip, as browsers and Grafana do. The dashboards' bodies (~17 kB on average
// as JSON) are received in full but neither decompressed nor kept: the checks read only the status,
// and k6 shares the 2 cores with the service it measures. Raw history is decompressed and checked.
export function dashboards(data) {
  const dashboard = exec.scenario.iterationInTest % 2 === 0;
  const response = get(
    dashboard ? `${readUrl}/api/v1/dashboard` : `${readUrl}/api/v1/services?limit=50`,
    data.key,
    { tags: { name: dashboard ? 'dashboard' : 'services' }, headers: ACCEPT_GZIP, responseType: 'none' },
  );
  check(response, { 'read: 200': (r) => r.status === 200 });
}

export function rawHistory(data) {
  const serviceId = data.rawServices[exec.scenario.iterationInTest % data.rawServices.length];
  const to = new Date();
  const from = new Date(to.getTime() - 24 * HOUR);
  const response = get(
    `${readUrl}/api/v1/services/${serviceId}/metrics/raw?from=${from.toISOString()}&to=${to.toISOString()}&limit=10000`,
    data.key,
    { tags: { name: 'raw-history' }, headers: ACCEPT_GZIP },
  );
  check(response, {
    'raw: 200': (r) => r.status === 200,
    'raw: a day of samples': (r) => r.status === 200 && r.json().samples.length >= 1439,
  });
  rawFromReplica.add(response.headers['X-Pulse-Served-By'] === 'replica');
}

export const handleSummary = summaryHandler('read-load');
