/**
 * Arrival traces: the mean arrival rate (events/s) of every simulated second. The model adds the
 * per-partition Poisson-like noise on top; only the noisy ramp is noisy in its mean too.
 */
import type { Random } from './random.js';

export interface Trace {
  name: string;
  description: string;
  /** One mean rate per second. */
  rates(random: Random): number[];
}

/** The traces of the report, scaled to a base rate (events/s). */
export function standardTraces(base: number): Trace[] {
  const seconds = (length: number, rate: (t: number) => number) => Array.from({ length }, (_, t) => rate(t));
  return [
    {
      name: 'step-x5',
      description: `${base}/s, ×5 from 120 s to 1200 s, then back; 1800 s`,
      rates: () => seconds(1800, (t) => (t >= 120 && t < 1200 ? 5 * base : base)),
    },
    {
      name: 'spike',
      description: `${base}/s with a 60 s spike to ×6 at 300 s; 1200 s`,
      rates: () => seconds(1200, (t) => (t >= 300 && t < 360 ? 6 * base : base)),
    },
    {
      name: 'diurnal',
      description: `sine between ${base / 2}/s and ${5.5 * base}/s, a day compressed into 3600 s; 7200 s`,
      // Starts at the trough, like a night.
      rates: () => seconds(7200, (t) => base * (3 - 2.5 * Math.cos((2 * Math.PI * t) / 3600))),
    },
    {
      name: 'noisy-ramp',
      description: `${base / 2}/s rising to ${6 * base}/s over 1800 s with ±20 % (1σ) noise per second, then 600 s flat`,
      rates: (random) =>
        seconds(
          2400,
          (t) => base * (0.5 + 5.5 * Math.min(1, t / 1800)) * Math.max(0, 1 + 0.2 * random.normal()),
        ),
    },
  ];
}
