import type { ManagedProcess } from './process.js';
import type { Ports } from './ports.js';

export interface StackContext {
  runDir: string;
  ports: Ports;
  /** Generated once per stack and kept in the run dir. */
  secrets: { dbPassword: string; kubeAdminToken: string };
}

/** What a started component adds to the stack: its processes and what clients need to reach it. */
export interface Started {
  processes: ManagedProcess[];
  /** Variables for `.pulse/env` (PULSE_*, KUBECONFIG). */
  env: Record<string, string>;
}
