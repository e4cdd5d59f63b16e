/**
 * The local stack: the same real parts as the cluster, as processes on loopback under one run dir.
 * `make up` starts a long-lived one; integration tests share one per run or start an isolated one.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { StackContext, Started } from './context.js';
import { startControlPlane } from './components/controlplane.js';
import { startKafka } from './components/kafka.js';
import { startProjectionServer, startWriteCluster } from './components/postgres.js';
import { startPrometheus } from './components/prometheus.js';
import { planPorts, type Ports } from './ports.js';
import { stopRecordedProcesses, type ManagedProcess } from './process.js';
import { ensureTools, repoRoot, type ToolName } from './tools.js';

export type ComponentName = 'postgres' | 'kafka' | 'prometheus' | 'controlplane';

interface ComponentDefinition {
  tools: ToolName[];
  start: (ctx: StackContext) => Promise<Started>;
  /** Process names in start order, so `down` stops them in reverse. */
  processes: string[];
}

const components: Record<ComponentName, ComponentDefinition> = {
  postgres: {
    tools: ['postgres'],
    start: async (ctx) => {
      const write = await startWriteCluster(ctx);
      try {
        const projection = await startProjectionServer(ctx);
        return {
          processes: [...write.processes, ...projection.processes],
          env: { ...write.env, ...projection.env },
        };
      } catch (error) {
        for (const p of write.processes.reverse()) await p.stop();
        throw error;
      }
    },
    processes: ['postgres-primary', 'postgres-replica', 'postgres-projection'],
  },
  kafka: { tools: ['kafka'], start: startKafka, processes: ['kafka'] },
  prometheus: { tools: ['prometheus'], start: startPrometheus, processes: ['prometheus'] },
  controlplane: {
    tools: ['kubernetes'],
    start: startControlPlane,
    processes: ['etcd', 'kube-apiserver', 'kube-controller-manager'],
  },
};

export const defaultComponents: ComponentName[] = ['postgres', 'kafka', 'prometheus'];
const startOrder: ComponentName[] = ['postgres', 'kafka', 'prometheus', 'controlplane'];
export const processOrder = startOrder.flatMap((name) => components[name].processes);

export interface StackOptions {
  /** Defaults to `.pulse/` in the repo. */
  runDir?: string;
  /** A fixed base port (the stack uses base+0 .. base+43); without it every port is taken free. */
  basePort?: number;
  components?: ComponentName[];
  /** Pin some ports, e.g. to provoke a clash in a test. */
  portOverrides?: Partial<Ports>;
}

/** What a running stack tells its clients; also written to `<runDir>/stack.json` and `<runDir>/env`. */
export interface StackInfo {
  runDir: string;
  ports: Ports;
  components: ComponentName[];
  env: Record<string, string>;
}

export class Stack {
  private constructor(
    readonly info: StackInfo,
    private readonly processes: ManagedProcess[],
  ) {}

  get env(): Record<string, string> {
    return this.info.env;
  }

  static async start(options: StackOptions = {}): Promise<Stack> {
    const runDir = resolve(options.runDir ?? join(repoRoot, '.pulse'));
    const wanted = startOrder.filter((name) => (options.components ?? defaultComponents).includes(name));
    ensureTools([...new Set(wanted.flatMap((name) => components[name].tools))]);
    mkdirSync(runDir, { recursive: true });
    // Servers that run as another user (PostgreSQL under root) must be able to enter it.
    chmodSync(runDir, 0o755);
    const ctx: StackContext = {
      runDir,
      ports: { ...(await planPorts(options.basePort)), ...options.portOverrides },
      secrets: loadSecrets(runDir),
    };
    const processes: ManagedProcess[] = [];
    const env: Record<string, string> = { PULSE_RUN_DIR: runDir };
    for (const name of wanted) {
      try {
        const started = await components[name].start(ctx);
        processes.push(...started.processes);
        Object.assign(env, started.env);
      } catch (error) {
        for (const p of processes.reverse()) await p.stop();
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`local stack: ${name} failed to start; logs in ${join(runDir, 'logs')}\n${message}`, {
          cause: error,
        });
      }
    }
    const info: StackInfo = { runDir, ports: ctx.ports, components: wanted, env };
    writeFileSync(join(runDir, 'stack.json'), JSON.stringify(info, null, 2));
    writeFileSync(
      join(runDir, 'env'),
      Object.entries(env)
        .map(([k, v]) => `export ${k}='${v}'`)
        .join('\n') + '\n',
    );
    return new Stack(info, processes);
  }

  /**
   * Stops one process of the stack (a fault a test injects); `startProcess` runs it again with the
   * same command, data and ports. The caller waits for it to serve.
   */
  async stopProcess(name: string): Promise<void> {
    await this.processNamed(name).stop();
  }

  startProcess(name: string): ManagedProcess {
    const stopped = this.processNamed(name);
    const restarted = stopped.restart();
    this.processes[this.processes.indexOf(stopped)] = restarted;
    return restarted;
  }

  private processNamed(name: string): ManagedProcess {
    const found = this.processes.find((p) => p.spec.name === name);
    if (!found) throw new Error(`the stack has no process named ${name}`);
    return found;
  }

  async stop(): Promise<void> {
    for (const p of [...this.processes].reverse()) await p.stop();
    rmSync(join(this.info.runDir, 'stack.json'), { force: true });
  }

  /** Stops and deletes all data: for isolated test stacks. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.info.runDir, { recursive: true, force: true });
  }
}

/** Stops whatever a (possibly different) process started in this run dir. */
export async function stopStack(runDir: string, laterProcesses: string[] = []): Promise<string[]> {
  const stopped = await stopRecordedProcesses(resolve(runDir), [...processOrder, ...laterProcesses]);
  rmSync(join(runDir, 'stack.json'), { force: true });
  return stopped;
}

/** Records what clients need: `<runDir>/stack.json` for tools, `<runDir>/env` for shells. */
export function writeStackInfo(info: StackInfo): void {
  writeFileSync(join(info.runDir, 'stack.json'), JSON.stringify(info, null, 2));
  const lines = Object.entries(info.env).map(([key, value]) => `export ${key}='${value}'`);
  writeFileSync(join(info.runDir, 'env'), `${lines.join('\n')}\n`);
}

/** The stack another process started in `runDir`, if it is up. */
export function readStackInfo(runDir: string): StackInfo | undefined {
  const file = join(resolve(runDir), 'stack.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as StackInfo) : undefined;
}

function loadSecrets(runDir: string): StackContext['secrets'] {
  const file = join(runDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as StackContext['secrets'];
  const secrets = {
    dbPassword: randomBytes(18).toString('base64url'),
    kubeAdminToken: randomBytes(24).toString('hex'),
  };
  writeFileSync(file, JSON.stringify(secrets), { mode: 0o600 });
  return secrets;
}
