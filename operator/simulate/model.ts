/**
 * A discrete-time model (1 s steps) of the replicator's projection stage: P partitions of one
 * topic, consumed by the ready pods of a Deployment through one consumer group.
 *
 * What it captures, because each one changes what an autoscaler sees or achieves:
 * - arrivals spread over the partitions with Poisson-like noise;
 * - FIFO per partition, so lag is the age of the oldest waiting event;
 * - each ready pod applies up to its noisy capacity per second, over its own partitions only (an
 *   uneven assignment leaves some pods overloaded while others idle);
 * - a new pod consumes only after its start delay;
 * - every change of the ready set is an eager (kafkajs) rebalance: all consumers stop for a pause.
 * What it leaves out: Prometheus scrape and rate-window delays beyond the 1 min rate, per-event
 * cost differences, broker limits, crashes.
 */
import type { Random } from './random.js';

export interface ModelParams {
  partitions: number;
  /** μ: events/s one busy pod applies, on average. */
  replicaRate: number;
  /** Standard deviation of a pod's capacity in one second, relative to replicaRate. */
  replicaRateNoise: number;
  /** Seconds from a scale-up to the new pod consuming (schedule, start, connect). */
  podStartSeconds: number;
  /** Seconds every consumer stops for when the group's membership changes. */
  rebalancePauseSeconds: number;
  initialReplicas: number;
}

/** What happened in one second. */
export interface Second {
  arrived: number;
  applied: number;
  /** Pod-seconds spent applying: applied / capacity, summed over the pods. */
  busySeconds: number;
  /** Age of the oldest waiting event over all partitions, seconds; 0 when nothing waits. */
  lagSeconds: number;
  backlog: number;
  /** Pods that exist (starting or ready): what the Deployment costs. */
  pods: number;
  readyPods: number;
}

interface Partition {
  /** Waiting events grouped by the second they arrived in, oldest first from `head`. */
  queue: { second: number; count: number }[];
  head: number;
  backlog: number;
}

export class Cluster {
  private readonly partitions: Partition[];
  /** The second each pod is (or will be) ready from. */
  private pods: number[];
  private readyPods: number;
  private pausedUntil = 0;
  arrived = 0;
  applied = 0;

  constructor(
    private readonly params: ModelParams,
    private readonly arrivals: Random,
    private readonly service: Random,
  ) {
    this.partitions = Array.from({ length: params.partitions }, () => ({ queue: [], head: 0, backlog: 0 }));
    this.pods = Array.from({ length: params.initialReplicas }, () => 0);
    this.readyPods = params.initialReplicas;
  }

  /** The Deployment's replica count, which is what an autoscaler reads from the scale subresource. */
  get replicas(): number {
    return this.pods.length;
  }

  get backlog(): number {
    return this.partitions.reduce((sum, partition) => sum + partition.backlog, 0);
  }

  /**
   * Sets the replica count from second `at` on. Like a ReplicaSet scaling down, it removes pods
   * that are not ready yet first: those leave the group without a rebalance.
   */
  scaleTo(replicas: number, at: number): void {
    if (replicas > this.pods.length) {
      const added = replicas - this.pods.length;
      this.pods.push(...Array.from({ length: added }, () => at + this.params.podStartSeconds));
    } else {
      this.pods = this.pods.sort((a, b) => a - b).slice(0, replicas);
      this.updateReadySet(at);
    }
  }

  /** Advances by second `t` with a mean arrival rate of `rate` events/s. */
  step(t: number, rate: number): Second {
    this.updateReadySet(t);
    const perPartition = rate / this.params.partitions;
    let arrived = 0;
    for (const partition of this.partitions) {
      const count = this.arrivals.round(
        Math.max(0, perPartition + Math.sqrt(perPartition) * this.arrivals.normal()),
      );
      if (count > 0) partition.queue.push({ second: t, count });
      partition.backlog += count;
      arrived += count;
    }

    let applied = 0;
    let busySeconds = 0;
    if (t >= this.pausedUntil) {
      for (let pod = 0; pod < this.readyPods; pod++) {
        const capacity =
          this.params.replicaRate * Math.max(0, 1 + this.params.replicaRateNoise * this.service.normal());
        const done = this.consume(this.assigned(pod), this.service.round(capacity));
        applied += done;
        if (capacity > 0) busySeconds += Math.min(1, done / capacity);
      }
    }
    this.arrived += arrived;
    this.applied += applied;
    return {
      arrived,
      applied,
      busySeconds,
      lagSeconds: this.lagSeconds(t),
      backlog: this.backlog,
      pods: this.pods.length,
      readyPods: this.readyPods,
    };
  }

  /** A ready set that changed, by a pod becoming ready or a ready pod leaving, stops the group. */
  private updateReadySet(t: number): void {
    const ready = this.pods.filter((readyAt) => readyAt <= t).length;
    if (ready !== this.readyPods) this.pausedUntil = t + this.params.rebalancePauseSeconds;
    this.readyPods = ready;
  }

  /** Round-robin assignment over the ready pods, as a rebalance hands them out. */
  private assigned(pod: number): Partition[] {
    return this.partitions.filter((_, index) => index % this.readyPods === pod);
  }

  /**
   * Applies up to `capacity` events over `partitions`, sharing it evenly and passing what a short
   * partition leaves unused on to the longer ones (water-filling): a consumer polls all of its
   * partitions, so none starves while another has events.
   */
  private consume(partitions: Partition[], capacity: number): number {
    const byBacklog = [...partitions].sort((a, b) => a.backlog - b.backlog);
    let left = capacity;
    byBacklog.forEach((partition, index) => {
      const share = Math.floor(left / (byBacklog.length - index));
      left -= this.take(partition, Math.min(share, partition.backlog));
    });
    return capacity - left;
  }

  private take(partition: Partition, count: number): number {
    let remaining = count;
    while (remaining > 0) {
      const oldest = partition.queue[partition.head];
      if (oldest === undefined) break;
      const taken = Math.min(remaining, oldest.count);
      oldest.count -= taken;
      remaining -= taken;
      if (oldest.count === 0) partition.head++;
    }
    // Drops consumed entries now and then rather than shifting the array every second.
    if (partition.head > 1024) {
      partition.queue = partition.queue.slice(partition.head);
      partition.head = 0;
    }
    partition.backlog -= count - remaining;
    return count - remaining;
  }

  private lagSeconds(t: number): number {
    return Math.max(
      0,
      ...this.partitions.map((partition) => {
        const oldest = partition.queue[partition.head];
        return oldest === undefined ? 0 : t - oldest.second;
      }),
    );
  }
}
