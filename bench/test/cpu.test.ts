import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attribute, interval, parseMachineTicks, parseProcStat, share, type Snapshot } from '../cpu.js';

/** A /proc/<pid>/stat line with the given ppid, utime and stime; the other fields as Linux writes them. */
const statLine = (pid: number, comm: string, ppid: number, utime: number, stime: number) =>
  `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 1030 0 0 0 ${utime} ${stime} 0 0 20 0 1 0 4711 1000 100\n`;

const snapshot = (atMs: number, busy: number, processes: [number, string, number][]): Snapshot => ({
  atMs,
  machine: { busy, steal: 0 },
  processes: new Map(processes.map(([pid, group, ticks]) => [pid, { group, ticks }])),
});

describe('bench CPU accounting', () => {
  it('reads ppid and utime + stime, also for a command name with spaces and parentheses', () => {
    assert.deepEqual(parseProcStat(statLine(812, 'postgres: pulse (x) idle', 300, 1234, 56)), {
      pid: 812,
      ppid: 300,
      comm: 'postgres: pulse (x) idle',
      ticks: 1290,
    });
    assert.equal(parseProcStat('garbage'), undefined);
  });

  it('reads busy and steal time from the cpu line of /proc/stat, idle and iowait left out', () => {
    const stat = 'cpu  100 5 30 1000 20 1 2 7 0 0\ncpu0 50 2 15 500 10 0 1 3 0 0\n';
    assert.deepEqual(parseMachineTicks(stat), { busy: 138, steal: 7 });
  });

  it("charges a server's children to it, k6 to k6, and anything else to other", () => {
    const processes = [
      { pid: 100, ppid: 1, comm: 'postgres', ticks: 0 },
      { pid: 101, ppid: 100, comm: 'postgres: walwriter', ticks: 0 },
      { pid: 102, ppid: 100, comm: 'postgres: pulse pulse', ticks: 0 },
      { pid: 200, ppid: 50, comm: 'node', ticks: 0 },
      { pid: 300, ppid: 50, comm: 'k6', ticks: 0 },
      { pid: 50, ppid: 1, comm: 'node', ticks: 0 },
    ];
    const groups = attribute(
      processes,
      new Map([
        [100, 'postgres-primary'],
        [200, 'write'],
      ]),
    );
    assert.deepEqual(Object.fromEntries(groups), {
      100: 'postgres-primary',
      101: 'postgres-primary',
      102: 'postgres-primary',
      200: 'write',
      300: 'k6',
      50: 'other',
    });
  });

  it('counts all the ticks of a process that started during the interval, and a reused pid as new', () => {
    const before = snapshot(0, 0, [
      [1, 'write', 500],
      [2, 'k6', 900],
    ]);
    const after = snapshot(1000, 150, [
      [1, 'write', 530],
      [2, 'k6', 40], // pid 2 ended and was reused by a new k6
      [3, 'postgres-primary', 25],
    ]);
    assert.deepEqual(interval(before, after), {
      endMs: 1000,
      ms: 1000,
      machine: { busy: 150, steal: 0 },
      groups: { write: 30, k6: 40, 'postgres-primary': 25 },
    });
  });

  it('gives percent of one core over the intervals whose middle lies in the window', () => {
    const intervals = [0, 1, 2, 3].map((n) =>
      interval(
        snapshot(n * 1000, n * 100, [[1, 'write', n * 10]]),
        snapshot((n + 1) * 1000, (n + 1) * 100 + n, [[1, 'write', (n + 1) * 10 + n]]),
      ),
    );
    // Intervals 1 and 2 (middles 1.5 s and 2.5 s): write spent 11 + 12 ticks, the machine 101 + 102.
    assert.deepEqual(share(intervals, 1000, 3000, 100), {
      seconds: 2,
      machineBusy: 101.5,
      steal: 0,
      groups: { write: 11.5 },
    });
    assert.equal(share(intervals, 5000, 6000, 100), undefined);
  });
});
