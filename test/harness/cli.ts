/**
 * `make up` / `make down` / `make status`: the local stack from the command line.
 *   tsx test/harness/cli.ts up [--run-dir DIR] [--base-port N] [--with controlplane] [--infra-only]
 *                              [--demo-rate SAMPLES_PER_S] [--demo-duration SECONDS]
 *   tsx test/harness/cli.ts down [--run-dir DIR]
 *   tsx test/harness/cli.ts status [--run-dir DIR]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isAlive } from './process.js';
import { pipelineProcesses, startPipeline } from './pipeline.js';
import {
  defaultComponents,
  readStackInfo,
  Stack,
  stopStack,
  writeStackInfo,
  type ComponentName,
} from './stack.js';
import { keepProcessesAfterExit } from './process.js';
import { repoRoot } from './tools.js';
import { readdirSync, readFileSync } from 'node:fs';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    'run-dir': { type: 'string', default: process.env.PULSE_RUN_DIR ?? join(repoRoot, '.pulse') },
    'base-port': { type: 'string', default: process.env.PULSE_BASE_PORT ?? '15400' },
    with: { type: 'string', multiple: true, default: [] },
    'infra-only': { type: 'boolean', default: false },
    'demo-rate': { type: 'string', default: process.env.PULSE_DEMO_RATE ?? '50' },
    'demo-duration': { type: 'string', default: process.env.PULSE_DEMO_DURATION ?? '3600' },
  },
});
const runDir = values['run-dir'];

async function up(): Promise<void> {
  if (readStackInfo(runDir)) {
    console.error(`a stack is already up in ${runDir}; run \`make down\` first`);
    process.exit(1);
  }
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65_000) {
    console.error(
      `PULSE_BASE_PORT / --base-port must be an integer in 1024..65000, got "${values['base-port']}"`,
    );
    process.exit(2);
  }
  const extra = values.with.flatMap((name) => name.split(',')) as ComponentName[];
  keepProcessesAfterExit();
  const stack = await Stack.start({ runDir, basePort, components: [...defaultComponents, ...extra] });
  if (!values['infra-only']) {
    const pipelineEnv = await startPipeline(stack.info, {
      demoRate: positiveInteger('demo-rate', values['demo-rate'], 10_000),
      demoDurationSeconds: positiveInteger('demo-duration', values['demo-duration'], 86_400),
    });
    Object.assign(stack.info.env, pipelineEnv);
    writeStackInfo(stack.info);
  }
  console.log(`Pulse local stack is up (run dir ${runDir}).`);
  for (const [key, value] of Object.entries(stack.env)) console.log(`  ${key}=${value}`);
  if (stack.env.PULSE_READ_URL) {
    console.log('\nThe dashboard of the demo tenant:');
    console.log(
      `  curl -s -H "X-API-Key: ${stack.env.PULSE_API_KEY ?? ''}" ${stack.env.PULSE_READ_URL}/api/v1/dashboard`,
    );
  }
  console.log(`\nLoad it into a shell with:  source ${join(runDir, 'env')}`);
  console.log(`Logs: ${join(runDir, 'logs')}/   Stop with: make down`);
}

function positiveInteger(option: string, text: string, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    console.error(`--${option} must be an integer in 1..${max}, got "${text}"`);
    process.exit(2);
  }
  return value;
}

async function down(): Promise<void> {
  const stopped = await stopStack(runDir, pipelineProcesses);
  console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : `nothing was running in ${runDir}`);
}

function status(): void {
  let files: string[] = [];
  try {
    files = readdirSync(join(runDir, 'run')).filter((file) => file.endsWith('.pid'));
  } catch {
    // no run dir yet
  }
  if (files.length === 0) {
    console.log(`nothing is running in ${runDir}`);
    return;
  }
  for (const file of files) {
    const pid = Number(readFileSync(join(runDir, 'run', file), 'utf8').split('\n')[0]);
    console.log(
      `${file.slice(0, -4).padEnd(26)} pid ${String(pid).padEnd(8)} ${isAlive(pid) ? 'running' : 'DEAD'}`,
    );
  }
}

const command = positionals[0];
try {
  if (command === 'up') await up();
  else if (command === 'down') await down();
  else if (command === 'status') status();
  else {
    console.error(
      'usage: cli.ts up|down|status [--run-dir DIR] [--base-port N] [--with controlplane] [--infra-only] [--demo-rate N] [--demo-duration S]',
    );
    process.exit(2);
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
