/**
 * The facts about the ReplicationLag API that both its schemas need: names, defaults, bounds,
 * patterns and CEL rules. The CRD's OpenAPI schema (crd.ts) and the zod schema the controller
 * validates with (spec.ts) are both built from these, so a default or a limit is changed in one
 * place and the two cannot disagree.
 */

export const GROUP = 'pulse.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;
export const KIND = 'ReplicationLag';
export const LIST_KIND = 'ReplicationLagList';
export const PLURAL = 'replicationlags';
export const SINGULAR = 'replicationlag';
export const SHORT_NAMES = ['rlag'] as const;
export const CRD_NAME = `${PLURAL}.${GROUP}` as const;

/** The only kind of target we scale: the replicator Deployment, through its scale subresource. */
export const SCALE_TARGET_API_VERSIONS = ['apps/v1'] as const;
export const SCALE_TARGET_KINDS = ['Deployment'] as const;

export const SCALING_POLICY_TYPES = ['Pods', 'Percent'] as const;
export type ScalingPolicyType = (typeof SCALING_POLICY_TYPES)[number];

export const SELECT_POLICIES = ['Max', 'Min', 'Disabled'] as const;
export type SelectPolicy = (typeof SELECT_POLICIES)[number];

export const STAGE_NAMES = ['relay', 'projection', 'replica'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

export const CONDITION_TYPES = ['Ready', 'MetricsAvailable', 'ScalingLimited', 'LagWithinTarget'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export const LIMIT_REASONS = [
  'min',
  'max',
  'partitions',
  'scaleUpPolicy',
  'scaleDownPolicy',
  'stabilization',
  'tolerance',
  'metricsMissing',
] as const;
export type LimitReason = (typeof LIMIT_REASONS)[number];

/** Which estimate a decision started from: see docs/scaling-policy.md. */
export const DECISION_BASES = ['throughput', 'lagRatio', 'hold'] as const;
export type DecisionBasis = (typeof DECISION_BASES)[number];

/**
 * PromQL the controller runs, one per input; `spec.prometheus.queries` may replace any of them
 * (for a replicator whose metrics are named or labelled differently).
 */
export const PROMETHEUS_QUERY_NAMES = [
  'arrivalRate',
  'perReplicaRate',
  'partitions',
  'relayLagSeconds',
  'relayBacklog',
  'projectionLagSeconds',
  'projectionBacklog',
  'replicaLagSeconds',
  'replicaLagBytes',
] as const;
export type PrometheusQueryName = (typeof PROMETHEUS_QUERY_NAMES)[number];

/** One scaling rule set's defaults; those of scale-up and scale-down below. */
export interface ScalingRulesDefaults {
  readonly stabilizationWindowSeconds: number;
  readonly policies: readonly {
    readonly type: ScalingPolicyType;
    readonly value: number;
    readonly periodSeconds: number;
  }[];
  readonly selectPolicy: SelectPolicy;
}

/**
 * The HPA's own behavior defaults, so that a `behavior` block reads exactly like an HPA's:
 * scale up at once by the larger of +100 % or +4 pods per 15 s, scale down only to the highest
 * recommendation of the last 5 minutes.
 */
export const SCALE_UP_DEFAULTS: ScalingRulesDefaults = {
  stabilizationWindowSeconds: 0,
  policies: [
    { type: 'Percent', value: 100, periodSeconds: 15 },
    { type: 'Pods', value: 4, periodSeconds: 15 },
  ],
  selectPolicy: 'Max',
};
export const SCALE_DOWN_DEFAULTS: ScalingRulesDefaults = {
  stabilizationWindowSeconds: 300,
  policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  selectPolicy: 'Max',
};

export const SPEC_DEFAULTS = {
  scaleTargetRef: { apiVersion: SCALE_TARGET_API_VERSIONS[0], kind: SCALE_TARGET_KINDS[0] },
  // Long enough to cover a pod start and a consumer-group rebalance, short enough for dashboards.
  targetLagSeconds: 10,
  minReplicas: 1,
  tolerance: 0.1,
  pollIntervalSeconds: 15,
  behavior: { scaleUp: SCALE_UP_DEFAULTS, scaleDown: SCALE_DOWN_DEFAULTS },
} as const;

/** Inclusive bounds; a bound left out is unbounded. */
export const SPEC_BOUNDS = {
  // Below 0.1 s the target is smaller than one poll's measurement noise.
  targetLagSeconds: { min: 0.1, max: 86_400 },
  // Zero replicas cannot measure a rate or drain a backlog: scale-to-zero is out of scope.
  replicas: { min: 1 },
  partitions: { min: 1 },
  tolerance: { min: 0, max: 1 },
  pollIntervalSeconds: { min: 1, max: 3600 },
  // The HPA's limits, for the same reasons: a longer window or period stops reacting.
  stabilizationWindowSeconds: { min: 0, max: 3600 },
  periodSeconds: { min: 1, max: 1800 },
  policyValue: { min: 1 },
  // maxItems also bounds the cost of the CEL rules that iterate over policies.
  policies: { min: 1, max: 10 },
  name: { min: 1, max: 253 },
  address: { min: 1, max: 2048 },
  query: { min: 1, max: 8192 },
} as const;

/** A DNS-1123 subdomain, what Kubernetes accepts as a Deployment name. */
export const RESOURCE_NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const PROMETHEUS_ADDRESS_PATTERN = '^https?://\\S+$';

/**
 * A CEL rule of the CRD; spec.ts enforces the same rule in zod with the same message and path.
 * `fieldPath` (relative to the object the rule sits on) makes the API server name the field.
 */
export interface CelRule {
  readonly rule: string;
  readonly message: string;
  readonly fieldPath: string;
}

export const CEL_RULES = {
  minNotAboveMax: {
    rule: 'self.minReplicas <= self.maxReplicas',
    message: 'minReplicas must be less than or equal to maxReplicas',
    fieldPath: '.minReplicas',
  },
  minNotAbovePartitions: {
    rule: '!has(self.partitions) || self.minReplicas <= self.partitions',
    message:
      'minReplicas must be less than or equal to partitions: replicas beyond the partition count sit idle',
    fieldPath: '.minReplicas',
  },
  scaleDownPercentAtMost100: {
    rule: "!has(self.policies) || self.policies.all(p, p.type != 'Percent' || p.value <= 100)",
    message: 'a scale-down Percent policy cannot remove more than 100% of the replicas',
    fieldPath: '.policies',
  },
} as const satisfies Record<string, CelRule>;
