/**
 * Where the machine's CPU went during a bench run. Once a second the sampler reads /proc/stat and
 * every process's /proc/<pid>/stat, and charges each process to the stack process it descends
 * from (a PostgreSQL server's backends to that server), to k6, or to "other" (the driver itself,
 * the limit tools, the system). A share is CPU time over wall time in percent of one core, so a
 * saturated 2-core machine shows 200.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

/** One line of /proc/<pid>/stat; comm is in parentheses and may itself hold spaces or parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // proc(5): after comm come state (3), ppid (4), ..., utime (14), stime (15).
  const fields = text.slice(close + 2).split(' ');
  const ppid = Number(fields[1]);
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ppid) || !Number.isFinite(ticks)) return undefined;
  return { pid: Number(text.slice(0, open).trim()), ppid, comm: text.slice(open + 1, close), ticks };
}

export interface MachineTicks {
  busy: number;
  /** Time the hypervisor gave this machine's virtual CPUs to someone else. */
  steal: number;
}

/** The aggregate `cpu` line of /proc/stat: user nice system idle iowait irq softirq steal ... */
export function parseMachineTicks(procStat: string): MachineTicks {
  const line = procStat.split('\n').find((l) => l.startsWith('cpu '));
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = (line ?? '')
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  // idle and iowait (fields 4 and 5) are what busy leaves of the wall time; no share needs them.
  return { busy: user + nice + system + irq + softirq, steal };
}

/** The group of each process: the named root it is or descends from, else `k6` for k6, else `other`. */
export function attribute(processes: ProcStat[], roots: Map<number, string>): Map<number, string> {
  const parents = new Map(processes.map((p) => [p.pid, p.ppid]));
  const groups = new Map<number, string>();
  for (const p of processes) {
    let pid: number | undefined = p.pid;
    let group: string | undefined;
    for (let depth = 0; pid !== undefined && pid > 1 && depth < 64 && !group; depth++) {
      group = roots.get(pid);
      pid = parents.get(pid);
    }
    groups.set(p.pid, group ?? (p.comm === 'k6' ? 'k6' : 'other'));
  }
  return groups;
}

export interface Snapshot {
  atMs: number;
  machine: MachineTicks;
  processes: Map<number, { group: string; ticks: number }>;
}

/** The ticks spent between two snapshots, per group and for the whole machine. */
export interface Interval {
  endMs: number;
  ms: number;
  machine: MachineTicks;
  groups: Record<string, number>;
}

/**
 * A process absent from the earlier snapshot started after it, so all its ticks fall in the
 * interval; one that ended during it loses its last ticks (at most one interval's).
 */
export function interval(before: Snapshot, after: Snapshot): Interval {
  const groups: Record<string, number> = {};
  for (const [pid, now] of after.processes) {
    const then = before.processes.get(pid);
    // A smaller count than before is a new process under a reused pid.
    const spent = then && then.ticks <= now.ticks ? now.ticks - then.ticks : now.ticks;
    groups[now.group] = (groups[now.group] ?? 0) + spent;
  }
  return {
    endMs: after.atMs,
    ms: after.atMs - before.atMs,
    machine: {
      busy: after.machine.busy - before.machine.busy,
      steal: after.machine.steal - before.machine.steal,
    },
    groups,
  };
}

/** CPU in percent of one core over a window; groups that spent nothing are left out. */
export interface CpuShare {
  seconds: number;
  machineBusy: number;
  steal: number;
  groups: Record<string, number>;
}

/** The share over the intervals whose middle lies in [fromMs, toMs]; undefined when none does. */
export function share(
  intervals: Interval[],
  fromMs: number,
  toMs: number,
  ticksPerSecond: number,
): CpuShare | undefined {
  const inside = intervals.filter((i) => i.endMs - i.ms / 2 >= fromMs && i.endMs - i.ms / 2 <= toMs);
  const ms = inside.reduce((sum, i) => sum + i.ms, 0);
  if (ms === 0) return undefined;
  const percent = (ticks: number) => Math.round((ticks / ticksPerSecond / (ms / 1000)) * 1000) / 10;
  const groups: Record<string, number> = {};
  for (const i of inside)
    for (const [group, ticks] of Object.entries(i.groups)) groups[group] = (groups[group] ?? 0) + ticks;
  return {
    seconds: Math.round(ms / 1000),
    machineBusy: percent(inside.reduce((sum, i) => sum + i.machine.busy, 0)),
    steal: percent(inside.reduce((sum, i) => sum + i.machine.steal, 0)),
    groups: Object.fromEntries(
      Object.entries(groups)
        .filter(([, ticks]) => ticks > 0)
        .map(([group, ticks]) => [group, percent(ticks)]),
    ),
  };
}

function readSnapshot(roots: Map<number, string>): Snapshot {
  const processes: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = parseProcStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (stat) processes.push(stat);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  const groups = attribute(processes, roots);
  return {
    atMs: Date.now(),
    machine: parseMachineTicks(readFileSync('/proc/stat', 'utf8')),
    processes: new Map(
      processes.map((p) => [p.pid, { group: groups.get(p.pid) ?? 'other', ticks: p.ticks }]),
    ),
  };
}

/** Samples /proc every `intervalMs` from start() to stop(); roots() names the stack's processes. */
export class CpuSampler {
  private readonly intervals: Interval[] = [];
  private readonly ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  private last: Snapshot | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly roots: () => Map<number, string>,
    private readonly intervalMs = 1000,
  ) {}

  start(): void {
    this.last = readSnapshot(this.roots());
    this.timer = setInterval(() => {
      this.sample();
    }, this.intervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The share over a window, with the sample that closes it taken now if it is still open. */
  share(fromMs: number, toMs: number): CpuShare | undefined {
    if (this.last && this.last.atMs < toMs) this.sample();
    return share(this.intervals, fromMs, toMs, this.ticksPerSecond);
  }

  private sample(): void {
    const next = readSnapshot(this.roots());
    if (this.last) this.intervals.push(interval(this.last, next));
    this.last = next;
  }
}
