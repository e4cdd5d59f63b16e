/** The replicator's Prometheus metrics: `pulse_<stage>_<what>_<unit>`. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface RelayMetrics {
  published: Counter;
  publishDuration: Histogram;
  producerResets: Counter;
  leader: Gauge;
  lag: Gauge;
  unpublished: Gauge;
}

export interface ProjectionMetrics {
  applied: Counter;
  duplicates: Counter;
  lag: Histogram;
  currentLag: Gauge<'partition'>;
  backlog: Gauge<'partition'>;
  applyDuration: Histogram;
  partitionsPerTransaction: Histogram;
  deadLetters: Counter<'reason'>;
  deadLettersPending: Gauge;
  rebalances: Counter;
  consumerRestarts: Counter;
  assignedPartitions: Gauge;
}

export function createRelayMetrics(registry: Registry): RelayMetrics {
  const registers = [registry];
  return {
    published: new Counter({
      name: 'pulse_relay_published_total',
      help: 'Outbox events published to Kafka and acknowledged',
      registers,
    }),
    publishDuration: new Histogram({
      name: 'pulse_relay_publish_duration_seconds',
      help: 'Time to publish one batch and receive the acknowledgement',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    producerResets: new Counter({
      name: 'pulse_relay_producer_resets_total',
      help: 'Kafka producers replaced because the broker had lost their sequence state',
      registers,
    }),
    leader: new Gauge({
      name: 'pulse_relay_leader',
      help: '1 while this process holds the relay lock',
      registers,
    }),
    lag: new Gauge({
      name: 'pulse_relay_lag_seconds',
      help: 'Age of the oldest unpublished outbox row (reported by the relay leader)',
      registers,
    }),
    unpublished: new Gauge({
      name: 'pulse_relay_unpublished_events',
      help: 'Outbox rows not yet published (reported by the relay leader)',
      registers,
    }),
  };
}

export function createProjectionMetrics(registry: Registry): ProjectionMetrics {
  const registers = [registry];
  return {
    applied: new Counter({
      name: 'pulse_projection_applied_total',
      help: 'Events applied to the projection database',
      registers,
    }),
    duplicates: new Counter({
      name: 'pulse_projection_duplicates_total',
      help: 'Redelivered or republished events skipped because their id was already applied',
      registers,
    }),
    lag: new Histogram({
      name: 'pulse_projection_lag_seconds',
      help: 'applied_at - recorded_at of applied events: write commit to visible in the projection',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    }),
    currentLag: new Gauge({
      name: 'pulse_projection_current_lag_seconds',
      help: 'Lag of the last applied batch, per partition',
      labelNames: ['partition'],
      registers,
    }),
    backlog: new Gauge({
      name: 'pulse_projection_backlog_events',
      help: 'Log-end offset minus next offset to apply, per partition (reported by the relay leader)',
      labelNames: ['partition'],
      registers,
    }),
    applyDuration: new Histogram({
      name: 'pulse_projection_apply_duration_seconds',
      help: 'Time to apply one partition batch (in a projection-DB transaction it may share with the other partitions of its fetch)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    partitionsPerTransaction: new Histogram({
      name: 'pulse_projection_partitions_per_transaction',
      help: 'Partition batches applied by one projection-DB transaction',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    }),
    deadLetters: new Counter({
      name: 'pulse_projection_dead_letters_total',
      help: 'Events that could not be applied and went to dead_letters',
      labelNames: ['reason'],
      registers,
    }),
    deadLettersPending: new Gauge({
      name: 'pulse_projection_dead_letters_pending',
      help: 'Dead letters not yet replayed (reported by the relay leader)',
      registers,
    }),
    rebalances: new Counter({
      name: 'pulse_projection_rebalances_total',
      help: 'Consumer group joins of this projector',
      registers,
    }),
    consumerRestarts: new Counter({
      name: 'pulse_projection_consumer_restarts_total',
      help: 'Times kafkajs stopped the consumer for good (an error it does not retry) and the projector started it again',
      registers,
    }),
    assignedPartitions: new Gauge({
      name: 'pulse_projection_assigned_partitions',
      help: 'Partitions assigned to this projector',
      registers,
    }),
  };
}
