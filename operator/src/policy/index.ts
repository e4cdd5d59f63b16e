export { decide } from './decide.js';
export { recordScaleEvent } from './history.js';
export type {
  ConditionHint,
  Decision,
  DecisionInput,
  MetricsSample,
  PolicySpec,
  ScaleEvent,
  ScalingHistory,
  TimedRecommendation,
} from './types.js';
