/** The CPU profile (--profile): what dominates the operator's CPU time, from `node --cpu-prof`. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../test/harness/tools.js';
import { cpuPercent, type Sample } from './proc.js';
import { round } from './round.js';

/** --profile: V8's default sampling interval, and the profiled window's length at most. */
export const PROFILE_INTERVAL_US = 1_000;
export const PROFILE_WINDOW_SECONDS = 120;

interface ProfileNode {
  id: number;
  children?: number[];
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface ProfileSummary {
  file: string;
  /** Whether the samples could be cut to the window (same monotonic clock), else the whole run. */
  scope: 'window' | 'whole run';
  sampledMs: number;
  busyMs: number;
  byCategory: { category: string; ms: number; shareOfBusy: number }[];
  topFunctions: ProfileFunction[];
  /**
   * Self time charged to the nearest caller outside Node's core and V8's natives: which library or
   * which of the operator's functions made Node do the work (a TLS handshake, a fetch, a parse).
   */
  byCallerCategory: { category: string; ms: number; shareOfBusy: number }[];
  topCallers: ProfileFunction[];
}

export interface ProfileFunction {
  function: string;
  where: string;
  category: string;
  ms: number;
  shareOfBusy: number;
}

/** --profile: a second operator, profiled after the measurement. */
export interface ProfileRun {
  windowSeconds: number;
  /** The profiled process' CPU over its window: the measured figure plus the profiler's cost. */
  cpuPercentOfOneCore: number | null;
  summary: ProfileSummary;
}

const SPECIAL_NODES = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

/** Which part of Node's own JavaScript a frame belongs to. */
function nodeArea(url: string): string {
  if (/tls/.test(url)) return 'TLS';
  if (/zlib/.test(url)) return 'zlib';
  if (/undici/.test(url)) return 'undici (fetch)';
  if (/_http_|internal\/http/.test(url)) return 'http';
  if (/abort_controller|domexception|event_target|js_transferable/.test(url))
    return 'AbortSignal, EventTarget';
  if (/net|stream|dns/.test(url)) return 'net, streams';
  if (/async_hooks|task_queues|timers|process\/|events/.test(url)) return 'event loop, timers, events';
  return 'other';
}

function category(frame: ProfileNode['callFrame']): string {
  if (SPECIAL_NODES.has(frame.functionName) && frame.url === '') return frame.functionName;
  const { url } = frame;
  if (url === '') return '(native / V8)';
  if (url.startsWith('node:')) return `node core: ${nodeArea(url)}`;
  // undici's HTTP parser (llhttp) is WebAssembly: the global fetch, which the Prometheus queries use.
  if (url.startsWith('wasm://')) return 'node core: undici (fetch)';
  const modules = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (modules?.[1]) return modules[1];
  if (url.includes('/operator/dist/')) return 'operator';
  if (url.includes('/services/core/dist/')) return '@pulse/core';
  return url.replace(/^file:\/\//, '');
}

function shortWhere(frame: ProfileNode['callFrame']): string {
  if (frame.url === '') return '';
  const path = frame.url.replace(/^file:\/\//, '').replace(`${repoRoot}/`, '');
  return `${path.replace(/^.*\/node_modules\//, '')}:${frame.lineNumber + 1}`;
}

/**
 * Self time per function and per category over the samples between two points of the monotonic
 * clock (V8's profile timestamps and process.hrtime both read CLOCK_MONOTONIC, in µs here).
 */
function summarizeProfile(file: string, windowUs: [number, number]): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const inWindow = profile.startTime <= windowUs[0] && profile.endTime >= windowUs[1];
  const selfUs = new Map<number, number>();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    // A sample stands for the interval until the next one.
    const span = profile.timeDeltas[i + 1] ?? 0;
    if (inWindow && (at < windowUs[0] || at > windowUs[1])) continue;
    const id = profile.samples[i] ?? -1;
    selfUs.set(id, (selfUs.get(id) ?? 0) + span);
  }
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const lowLevel = (cat: string) => cat.startsWith('node core') || cat === '(native / V8)';
  /** The node itself unless it is Node core or a V8 native; then its nearest caller that is not. */
  const caller = (node: ProfileNode): ProfileNode => {
    if (!lowLevel(category(node.callFrame))) return node;
    for (let id = parents.get(node.id); id !== undefined; id = parents.get(id)) {
      const up = nodes.get(id);
      if (up === undefined || up.callFrame.functionName === '(root)') break;
      if (!lowLevel(category(up.callFrame))) return up;
    }
    return node;
  };
  const byFunction = new Map<string, { frame: ProfileNode['callFrame']; us: number }>();
  const byCaller = new Map<string, { frame: ProfileNode['callFrame']; us: number }>();
  const byCategory = new Map<string, number>();
  const byCallerCategory = new Map<string, number>();
  const add = (map: typeof byFunction, frame: ProfileNode['callFrame'], us: number) => {
    const key = `${frame.functionName}@${frame.url}:${frame.lineNumber}`;
    const entry = map.get(key) ?? { frame, us: 0 };
    entry.us += us;
    map.set(key, entry);
  };
  let sampledUs = 0;
  for (const [id, us] of selfUs) {
    const node = nodes.get(id);
    if (node === undefined) continue;
    sampledUs += us;
    const cat = category(node.callFrame);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
    add(byFunction, node.callFrame, us);
    const by = caller(node);
    const callerCat = category(by.callFrame);
    byCallerCategory.set(callerCat, (byCallerCategory.get(callerCat) ?? 0) + us);
    add(byCaller, by.callFrame, us);
  }
  const busyUs = sampledUs - (byCategory.get('(idle)') ?? 0);
  const share = (us: number) => (busyUs > 0 ? round((us / busyUs) * 100) : 0);
  const categories = (map: Map<string, number>) =>
    [...map]
      .filter(([cat]) => cat !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15)
      .map(([cat, us]) => ({ category: cat, ms: round(us / 1000), shareOfBusy: share(us) }));
  const functions = (map: typeof byFunction, top: number): ProfileFunction[] =>
    [...map.values()]
      .filter(({ frame }) => frame.functionName !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map(({ frame, us }) => ({
        function: frame.functionName || '(anonymous)',
        where: shortWhere(frame),
        category: category(frame),
        ms: round(us / 1000),
        shareOfBusy: share(us),
      }));
  return {
    file: file.replace(`${repoRoot}/`, ''),
    scope: inWindow ? 'window' : 'whole run',
    sampledMs: round(sampledUs / 1000),
    busyMs: round(busyUs / 1000),
    byCategory: categories(byCategory),
    topFunctions: functions(byFunction, 25),
    byCallerCategory: categories(byCallerCategory),
    topCallers: functions(byCaller, 20),
  };
}

export const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/**
 * The record of a profiled operator once it has stopped (node --cpu-prof writes the profile when
 * the process exits): its CPU over the sampled window and the profile's summary of that window.
 */
export function profileRun(
  profileDir: string,
  windowSeconds: number,
  samples: Sample[],
  windowUs: [number, number],
): ProfileRun {
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`node --cpu-prof wrote no profile into ${profileDir}`);
  const firstSample = samples[0];
  const lastSample = samples.at(-1);
  return {
    windowSeconds,
    cpuPercentOfOneCore:
      firstSample && lastSample
        ? round(
            cpuPercent(firstSample.operator.cpuTicks, lastSample.operator.cpuTicks, firstSample, lastSample),
            2,
          )
        : null,
    summary: summarizeProfile(join(profileDir, file), windowUs),
  };
}
