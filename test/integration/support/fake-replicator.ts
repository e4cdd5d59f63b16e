/**
 * The replicator's load without a replicator: an HTTP endpoint serving its metric names with values
 * a test sets, for a real Prometheus to scrape and the operator to read through PromQL.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The replicator's load, as its metrics would show it; undefined serves no metrics at all. */
export interface Load {
  /** Events published per second (λ). */
  publishedPerSecond: number;
  /** Events applied per second, and the fraction of time spent applying them (μ = applied / busy). */
  appliedPerSecond: number;
  busyFraction: number;
  backlogPerPartition: number[];
  relayLagSeconds: number;
  relayUnpublished: number;
  projectionLagSeconds: number;
  replicaLagSeconds: number;
}

/**
 * Serves the replicator's metrics in the Prometheus text format. Counters advance with the time
 * between scrapes at the configured rates, so that `rate()` over them gives those rates back.
 */
export class FakeReplicatorMetrics {
  load: Load | undefined;
  private readonly server: Server;
  private counters = { published: 0, applied: 0, busySeconds: 0, batches: 0 };
  private lastScrape = performance.now();

  constructor() {
    this.server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(this.exposition());
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
  }

  private exposition(): string {
    const now = performance.now();
    const seconds = (now - this.lastScrape) / 1000;
    this.lastScrape = now;
    const load = this.load;
    if (load === undefined) return '';
    this.counters.published += load.publishedPerSecond * seconds;
    this.counters.applied += load.appliedPerSecond * seconds;
    this.counters.busySeconds += load.busyFraction * seconds;
    this.counters.batches += Math.ceil(seconds);
    const { published, applied, busySeconds, batches } = this.counters;
    return [
      '# TYPE pulse_relay_published_total counter',
      `pulse_relay_published_total ${published}`,
      '# TYPE pulse_projection_applied_total counter',
      `pulse_projection_applied_total ${applied}`,
      '# TYPE pulse_projection_apply_duration_seconds histogram',
      `pulse_projection_apply_duration_seconds_bucket{le="+Inf"} ${batches}`,
      `pulse_projection_apply_duration_seconds_sum ${busySeconds}`,
      `pulse_projection_apply_duration_seconds_count ${batches}`,
      '# TYPE pulse_projection_backlog_events gauge',
      ...load.backlogPerPartition.map((b, p) => `pulse_projection_backlog_events{partition="${p}"} ${b}`),
      '# TYPE pulse_projection_current_lag_seconds gauge',
      `pulse_projection_current_lag_seconds{partition="0"} ${load.projectionLagSeconds}`,
      '# TYPE pulse_relay_lag_seconds gauge',
      `pulse_relay_lag_seconds ${load.relayLagSeconds}`,
      '# TYPE pulse_relay_unpublished_events gauge',
      `pulse_relay_unpublished_events ${load.relayUnpublished}`,
      '# TYPE pulse_replica_lag_seconds gauge',
      `pulse_replica_lag_seconds ${load.replicaLagSeconds}`,
      '',
    ].join('\n');
  }
}

/** λ 100/s, μ 200/s, 20 000 events waiting on 4 partitions: (100 + 20000/10) / 200 = 11 replicas. */
export const BACKLOGGED: Load = {
  publishedPerSecond: 100,
  appliedPerSecond: 100,
  busyFraction: 0.5,
  backlogPerPartition: [5000, 5000, 5000, 5000],
  relayLagSeconds: 1.5,
  relayUnpublished: 30,
  projectionLagSeconds: 3,
  replicaLagSeconds: 0.1,
};
