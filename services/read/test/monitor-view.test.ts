import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backlogLevel, lagLevel, render, type Snapshot } from '../src/monitor-view.js';

const ESC = '\x1b[';
const [RED, GREEN] = [`${ESC}31m`, `${ESC}32m`];

const snapshot: Snapshot = {
  at: new Date('2024-05-01T12:00:00Z'),
  sync: {
    position: '42.3',
    stages: [
      { name: 'relay', lag_seconds: 0.2, backlog: 0, detail: {} },
      { name: 'projection', lag_seconds: 7, backlog: 1_500, detail: {} },
      {
        name: 'replica',
        lag_seconds: 2,
        backlog: 4_096,
        detail: {
          replicas: [
            { replica: 'db-1:5432/pulse', up: true, lag_seconds: 2 },
            { replica: 'db-2:5432/pulse', up: false, lag_seconds: null },
          ],
        },
      },
    ],
  },
  dashboard: {
    services: { total: 3, by_health: { healthy: 1, degraded: 1, down: 1, unknown: 0 } },
    alerts: { open: 2, open_by_severity: { warning: 1, critical: 1 } },
    top_cpu: [{ name: 'checkout', hostname: 'h1', health: 'down', latest: { cpu_usage: 97.25 } }],
  },
  rates: { written: 120, relayed: null },
};

describe('pulse monitor', () => {
  it('grades lag and backlog by thresholds', () => {
    assert.deepEqual([0.5, 1, 4.9, 5, null].map(lagLevel), ['ok', 'warn', 'warn', 'bad', 'none']);
    assert.deepEqual([0, 1, 999, 1_000, null].map(backlogLevel), ['ok', 'warn', 'warn', 'bad', 'none']);
  });

  it('shows every stage, replica, rate and service figure', () => {
    const text = render(snapshot, false);
    for (const expected of [
      /position 42\.3/,
      /relay\s+0\.20 s\s+0/,
      /projection\s+7\.00 s\s+1500/,
      /db-2:5432\/pulse\s+DOWN/,
      /written\s+120\.0/,
      /relayed\s+unknown/,
      /SERVICES 3/,
      /2 open/,
      /checkout@h1\s+97\.3\s+down/,
    ])
      assert.match(text, expected);
    assert.ok(!text.includes(ESC), 'no colour codes when colour is off');
  });

  it('colours by level', () => {
    const text = render(snapshot, true);
    assert.ok(text.includes(`${RED}7.00 s`), 'a 7 s lag is red');
    assert.ok(text.includes(`${GREEN}0.20 s`), 'a 0.2 s lag is green');
    assert.ok(text.includes(`${RED}DOWN`), 'a replica that is down is red');
  });
});
