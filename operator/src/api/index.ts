export * from './constants.js';
export {
  replicationLagCrd,
  renderCrdYaml,
  type CustomResourceDefinition,
  type JsonSchemaProps,
} from './crd.js';
export { formatSeconds, printerFields, roundForDisplay, type PrinterFields } from './printer.js';
export {
  parseReplicationLagSpec,
  replicationLagSpecSchema,
  type ReplicationLagSpec,
  type ReplicationLagSpecInput,
  type ScalingBehavior,
  type ScalingPolicy,
  type ScalingRules,
  type SpecParseResult,
} from './spec.js';
export type * from './types.js';
