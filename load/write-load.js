// Write load: single-sample POSTs at stepped rates (default 50, 200, 1,000 req/s), then batch
// ingest by a few closed-loop VUs sending full batches back to back (the highest rate it holds).
// Targets (write service issue): single-sample p99 < 25 ms at 1,000 req/s; batch ingest of at
// least 20,000 samples/s committed.
//   k6 run -e PULSE_WRITE_URL=... -e PULSE_READ_URL=... -e PULSE_API_KEY=... load/write-load.js
// After the batch phase, teardown waits (bounded) until /sync-status shows nothing unpublished or
// unprojected and records that time as batch_catch_up_seconds: the batch phase's samples over its
// length plus that time is the sustained end-to-end projection rate (replicator issue: at least
// 20,000 samples/s).
// Scale: PULSE_WRITE_RATES (50,200,1000), PULSE_STEP_SECONDS (60), PULSE_BATCH_SECONDS (60),
// PULSE_BATCH_VUS (4), PULSE_BATCH_SIZE (5000), PULSE_BATCH_SPREAD (services per batch, 10),
// PULSE_WRITE_SERVICES (100), PULSE_CATCH_UP_TIMEOUT_SECONDS (300).
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import {
  apiKey,
  markTopStepStart,
  num,
  numList,
  pipelineBacklog,
  post,
  postBatch,
  rateSteps,
  rateStepsSeconds,
  registerServices,
  sample,
  summaryHandler,
  summaryTrendStats,
  writeUrl,
} from './lib/pulse.js';
import { check, fail, sleep } from 'k6';

const rates = numList('PULSE_WRITE_RATES', [50, 200, 1000]);
const stepSeconds = num('PULSE_STEP_SECONDS', 60);
const batchSeconds = num('PULSE_BATCH_SECONDS', 60);
const batchVUs = num('PULSE_BATCH_VUS', 4);
const batchSize = num('PULSE_BATCH_SIZE', 5000);
const spread = num('PULSE_BATCH_SPREAD', 10);
const serviceCount = Math.max(num('PULSE_WRITE_SERVICES', 100), spread);
const topRate = Math.max(...rates);
const singleSeconds = rateStepsSeconds(rates, stepSeconds);

const catchUpTimeout = num('PULSE_CATCH_UP_TIMEOUT_SECONDS', 300);

const samplesAccepted = new Counter('samples_accepted');
const catchUpSeconds = new Trend('batch_catch_up_seconds');

export const options = {
  scenarios: Object.assign(rateSteps('single', rates, stepSeconds, 'single', 400), {
    batch: {
      executor: 'constant-vus',
      exec: 'batch',
      vus: batchVUs,
      duration: `${batchSeconds}s`,
      startTime: `${singleSeconds}s`,
      gracefulStop: '0s',
    },
  }),
  setupTimeout: '120s',
  teardownTimeout: `${catchUpTimeout + 30}s`,
  summaryTrendStats,
  thresholds: {
    [`http_req_duration{scenario:single_${topRate}}`]: ['p(99)<25'],
    // The top step held its rate: at most 5% of its arrivals were dropped or lost.
    [`http_reqs{scenario:single_${topRate}}`]: [`count>=${Math.floor(0.95 * topRate * stepSeconds)}`],
    [`samples_accepted{scenario:batch}`]: [`count>=${20000 * batchSeconds}`],
    http_req_failed: ['rate<0.001'],
  },
};

export function setup() {
  const key = apiKey('write-load');
  const services = registerServices(key, 'write-load', serviceCount);
  markTopStepStart(rates, stepSeconds);
  return { key, services, startMs: Date.now() };
}

export function single(data) {
  const i = exec.scenario.iterationInTest;
  const response = post(
    `${writeUrl}/api/v1/metrics/system`,
    data.key,
    sample(data.services[i % data.services.length], Date.now(), i),
    // Only the status is checked: k6 keeps no body, which spares the CPU it shares with the stack.
    { tags: { name: 'single' }, responseType: 'none' },
  );
  check(response, { 'single: 202': (r) => r.status === 202 });
}

// Every batch has its own time range, going back from the start: no sample repeats another.
export function batch(data) {
  const i = exec.scenario.iterationInTest;
  const perService = Math.floor(batchSize / spread);
  const samples = [];
  for (let s = 0; s < spread; s++) {
    const serviceId = data.services[(i * spread + s) % data.services.length];
    for (let j = 0; j < perService; j++) {
      samples.push(sample(serviceId, data.startMs - 1 - (i * perService + j), j));
    }
  }
  samplesAccepted.add(postBatch(data.key, samples).accepted);
}

export function teardown(data) {
  const ended = Date.now();
  const deadline = ended + catchUpTimeout * 1000;
  while (Date.now() < deadline) {
    if (pipelineBacklog(data.key) === 0) {
      catchUpSeconds.add((Date.now() - ended) / 1000);
      return;
    }
    sleep(0.1);
  }
  fail(`the projection did not catch up within ${catchUpTimeout} s of the batch phase`);
}

export const handleSummary = summaryHandler('write-load');
