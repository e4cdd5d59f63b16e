/** The operator under test: its build (the working tree's or a commit's), its start, and the waits on it. */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { addScrapeTarget } from '../../test/harness/components/prometheus.js';
import { ManagedProcess } from '../../test/harness/process.js';
import {
  serviceEntry,
  startService,
  waitForReady,
  type RunningService,
} from '../../test/harness/services.js';
import type { StackInfo } from '../../test/harness/stack.js';
import { repoRoot } from '../../test/harness/tools.js';
import { waitFor } from '../../test/harness/wait.js';
import { fetchText, matching, parseExposition, total } from './exposition.js';
import { kubectl, NAMESPACE, type Fixture } from './fixtures.js';
import { PROFILE_INTERVAL_US } from './profile.js';
import { round } from './round.js';

const execFileAsync = promisify(execFile);

/** What the benchmark runs as the operator: the working tree's build, or a commit built for it. */
export interface OperatorBuild {
  /** `operator/dist/main.js` of the working tree, or of the commit's copy in the run dir. */
  entry: string;
  source: 'working tree' | 'commit';
  /** The commit it was built from; for the working tree, HEAD. */
  commit: string;
  /** For the working tree: uncommitted changes under operator/ and services/core/ (git status). */
  uncommitted: string[];
  /** sha256 over the build's JavaScript files (path and content), to tell two builds apart. */
  distSha256: string;
  /** The newest file of the build. */
  builtAt: string;
}

function distFingerprint(dist: string): { sha256: string; builtAt: string } {
  const hash = createHash('sha256');
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.js')) {
        hash.update(path.slice(dist.length)).update(readFileSync(path));
        newest = Math.max(newest, statSync(path).mtimeMs);
      }
    }
  };
  walk(dist);
  return { sha256: hash.digest('hex').slice(0, 16), builtAt: new Date(newest).toISOString() };
}

/**
 * The working tree's operator (as `make build` left it), or with --operator-ref the operator and
 * @pulse/core of that commit, extracted into the run dir and built there: a fixed subject while
 * others edit the tree. The copy finds the repository's node_modules by walking up, except for
 * @pulse/core, which a link of its own points at the commit's copy.
 */
export async function prepareOperator(ref: string | undefined, runDir: string): Promise<OperatorBuild> {
  const git = (args: string[]) => execFileSync('git', args, { cwd: repoRoot }).toString().trim();
  if (ref === undefined) {
    const dist = join(repoRoot, 'operator', 'dist');
    const { sha256, builtAt } = distFingerprint(dist);
    return {
      entry: serviceEntry('operator'),
      source: 'working tree',
      commit: git(['rev-parse', '--short=12', 'HEAD']),
      uncommitted: git(['status', '--porcelain', '--', 'operator', 'services/core'])
        .split('\n')
        .filter(Boolean),
      distSha256: sha256,
      builtAt,
    };
  }
  const commit = git(['rev-parse', '--short=12', '--verify', `${ref}^{commit}`]);
  const root = join(runDir, `operator-${commit}`);
  mkdirSync(join(root, 'node_modules', '@pulse'), { recursive: true });
  const archive = join(runDir, `operator-${commit}.tar`);
  const sources = ['operator', 'services/core'];
  git([
    'archive',
    '--output',
    archive,
    commit,
    'tsconfig.base.json',
    ...sources.flatMap((dir) => [`${dir}/package.json`, `${dir}/tsconfig.json`, `${dir}/src`]),
  ]);
  execFileSync('tar', ['-xf', archive, '-C', root]);
  rmSync(archive);
  symlinkSync('../../services/core', join(root, 'node_modules', '@pulse', 'core'));
  console.log(`building the operator of ${commit} in ${root}`);
  await execFileAsync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-b', join(root, 'operator')], {
    cwd: root,
    timeout: 600_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  // Only the build stays: `eslint .` would otherwise find TypeScript of no project in the run dir.
  for (const dir of sources) rmSync(join(root, dir, 'src'), { recursive: true, force: true });
  const { sha256, builtAt } = distFingerprint(join(root, 'operator', 'dist'));
  return {
    entry: join(root, 'operator', 'dist', 'main.js'),
    source: 'commit',
    commit,
    uncommitted: [],
    distSha256: sha256,
    builtAt,
  };
}

/**
 * The operator as startService starts it (same environment, readiness wait and scrape target), from
 * the given build, and with `node --cpu-prof` when a profile directory is given (NODE_OPTIONS does
 * not accept it). The working tree's build without the profiler goes through startService itself.
 */
export async function startOperator(
  info: StackInfo,
  build: OperatorBuild,
  env: Record<string, string>,
  profileDir?: string,
): Promise<RunningService> {
  const port = info.ports.operator;
  if (build.source === 'working tree' && profileDir === undefined)
    return startService(info, 'operator', { port, env });
  const profiler =
    profileDir === undefined
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_US}`];
  const managed = ManagedProcess.start(info.runDir, {
    name: 'operator',
    command: process.execPath,
    args: [...profiler, build.entry],
    env: {
      ...info.env,
      PULSE_HTTP_PORT: String(port),
      PULSE_HTTP_HOST: '127.0.0.1',
      PULSE_LOG_LEVEL: 'info',
      ...env,
    },
    cwd: repoRoot,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForReady('operator', url, managed);
  } catch (error) {
    await managed.stop();
    throw error;
  }
  addScrapeTarget(info.runDir, 'operator', port, { service: 'operator' });
  return { process: managed, url, stop: () => managed.stop() };
}

async function operatorMetric(running: RunningService, name: string): Promise<number> {
  return total(matching(parseExposition(await fetchText(`${running.url}/metrics`), name), name));
}

export async function waitForLease(running: RunningService): Promise<void> {
  await waitFor(
    'the operator to hold the lease',
    async () => (await operatorMetric(running, 'pulse_operator_leader')) === 1,
    { timeoutMs: 60_000, intervalMs: 500, abortIf: () => running.process.exitedError() },
  );
}

/** The warm-up: until every ReplicationLag has a status of its generation. */
export async function waitForStatuses(
  kubeconfig: string,
  running: RunningService,
  { resources }: Fixture,
): Promise<void> {
  let lastProgress = 0;
  await waitFor(
    `all ${resources} ReplicationLags to have a status of their generation (the warm-up)`,
    async () => {
      const out = await kubectl(kubeconfig, [
        '-n',
        NAMESPACE,
        'get',
        'replicationlags',
        '-o',
        'jsonpath={range .items[*]}{.metadata.generation} {.status.observedGeneration}{"\\n"}{end}',
      ]);
      const rows = out.trim().split('\n').filter(Boolean);
      const done = rows.filter((row) => {
        const [generation, observed] = row.split(' ');
        return observed !== undefined && observed !== '' && observed === generation;
      }).length;
      if (performance.now() - lastProgress > 10_000) {
        lastProgress = performance.now();
        console.log(`  warm-up: ${done} of ${resources} have a status`);
      }
      return rows.length === resources && done === resources;
    },
    {
      timeoutMs: Math.min(30 * 60_000, 120_000 + resources * 1_000),
      intervalMs: 2_000,
      abortIf: () => running.process.exitedError(),
    },
  );
}

/**
 * Settling: a starting operator reconciles everything at once; one more full round of N reconciles
 * puts the window into the periodic regime, each resource once per poll. Returns its seconds.
 */
export async function settle(running: RunningService, { resources, pollSeconds }: Fixture): Promise<number> {
  const metric = 'pulse_operator_reconciles_total';
  const from = await operatorMetric(running, metric);
  const started = performance.now();
  await waitFor(
    `the operator to reconcile ${resources} more times`,
    async () => (await operatorMetric(running, metric)) >= from + resources,
    {
      timeoutMs: Math.min(30 * 60_000, 4 * pollSeconds * 1_000 + resources * 1_000),
      intervalMs: 1_000,
      abortIf: () => running.process.exitedError(),
    },
  );
  return round((performance.now() - started) / 1000);
}
