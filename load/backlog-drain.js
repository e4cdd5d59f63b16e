// Backlog drain: write PULSE_BACKLOG_SAMPLES samples while the replicator is stopped, start it, and
// time how fast the backlog (unpublished outbox rows + events in Kafka not yet projected, from
// /sync-status) goes to zero. Every batch carries one sample per service, so one event is one
// sample and the drain rate in events/s is also in samples/s.
// Target (replicator issue): a backlog of 1,000,000 events drained at >= 20,000 events/s.
// PULSE_BACKLOG_PHASE:
//   fill   write the samples and stop (the bench driver stops the replicator before, starts it after);
//   drain  wait for the backlog to drain and time it (run right after starting the replicator);
//   all    (default, e.g. a Job in the cluster where nothing is stopped) fill, then drain in teardown.
// The backlog is polled every PULSE_DRAIN_POLL_SECONDS (1): /sync-status counts the unpublished
// outbox rows, which costs the write primary time in proportion to the backlog, so polling much
// faster slows the drain it measures (polled 20 times a second, the relay alone drained 1,000,000
// events at 5,507/s; timed from its own counter instead, at 10,730/s: 2026-11-22 hand measurements).
// drain_events_per_s counts from the last poll before the backlog first shrank (so the
// replicator's start-up is excluded and the rate is a lower bound); drain_wall_seconds from the
// start of the drain phase.
// PULSE_DRAIN_STAGES: the /sync-status stages whose backlog is timed, `relay,projection` (default: the
// whole way from the outbox), `relay` (outbox to Kafka) or `projection` (Kafka to the projection).
// PULSE_BACKLOG_PREFIX (backlog): the name prefix of the services the fill registers; a second fill
// in the same tenant needs another one, because a service's sample at an instant is stored once.
// Scale: PULSE_BACKLOG_SAMPLES (1000000), PULSE_BACKLOG_BATCH (1000 = services), PULSE_BACKLOG_VUS (4),
// PULSE_DRAIN_TIMEOUT_SECONDS (600).
import exec from 'k6/execution';
import { fail, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';
import {
  apiKey,
  num,
  pipelineBacklog,
  postBatch,
  registerServices,
  sample,
  summaryHandler,
  summaryTrendStats,
} from './lib/pulse.js';

const phase = __ENV.PULSE_BACKLOG_PHASE || 'all';
if (!['fill', 'drain', 'all'].includes(phase))
  fail(`PULSE_BACKLOG_PHASE must be fill, drain or all, got "${phase}"`);
const total = num('PULSE_BACKLOG_SAMPLES', 1_000_000);
const batchSize = num('PULSE_BACKLOG_BATCH', 1000);
const vus = num('PULSE_BACKLOG_VUS', 4);
const drainTimeout = num('PULSE_DRAIN_TIMEOUT_SECONDS', 600);
const pollSeconds = num('PULSE_DRAIN_POLL_SECONDS', 1);
const iterations = Math.ceil(total / batchSize);
const prefix = __ENV.PULSE_BACKLOG_PREFIX || 'backlog';
const stages = (__ENV.PULSE_DRAIN_STAGES || 'relay,projection').split(',');
if (stages.length === 0 || !stages.every((stage) => ['relay', 'projection'].includes(stage)))
  fail(`PULSE_DRAIN_STAGES must list relay and/or projection, got "${__ENV.PULSE_DRAIN_STAGES}"`);

const samplesAccepted = new Counter('samples_accepted');
const drainEventsPerS = new Trend('drain_events_per_s');
const drainSeconds = new Trend('drain_seconds');
const drainWallSeconds = new Trend('drain_wall_seconds');

const fillScenario = {
  executor: 'shared-iterations',
  exec: 'fill',
  vus,
  iterations,
  // Generous: at 500 samples/s it would still finish.
  maxDuration: `${Math.ceil(total / 500) + 60}s`,
};
const drainScenario = {
  executor: 'shared-iterations',
  exec: 'drainPhase',
  vus: 1,
  iterations: 1,
  maxDuration: `${drainTimeout + 30}s`,
};

const fillThresholds = {
  samples_accepted: [`count>=${iterations * batchSize}`],
  'http_req_failed{name:batch}': ['rate==0'],
};
const drainThresholds = { drain_events_per_s: ['min>=20000'] };

export const options = {
  scenarios: phase === 'drain' ? { drain: drainScenario } : { fill: fillScenario },
  setupTimeout: '120s',
  teardownTimeout: `${drainTimeout + 30}s`,
  summaryTrendStats,
  thresholds: Object.assign(
    {},
    phase === 'drain' ? {} : fillThresholds,
    phase === 'fill' ? {} : drainThresholds,
  ),
};

export function setup() {
  const key = apiKey('backlog-drain');
  if (phase === 'drain') return { key };
  return { key, services: registerServices(key, prefix, batchSize), startMs: Date.now() };
}

// Batch i holds every service's sample at start - i seconds: no sample repeats another.
export function fill(data) {
  const i = exec.scenario.iterationInTest;
  const observedMs = data.startMs - 1000 * (i + 1);
  const samples = data.services.map((id, n) => sample(id, observedMs, i + n));
  samplesAccepted.add(postBatch(data.key, samples).accepted);
}

function drain(key) {
  const started = Date.now();
  const deadline = started + drainTimeout * 1000;
  let initial;
  let lastIdle = started;
  for (let poll = 0; Date.now() < deadline && poll * pollSeconds <= drainTimeout; poll++) {
    const remaining = pipelineBacklog(key, stages);
    const now = Date.now();
    if (remaining !== undefined) {
      if (initial === undefined) initial = remaining;
      if (remaining >= initial) lastIdle = now;
      if (remaining === 0) {
        const seconds = Math.max(now - lastIdle, 1) / 1000;
        drainSeconds.add(seconds);
        drainEventsPerS.add(initial / seconds);
        drainWallSeconds.add((now - started) / 1000);
        console.log(`drained ${initial} events in ${seconds} s (${Math.round(initial / seconds)}/s)`);
        return;
      }
    }
    sleep(pollSeconds);
  }
  fail(`the backlog did not drain within ${drainTimeout} s`);
}

export function drainPhase(data) {
  drain(data.key);
}

export function teardown(data) {
  if (phase === 'all') drain(data.key);
}

export const handleSummary = summaryHandler('backlog-drain');
