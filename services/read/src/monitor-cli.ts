#!/usr/bin/env node
/**
 * `pulse-monitor`: a terminal dashboard of the pipeline, refreshed every 2 s from the read API's
 * /sync-status and /dashboard and, when PULSE_PROMETHEUS_URL is set, the rates from Prometheus.
 *   pulse-monitor [--interval SECONDS] [--once] [--no-color]
 * Uses PULSE_READ_URL and PULSE_API_KEY (a key with the read scope). --once prints one frame and
 * exits, non-zero when the read API did not answer.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { envField, parseConfig } from '@pulse/core';
import { z } from 'zod';
import { render, type Snapshot } from './monitor-view.js';

const config = parseConfig(
  z.object({
    PULSE_READ_URL: envField.of(z.url()),
    PULSE_API_KEY: envField.of(z.string().min(1)),
    PULSE_PROMETHEUS_URL: envField.of(z.url().optional()),
  }),
);

/** Events per second over the last minute at each step, summed over every instance. */
const RATE_QUERIES = {
  written: 'sum(rate(pulse_write_events_total[1m]))',
  relayed: 'sum(rate(pulse_relay_published_total[1m]))',
  projected: 'sum(rate(pulse_projection_applied_total[1m]))',
};
const TIMEOUT_MS = 1_500;

async function api<T>(path: string): Promise<T> {
  const response = await fetch(new URL(`/api/v1${path}`, config.PULSE_READ_URL), {
    headers: { 'X-API-Key': config.PULSE_API_KEY },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const body = (await response.json()) as T & { detail?: string };
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${body.detail ?? ''}`);
  return body;
}

async function promRate(base: string, query: string): Promise<number | null> {
  try {
    const url = new URL('/api/v1/query', base);
    url.searchParams.set('query', query);
    const answer = (await (await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })).json()) as {
      data?: { result?: { value: [number, string] }[] };
    };
    const value = answer.data?.result?.[0]?.value[1];
    return value === undefined ? 0 : Number(value);
  } catch {
    return null;
  }
}

async function snapshot(): Promise<Snapshot> {
  const prometheus = config.PULSE_PROMETHEUS_URL;
  const [sync, dashboard, rates] = await Promise.all([
    api<Snapshot['sync']>('/sync-status'),
    api<Snapshot['dashboard']>('/dashboard'),
    prometheus
      ? Promise.all(
          Object.entries(RATE_QUERIES).map(
            async ([name, query]) => [name, await promRate(prometheus, query)] as const,
          ),
        ).then((entries) => Object.fromEntries(entries))
      : undefined,
  ]);
  return { at: new Date(), sync, dashboard, rates };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      interval: { type: 'string', default: '2' },
      once: { type: 'boolean', default: false },
      'no-color': { type: 'boolean', default: false },
    },
  });
  const interval = Number(values.interval);
  if (!Number.isFinite(interval) || interval < 0.5 || interval > 3_600)
    throw new Error('--interval must be between 0.5 and 3600 seconds');
  const colour = !values['no-color'] && process.stdout.isTTY && !process.env.NO_COLOR;
  if (values.once) {
    console.log(render(await snapshot(), colour));
    return;
  }
  const stop = new AbortController();
  process.once('SIGINT', () => {
    stop.abort();
  });
  while (!stop.signal.aborted) {
    let frame: string;
    try {
      frame = render(await snapshot(), colour);
    } catch (error) {
      frame = `Pulse monitor  ${new Date().toISOString()}\n\nread API unavailable: ${(error as Error).message}`;
    }
    // Clear the screen and home the cursor, then draw the frame.
    process.stdout.write(`\x1b[2J\x1b[H${frame}\n`);
    // Ctrl-C ends the wait at once (the abort rejects it) and then the loop.
    await delay(interval * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
