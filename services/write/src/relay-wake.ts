/**
 * Wakes the relay after a command's events committed: a NOTIFY of its own, sent after the commit.
 * A NOTIFY inside the command's transaction (the outbox trigger of old) makes PostgreSQL serialise
 * every notifying commit, WAL flush included, behind one lock for the whole cluster; a NOTIFY
 * outside any write has no transaction id and flushes nothing, so it holds that lock briefly.
 * Wake-ups are coalesced: one in flight at a time, each at least `minIntervalMs` after the one
 * before. One that is lost costs latency only: the relay polls as well.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '@pulse/core';

export class RelayWake {
  private sending = false;
  private again = false;
  private lastSentAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly notify: () => Promise<unknown>,
    private readonly logger: Logger,
    private readonly minIntervalMs = 5,
  ) {}

  /** Asks for a wake-up; returns at once. */
  request(): void {
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    this.again = false;
    void this.send().finally(() => {
      this.sending = false;
      if (this.again) this.request();
    });
  }

  private async send(): Promise<void> {
    const wait = this.lastSentAt + this.minIntervalMs - Date.now();
    if (wait > 0) await delay(wait);
    this.lastSentAt = Date.now();
    try {
      await this.notify();
    } catch (error) {
      this.logger.debug(
        { err: error },
        'relay wake-up not sent; the relay finds the events on its next poll',
      );
    }
  }
}
