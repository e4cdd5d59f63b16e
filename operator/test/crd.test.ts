/**
 * The CRD and the zod schema are two renderings of one API: these tests hold them together
 * (defaults, bounds, enums, required fields, CEL rules) and check that the status the controller
 * writes is fully declared, since the API server prunes undeclared fields without a word.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';
import { parse } from 'yaml';
import { z } from 'zod';

import {
  CEL_RULES,
  CONDITION_TYPES,
  SPEC_DEFAULTS,
  STAGE_NAMES,
  type CelRule,
} from '../src/api/constants.js';
import { renderCrdYaml, replicationLagCrd, type JsonSchemaProps } from '../src/api/crd.js';
import { replicationLagSpecSchema } from '../src/api/spec.js';
import type {
  Condition,
  ReplicationLagStatus,
  ScalingDecisionStatus,
  StageStatus,
} from '../src/api/types.js';
import { MINIMAL_SPEC } from './support.js';

const version = replicationLagCrd.spec.versions[0];
assert.ok(version);
const root = version.schema.openAPIV3Schema;

function child(schema: JsonSchemaProps, ...path: string[]): JsonSchemaProps {
  return path.reduce((node, key) => {
    const next = key === '[]' ? node.items : node.properties?.[key];
    assert.ok(next, `schema has no ${path.join('.')}`);
    return next;
  }, schema);
}

const specSchema = child(root, 'spec');
const statusSchema = child(root, 'status');

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What the API server does with a CRD's defaults: fill in every absent field that has one, top
 * down, so that a `default: {}` object then gets its own fields' defaults.
 */
function applyCrdDefaults(schema: JsonSchemaProps, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = schema.items;
    return items ? value.map((item) => applyCrdDefaults(items, item)) : value;
  }
  if (!isRecord(value)) return value;
  const result: Record<string, unknown> = { ...value };
  for (const [key, property] of Object.entries(schema.properties ?? {})) {
    if (result[key] === undefined && property.default !== undefined)
      result[key] = structuredClone(property.default);
    if (result[key] !== undefined) result[key] = applyCrdDefaults(property, result[key]);
  }
  return result;
}

describe('CRD and zod schema agree', () => {
  it('fill the same defaults into the minimal spec', () => {
    const parsed = replicationLagSpecSchema.parse(MINIMAL_SPEC);
    assert.deepEqual(applyCrdDefaults(specSchema, MINIMAL_SPEC), parsed);
    // And those defaults are the documented ones.
    assert.deepEqual(parsed.behavior, SPEC_DEFAULTS.behavior);
    assert.equal(parsed.targetLagSeconds, SPEC_DEFAULTS.targetLagSeconds);
    assert.deepEqual(parsed.scaleTargetRef, { ...SPEC_DEFAULTS.scaleTargetRef, name: 'replicator' });
  });

  it('fill the same defaults into any partly written behavior', () => {
    const policy = fc.record({
      type: fc.constantFrom('Pods' as const, 'Percent' as const),
      value: fc.integer({ min: 1, max: 100 }),
      periodSeconds: fc.integer({ min: 1, max: 1800 }),
    });
    const rules = fc.record(
      {
        stabilizationWindowSeconds: fc.integer({ min: 0, max: 3600 }),
        policies: fc.array(policy, { minLength: 1, maxLength: 10 }),
        selectPolicy: fc.constantFrom('Max' as const, 'Min' as const, 'Disabled' as const),
      },
      { requiredKeys: [] },
    );
    const partial = fc.record(
      {
        behavior: fc.record({ scaleUp: rules, scaleDown: rules }, { requiredKeys: [] }),
        minReplicas: fc.integer({ min: 1, max: 12 }),
        tolerance: fc.double({ min: 0, max: 1, noNaN: true }),
        pollIntervalSeconds: fc.integer({ min: 1, max: 3600 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(partial, (overrides) => {
        const input = { ...MINIMAL_SPEC, ...overrides };
        assert.deepEqual(applyCrdDefaults(specSchema, input), replicationLagSpecSchema.parse(input));
      }),
    );
  });

  it('have the same fields, types, bounds, enums, patterns, required fields and defaults', () => {
    // The zod side as JSON Schema, both reduced to what validation depends on.
    const fromZod = z.toJSONSchema(replicationLagSpecSchema, { io: 'input' }) as JsonSchemaProps;
    assert.deepEqual(comparable(fromZod), comparable(specSchema));
  });
});

/** Descriptions and Kubernetes extensions dropped, patterns and `required` normalized. */
function comparable(schema: JsonSchemaProps): unknown {
  const { type, enum: values, minimum, maximum, minLength, maxLength, minItems, maxItems, pattern } = schema;
  return {
    type,
    enum: values,
    minimum,
    // zod writes the safe-integer limit where the CRD has no maximum.
    maximum: maximum === Number.MAX_SAFE_INTEGER ? undefined : maximum,
    minLength,
    maxLength,
    minItems,
    maxItems,
    pattern: pattern === undefined ? undefined : new RegExp(pattern).source,
    default: schema.default,
    required: schema.required ? [...schema.required].sort() : undefined,
    items: schema.items ? comparable(schema.items) : undefined,
    properties: schema.properties
      ? Object.fromEntries(Object.entries(schema.properties).map(([key, value]) => [key, comparable(value)]))
      : undefined,
  };
}

describe('CEL rules', () => {
  const rulesAt = (schema: JsonSchemaProps) => schema['x-kubernetes-validations'] ?? [];

  it('sit where their fields are', () => {
    assert.deepEqual(rulesAt(specSchema), [CEL_RULES.minNotAboveMax, CEL_RULES.minNotAbovePartitions]);
    assert.ok(rulesAt(specSchema).some((rule) => rule.rule === 'self.minReplicas <= self.maxReplicas'));
    assert.deepEqual(rulesAt(child(specSchema, 'behavior', 'scaleDown')), [
      CEL_RULES.scaleDownPercentAtMost100,
    ]);
    assert.deepEqual(rulesAt(child(specSchema, 'behavior', 'scaleUp')), []);
  });

  it('name fields that exist where the rule sits', () => {
    const placed: [JsonSchemaProps, CelRule][] = [
      ...rulesAt(specSchema).map((rule): [JsonSchemaProps, CelRule] => [specSchema, rule]),
      [child(specSchema, 'behavior', 'scaleDown'), CEL_RULES.scaleDownPercentAtMost100],
    ];
    for (const [schema, rule] of placed) child(schema, ...rule.fieldPath.split('.').filter(Boolean));
  });

  const rejects = (input: unknown, rule: CelRule, path: string[]) => {
    const result = replicationLagSpecSchema.safeParse(input);
    assert.ok(!result.success, `accepted ${JSON.stringify(input)}`);
    assert.ok(
      result.error.issues.some(
        (issue) => issue.message === rule.message && issue.path.join('.') === path.join('.'),
      ),
      JSON.stringify(result.error.issues),
    );
  };

  it('are enforced by zod with the same messages at the same fields', () => {
    rejects({ ...MINIMAL_SPEC, minReplicas: 13 }, CEL_RULES.minNotAboveMax, ['minReplicas']);
    rejects({ ...MINIMAL_SPEC, minReplicas: 4, partitions: 3 }, CEL_RULES.minNotAbovePartitions, [
      'minReplicas',
    ]);
    rejects(
      {
        ...MINIMAL_SPEC,
        behavior: { scaleDown: { policies: [{ type: 'Percent', value: 101, periodSeconds: 15 }] } },
      },
      CEL_RULES.scaleDownPercentAtMost100,
      ['behavior', 'scaleDown', 'policies'],
    );
  });

  it('let the boundary cases through', () => {
    const ok = (input: unknown) => {
      assert.ok(replicationLagSpecSchema.safeParse(input).success, JSON.stringify(input));
    };
    ok({ ...MINIMAL_SPEC, minReplicas: 12 });
    ok({ ...MINIMAL_SPEC, minReplicas: 3, partitions: 3 });
    ok({
      ...MINIMAL_SPEC,
      behavior: { scaleDown: { policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }] } },
    });
    // Scale-up may more than double.
    ok({
      ...MINIMAL_SPEC,
      behavior: { scaleUp: { policies: [{ type: 'Percent', value: 900, periodSeconds: 15 }] } },
    });
  });
});

describe('status schema', () => {
  /** Paths of `value` that `schema` does not declare: what the API server would prune. */
  function undeclared(schema: JsonSchemaProps, value: unknown, path = 'status'): string[] {
    if (Array.isArray(value)) {
      const items = schema.items;
      return items ? value.flatMap((item, index) => undeclared(items, item, `${path}[${index}]`)) : [path];
    }
    if (!isRecord(value)) return [];
    return Object.entries(value).flatMap(([key, item]) => {
      const property = schema.properties?.[key];
      return property ? undeclared(property, item, `${path}.${key}`) : [`${path}.${key}`];
    });
  }

  // Required<...> makes this fail to compile when a status field is added to the types but not here.
  const stages: Required<StageStatus>[] = STAGE_NAMES.map((name) => ({
    name,
    lagSeconds: 0.1,
    backlog: 5,
    lagBytes: 4096,
  }));
  const decision: Required<ScalingDecisionStatus> = {
    time: '2025-01-01T00:00:00Z',
    basis: 'throughput',
    recommendation: 3,
    desired: 3,
    reason: 'Keeping 3 replicas.',
    limitedBy: 'tolerance',
  };
  const conditions: Required<Condition>[] = CONDITION_TYPES.map((type) => ({
    type,
    status: 'True',
    observedGeneration: 2,
    lastTransitionTime: '2025-01-01T00:00:00Z',
    reason: 'Reconciled',
    message: 'ok',
  }));
  const full: Required<ReplicationLagStatus> = {
    observedGeneration: 2,
    target: 'deploy/replicator',
    lag: '0.4s',
    backlog: 120,
    replicaLag: '0.1s',
    stages,
    arrivalRate: 950,
    perReplicaRate: 400,
    partitions: 12,
    currentReplicas: 3,
    desiredReplicas: 3,
    lastScaleTime: '2025-01-01T00:00:00Z',
    lastDecision: decision,
    conditions,
  };

  it('declares every field the controller writes', () => {
    assert.deepEqual(undeclared(statusSchema, full), []);
  });

  it('declares nothing the types lack', () => {
    const keys = (schema: JsonSchemaProps) => Object.keys(schema.properties ?? {}).sort();
    assert.deepEqual(keys(statusSchema), Object.keys(full).sort());
    assert.deepEqual(keys(child(statusSchema, 'stages', '[]')), Object.keys(stages[0] ?? {}).sort());
    assert.deepEqual(keys(child(statusSchema, 'lastDecision')), Object.keys(decision).sort());
    assert.deepEqual(keys(child(statusSchema, 'conditions', '[]')), Object.keys(conditions[0] ?? {}).sort());
  });

  it('keys conditions by type and stages by name, so merge patches replace one entry', () => {
    assert.deepEqual(child(statusSchema, 'conditions')['x-kubernetes-list-map-keys'], ['type']);
    assert.deepEqual(child(statusSchema, 'stages')['x-kubernetes-list-map-keys'], ['name']);
  });
});

describe('the CRD', () => {
  it('is replicationlags.pulse.dev, namespaced, short name rlag, with a status subresource', () => {
    const { metadata, spec } = replicationLagCrd;
    assert.equal(metadata.name, 'replicationlags.pulse.dev');
    assert.equal(spec.group, 'pulse.dev');
    assert.equal(spec.scope, 'Namespaced');
    assert.deepEqual(spec.names.shortNames, ['rlag']);
    assert.equal(spec.names.plural, 'replicationlags');
    assert.equal(version.name, 'v1alpha1');
    assert.deepEqual(version.subresources, { status: {} });
    assert.deepEqual(root.required, ['spec']);
  });

  it("prints the design brief's columns, each from a declared field of the right type", () => {
    const columns = version.additionalPrinterColumns.filter((column) => (column.priority ?? 0) === 0);
    assert.deepEqual(
      columns.map((column) => column.name),
      ['TARGET', 'LAG', 'BACKLOG', 'RATE/S', 'REPLICAS', 'DESIRED', 'REPLICA-LAG', 'AGE'],
    );
    for (const column of version.additionalPrinterColumns) {
      if (column.jsonPath === '.metadata.creationTimestamp') {
        assert.equal(column.type, 'date');
        continue;
      }
      const path = column.jsonPath
        .replace(/\[\?.*?\]/, '[]')
        .split(/\.|(?=\[\])/)
        .filter(Boolean);
      const field = child(root, ...path);
      assert.equal(field.type, column.type, column.name);
    }
  });

  it('renders as YAML that reads back to the same object, without anchors', () => {
    const yaml = renderCrdYaml();
    assert.match(yaml, /^# Generated by operator\/src\/api\/render-crd\.ts/);
    assert.doesNotMatch(yaml, /[&*]a\d/);
    assert.deepEqual(parse(yaml), replicationLagCrd);
  });
});
