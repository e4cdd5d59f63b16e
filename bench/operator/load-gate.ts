/** The load gate: the machine is shared, so the benchmark starts, and starts measuring, only when it is quiet. */
import { loadavg } from 'node:os';
import { waitFor } from '../../test/harness/wait.js';
import { round } from './round.js';

export const LOAD_POLL_MS = 10_000;
export const LOAD_WAIT_MS = 15 * 60_000;

export interface LoadGate {
  before: string;
  waitedSeconds: number;
  met: boolean;
  loadAverage: number[];
}

/** Waits (LOAD_WAIT_MS at most, then goes on) for the 1-minute load average to fall below `loadMax`. */
export async function waitForQuietMachine(before: string, loadMax: number): Promise<LoadGate> {
  const started = performance.now();
  let lastLog = 0;
  let met = true;
  try {
    await waitFor(
      `the 1-minute load average to fall below ${loadMax}`,
      () => {
        const [one = 0] = loadavg();
        if (one < loadMax) return true;
        if (performance.now() - lastLog >= 60_000) {
          lastLog = performance.now();
          console.log(
            `  load average ${loadavg()
              .map((v) => v.toFixed(2))
              .join(' ')}: waiting (${before})`,
          );
        }
        return false;
      },
      { timeoutMs: LOAD_WAIT_MS, intervalMs: LOAD_POLL_MS },
    );
  } catch {
    met = false;
    console.log(
      `  the load average stayed at or above ${loadMax} for ${LOAD_WAIT_MS / 60_000} min: going on`,
    );
  }
  return {
    before,
    waitedSeconds: round((performance.now() - started) / 1000),
    met,
    loadAverage: loadavg().map((v) => round(v, 2)),
  };
}
