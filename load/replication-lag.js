// Replication lag: background ingest at PULSE_LAG_RATE samples/s (batches of one sample per
// service, so one event per sample), and probes that write a sample and then read it back:
//   - with the position token (X-Pulse-Min-Position): the read must return it (read-your-writes);
//   - without it: whether the first read is stale, then polling every 5 ms until it is visible.
// commit_to_visible_ms runs from the write's answer to the answer of the first read that shows the
// sample: it includes up to one poll interval and one read round trip (an upper bound).
// Targets (replicator issue): commit-to-visible p50 < 15 ms and p99 < 50 ms at 1,000 samples/s.
// Scale: PULSE_LAG_RATE (1000 samples/s), PULSE_LAG_SECONDS (120), PULSE_LAG_BATCH (50),
// PULSE_PROBE_RATE (10 probes/s).
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';
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
  writeUrl,
} from './lib/pulse.js';

const rate = num('PULSE_LAG_RATE', 1000);
const seconds = num('PULSE_LAG_SECONDS', 120);
const batchSize = num('PULSE_LAG_BATCH', 50);
const probeRate = num('PULSE_PROBE_RATE', 10);
const PROBE_SERVICES = 20;
const POLL_SECONDS = 0.005;
const MAX_POLLS = 2000;

const commitToVisible = new Trend('commit_to_visible_ms', true);
const rywRead = new Trend('ryw_read_ms', true);
const rywCorrect = new Rate('ryw_correct');
const staleWithoutToken = new Rate('stale_without_token');
const samplesAccepted = new Counter('samples_accepted');

export const options = {
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      exec: 'load',
      rate: Math.max(1, Math.round(rate / batchSize)),
      timeUnit: '1s',
      duration: `${seconds}s`,
      preAllocatedVUs: 4,
      maxVUs: 50,
      gracefulStop: '2s',
    },
    probe: {
      executor: 'constant-arrival-rate',
      exec: 'probe',
      rate: probeRate,
      timeUnit: '1s',
      duration: `${seconds}s`,
      preAllocatedVUs: 4,
      maxVUs: 50,
      gracefulStop: '15s',
    },
  },
  setupTimeout: '120s',
  summaryTrendStats,
  thresholds: {
    commit_to_visible_ms: ['p(50)<15', 'p(99)<50'],
    ryw_correct: ['rate==1'],
    'http_reqs{scenario:load}': [`count>=${Math.floor(0.95 * Math.round(rate / batchSize) * seconds)}`],
    http_req_failed: ['rate<0.001'],
  },
};

export function setup() {
  const key = apiKey('replication-lag');
  return {
    key,
    load: registerServices(key, 'lag-load', batchSize * 4),
    probes: registerServices(key, 'lag-probe', PROBE_SERVICES),
  };
}

export function load(data) {
  const i = exec.scenario.iterationInTest;
  const now = Date.now();
  const samples = [];
  for (let s = 0; s < batchSize; s++) {
    samples.push(sample(data.load[(i * batchSize + s) % data.load.length], now, i + s));
  }
  samplesAccepted.add(postBatch(data.key, samples, { name: 'load' }).accepted);
}

function latest(data, serviceId, extraHeaders, name) {
  return get(`${readUrl}/api/v1/services/${serviceId}/metrics/latest`, data.key, {
    headers: extraHeaders,
    tags: { name },
    timeout: '10s',
  });
}

/** Whether the answer shows the sample observed at `observedMs` (or a newer one: same partition, in order). */
function shows(response, observedMs) {
  return response.status === 200 && Date.parse(response.json().observed_at) >= observedMs;
}

function write(data, serviceId, observedMs, i) {
  const response = post(`${writeUrl}/api/v1/metrics/system`, data.key, sample(serviceId, observedMs, i), {
    tags: { name: 'probe-write' },
  });
  check(response, { 'probe write: 202': (r) => r.status === 202 });
  return response;
}

export function probe(data) {
  const i = exec.scenario.iterationInTest;
  const serviceId = data.probes[i % data.probes.length];
  const base = Date.now();

  const first = write(data, serviceId, base, i);
  const withToken = latest(
    data,
    serviceId,
    { 'x-pulse-min-position': first.json().position },
    'read-with-token',
  );
  rywRead.add(withToken.timings.duration);
  rywCorrect.add(shows(withToken, base));

  write(data, serviceId, base + 1, i);
  const committed = Date.now();
  for (let poll = 0; poll < MAX_POLLS; poll++) {
    // no-cache: past the read service's shared answers, which would add up to their TTL.
    const visible = shows(
      latest(
        data,
        serviceId,
        { 'cache-control': 'no-cache' },
        poll === 0 ? 'read-without-token' : 'poll-visible',
      ),
      base + 1,
    );
    if (poll === 0) staleWithoutToken.add(!visible);
    if (visible) {
      commitToVisible.add(Date.now() - committed);
      return;
    }
    sleep(POLL_SECONDS);
  }
  check(null, { 'visible within the poll bound': () => false });
}

export const handleSummary = summaryHandler('replication-lag');
