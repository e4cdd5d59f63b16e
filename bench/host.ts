/** What every benchmark records about where it ran and reads of its processes: machine, commit, /proc. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { repoRoot } from '../test/harness/tools.js';
import type { Machine } from './report.js';

export function machine(): Machine {
  return {
    cores: cpus().length,
    mem_gib: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpu_model: cpus()[0]?.model.trim() ?? 'unknown',
  };
}

/** HEAD, marked `-dirty` when the working tree differs from it. */
export function commit(): string {
  const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: repoRoot }).toString().trim();
  const dirty = execFileSync('git', ['status', '--porcelain'], { cwd: repoRoot }).toString().trim() !== '';
  return dirty ? `${head}-dirty` : head;
}

/** A memory figure of a process from /proc/<pid>/status, in kB; undefined once it is gone. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return match?.[1] === undefined ? undefined : Number(match[1]);
  } catch {
    return undefined;
  }
}
