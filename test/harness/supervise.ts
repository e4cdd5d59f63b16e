/**
 * A small process supervisor for `make up`: runs a command, restarts it with exponential backoff
 * when it dies, and passes SIGTERM/SIGINT on for a clean drain.
 *   tsx test/harness/supervise.ts NAME -- COMMAND [ARGS...]
 */
import { spawn, type ChildProcess } from 'node:child_process';

const separator = process.argv.indexOf('--');
const name = process.argv[2] ?? 'service';
const [command, ...args] = process.argv.slice(separator + 1);
if (separator < 0 || !command) {
  console.error('usage: supervise.ts NAME -- COMMAND [ARGS...]');
  process.exit(2);
}

const MIN_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** A run this long counts as healthy: the next crash starts the backoff over. */
const HEALTHY_AFTER_MS = 60_000;

let child: ChildProcess | undefined;
let stopping = false;
let backoff = MIN_BACKOFF_MS;

function log(message: string): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), supervisor: name, msg: message }));
}

function run(): void {
  const started = Date.now();
  child = spawn(command as string, args, { stdio: 'inherit' });
  child.on('exit', (code, signal) => {
    child = undefined;
    if (stopping) process.exit(code ?? 0);
    if (Date.now() - started > HEALTHY_AFTER_MS) backoff = MIN_BACKOFF_MS;
    log(`exited (${signal ?? `code ${code}`}); restarting in ${backoff} ms`);
    setTimeout(run, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    stopping = true;
    if (child) child.kill(signal);
    else process.exit(0);
  });
}
run();
