/**
 * Threshold alert rules evaluated on a service's latest sample. Pure: the projector applies the
 * verdicts in the same transaction as the sample, so an alert opens once and resolves once.
 */
import type { AlertRules, SystemSample } from '@pulse/core';

export type ThresholdRule = 'cpu' | 'memory' | 'disk';
export type AlertRule = ThresholdRule | 'heartbeat';

const THRESHOLDS: { rule: ThresholdRule; gauge: keyof SystemSample; limit: keyof AlertRules }[] = [
  { rule: 'cpu', gauge: 'cpu_usage', limit: 'cpu_usage_above' },
  { rule: 'memory', gauge: 'memory_usage', limit: 'memory_usage_above' },
  { rule: 'disk', gauge: 'disk_usage', limit: 'disk_usage_above' },
];

export interface ThresholdVerdict {
  rule: ThresholdRule;
  breached: boolean;
  value: number;
  threshold: number;
}

export function evaluateThresholds(sample: SystemSample, rules: AlertRules): ThresholdVerdict[] {
  return THRESHOLDS.map(({ rule, gauge, limit }) => {
    const value = Number(sample[gauge]);
    const threshold = rules[limit];
    return { rule, breached: value > threshold, value, threshold };
  });
}

/** Severity grows with how far the value is past its threshold. */
export function severityOf(verdict: ThresholdVerdict): 'warning' | 'critical' {
  const headroom = 100 - verdict.threshold;
  return verdict.value - verdict.threshold >= headroom / 2 ? 'critical' : 'warning';
}
