// Shared helpers of the k6 scripts under load/: configuration from the environment, the Pulse API
// calls, sample generation, scenario building and the JSON summary. Every loop here is bounded.
import http from 'k6/http';
import { check, fail } from 'k6';
import { Gauge } from 'k6/metrics';

export const writeUrl = baseUrl('PULSE_WRITE_URL');
export const readUrl = baseUrl('PULSE_READ_URL');

function baseUrl(name) {
  return (__ENV[name] || '').replace(/\/+$/, '');
}

/** A positive number from the environment, or the default. */
export function num(name, fallback) {
  const text = __ENV[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) fail(`${name} must be a positive number, got "${text}"`);
  return value;
}

/** A comma-separated list of positive numbers from the environment, or the default. */
export function numList(name, fallback) {
  const text = __ENV[name];
  if (text === undefined || text === '') return fallback;
  return text.split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isFinite(value) || value <= 0) fail(`${name} must list positive numbers, got "${text}"`);
    return value;
  });
}

/** Trend statistics every summary carries (the report reads p(50), p(95), p(99)). */
export const summaryTrendStats = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'];

export function headers(key, extra) {
  return Object.assign({ 'content-type': 'application/json', 'x-api-key': key }, extra || {});
}

export function post(url, key, body, params) {
  return http.post(url, JSON.stringify(body), Object.assign({ headers: headers(key) }, params || {}));
}

export function get(url, key, params) {
  const extra = (params && params.headers) || {};
  return http.get(url, Object.assign({}, params || {}, { headers: headers(key, extra) }));
}

export function ok(response) {
  return response.status >= 200 && response.status < 300;
}

/** The JSON body of a 2xx answer; anything else ends the run (for setup steps). */
export function must(response, what) {
  if (!check(response, { [`${what}: 2xx`]: ok })) fail(`${what}: HTTP ${response.status} ${response.body}`);
  return response.json();
}

/**
 * The API key to load with: PULSE_API_KEY (write and read scopes), or a fresh tenant and key made
 * with PULSE_ADMIN_KEY, so that a run in the cluster never touches real tenants.
 */
export function apiKey(runName) {
  if (!writeUrl || !readUrl) fail('set PULSE_WRITE_URL and PULSE_READ_URL');
  if (__ENV.PULSE_API_KEY) return __ENV.PULSE_API_KEY;
  const admin = __ENV.PULSE_ADMIN_KEY || fail('set PULSE_API_KEY, or PULSE_ADMIN_KEY to create a tenant');
  const tenant = must(
    post(`${writeUrl}/api/v1/tenants`, admin, { name: `k6-${runName}-${Date.now()}` }),
    'create tenant',
  );
  return must(
    post(`${writeUrl}/api/v1/tenants/${tenant.id}/api-keys`, admin, {
      name: `k6-${runName}`,
      scopes: ['write', 'read'],
    }),
    'create api key',
  ).key;
}

/** Registers `count` services named `<prefix>-<i>` (idempotent: 200 when they exist); their ids. */
export function registerServices(key, prefix, count) {
  const ids = [];
  for (let start = 0; start < count; start += 50) {
    const requests = [];
    for (let i = start; i < Math.min(count, start + 50); i++) {
      requests.push([
        'POST',
        `${writeUrl}/api/v1/services`,
        JSON.stringify({
          name: `${prefix}-${i}`,
          hostname: `${prefix}-${i}.bench`,
          labels: { bench: prefix },
        }),
        { headers: headers(key), tags: { name: 'register' } },
      ]);
    }
    for (const response of http.batch(requests)) ids.push(must(response, 'register service').id);
  }
  return ids;
}

/** One system sample; `i` varies the values so that aggregates are not all equal. */
export function sample(serviceId, observedAtMs, i) {
  return {
    service_id: serviceId,
    observed_at: new Date(observedAtMs).toISOString(),
    cpu_usage: (i * 7.3) % 100,
    memory_usage: (i * 3.1) % 100,
    disk_usage: 40 + (i % 50),
    load_avg: (i % 400) / 100,
    network_rx_bytes: 1000 + i,
    network_tx_bytes: 2000 + i,
  };
}

/** POST /metrics/system/batch; the number of samples stored (0 on failure). */
export function postBatch(key, samples, tags) {
  const response = post(
    `${writeUrl}/api/v1/metrics/system/batch`,
    key,
    { samples },
    {
      tags: Object.assign({ name: 'batch' }, tags || {}),
      timeout: '60s',
    },
  );
  const stored = check(response, { 'batch: 202': (r) => r.status === 202 });
  return { response, accepted: stored ? response.json().accepted : 0 };
}

/**
 * Waits until the projection has applied `position` (read-your-writes through the read API), for
 * at most `timeoutSeconds`: the read service itself waits up to its own timeout per request.
 */
export function waitForPosition(key, serviceId, position, timeoutSeconds) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    const response = get(`${readUrl}/api/v1/services/${serviceId}/metrics/latest`, key, {
      headers: { 'x-pulse-min-position': position },
      tags: { name: 'wait-position' },
      timeout: '30s',
    });
    if (ok(response)) return;
    if (response.status !== 504) fail(`waiting for ${position}: HTTP ${response.status} ${response.body}`);
  }
  fail(`position ${position} was not applied within ${timeoutSeconds} s`);
}

/** GET /sync-status: {relay, projection} backlogs in events (null when a stage cannot tell). */
export function syncStatus(key) {
  const response = get(`${readUrl}/api/v1/sync-status`, key, { tags: { name: 'sync-status' } });
  if (!ok(response)) return undefined;
  const stages = {};
  for (const stage of response.json().stages) stages[stage.name] = stage;
  return stages;
}

/**
 * Events not yet through the given stages of /sync-status (relay: unpublished outbox rows;
 * projection: Kafka events not yet applied), or undefined when a stage cannot tell.
 */
export function pipelineBacklog(key, stages = ['relay', 'projection']) {
  const status = syncStatus(key);
  if (!status) return undefined;
  const backlogs = stages.map((stage) => status[stage].backlog);
  if (backlogs.includes(null)) return undefined;
  return backlogs.reduce((sum, backlog) => sum + backlog, 0);
}

const topStepStartsAt = new Gauge('top_step_starts_at_ms');

/**
 * Called last in setup() of a script with rateSteps: the steps start when setup returns, so the
 * step of the highest rate starts at a known time. The bench driver reads it to find the step's
 * window on the clock (the CPU each process spent during it).
 */
export function markTopStepStart(rates, seconds) {
  const top = rates.indexOf(Math.max(...rates));
  topStepStartsAt.add(Date.now() + stepStartSeconds(top, seconds) * 1000);
}

/**
 * Constant-arrival-rate scenarios, one per rate, one after the other (`<prefix>_<rate>`), so that
 * thresholds and the report can name each step; each is bounded by its duration.
 */
export function rateSteps(prefix, rates, seconds, exec, maxVUs) {
  const scenarios = {};
  rates.forEach((rate, index) => {
    scenarios[`${prefix}_${rate}`] = {
      executor: 'constant-arrival-rate',
      exec,
      rate,
      timeUnit: '1s',
      duration: `${seconds}s`,
      startTime: `${stepStartSeconds(index, seconds)}s`,
      preAllocatedVUs: Math.min(maxVUs, Math.max(2, Math.ceil(rate / 100))),
      maxVUs,
      gracefulStop: '2s',
      tags: { step: String(rate) },
    };
  });
  return scenarios;
}

/** Seconds that `rateSteps` takes in all. */
export function rateStepsSeconds(rates, seconds) {
  return stepStartSeconds(rates.length, seconds);
}

/** When a step of `rateSteps` starts, counted from the end of setup: 2 s between steps. */
function stepStartSeconds(index, seconds) {
  return index * (seconds + 2);
}

/**
 * handleSummary: the whole k6 summary as JSON to PULSE_K6_SUMMARY when set (the bench driver),
 * else to stdout (a Job's log in the cluster); a one-line verdict per threshold on stdout.
 */
export function summaryHandler(name) {
  return function handleSummary(data) {
    const lines = [`${name}: ${Math.round(data.state.testRunDurationMs / 1000)} s`];
    for (const [metric, value] of Object.entries(data.metrics)) {
      for (const [threshold, verdict] of Object.entries(value.thresholds || {})) {
        lines.push(`  ${verdict.ok ? 'ok  ' : 'FAIL'} ${metric} ${threshold}`);
      }
    }
    const json = JSON.stringify(data, null, 2);
    const file = __ENV.PULSE_K6_SUMMARY;
    return file
      ? { stdout: `${lines.join('\n')}\n`, [file]: json }
      : { stdout: `${lines.join('\n')}\n${json}\n` };
  };
}
