import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { formatSeconds, printerFields, roundForDisplay } from '../src/api/printer.js';
import { specWith } from './support.js';

describe('formatSeconds', () => {
  it('shows tenths below 10 s and kubectl-style units above', () => {
    const cases: [number, string][] = [
      [0, '0s'],
      [0.04, '0s'],
      [0.4, '0.4s'],
      [2, '2s'],
      [9.96, '10s'],
      [12.4, '12s'],
      [59.6, '1m0s'],
      [200, '3m20s'],
      [3600, '1h0m'],
      [18_420, '5h7m'],
    ];
    for (const [seconds, text] of cases) assert.equal(formatSeconds(seconds), text, String(seconds));
  });

  it('never goes down as the lag goes up', () => {
    const value = (text: string): number => {
      const [, h, m, s] = /^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?$/.exec(text) ?? [];
      return Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
    };
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (a, b) => {
          const [low, high] = a <= b ? [a, b] : [b, a];
          assert.ok(value(formatSeconds(low)) <= value(formatSeconds(high)));
        },
      ),
    );
  });
});

describe('roundForDisplay', () => {
  it('keeps three significant digits below 100 and whole numbers above', () => {
    assert.equal(roundForDisplay(950.4), 950);
    assert.equal(roundForDisplay(12_345.6), 12_346);
    assert.equal(roundForDisplay(12.345), 12.3);
    assert.equal(roundForDisplay(0.012345), 0.0123);
  });
});

describe('printerFields', () => {
  const ref = specWith().scaleTargetRef;

  it("gives the design brief's sample row", () => {
    const fields = printerFields(
      ref,
      [
        { name: 'relay', lagSeconds: 0.1, backlog: 20 },
        { name: 'projection', lagSeconds: 0.3, backlog: 100 },
        { name: 'replica', lagSeconds: 0.1, lagBytes: 8192 },
      ],
      950.3,
    );
    assert.deepEqual(fields, {
      target: 'deploy/replicator',
      lag: '0.4s',
      backlog: 120,
      replicaLag: '0.1s',
      arrivalRate: 950,
    });
  });

  it('leaves a sum unknown when one of its stages is, rather than understating it', () => {
    const fields = printerFields(ref, [{ name: 'projection', lagSeconds: 0.3, backlog: 100 }], undefined);
    assert.deepEqual(fields, {
      target: 'deploy/replicator',
      lag: undefined,
      backlog: undefined,
      replicaLag: undefined,
      arrivalRate: undefined,
    });
  });
});
