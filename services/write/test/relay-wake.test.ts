import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '@pulse/core';
import { RelayWake } from '../src/relay-wake.js';

const quiet = createLogger('test', 'silent');

/** A notify whose calls are recorded and finish only when the test says so. */
function heldNotify() {
  const calls: { at: number; finish: () => void }[] = [];
  const notify = () =>
    new Promise<void>((resolve) => {
      calls.push({ at: Date.now(), finish: resolve });
    });
  return { calls, notify };
}

const until = async (what: string, check: () => boolean) => {
  const deadline = Date.now() + 2_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
};

describe('RelayWake', () => {
  it('sends one wake-up for a burst, and one more for the requests made while it was in flight', async () => {
    const { calls, notify } = heldNotify();
    const wake = new RelayWake(notify, quiet, 0);
    for (let i = 0; i < 100; i++) wake.request();
    await until('the first notify', () => calls.length === 1);
    for (let i = 0; i < 100; i++) wake.request();
    calls[0]?.finish();
    await until('the second notify', () => calls.length === 2);
    calls[1]?.finish();
    // Nothing was asked for after the second one started: no third.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(calls.length, 2);
    // A request after all of that is not lost.
    wake.request();
    await until('a third notify', () => calls.length === 3);
    calls[2]?.finish();
  });

  it('spaces wake-ups by the minimum interval', async () => {
    const { calls, notify } = heldNotify();
    const wake = new RelayWake(notify, quiet, 30);
    wake.request();
    await until('the first notify', () => calls.length === 1);
    wake.request();
    calls[0]?.finish();
    await until('the second notify', () => calls.length === 2);
    calls[1]?.finish();
    const [first, second] = calls;
    // Less 2 ms: a timer runs from the event loop's cached clock, which can lag Date.now().
    assert.ok(first && second && second.at - first.at >= 28, `${String(second?.at)} - ${String(first?.at)}`);
  });

  it('keeps going after a failed notify', async () => {
    let attempts = 0;
    const wake = new RelayWake(
      () => {
        attempts++;
        return attempts === 1 ? Promise.reject(new Error('connection lost')) : Promise.resolve();
      },
      quiet,
      0,
    );
    wake.request();
    await until('the failed notify', () => attempts === 1);
    await new Promise((resolve) => setImmediate(resolve));
    wake.request();
    await until('the next notify', () => attempts === 2);
  });
});
