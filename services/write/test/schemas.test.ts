import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fieldErrors } from '@pulse/core';
import { MAX_BATCH_SAMPLES, sampleTimeWindow, writeSchemas } from '../src/schemas.js';

const NOW = Date.parse('2030-06-15T12:00:00Z');
const schemas = writeSchemas({ retentionDays: 7, now: () => NOW });
const SERVICE = '0190a3b2-7c1d-7e2f-8a3b-4c5d6e7f8091';
const sample = (overrides: Record<string, unknown> = {}) => ({
  service_id: SERVICE,
  observed_at: '2030-06-15T11:59:00Z',
  cpu_usage: 50,
  memory_usage: 50,
  disk_usage: 50,
  load_avg: 1.5,
  network_rx_bytes: 10,
  network_tx_bytes: 20,
  ...overrides,
});
const fields = (result: ReturnType<typeof schemas.systemBatch.safeParse>) =>
  result.success ? [] : fieldErrors(result.error).map((e) => e.field);

describe('sampleTimeWindow', () => {
  it('runs from the start of the oldest retained UTC day to five minutes from now', () => {
    const { earliestMs, latestMs } = sampleTimeWindow(NOW, 7);
    assert.equal(new Date(earliestMs).toISOString(), '2030-06-08T00:00:00.000Z');
    assert.equal(new Date(latestMs).toISOString(), '2030-06-15T12:05:00.000Z');
  });
});

describe('write schemas', () => {
  it('accepts a valid batch', () => {
    assert.equal(
      schemas.systemBatch.safeParse({ samples: [sample(), sample({ gpu_usage: 0 })] }).success,
      true,
    );
  });

  it('names the field and the item index of every bad sample', () => {
    const result = schemas.systemBatch.safeParse({
      samples: [
        sample(),
        sample({ cpu_usage: 100.5 }),
        sample({ network_tx_bytes: 1.5 }),
        sample({ load_avg: -1 }),
      ],
    });
    assert.deepEqual(fields(result), [
      'samples[1].cpu_usage',
      'samples[2].network_tx_bytes',
      'samples[3].load_avg',
    ]);
  });

  it('refuses times in the future beyond the skew and before retention', () => {
    const result = schemas.systemBatch.safeParse({
      samples: [
        sample({ observed_at: '2030-06-15T12:04:59Z' }),
        sample({ observed_at: '2030-06-15T12:05:01Z' }),
        sample({ observed_at: '2030-06-07T23:59:59Z' }),
        sample({ observed_at: '2030-06-08T00:00:00Z' }),
        sample({ observed_at: 'yesterday' }),
      ],
    });
    assert.deepEqual(fields(result), [
      'samples[1].observed_at',
      'samples[2].observed_at',
      'samples[4].observed_at',
    ]);
  });

  it('bounds the batch size', () => {
    const result = schemas.systemBatch.safeParse({
      samples: Array.from({ length: MAX_BATCH_SAMPLES + 1 }, () => sample()),
    });
    assert.deepEqual(fields(result), ['samples']);
  });

  it('refuses a process list naming a pid twice', () => {
    const result = schemas.processSamples.safeParse({
      service_id: SERVICE,
      observed_at: '2030-06-15T11:59:00Z',
      processes: [
        { process_name: 'a', pid: 7, cpu_usage: 1, memory_usage: 1 },
        { process_name: 'b', pid: 7, cpu_usage: 1, memory_usage: 1 },
      ],
    });
    assert.equal(result.success, false);
    assert.deepEqual(
      fieldErrors(result.error).map((e) => e.field),
      ['processes[1].pid'],
    );
  });

  it('accepts an empty heartbeat body', () => {
    assert.equal(schemas.heartbeat.safeParse(undefined).success, true);
  });
});
