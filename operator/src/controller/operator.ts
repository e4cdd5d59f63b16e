/**
 * The operator: an informer on ReplicationLags in one namespace (kept by every replica, so a new
 * leader starts with a warm cache), a work queue that runs the reconciler, and the leader election
 * that decides which replica's queue runs.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from '@pulse/core/logger';
import { GROUP, PLURAL, VERSION } from '../api/constants.js';
import type { ReplicationLag } from '../api/types.js';
import { EventRecorder } from './events.js';
import { SupervisedInformer, type Backoff } from './informer.js';
import type { KubeClients } from './kube.js';
import { LeaderElector, type LeaderElectionOptions } from './leader.js';
import type { OperatorMetrics } from './metrics.js';
import { WorkQueue } from './queue.js';
import { Reconciler, resourceKey, type ReconcilerOptions } from './reconciler.js';

export interface OperatorOptions {
  namespace: string;
  identity: string;
  /** Undefined: no election, this process always acts (one replica, or a test). */
  leaderElection: Omit<LeaderElectionOptions, 'namespace' | 'identity'> | undefined;
  concurrency: number;
  backoff: Backoff;
  watchTimeoutSeconds: number;
  reconciler: ReconcilerOptions;
}

export interface OperatorDeps {
  kube: KubeClients;
  metrics: OperatorMetrics;
  tracer: Tracer;
  logger: Logger;
}

/**
 * A ReplicationLag as the informer holds it. The watch delivers raw JSON (creationTimestamp is a
 * string), which the client's object type calls a Date; nothing here reads that field.
 */
type WatchedReplicationLag = ReplicationLag & KubernetesObject;

interface ReplicationLagList {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string };
  items: WatchedReplicationLag[];
}

export class Operator {
  private readonly informer: SupervisedInformer<WatchedReplicationLag>;
  private readonly reconciler: Reconciler;
  private readonly queue: WorkQueue;
  private readonly elector: LeaderElector | undefined;

  constructor(
    private readonly options: OperatorOptions,
    private readonly deps: OperatorDeps,
  ) {
    const { kube, metrics, logger } = deps;
    const { namespace } = options;
    this.informer = new SupervisedInformer<WatchedReplicationLag>({
      resource: PLURAL,
      path: `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
      list: async () =>
        (await kube.customObjects.listNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
        })) as ReplicationLagList,
      config: kube.config,
      logger,
      metrics,
      backoff: options.backoff,
      watchTimeoutSeconds: options.watchTimeoutSeconds,
    });
    this.reconciler = new Reconciler({
      cache: this.informer.informer,
      kube,
      events: new EventRecorder(kube.events, options.identity, logger),
      metrics,
      tracer: deps.tracer,
      logger,
      options: options.reconciler,
    });
    this.queue = new WorkQueue(
      this.reconciler.reconcile,
      options.concurrency,
      options.backoff,
      (key, error) => {
        logger.error({ err: error, resource: key }, 'reconcile failed; retrying with backoff');
      },
    );
    this.elector =
      options.leaderElection === undefined
        ? undefined
        : new LeaderElector(
            kube.coordination,
            { ...options.leaderElection, namespace, identity: options.identity },
            {
              onStartedLeading: () => {
                this.startActing();
              },
              onStoppedLeading: () => this.stopActing(),
            },
            logger,
          );
    this.watchResources();
  }

  /** Ready once the cache is filled and the watch is up, leader or not. */
  get ready(): boolean {
    return this.informer.ready;
  }

  start(): void {
    this.informer.start();
    if (this.elector === undefined) this.startActing();
    else this.elector.start();
  }

  /** Stops acting, releases the lease (so a successor takes over at once) and stops watching. */
  async stop(): Promise<void> {
    if (this.elector === undefined) await this.stopActing();
    else await this.elector.stop();
    await this.informer.stop();
  }

  private watchResources(): void {
    const key = (resource: ReplicationLag) =>
      resourceKey(resource.metadata.namespace ?? '', resource.metadata.name ?? '');
    const { informer } = this.informer;
    informer.on('add', (resource) => {
      this.queue.add(key(resource));
    });
    informer.on('update', (resource) => {
      // Our own status writes come back as updates too; only a spec change (a new generation)
      // warrants a reconcile before the next poll.
      if (resource.status?.observedGeneration !== resource.metadata.generation) this.queue.add(key(resource));
    });
    informer.on('delete', (resource) => {
      this.queue.forget(key(resource));
      // Runs the reconciler once more, which finds the resource gone and drops its history.
      this.queue.add(key(resource));
    });
  }

  private startActing(): void {
    this.deps.metrics.leader.set(1);
    this.queue.start();
    // Level-triggered: everything in the cache, now; resources that arrive later come as adds.
    for (const resource of this.informer.informer.list()) {
      this.queue.add(resourceKey(resource.metadata.namespace ?? '', resource.metadata.name ?? ''));
    }
  }

  private async stopActing(): Promise<void> {
    this.deps.metrics.leader.set(0);
    await this.queue.stop();
    this.reconciler.forgetAll();
  }
}
