/**
 * A work queue of resource keys, as controllers use: a key is processed by one worker at a time,
 * an add while it is in flight makes it run once more afterwards, a key waiting to run is not
 * queued twice, and each run says when the key should run again (the poll). A failing key is
 * retried with an exponential backoff of its own.
 */
import { backoffDelay, type Backoff } from './informer.js';

/**
 * What a run asks for next: run again after `requeueAfterMs`, or (undefined) not until added again.
 * A throw means retry with backoff.
 */
export interface WorkResult {
  requeueAfterMs: number | undefined;
}

export type Worker = (key: string) => Promise<WorkResult>;

export class WorkQueue {
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private readonly ready: string[] = [];
  private readonly inFlight = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly idle = new Set<() => void>();
  private running = false;

  constructor(
    private readonly worker: Worker,
    private readonly concurrency: number,
    private readonly backoff: Backoff,
    private readonly onError: (key: string, error: unknown) => void,
  ) {}

  start(): void {
    this.running = true;
  }

  /** Stops taking work, drops everything waiting and resolves once the runs in flight are done. */
  async stop(): Promise<void> {
    this.running = false;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.ready.length = 0;
    this.dirty.clear();
    this.failures.clear();
    if (this.inFlight.size === 0) return;
    await new Promise<void>((resolve) => this.idle.add(resolve));
  }

  /** Runs `key` after `delayMs`, or sooner if it is already due sooner. */
  add(key: string, delayMs = 0): void {
    if (!this.running) return;
    const due = Date.now() + delayMs;
    const scheduled = this.timers.get(key);
    if (scheduled !== undefined && scheduled.due <= due) return;
    if (scheduled !== undefined) clearTimeout(scheduled.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key);
    }, delayMs);
    this.timers.set(key, { timer, due });
  }

  /** Forgets a key (its resource was deleted): no more runs unless it is added again. */
  forget(key: string): void {
    const scheduled = this.timers.get(key);
    if (scheduled !== undefined) clearTimeout(scheduled.timer);
    this.timers.delete(key);
    this.dirty.delete(key);
    this.failures.delete(key);
    const index = this.ready.indexOf(key);
    if (index !== -1) this.ready.splice(index, 1);
  }

  private enqueue(key: string): void {
    if (!this.running) return;
    if (this.inFlight.has(key)) this.dirty.add(key);
    else if (!this.ready.includes(key)) this.ready.push(key);
    this.pump();
  }

  private pump(): void {
    while (this.running && this.inFlight.size < this.concurrency) {
      const key = this.ready.shift();
      if (key === undefined) return;
      this.inFlight.add(key);
      void this.process(key);
    }
  }

  private async process(key: string): Promise<void> {
    let next: number | undefined;
    try {
      next = (await this.worker(key)).requeueAfterMs;
      this.failures.delete(key);
    } catch (error) {
      const attempt = this.failures.get(key) ?? 0;
      this.failures.set(key, attempt + 1);
      next = backoffDelay(attempt, this.backoff);
      this.onError(key, error);
    }
    this.inFlight.delete(key);
    if (this.dirty.delete(key)) this.enqueue(key);
    else if (next !== undefined) this.add(key, next);
    if (this.inFlight.size === 0) {
      for (const resolve of this.idle) resolve();
      this.idle.clear();
    }
    this.pump();
  }
}
