/**
 * Stacks for integration tests. When `make test-integration` has started a shared stack it
 * exports PULSE_TEST_STACK_DIR and every suite reuses it; otherwise (a suite run on its own, or
 * one that needs to break things) a suite starts an isolated stack with its own ports and dir.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { readStackInfo, Stack, type ComponentName, type StackInfo } from './stack.js';

export interface TestStack {
  info: StackInfo;
  env: Record<string, string>;
  /** Stops the stack if this suite started it; a shared stack is left for the next suite. */
  release: () => Promise<void>;
}

/** A stack of this suite's own, whose servers it may stop and start again (fault injection). */
export interface IsolatedStack extends TestStack {
  stopProcess: (name: string) => Promise<void>;
  startProcess: (name: string) => void;
}

export async function isolatedStack(components: ComponentName[]): Promise<IsolatedStack> {
  const stack = await startOnFreePorts(components);
  return {
    info: stack.info,
    env: stack.env,
    release: () => stack.destroy(),
    stopProcess: (name) => stack.stopProcess(name),
    startProcess: (name) => void stack.startProcess(name),
  };
}

/**
 * A free port is free when the kernel names it, not when a server binds it later: an outgoing
 * connection can take it in between (it is in the ephemeral range). Such a start is tried again
 * on other ports; any other failure is the test's.
 */
async function startOnFreePorts(components: ComponentName[], attempts = 3): Promise<Stack> {
  for (let attempt = 1; ; attempt++) {
    try {
      // Under /tmp rather than the repo: short paths, and the postgres user can reach them.
      return await Stack.start({ runDir: mkdtempSync(join(tmpdir(), 'pulse-test-')), components });
    } catch (error) {
      if (attempt >= attempts || !/address already in use/i.test(String(error))) throw error;
    }
  }
}

export async function testStack(components: ComponentName[]): Promise<TestStack> {
  const sharedDir = process.env.PULSE_TEST_STACK_DIR;
  const shared = sharedDir ? readStackInfo(sharedDir) : undefined;
  if (shared && components.every((name) => shared.components.includes(name))) {
    return { info: shared, env: shared.env, release: async () => {} };
  }
  return isolatedStack(components);
}

/**
 * Fresh databases and a fresh topic for one suite on a (possibly shared) stack, so suites never
 * see each other's rows or events. The replica follows the primary, so the new write database
 * is on it too.
 */
export async function suiteScope(stack: TestStack, suite: string): Promise<Record<string, string>> {
  const name = `${suite.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = {
    PULSE_KAFKA_TOPIC: `pulse.events.${name}`,
    PULSE_PROJECTOR_GROUP: `projector-${name}`,
  };
  for (const key of ['PULSE_WRITE_DATABASE_URL', 'PULSE_PROJECTION_DATABASE_URL'] as const) {
    const url = stack.env[key];
    if (!url) continue;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    env[key] = withDatabase(url, name);
    if (key === 'PULSE_WRITE_DATABASE_URL' && stack.env.PULSE_REPLICA_DATABASE_URL) {
      env.PULSE_REPLICA_DATABASE_URL = withDatabase(stack.env.PULSE_REPLICA_DATABASE_URL, name);
    }
  }
  return env;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
