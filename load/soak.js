// Soak: PULSE_SOAK_RATE samples/s for PULSE_SOAK_SECONDS (default 2,000 samples/s for 30 minutes),
// as batches of one sample per service, while /sync-status is sampled once a second.
// Targets: the pipeline keeps up (lag stays under PULSE_SOAK_MAX_LAG_SECONDS, the rate is held,
// nothing fails). Memory and "nothing lost" need the processes and the databases: the bench
// driver samples the services' RSS during the run and runs `pulse-replicator verify` afterwards.
// Scale: PULSE_SOAK_RATE (2000), PULSE_SOAK_SECONDS (1800), PULSE_SOAK_BATCH (100 = services),
// PULSE_SOAK_MAX_LAG_SECONDS (5).
import exec from 'k6/execution';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import {
  apiKey,
  num,
  postBatch,
  registerServices,
  sample,
  summaryHandler,
  summaryTrendStats,
  syncStatus,
} from './lib/pulse.js';

const rate = num('PULSE_SOAK_RATE', 2000);
const seconds = num('PULSE_SOAK_SECONDS', 1800);
const batchSize = num('PULSE_SOAK_BATCH', 100);
const maxLag = num('PULSE_SOAK_MAX_LAG_SECONDS', 5);
const batchesPerSecond = Math.max(1, Math.round(rate / batchSize));

const lagSeconds = new Trend('pipeline_lag_seconds');
const backlogEvents = new Trend('pipeline_backlog_events');

export const options = {
  scenarios: {
    ingest: {
      executor: 'constant-arrival-rate',
      exec: 'ingest',
      rate: batchesPerSecond,
      timeUnit: '1s',
      duration: `${seconds}s`,
      preAllocatedVUs: 4,
      maxVUs: 50,
      gracefulStop: '5s',
    },
    lag: {
      executor: 'constant-arrival-rate',
      exec: 'lag',
      rate: 1,
      timeUnit: '1s',
      duration: `${seconds}s`,
      preAllocatedVUs: 2,
      maxVUs: 4,
      gracefulStop: '5s',
    },
  },
  setupTimeout: '120s',
  summaryTrendStats,
  thresholds: {
    pipeline_lag_seconds: [`max<${maxLag}`],
    'http_reqs{scenario:ingest}': [`count>=${Math.floor(0.99 * batchesPerSecond * seconds)}`],
    http_req_failed: ['rate<0.001'],
  },
};

export function setup() {
  const key = apiKey('soak');
  return { key, services: registerServices(key, 'soak', batchSize), startMs: Date.now() };
}

// Batch i is observed at start + i / rate: unique per service, and never ahead of the clock by
// more than the arrival schedule.
export function ingest(data) {
  const i = exec.scenario.iterationInTest;
  const observedMs = data.startMs + Math.floor((i * 1000) / batchesPerSecond);
  postBatch(
    data.key,
    data.services.map((id, n) => sample(id, observedMs, i + n)),
  );
}

export function lag(data) {
  const stages = syncStatus(data.key);
  if (!check(stages, { 'sync-status answers': (s) => s !== undefined })) return;
  lagSeconds.add((stages.relay.lag_seconds || 0) + (stages.projection.lag_seconds || 0));
  backlogEvents.add((stages.relay.backlog || 0) + (stages.projection.backlog || 0));
}

export const handleSummary = summaryHandler('soak');
