/** `1 replica`, `3 replicas`: decisions are read by people. */
export const replicasText = (count: number): string => `${count} ${count === 1 ? 'replica' : 'replicas'}`;
