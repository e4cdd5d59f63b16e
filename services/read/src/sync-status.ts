/**
 * /sync-status: lag and backlog of each stage of the pipeline, measured where it happens. The
 * projection backlog comes from Kafka's log-end offsets against the offsets the projectors stored
 * (the replicator's own definition, projectionBacklog); the rest from the databases.
 */
import type { Admin } from 'kafkajs';
import type pg from 'pg';
import type { HistoryRouter, ReplicaReport } from './history-router.js';
import { projectionBacklog, relayState, type RelayState } from '@pulse/replicator';
import { applyProgress, type ApplyProgress } from './repositories/positions.js';
import type { Stage } from './schemas.js';

/**
 * The projection's lag: the last applied event's commit-to-applied time while the projectors keep
 * up; with a backlog, the events waiting are at least as old as the time since anything was
 * applied, so a stalled projector shows a growing lag instead of its last good figure.
 */
export function projectionLagSeconds(progress: ApplyProgress, backlog: number | null): number | null {
  if (progress.lastLagSeconds === null) return backlog ? null : 0;
  if (!backlog) return progress.lastLagSeconds;
  return Math.max(progress.lastLagSeconds, progress.sinceLastApplySeconds ?? 0);
}

export interface Measurements {
  relay: RelayState;
  progress: ApplyProgress;
  /** Backlog per partition; undefined when Kafka was not asked or did not answer. */
  partitions: Map<number, number> | undefined;
  kafkaError: string | undefined;
  replicas: ReplicaReport[];
}

export function stagesOf(m: Measurements): Stage[] {
  const backlog = m.partitions ? [...m.partitions.values()].reduce((sum, n) => sum + n, 0) : null;
  const up = m.replicas.filter((replica) => replica.up);
  const worst = (values: (number | null)[]) =>
    values.length === 0 ? null : Math.max(...values.map((value) => value ?? Infinity));
  return [
    { name: 'relay', lag_seconds: m.relay.lagSeconds, backlog: m.relay.unpublished, detail: {} },
    {
      name: 'projection',
      lag_seconds: projectionLagSeconds(m.progress, backlog),
      backlog,
      detail: {
        partitions: m.partitions
          ? [...m.partitions].map(([partition, events]) => ({ partition, backlog: events }))
          : null,
        seconds_since_last_apply: m.progress.sinceLastApplySeconds,
        ...(m.kafkaError ? { error: m.kafkaError } : {}),
      },
    },
    {
      name: 'replica',
      lag_seconds: worst(up.map((replica) => replica.lag_seconds)),
      backlog: worst(up.map((replica) => replica.lag_bytes)),
      detail: { replicas: m.replicas },
    },
  ];
}

export interface SyncSources {
  primary: pg.Pool;
  projection: pg.Pool;
  history: HistoryRouter;
  /** Kafka admin client, connected; undefined when no brokers are configured. */
  kafka: { admin: Admin; topic: string; groupId: string } | undefined;
}

export async function measure(sources: SyncSources): Promise<Measurements> {
  const backlog = sources.kafka
    ? projectionBacklog({ ...sources.kafka, projectionPool: sources.projection }).then(
        (partitions) => ({ partitions, error: undefined }),
        (error: unknown) => ({ partitions: undefined, error: `kafka: ${(error as Error).message}` }),
      )
    : Promise.resolve({ partitions: undefined, error: 'no Kafka brokers configured' });
  const [relay, progress, kafka, replicas] = await Promise.all([
    relayState(sources.primary),
    applyProgress(sources.projection),
    backlog,
    sources.history.report(),
  ]);
  return { relay, progress, partitions: kafka.partitions, kafkaError: kafka.error, replicas };
}
