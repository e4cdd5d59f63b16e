/**
 * The ReplicationLag CustomResourceDefinition, the single source of the YAML in the Helm chart and
 * in manifests/ (render-crd.ts prints it). Defaults, bounds, patterns and CEL rules come from
 * constants.ts, which the zod schema of spec.ts shares.
 */
import { stringify } from 'yaml';

import {
  API_VERSION,
  CEL_RULES,
  CONDITION_TYPES,
  CRD_NAME,
  DECISION_BASES,
  GROUP,
  KIND,
  LIMIT_REASONS,
  LIST_KIND,
  PLURAL,
  PROMETHEUS_ADDRESS_PATTERN,
  PROMETHEUS_QUERY_NAMES,
  RESOURCE_NAME_PATTERN,
  SCALE_TARGET_API_VERSIONS,
  SCALE_TARGET_KINDS,
  SCALING_POLICY_TYPES,
  SELECT_POLICIES,
  SHORT_NAMES,
  SINGULAR,
  SPEC_BOUNDS,
  SPEC_DEFAULTS,
  STAGE_NAMES,
  VERSION,
  type CelRule,
  type PrometheusQueryName,
  type ScalingRulesDefaults,
} from './constants.js';

/** The subset of the apiextensions.k8s.io/v1 JSONSchemaProps that this CRD uses. */
export interface JsonSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number';
  description?: string;
  format?: 'int32' | 'int64' | 'date-time';
  properties?: Record<string, JsonSchemaProps>;
  required?: string[];
  items?: JsonSchemaProps;
  default?: unknown;
  enum?: readonly string[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    group: string;
    scope: 'Namespaced';
    names: {
      kind: string;
      listKind: string;
      plural: string;
      singular: string;
      shortNames: string[];
      categories: string[];
    };
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: Record<string, never> };
      additionalPrinterColumns: PrinterColumn[];
      schema: { openAPIV3Schema: JsonSchemaProps };
    }[];
  };
}

type Bounds = { readonly min: number; readonly max?: number };

function boundedNumber(type: 'integer' | 'number', description: string, bounds: Bounds): JsonSchemaProps {
  return {
    type,
    description,
    minimum: bounds.min,
    ...(bounds.max === undefined ? {} : { maximum: bounds.max }),
  };
}

function boundedString(description: string, bounds: Bounds, pattern?: string): JsonSchemaProps {
  return {
    type: 'string',
    description,
    minLength: bounds.min,
    ...(bounds.max === undefined ? {} : { maxLength: bounds.max }),
    ...(pattern === undefined ? {} : { pattern }),
  };
}

const scalingPolicy: JsonSchemaProps = {
  type: 'object',
  description: 'At most `value` pods (Pods) or percent of the replicas (Percent) per `periodSeconds`.',
  required: ['type', 'value', 'periodSeconds'],
  properties: {
    type: { type: 'string', enum: SCALING_POLICY_TYPES, description: 'Pods or Percent.' },
    value: boundedNumber(
      'integer',
      'Pods, or percent of the replicas at the start of the period.',
      SPEC_BOUNDS.policyValue,
    ),
    periodSeconds: boundedNumber(
      'integer',
      'The sliding window the value applies to.',
      SPEC_BOUNDS.periodSeconds,
    ),
  },
};

function scalingRules(direction: 'up' | 'down', defaults: ScalingRulesDefaults): JsonSchemaProps {
  const window =
    direction === 'up'
      ? 'Scale up only to the lowest recommendation of this many past seconds (0: at once).'
      : 'Scale down only to the highest recommendation of this many past seconds.';
  return {
    type: 'object',
    description: `How fast to scale ${direction}.`,
    default: {},
    properties: {
      stabilizationWindowSeconds: {
        ...boundedNumber('integer', window, SPEC_BOUNDS.stabilizationWindowSeconds),
        default: defaults.stabilizationWindowSeconds,
      },
      policies: {
        type: 'array',
        description: `Step limits for scaling ${direction}; selectPolicy chooses among them.`,
        minItems: SPEC_BOUNDS.policies.min,
        maxItems: SPEC_BOUNDS.policies.max,
        items: scalingPolicy,
        'x-kubernetes-list-type': 'atomic',
        default: defaults.policies,
      },
      selectPolicy: {
        type: 'string',
        enum: SELECT_POLICIES,
        description: `Max: the policy allowing the largest change; Min: the smallest; Disabled: never scale ${direction}.`,
        default: defaults.selectPolicy,
      },
    },
    ...(direction === 'down' ? { 'x-kubernetes-validations': [CEL_RULES.scaleDownPercentAtMost100] } : {}),
  };
}

const queryDescriptions: Record<PrometheusQueryName, string> = {
  arrivalRate: 'Events per second entering the pipeline.',
  perReplicaRate: 'Events per second one busy replicator replica applies.',
  partitions: 'Partitions of the events topic.',
  relayLagSeconds: 'Age of the oldest unpublished outbox row, in seconds.',
  relayBacklog: 'Unpublished outbox rows.',
  projectionLagSeconds: 'Seconds from commit to applied in the projection database.',
  projectionBacklog: 'Kafka offsets not yet applied, summed over partitions.',
  replicaLagSeconds: 'Replay lag of the read replicas, in seconds.',
  replicaLagBytes: 'Replay lag of the read replicas, in bytes.',
};

const specSchema: JsonSchemaProps = {
  type: 'object',
  description: 'What to scale, on which metrics, and within which limits.',
  required: ['scaleTargetRef', 'prometheus', 'maxReplicas'],
  'x-kubernetes-validations': [CEL_RULES.minNotAboveMax, CEL_RULES.minNotAbovePartitions],
  properties: {
    scaleTargetRef: {
      type: 'object',
      description: 'The replicator Deployment, scaled through its scale subresource.',
      required: ['name'],
      properties: {
        apiVersion: {
          type: 'string',
          enum: SCALE_TARGET_API_VERSIONS,
          default: SPEC_DEFAULTS.scaleTargetRef.apiVersion,
          description: 'apps/v1.',
        },
        kind: {
          type: 'string',
          enum: SCALE_TARGET_KINDS,
          default: SPEC_DEFAULTS.scaleTargetRef.kind,
          description: 'Deployment.',
        },
        name: boundedString(
          'Name of the Deployment in this namespace.',
          SPEC_BOUNDS.name,
          RESOURCE_NAME_PATTERN,
        ),
      },
    },
    prometheus: {
      type: 'object',
      description: 'Where the lag metrics come from.',
      required: ['address'],
      properties: {
        address: boundedString(
          'Base URL of the Prometheus HTTP API, e.g. http://prometheus:9090.',
          SPEC_BOUNDS.address,
          PROMETHEUS_ADDRESS_PATTERN,
        ),
        queries: {
          type: 'object',
          description: 'PromQL replacing the built-in query for an input; each must return one number.',
          properties: Object.fromEntries(
            PROMETHEUS_QUERY_NAMES.map((name) => [
              name,
              boundedString(queryDescriptions[name], SPEC_BOUNDS.query),
            ]),
          ),
        },
      },
    },
    targetLagSeconds: {
      ...boundedNumber(
        'number',
        'Target lag, and the time within which a backlog should drain (T in docs/scaling-policy.md).',
        SPEC_BOUNDS.targetLagSeconds,
      ),
      default: SPEC_DEFAULTS.targetLagSeconds,
    },
    minReplicas: {
      ...boundedNumber('integer', 'Fewest replicas.', SPEC_BOUNDS.replicas),
      default: SPEC_DEFAULTS.minReplicas,
    },
    maxReplicas: boundedNumber(
      'integer',
      'Most replicas (further capped by partitions).',
      SPEC_BOUNDS.replicas,
    ),
    partitions: boundedNumber(
      'integer',
      'Partitions of the events topic, the cap on useful replicas; discovered from metrics when unset.',
      SPEC_BOUNDS.partitions,
    ),
    behavior: {
      type: 'object',
      description: 'Stabilization windows and step limits, as in a HorizontalPodAutoscaler.',
      default: {},
      properties: {
        scaleUp: scalingRules('up', SPEC_DEFAULTS.behavior.scaleUp),
        scaleDown: scalingRules('down', SPEC_DEFAULTS.behavior.scaleDown),
      },
    },
    tolerance: {
      ...boundedNumber(
        'number',
        'No change while the recommendation is within this fraction of the current replicas.',
        SPEC_BOUNDS.tolerance,
      ),
      default: SPEC_DEFAULTS.tolerance,
    },
    pollIntervalSeconds: {
      ...boundedNumber('integer', 'Seconds between two decisions.', SPEC_BOUNDS.pollIntervalSeconds),
      default: SPEC_DEFAULTS.pollIntervalSeconds,
    },
  },
};

const int64 = (description: string): JsonSchemaProps => ({
  type: 'integer',
  format: 'int64',
  minimum: 0,
  description,
});
const int32 = (description: string): JsonSchemaProps => ({
  type: 'integer',
  format: 'int32',
  minimum: 0,
  description,
});
const nonNegative = (description: string): JsonSchemaProps => ({ type: 'number', minimum: 0, description });
const dateTime = (description: string): JsonSchemaProps => ({
  type: 'string',
  format: 'date-time',
  description,
});

/** The standard metav1.Condition schema, with the types this resource reports. */
const conditionSchema: JsonSchemaProps = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', enum: CONDITION_TYPES, description: 'The aspect the condition reports on.' },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'], description: 'True, False or Unknown.' },
    observedGeneration: int64('The generation the condition was computed for.'),
    lastTransitionTime: dateTime('When status last changed.'),
    reason: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      description: 'CamelCase reason for the status.',
    },
    message: { type: 'string', maxLength: 32768, description: 'Human-readable details.' },
  },
};

const statusSchema: JsonSchemaProps = {
  type: 'object',
  description: 'What the controller measured and decided.',
  properties: {
    observedGeneration: int64('The spec generation this status reflects.'),
    target: { type: 'string', description: 'The scaled target, e.g. deploy/replicator.' },
    lag: { type: 'string', description: 'End-to-end lag (relay + projection), e.g. 0.4s.' },
    backlog: int64('Events written but not yet visible to readers (relay + projection).'),
    replicaLag: { type: 'string', description: 'Replay lag of the read replicas, e.g. 0.1s.' },
    stages: {
      type: 'array',
      description: 'Lag and backlog per stage.',
      maxItems: STAGE_NAMES.length,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: { type: 'string', enum: STAGE_NAMES, description: 'relay, projection or replica.' },
          lagSeconds: nonNegative('Lag of this stage in seconds.'),
          backlog: int64('Events waiting in this stage (relay, projection).'),
          lagBytes: int64('WAL not yet replayed (replica).'),
        },
      },
    },
    arrivalRate: nonNegative('Events per second entering the pipeline.'),
    perReplicaRate: nonNegative('Events per second one busy replica applies.'),
    partitions: int32('Partitions of the events topic.'),
    currentReplicas: int32('Replicas of the target when last observed.'),
    desiredReplicas: int32('Replicas the last decision asked for.'),
    lastScaleTime: dateTime('When the controller last changed the replica count.'),
    lastDecision: {
      type: 'object',
      description: 'The last scaling decision, explained.',
      required: ['time', 'basis', 'recommendation', 'desired', 'reason'],
      properties: {
        time: dateTime('When the decision was taken.'),
        basis: { type: 'string', enum: DECISION_BASES, description: 'throughput, lagRatio or hold.' },
        recommendation: int32('Replicas the metrics alone asked for.'),
        desired: int32('Replicas after tolerance, stabilization, step limits and bounds.'),
        reason: { type: 'string', maxLength: 4096, description: 'The decision in a sentence.' },
        limitedBy: { type: 'string', enum: LIMIT_REASONS, description: 'What held the recommendation back.' },
      },
    },
    conditions: {
      type: 'array',
      description: 'Ready, MetricsAvailable, ScalingLimited, LagWithinTarget.',
      maxItems: CONDITION_TYPES.length,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: conditionSchema,
    },
  },
};

/** The columns of `kubectl get rlag`, in the design brief's order; -o wide adds the last two. */
const printerColumns: PrinterColumn[] = [
  { name: 'TARGET', type: 'string', jsonPath: '.status.target', description: 'The scaled Deployment.' },
  { name: 'LAG', type: 'string', jsonPath: '.status.lag', description: 'End-to-end replication lag.' },
  { name: 'BACKLOG', type: 'integer', jsonPath: '.status.backlog', description: 'Events not yet visible.' },
  { name: 'RATE/S', type: 'number', jsonPath: '.status.arrivalRate', description: 'Events per second in.' },
  {
    name: 'REPLICAS',
    type: 'integer',
    jsonPath: '.status.currentReplicas',
    description: 'Current replicas.',
  },
  { name: 'DESIRED', type: 'integer', jsonPath: '.status.desiredReplicas', description: 'Desired replicas.' },
  { name: 'REPLICA-LAG', type: 'string', jsonPath: '.status.replicaLag', description: 'Read replica lag.' },
  { name: 'AGE', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'Age of the resource.' },
  {
    name: 'LIMITED-BY',
    type: 'string',
    jsonPath: '.status.lastDecision.limitedBy',
    description: 'What held the last decision back.',
    priority: 1,
  },
  {
    name: 'READY',
    type: 'string',
    jsonPath: '.status.conditions[?(@.type=="Ready")].status',
    description: 'The Ready condition.',
    priority: 1,
  },
];

export const replicationLagCrd: CustomResourceDefinition = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: CRD_NAME, labels: { 'app.kubernetes.io/part-of': 'pulse' } },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: {
      kind: KIND,
      listKind: LIST_KIND,
      plural: PLURAL,
      singular: SINGULAR,
      shortNames: [...SHORT_NAMES],
      categories: ['pulse'],
    },
    versions: [
      {
        name: VERSION,
        served: true,
        storage: true,
        subresources: { status: {} },
        additionalPrinterColumns: printerColumns,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: `${KIND} (${API_VERSION}) scales the replicator by replication lag and reports that lag.`,
            required: ['spec'],
            properties: {
              apiVersion: { type: 'string', description: 'The API version of this object.' },
              kind: { type: 'string', description: 'The kind of this object.' },
              metadata: { type: 'object' },
              spec: specSchema,
              status: statusSchema,
            },
          },
        },
      },
    ],
  },
};

/** The CRD as a YAML document, headed by where it comes from so nobody edits the copy. */
export function renderCrdYaml(): string {
  // Repeated objects (the shared defaults) would otherwise become YAML anchors and aliases.
  const body = stringify(replicationLagCrd, { aliasDuplicateObjects: false, lineWidth: 0 });
  return `# Generated by operator/src/api/render-crd.ts from operator/src/api/crd.ts: do not edit.\n${body}`;
}
