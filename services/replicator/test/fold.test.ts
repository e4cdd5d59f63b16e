import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { EVENT_VERSION, type AnyEvent, type SystemSample } from '@pulse/core';
import { foldEvents, hourOf, type ProjectionChanges } from '../src/projection/fold.js';
import { evaluateThresholds, severityOf } from '../src/projection/alerts.js';
import { DEFAULT_ALERT_RULES } from '@pulse/core';

const TENANT = '0190a5e0-0000-7000-8000-000000000001';
const SERVICE_A = '0190a5e0-0000-7000-8000-0000000000a1';
const SERVICE_B = '0190a5e0-0000-7000-8000-0000000000a2';
const SERVICES = [SERVICE_A, SERVICE_B];

let counter = 0;
function systemEvent(serviceId: string, samples: SystemSample[]): AnyEvent {
  counter += 1;
  return {
    id: `0190a5e0-0000-7000-8000-${String(counter).padStart(12, '0')}`,
    type: 'metrics.system.recorded',
    version: EVENT_VERSION,
    tenant_id: TENANT,
    aggregate_id: serviceId,
    occurred_at: samples[0]?.observed_at ?? '2026-01-01T00:00:00Z',
    recorded_at: '2026-01-01T00:00:00Z',
    position: String(counter),
    traceparent: null,
    payload: { samples },
  };
}

function sample(observedAt: string, cpu: number): SystemSample {
  return {
    observed_at: observedAt,
    cpu_usage: cpu,
    memory_usage: 50,
    disk_usage: 10,
    load_avg: 1,
    network_rx_bytes: 0,
    network_tx_bytes: 0,
  };
}

/** The parts of the changes that must not depend on event order. */
function orderFree(changes: ProjectionChanges) {
  const sorted = <T>(map: Map<string, T>) => [...map.entries()].sort(([a], [b]) => a.localeCompare(b));
  return { latest: sorted(changes.latest), hourly: sorted(changes.hourly), events: changes.events.length };
}

describe('projection fold', () => {
  it('keeps the latest sample by observed_at, not by arrival', () => {
    const changes = foldEvents([
      systemEvent(SERVICE_A, [sample('2026-03-01T10:05:00Z', 20)]),
      systemEvent(SERVICE_A, [sample('2026-03-01T10:01:00Z', 99)]), // arrives later, observed earlier
    ]);
    assert.equal(changes.latest.get(SERVICE_A)?.sample.cpu_usage, 20);
  });

  it('aggregates count, sum, min and max per service per hour', () => {
    const changes = foldEvents([
      systemEvent(SERVICE_A, [sample('2026-03-01T10:05:00Z', 20), sample('2026-03-01T10:59:59Z', 40)]),
      systemEvent(SERVICE_A, [sample('2026-03-01T11:00:00Z', 70)]),
      systemEvent(SERVICE_B, [sample('2026-03-01T10:30:00Z', 5)]),
    ]);
    const ten = changes.hourly.get(`${SERVICE_A}|2026-03-01T10:00:00.000Z`);
    assert.ok(ten);
    assert.deepEqual(ten.gauges.cpu_usage, { count: 2, sum: 60, min: 20, max: 40 });
    assert.equal(ten.samples, 2);
    assert.equal(ten.gauges.gpu_usage, undefined, 'an absent optional gauge is not counted');
    assert.deepEqual(changes.hourly.get(`${SERVICE_A}|2026-03-01T11:00:00.000Z`)?.gauges.cpu_usage, {
      count: 1,
      sum: 70,
      min: 70,
      max: 70,
    });
    assert.equal(changes.hourly.size, 3);
  });

  it('truncates timestamps with offsets to the UTC hour', () => {
    assert.equal(hourOf('2026-03-01T12:30:00+02:00'), '2026-03-01T10:00:00.000Z');
  });

  it('gives the same latest values and buckets for any order of the same events', () => {
    const arbitrarySample = fc.record({
      minute: fc.integer({ min: 0, max: 179 }),
      cpu: fc.integer({ min: 0, max: 100 }),
      service: fc.constantFrom(...SERVICES),
    });
    fc.assert(
      fc.property(fc.array(arbitrarySample, { minLength: 1, maxLength: 40 }), (items) => {
        // Distinct observation times per service, so "latest" is well defined.
        const unique = [...new Map(items.map((item) => [`${item.service}|${item.minute}`, item])).values()];
        const events = unique.map((item) =>
          systemEvent(item.service, [
            sample(new Date(Date.UTC(2026, 2, 1, 9, item.minute)).toISOString(), item.cpu),
          ]),
        );
        const forward = orderFree(foldEvents(events));
        const backward = orderFree(foldEvents([...events].reverse()));
        assert.deepEqual(backward, forward);
      }),
    );
  });
});

describe('threshold alerts', () => {
  it('breaches strictly above the threshold', () => {
    const verdicts = evaluateThresholds(
      { ...sample('2026-03-01T10:00:00Z', 90), disk_usage: 95.5 },
      DEFAULT_ALERT_RULES,
    );
    assert.deepEqual(
      verdicts.map((v) => [v.rule, v.breached]),
      [
        ['cpu', false],
        ['memory', false],
        ['disk', true],
      ],
    );
  });

  it('calls a breach critical when it is past half the remaining headroom', () => {
    assert.equal(severityOf({ rule: 'cpu', breached: true, value: 94, threshold: 90 }), 'warning');
    assert.equal(severityOf({ rule: 'cpu', breached: true, value: 95, threshold: 90 }), 'critical');
  });
});
