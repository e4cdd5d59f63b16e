/**
 * Child processes of the local stack: each runs in its own process group, logs to a file in the
 * run dir and records its pid in `<runDir>/run/<name>.pid`, so that `make down` (a different
 * process) can stop what `make up` started, and nothing is left behind.
 */
import { spawn } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export interface ProcessSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Run as this user (PostgreSQL refuses to run as root). */
  user?: { uid: number; gid: number };
  /** The signal that makes the program shut down cleanly and quickly. */
  stopSignal?: NodeJS.Signals;
  /**
   * Work that catches up behind the writes (replication, relay, projection): it runs at the
   * niceness backgroundNiceness() gives, 0 unless set. The replica and the projection server also
   * answer reads, which wait with them (the Makefile's BACKGROUND_NICENESS says what that cost).
   */
  background?: boolean;
}

/**
 * PULSE_BACKGROUND_NICENESS (0 to 19, default 0), set by `make up` and `make bench` from the
 * Makefile's BACKGROUND_NICENESS (0 unless given). The test suites leave it at 0.
 */
export function backgroundNiceness(env: NodeJS.ProcessEnv = process.env): number {
  const value = env.PULSE_BACKGROUND_NICENESS ?? '0';
  const niceness = Number(value);
  if (!Number.isInteger(niceness) || niceness < 0 || niceness > 19) {
    throw new Error(`PULSE_BACKGROUND_NICENESS: expected an integer from 0 to 19, got "${value}"`);
  }
  return niceness;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  exit: ExitInfo | undefined;

  private constructor(
    readonly runDir: string,
    readonly spec: ProcessSpec,
    readonly pid: number,
    readonly logFile: string,
    private readonly pidFile: string,
  ) {}

  static start(runDir: string, spec: ProcessSpec): ManagedProcess {
    const logDir = join(runDir, 'logs');
    const pidDir = join(runDir, 'run');
    mkdirSync(logDir, { recursive: true });
    mkdirSync(pidDir, { recursive: true });
    const logFile = join(logDir, `${spec.name}.log`);
    const log = openSync(logFile, 'a');
    const niceness = spec.background ? backgroundNiceness() : 0;
    // nice(1) execs the command, so the pid (and process group) stays the command's own.
    const [command, args]: [string, string[]] =
      niceness > 0
        ? ['nice', ['-n', String(niceness), spec.command, ...spec.args]]
        : [spec.command, spec.args];
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', log, log],
      detached: true,
      uid: spec.user?.uid,
      gid: spec.user?.gid,
    });
    closeSync(log);
    if (child.pid === undefined) throw new Error(`${spec.name}: could not start ${spec.command}`);
    const pidFile = join(pidDir, `${spec.name}.pid`);
    writeFileSync(pidFile, `${child.pid}\n${spec.stopSignal ?? 'SIGTERM'}\n`);
    // Every pid ever started here, so a check can prove that none is left after a stop.
    appendFileSync(join(pidDir, 'history'), `${spec.name} ${child.pid}\n`);
    const managed = new ManagedProcess(runDir, spec, child.pid, logFile, pidFile);
    child.on('exit', (code, signal) => {
      managed.exit = { code, signal };
    });
    child.on('error', (error) => {
      managed.exit = { code: -1, signal: null };
      managed.startError = error;
    });
    child.unref();
    liveProcesses.add(managed);
    return managed;
  }

  startError: Error | undefined;

  /** Runs the same command again (same log, pid file, data and ports): a server a test stopped on purpose. */
  restart(): ManagedProcess {
    if (!this.exit && groupAlive(this.pid)) throw new Error(`${this.spec.name} is still running`);
    return ManagedProcess.start(this.runDir, this.spec);
  }

  /** An error if the process has already ended, for `waitFor`'s `abortIf`. */
  exitedError(): Error | undefined {
    if (!this.exit) return undefined;
    const how =
      this.startError?.message ??
      (this.exit.signal ? `signal ${this.exit.signal}` : `code ${this.exit.code}`);
    return new Error(`${this.spec.name} exited (${how}); see ${this.logFile}:\n${tail(this.logFile)}`);
  }

  async stop(timeoutMs = 20_000): Promise<void> {
    await stopGroup(this.spec.name, this.pid, this.spec.stopSignal ?? 'SIGTERM', timeoutMs);
    rmSync(this.pidFile, { force: true });
    liveProcesses.delete(this);
  }
}

/** Whether a process with this pid exists (a zombie of ours counts as gone once reaped). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every process group this run dir has started, still alive or not. */
export function startedProcesses(runDir: string): { name: string; pid: number }[] {
  try {
    return readFileSync(join(runDir, 'run', 'history'), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [name = '', pid = ''] = line.split(' ');
        return { name, pid: Number(pid) };
      });
  } catch {
    return [];
  }
}

export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopGroup(
  name: string,
  pid: number,
  signal: NodeJS.Signals,
  timeoutMs: number,
): Promise<void> {
  if (!groupAlive(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
  try {
    await waitFor(`${name} (pid ${pid}) to exit`, () => !groupAlive(pid), { timeoutMs, intervalMs: 100 });
  } catch {
    // It ignored the clean stop; nothing may be left behind, so kill the whole group.
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone in the meantime.
    }
    await waitFor(`${name} (pid ${pid}) to die`, () => !groupAlive(pid), {
      timeoutMs: 5_000,
      intervalMs: 50,
    });
  }
}

/** Stops every process recorded in `<runDir>/run`, in reverse start order, for `make down`. */
export async function stopRecordedProcesses(runDir: string, order: string[]): Promise<string[]> {
  const pidDir = join(runDir, 'run');
  let files: string[];
  try {
    files = readdirSync(pidDir).filter((file) => file.endsWith('.pid'));
  } catch {
    return [];
  }
  const names = files.map((file) => file.slice(0, -'.pid'.length));
  const rank = (name: string) => {
    const index = order.indexOf(name);
    return index === -1 ? Number.MAX_SAFE_INTEGER : index;
  };
  names.sort((a, b) => rank(b) - rank(a));
  const stopped: string[] = [];
  for (const name of names) {
    const pidFile = join(pidDir, `${name}.pid`);
    const [pidText, signalText] = readFileSync(pidFile, 'utf8').split('\n');
    const pid = Number(pidText);
    if (Number.isInteger(pid) && pid > 0) {
      await stopGroup(name, pid, (signalText || 'SIGTERM') as NodeJS.Signals, 20_000);
      stopped.push(name);
    }
    rmSync(pidFile, { force: true });
  }
  return stopped;
}

export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// A test that crashes must not leave servers behind: kill every group we started, synchronously.
const liveProcesses = new Set<ManagedProcess>();
let killOnExit = true;
/** `make up` starts processes that must outlive the CLI. */
export function keepProcessesAfterExit(): void {
  killOnExit = false;
}
process.on('exit', () => {
  if (!killOnExit) return;
  for (const managed of liveProcesses) {
    try {
      process.kill(-managed.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
});
