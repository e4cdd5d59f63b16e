/**
 * Prometheus v3 with the OTLP receiver, so scraped metrics and pushed OpenTelemetry metrics land in
 * one server. Targets come from files in `<runDir>/prometheus/targets/`, so a service can be added
 * to scraping by writing a file (see `addScrapeTarget`).
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackContext, Started } from '../context.js';
import { ManagedProcess } from '../process.js';
import { toolPaths } from '../tools.js';
import { probe, waitFor } from '../wait.js';

const SCRAPE_INTERVAL = '2s';

function targetsDir(runDir: string): string {
  return join(runDir, 'prometheus', 'targets');
}

function prometheusConfig(ctx: StackContext): string {
  const targets = targetsDir(ctx.runDir);
  return [
    'global:',
    `  scrape_interval: ${SCRAPE_INTERVAL}`,
    `  evaluation_interval: ${SCRAPE_INTERVAL}`,
    'otlp:',
    '  promote_resource_attributes: [service.name, service.instance.id, k8s.pod.name]',
    'scrape_configs:',
    '  - job_name: prometheus',
    '    static_configs:',
    `      - targets: ['127.0.0.1:${ctx.ports.prometheus}']`,
    '  - job_name: pulse',
    '    file_sd_configs:',
    `      - files: ['${targets}/*.json']`,
    '        refresh_interval: 1s',
    '',
  ].join('\n');
}

/** Registers `127.0.0.1:port` for scraping under the labels given (job defaults to "pulse"). */
export function addScrapeTarget(
  runDir: string,
  name: string,
  port: number,
  labels: Record<string, string> = {},
): void {
  const dir = targetsDir(runDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  // Write then rename, so Prometheus never reads a half-written file.
  writeFileSync(
    `${file}.tmp`,
    JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { instance_name: name, ...labels } }]),
  );
  renameSync(`${file}.tmp`, file);
}

export async function startPrometheus(ctx: StackContext): Promise<Started> {
  const root = join(ctx.runDir, 'prometheus');
  mkdirSync(targetsDir(ctx.runDir), { recursive: true });
  const configFile = join(root, 'prometheus.yml');
  writeFileSync(configFile, prometheusConfig(ctx));
  const url = `http://127.0.0.1:${ctx.ports.prometheus}`;
  const server = ManagedProcess.start(ctx.runDir, {
    name: 'prometheus',
    command: toolPaths.prometheus,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(root, 'data')}`,
      '--storage.tsdb.retention.time=2d',
      `--web.listen-address=127.0.0.1:${ctx.ports.prometheus}`,
      '--web.enable-otlp-receiver',
      '--web.enable-lifecycle',
    ],
  });
  try {
    await waitFor(`prometheus to be ready at ${url}`, async () => (await probe(`${url}/-/ready`)).ok, {
      timeoutMs: 60_000,
      abortIf: () => server.exitedError(),
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    processes: [server],
    env: { PULSE_PROMETHEUS_URL: url, PULSE_OTLP_ENDPOINT: `${url}/api/v1/otlp` },
  };
}
