/* eslint-disable @typescript-eslint/no-unsafe-class-instance-assignment --
   The client declares its API models as classes, but serializes any object of the right shape by
   the model's name and never checks instanceof: plain objects are its documented usage. */
/**
 * Kubernetes Events (events.k8s.io/v1) about a ReplicationLag, so `kubectl describe rlag` and
 * `kubectl get events` tell the scaling history. Recording is best effort: an event that cannot be
 * written is logged, and never fails the reconcile that decided.
 */
import { randomBytes } from 'node:crypto';
import { V1MicroTime, type EventsV1Api } from '@kubernetes/client-node';
import type { Logger } from '@pulse/core/logger';
import { API_VERSION, KIND } from '../api/constants.js';
import type { ReplicationLag } from '../api/types.js';

export const REPORTING_CONTROLLER = 'pulse.dev/replicationlag-operator';

export interface EventToRecord {
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. ScaledUp. */
  reason: string;
  /** What the operator did, e.g. Scale. */
  action: string;
  note: string;
  related?: { apiVersion: string; kind: string; name: string };
}

// The API server rejects a note longer than this.
const MAX_NOTE = 1024;

export class EventRecorder {
  constructor(
    private readonly api: EventsV1Api,
    private readonly instance: string,
    private readonly logger: Logger,
  ) {}

  async record(resource: ReplicationLag, event: EventToRecord): Promise<void> {
    const { name = '', namespace = '', uid, resourceVersion } = resource.metadata;
    try {
      await this.api.createNamespacedEvent({
        namespace,
        body: {
          // Unique per occurrence, as client-go names them: `<object>.<hex>`.
          metadata: {
            name: `${name}.${Date.now().toString(16)}${randomBytes(4).toString('hex')}`,
            namespace,
          },
          eventTime: new V1MicroTime(),
          reportingController: REPORTING_CONTROLLER,
          reportingInstance: this.instance,
          action: event.action,
          reason: event.reason,
          type: event.type,
          note: event.note.slice(0, MAX_NOTE),
          regarding: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid, resourceVersion },
          ...(event.related === undefined ? {} : { related: { ...event.related, namespace } }),
        },
      });
    } catch (error) {
      this.logger.warn(
        { err: error, resource: `${namespace}/${name}`, reason: event.reason },
        'event not recorded',
      );
    }
  }
}
