/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
   The client declares its API models as classes, but serializes any object of the right shape by
   the model's name and never checks instanceof: plain objects are its documented usage. */
/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does it
 * (@kubernetes/client-node 1.x has none): the leader renews the lease every retry period; a
 * candidate takes it over once it has seen the same record, unrenewed, for a whole lease duration
 * by its own clock (so clock skew between nodes does not matter); every write is conditional on
 * the resourceVersion read, so two candidates cannot both win. A leader that cannot renew within
 * the renew deadline (shorter than the lease duration) stops acting before anyone else may start.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '@pulse/core/logger';
import { httpStatus } from './kube.js';

export interface LeaderElectionOptions {
  namespace: string;
  leaseName: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaderCallbacks {
  onStartedLeading: () => void;
  /** Must stop acting at once: another replica may take over after the lease duration. */
  onStoppedLeading: () => Promise<void>;
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly wake = new AbortController();
  /** The last lease record seen, and when (monotonic ms) it was first seen. */
  private observed: { key: string; at: number } | undefined;

  constructor(
    private readonly api: CoordinationV1Api,
    private readonly options: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.loop = this.run();
  }

  /** Stops competing; a leader steps down and releases the lease, so a successor need not wait. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
    await this.loop;
    if (this.leading) {
      await this.stepDown('shutting down');
      await this.release();
    }
  }

  private async run(): Promise<void> {
    let lastRenew = performance.now();
    while (!this.stopped) {
      const acquired = await this.tryAcquireOrRenew().catch((error: unknown) => {
        this.logger.warn({ err: error, lease: this.options.leaseName }, 'lease request failed');
        return false;
      });
      // A lease won while stop() waited for this loop is released by stop() itself.
      if (acquired) {
        lastRenew = performance.now();
        if (!this.leading) {
          this.leading = true;
          this.logger.info(
            { lease: this.options.leaseName, identity: this.options.identity },
            'became leader',
          );
          this.callbacks.onStartedLeading();
        }
      } else if (this.leading && performance.now() - lastRenew >= this.options.renewDeadlineMs) {
        await this.stepDown('could not renew the lease within the renew deadline');
      }
      await sleep(this.options.retryPeriodMs, undefined, { signal: this.wake.signal }).catch(() => undefined);
    }
  }

  private async stepDown(why: string): Promise<void> {
    this.leading = false;
    this.logger.warn({ lease: this.options.leaseName, why }, 'stopped leading');
    await this.callbacks.onStoppedLeading();
  }

  /** Whether this process holds the lease after the attempt. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, leaseName: name, identity } = this.options;
    const leaseDurationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (error) {
      if (httpStatus(error) !== 404) throw error;
      return this.write(() =>
        this.api.createNamespacedLease({
          namespace,
          body: {
            metadata: { name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        }),
      );
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    this.observe(lease);
    const heldByOther = holder !== '' && holder !== identity;
    if (heldByOther && !this.expired(spec.leaseDurationSeconds)) return false;
    const takeover = holder !== identity;
    return this.write(() =>
      this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: lease.metadata,
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds,
            acquireTime: takeover ? now : (microTime(spec.acquireTime) ?? now),
            renewTime: now,
            leaseTransitions: (spec.leaseTransitions ?? 0) + (takeover && holder !== '' ? 1 : 0),
          },
        },
      }),
    );
  }

  /** A conditional write: true if it went through, false if another candidate wrote first (409). */
  private async write(request: () => Promise<V1Lease>): Promise<boolean> {
    try {
      this.observe(await request());
      return true;
    } catch (error) {
      if (httpStatus(error) === 409) return false;
      throw error;
    }
  }

  private observe(lease: V1Lease): void {
    // String(): the client hands MicroTime fields back as strings, whatever their declared type.
    const key = `${lease.spec?.holderIdentity ?? ''}@${String(lease.spec?.renewTime)}`;
    if (this.observed?.key !== key) this.observed = { key, at: performance.now() };
  }

  private expired(leaseDurationSeconds: number | undefined): boolean {
    const duration = (leaseDurationSeconds ?? this.options.leaseDurationMs / 1000) * 1000;
    return this.observed !== undefined && performance.now() - this.observed.at >= duration;
  }

  /** Hands the lease back: an empty holder that anyone may take at once. */
  private async release(): Promise<void> {
    const { namespace, leaseName: name, identity } = this.options;
    try {
      const lease = await this.api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          metadata: lease.metadata,
          // MicroTime fields are rebuilt: the client reads them back as plain Dates, which it
          // would write with millisecond precision that the API server refuses for a MicroTime.
          spec: {
            holderIdentity: '',
            leaseDurationSeconds: 1,
            acquireTime: microTime(lease.spec.acquireTime),
            renewTime: new V1MicroTime(),
            leaseTransitions: lease.spec.leaseTransitions,
          },
        },
      });
      this.logger.info({ lease: name }, 'released the lease');
    } catch (error) {
      // The lease then expires on its own; the successor only waits longer.
      this.logger.warn({ err: error, lease: name }, 'could not release the lease');
    }
  }
}

/** A MicroTime read back (a string at run time, though typed as a Date) in a form the client writes. */
const microTime = (date: Date | undefined): V1MicroTime | undefined =>
  date === undefined ? undefined : new V1MicroTime(date);
