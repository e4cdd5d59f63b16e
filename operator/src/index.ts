export * from './api/index.js';
export * from './policy/index.js';
export * from './metrics/index.js';
export { Operator, type OperatorDeps, type OperatorOptions } from './controller/operator.js';
export { kubeClients, type KubeClients } from './controller/kube.js';
export { createOperatorMetrics, type OperatorMetrics } from './controller/metrics.js';
export { loadOperatorConfig, operatorConfigSchema, type OperatorConfig } from './config.js';
