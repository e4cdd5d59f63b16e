/** The operator's CPU time and RSS, and the stack's and the machine's CPU time, from /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { RunningService } from '../../test/harness/services.js';
import { statusKb } from '../host.js';

export const SAMPLE_INTERVAL_MS = 5_000;
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of a process, in clock ticks; undefined once it is gone. */
function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5); fields[0] is field 3.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** The machine's CPU time from /proc/stat, in clock ticks: all, and not idle (idle + iowait). */
function machineTicks(): { busy: number; total: number; steal: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total, steal };
}

/** The pid of a stack process, from the pid file the harness keeps in the run dir. */
export function pidOf(runDir: string, name: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(runDir, 'run', `${name}.pid`), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export interface Sample {
  /** Wall clock, for the record. */
  atMs: number;
  /** Monotonic, for the intervals. */
  monoMs: number;
  operator: { cpuTicks: number; rssKb: number };
  /** The stack's processes' CPU time (ticks), for context. */
  others: Record<string, number | null>;
  machine: { busy: number; total: number; steal: number };
}

function sample(operatorPid: number, others: Record<string, number>): Sample {
  const ticks = cpuTicks(operatorPid);
  const rssKb = statusKb(operatorPid, 'VmRSS');
  if (ticks === undefined || rssKb === undefined)
    throw new Error(`the operator (pid ${operatorPid}) is gone`);
  return {
    atMs: Date.now(),
    monoMs: performance.now(),
    operator: { cpuTicks: ticks, rssKb },
    others: Object.fromEntries(Object.entries(others).map(([name, pid]) => [name, cpuTicks(pid) ?? null])),
    machine: machineTicks(),
  };
}

/** CPU time between two samples as a percentage of one core. */
export const cpuPercent = (ticksA: number, ticksB: number, a: Sample, b: Sample) =>
  ((ticksB - ticksA) / CLK_TCK / ((b.monoMs - a.monoMs) / 1000)) * 100;

/** Samples the operator (and the given processes) every 5 s for `seconds`; fails if it exits. */
export async function sampleWindow(
  running: RunningService,
  otherPids: Record<string, number>,
  seconds: number,
): Promise<Sample[]> {
  const pid = running.process.pid;
  const first = sample(pid, otherPids);
  const samples: Sample[] = [first];
  const count = Math.ceil((seconds * 1000) / SAMPLE_INTERVAL_MS);
  for (let i = 1; i <= count; i++) {
    // A measurement clock, not a synchronisation: each sample is due at a fixed time after the first.
    await delay(Math.max(0, first.monoMs + i * SAMPLE_INTERVAL_MS - performance.now()));
    const exited = running.process.exitedError();
    if (exited) throw exited;
    const last = sample(pid, otherPids);
    samples.push(last);
    const prev = samples.at(-7);
    if (i % 6 === 0 && prev !== undefined) {
      const cpu = cpuPercent(prev.operator.cpuTicks, last.operator.cpuTicks, prev, last);
      console.log(
        `  ${Math.round((last.monoMs - first.monoMs) / 1000)} s: CPU ${cpu.toFixed(2)} % over 30 s, RSS ${(last.operator.rssKb / 1024).toFixed(1)} MB`,
      );
    }
  }
  return samples;
}
