/**
 * Stacks for integration tests. When `make test-integration` has started a shared stack it
 * exports PULSE_TEST_STACK_DIR and every suite reuses it; otherwise (a suite run on its own, or
 * one that needs to break things) a suite starts an isolated stack with its own ports and dir.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readStackInfo, Stack, type ComponentName, type StackInfo } from './stack.js';

export interface TestStack {
  info: StackInfo;
  env: Record<string, string>;
  /** Stops the stack if this suite started it; a shared stack is left for the next suite. */
  release: () => Promise<void>;
}

export async function isolatedStack(components: ComponentName[]): Promise<TestStack> {
  // Under /tmp rather than the repo: short paths, and the postgres user can reach them.
  const stack = await Stack.start({ runDir: mkdtempSync(join(tmpdir(), 'pulse-test-')), components });
  return { info: stack.info, env: stack.env, release: () => stack.destroy() };
}

export async function testStack(components: ComponentName[]): Promise<TestStack> {
  const sharedDir = process.env.PULSE_TEST_STACK_DIR;
  const shared = sharedDir ? readStackInfo(sharedDir) : undefined;
  if (shared && components.every((name) => shared.components.includes(name))) {
    return { info: shared, env: shared.env, release: async () => {} };
  }
  return isolatedStack(components);
}
