/**
 * Where the pinned upstream tools live. `tools/install.sh` builds them into a version-keyed cache;
 * this module reads the same `tools/versions.env` so both agree on the paths.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type ToolName =
  'postgres' | 'kafka' | 'prometheus' | 'kubernetes' | 'helm' | 'k6' | 'kubeconform' | 'crds';

function readVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(join(repoRoot, 'tools', 'versions.env'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) versions[match[1]] = match[2];
  }
  return versions;
}

export const versions = readVersions();

function version(key: string): string {
  const value = versions[key];
  if (!value) throw new Error(`tools/versions.env has no ${key}`);
  return value;
}

export const toolsDir = process.env.PULSE_TOOLS_DIR ?? join(homedir(), '.cache', 'pulse', 'tools');

const toolDir = (name: string, versionKey: string) => join(toolsDir, `${name}-${version(versionKey)}`);

export const toolPaths = {
  postgresBin: `/usr/lib/postgresql/${version('POSTGRES_MAJOR')}/bin`,
  kafkaLibs: join(toolDir('kafka', 'KAFKA_VERSION'), 'libs'),
  kafkaLog4j: join(toolDir('kafka', 'KAFKA_VERSION'), 'log4j.properties'),
  prometheus: join(toolDir('prometheus', 'PROMETHEUS_VERSION'), 'bin', 'prometheus'),
  etcd: join(toolDir('etcd', 'ETCD_VERSION'), 'bin', 'etcd'),
  kubeApiserver: join(toolDir('kubernetes', 'KUBERNETES_VERSION'), 'bin', 'kube-apiserver'),
  kubeControllerManager: join(toolDir('kubernetes', 'KUBERNETES_VERSION'), 'bin', 'kube-controller-manager'),
  helm: join(toolDir('helm', 'HELM_VERSION'), 'bin', 'helm'),
  k6: join(toolDir('k6', 'K6_VERSION'), 'bin', 'k6'),
  kubeconform: join(toolDir('kubeconform', 'KUBECONFORM_VERSION'), 'bin', 'kubeconform'),
};

/** Runs `tools/install.sh` for the named tools; a no-op for those already in the cache. */
export function ensureTools(names: ToolName[]): void {
  if (names.length === 0) return;
  const complete = (dir: string) => existsSync(join(dir, '.complete'));
  const missing = names.filter((name) => {
    switch (name) {
      case 'postgres':
        return !existsSync(join(toolPaths.postgresBin, 'postgres'));
      case 'kafka':
        return !complete(dirname(toolPaths.kafkaLibs));
      case 'kubernetes':
        return (
          !complete(dirname(dirname(toolPaths.kubeApiserver))) || !complete(dirname(dirname(toolPaths.etcd)))
        );
      case 'prometheus':
      case 'helm':
      case 'k6':
      case 'kubeconform':
        return !complete(dirname(dirname(toolPaths[name])));
      case 'crds':
        return true; // cheap to check by the script itself
    }
  });
  if (missing.length === 0) return;
  execFileSync('bash', [join(repoRoot, 'tools', 'install.sh'), ...missing], { stdio: 'inherit' });
}
