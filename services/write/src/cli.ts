#!/usr/bin/env node
/**
 * `pulse`: operator and demo commands.
 *   pulse migrate                       apply the write DB schema (PULSE_WRITE_DATABASE_URL)
 *   pulse seed [--services N] [--hours H] [--interval S]
 *                                       register N demo services with H hours of history, via the API
 *   pulse live --rate R --duration D    send R samples/s across the demo services for D seconds, via the API
 *   pulse clean [--tenant NAME]         delete a tenant and everything it owns from the write DB
 * The API commands use PULSE_WRITE_URL and PULSE_API_KEY (a key with the write scope).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createLogger, envField, parseConfig } from '@pulse/core';
import pg from 'pg';
import { z } from 'zod';
import { migrateWriteDatabase } from './migrate.js';
import { MAX_BATCH_SAMPLES } from './schemas.js';

const logger = createLogger('pulse-cli');
const apiConfig = z.object({
  PULSE_WRITE_URL: envField.of(z.url()),
  PULSE_API_KEY: envField.of(z.string().min(1)),
});
const dbConfig = z.object({ PULSE_WRITE_DATABASE_URL: envField.postgresUrl() });
const DEMO_SERVICES = ['checkout', 'payments', 'search', 'inventory', 'gateway', 'auth', 'email', 'reports'];

async function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const { PULSE_WRITE_URL, PULSE_API_KEY } = parseConfig(apiConfig);
  const response = await fetch(new URL(`/api/v1${path}`, PULSE_WRITE_URL), {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-API-Key': PULSE_API_KEY },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

async function registerDemoServices(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = DEMO_SERVICES[i % DEMO_SERVICES.length] ?? 'service';
    const answer = await post('/services', {
      name,
      hostname: `demo-${i}`,
      os: 'linux',
      version: '1.0.0',
      labels: { demo: 'true' },
    });
    ids.push(String(answer.id));
  }
  return ids;
}

/** Plausible, smoothly varying gauges: each service has its own phase so the dashboards differ. */
function demoSample(serviceId: string, index: number, timeMs: number) {
  const wave = (period: number, phase: number) => (Math.sin((timeMs / period) * 2 * Math.PI + phase) + 1) / 2;
  const jitter = Math.random() * 5;
  return {
    service_id: serviceId,
    observed_at: new Date(timeMs).toISOString(),
    cpu_usage: Math.min(100, 15 + 60 * wave(3_600_000, index) + jitter),
    memory_usage: Math.min(100, 40 + 30 * wave(6 * 3_600_000, index / 2) + jitter),
    disk_usage: Math.min(100, 50 + index * 4 + (timeMs % 86_400_000) / 86_400_000),
    load_avg: 0.2 + 3 * wave(1_800_000, index),
    network_rx_bytes: Math.round(1e6 * wave(600_000, index) + 1e5),
    network_tx_bytes: Math.round(5e5 * wave(900_000, index) + 5e4),
  };
}

async function seed(services: number, hours: number, intervalSeconds: number): Promise<void> {
  const ids = await registerDemoServices(services);
  const end = Date.now();
  const samples = ids.flatMap((id, index) =>
    Array.from({ length: Math.floor((hours * 3600) / intervalSeconds) }, (_, step) =>
      demoSample(id, index, end - (step + 1) * intervalSeconds * 1000),
    ),
  );
  for (let start = 0; start < samples.length; start += MAX_BATCH_SAMPLES) {
    await post('/metrics/system/batch', { samples: samples.slice(start, start + MAX_BATCH_SAMPLES) });
  }
  logger.info({ services: ids.length, samples: samples.length }, 'seeded');
}

async function live(ratePerSecond: number, durationSeconds: number): Promise<void> {
  const ids = await registerDemoServices(DEMO_SERVICES.length);
  const deadline = Date.now() + durationSeconds * 1000;
  let sent = 0;
  // One batch per second carrying `rate` samples spread over the services, plus their heartbeats.
  while (Date.now() < deadline) {
    const tick = Date.now();
    const samples = Array.from({ length: ratePerSecond }, (_, i) =>
      demoSample(ids[i % ids.length] ?? '', i % ids.length, tick - i),
    );
    await post('/metrics/system/batch', { samples });
    await Promise.all(ids.map((id) => post(`/services/${id}/heartbeats`, {})));
    sent += samples.length;
    await delay(Math.max(0, 1000 - (Date.now() - tick)));
  }
  logger.info({ samples: sent }, 'live traffic done');
}

async function clean(tenant: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: parseConfig(dbConfig).PULSE_WRITE_DATABASE_URL });
  try {
    const { rowCount } = await pool.query('delete from tenants where name = $1', [tenant]);
    logger.info({ tenant, deleted: rowCount }, 'cleaned');
  } finally {
    await pool.end();
  }
}

const positive = (name: string, value: string | undefined, fallback?: number): number => {
  const number = value === undefined ? fallback : Number(value);
  if (number === undefined || !Number.isInteger(number) || number <= 0)
    throw new Error(`--${name} must be a positive integer`);
  return number;
};

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      services: { type: 'string' },
      hours: { type: 'string' },
      interval: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      tenant: { type: 'string' },
    },
  });
  switch (positionals[0]) {
    case 'migrate':
      await migrateWriteDatabase(parseConfig(dbConfig).PULSE_WRITE_DATABASE_URL, logger);
      return;
    case 'seed':
      await seed(
        positive('services', values.services, 5),
        positive('hours', values.hours, 24),
        positive('interval', values.interval, 60),
      );
      return;
    case 'live': {
      // Bounded on purpose: a demo load that nobody stops must still end.
      const duration = positive('duration', values.duration);
      if (duration > 86_400) throw new Error('--duration must be at most 86400 seconds');
      await live(Math.min(positive('rate', values.rate), MAX_BATCH_SAMPLES), duration);
      return;
    }
    case 'clean':
      await clean(values.tenant ?? 'demo');
      return;
    default:
      throw new Error(
        'usage: pulse migrate | seed [--services N] [--hours H] [--interval S] | live --rate R --duration D | clean [--tenant NAME]',
      );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
