/**
 * An informer (list, then watch, into a cache) that keeps itself alive. The client's ListWatch
 * already re-lists on 410 Gone and re-watches when the server ends a watch, but on any other
 * failure (connection refused or reset, an API server restart, a failed list) it reports an error
 * and stops for good. This wraps it: every error restarts it after an exponential backoff, and
 * a health gauge and a restart counter say how it is doing.
 */
import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '@pulse/core/logger';
import type { OperatorMetrics } from './metrics.js';

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** Exponential with full jitter, so that many replicas do not hammer a recovering server in step. */
export function backoffDelay(attempt: number, backoff: Backoff, random = Math.random): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * A watch that asks the server to end it after `timeoutSeconds` (a clean end, after which ListWatch
 * resumes from its resourceVersion) and gives up on its own a little later: a connection that died
 * without a FIN (a node gone, a NAT entry dropped) would otherwise leave the informer waiting
 * forever. It also reports when a watch has been established, which is when the informer is
 * healthy again.
 */
class DeadlineWatch extends Watch {
  constructor(
    config: ConstructorParameters<typeof Watch>[0],
    private readonly timeoutSeconds: number,
    private readonly onEstablished: () => void,
  ) {
    super(config);
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    // An object, not a let: TypeScript cannot see the callback below change a local.
    const state: { ended: boolean; deadline?: NodeJS.Timeout } = { ended: false };
    const controller = await super.watch(
      path,
      { ...queryParams, timeoutSeconds: this.timeoutSeconds, allowWatchBookmarks: true },
      callback,
      (err) => {
        state.ended = true;
        clearTimeout(state.deadline);
        done(err);
      },
    );
    if (!state.ended) {
      this.onEstablished();
      state.deadline = setTimeout(
        () => {
          controller.abort();
        },
        (this.timeoutSeconds + 30) * 1000,
      );
      state.deadline.unref();
    }
    return controller;
  }
}

export interface SupervisedInformerOptions<T extends KubernetesObject> {
  /** For logs and metric labels, e.g. replicationlags. */
  resource: string;
  /** The watch path, e.g. /apis/pulse.dev/v1alpha1/namespaces/pulse/replicationlags. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  config: ConstructorParameters<typeof Watch>[0];
  logger: Logger;
  metrics: OperatorMetrics;
  backoff: Backoff;
  watchTimeoutSeconds: number;
}

export class SupervisedInformer<T extends KubernetesObject> {
  readonly informer: ListWatch<T>;
  private attempts = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  private listed = false;
  private healthy = false;

  constructor(private readonly options: SupervisedInformerOptions<T>) {
    const watch = new DeadlineWatch(options.config, options.watchTimeoutSeconds, () => {
      this.setHealthy(true);
    });
    const list = async () => {
      const result = await options.list();
      this.listed = true;
      return result;
    };
    this.informer = new ListWatch<T>(options.path, watch, list, false);
    this.informer.on('error', (error: unknown) => {
      this.onError(error);
    });
  }

  /** Whether the cache has been filled once and the watch is up: what /readyz reports. */
  get ready(): boolean {
    return this.listed && this.healthy;
  }

  start(): void {
    this.stopped = false;
    this.setHealthy(false);
    this.run();
  }

  private run(): void {
    // ListWatch reports most failures through 'error'; the rest (a kubeconfig without a cluster)
    // reject, and are handled the same way.
    this.informer.start().catch((error: unknown) => {
      this.onError(error);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  private setHealthy(healthy: boolean): void {
    this.healthy = healthy;
    if (healthy) this.attempts = 0;
    this.options.metrics.watchHealthy.set({ resource: this.options.resource }, healthy ? 1 : 0);
  }

  private onError(error: unknown): void {
    this.setHealthy(false);
    if (this.stopped) return;
    const delay = backoffDelay(this.attempts, this.options.backoff);
    this.attempts += 1;
    this.options.metrics.watchRestarts.inc({ resource: this.options.resource });
    this.options.logger.warn(
      { err: error, resource: this.options.resource, attempt: this.attempts, delayMs: delay },
      'watch failed; restarting',
    );
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) this.run();
    }, delay);
  }
}
