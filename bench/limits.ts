/**
 * The machine's limits, measured in the same run and on the same stack as Pulse's figures:
 * PostgreSQL COPY into an empty table shaped like system_metrics, Kafka's ProducerPerformance on a
 * fresh topic, and a bare Node HTTP server driven by k6.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { ManagedProcess } from '../test/harness/process.js';
import { freePort } from '../test/harness/ports.js';
import { repoRoot, toolPaths } from '../test/harness/tools.js';
import { probe, waitFor } from '../test/harness/wait.js';
import { metricValue, runK6, type K6Run } from './k6.js';

const run = promisify(execFile);

export interface LimitResult<Raw> {
  value: number;
  raw: Raw;
}

const COLUMNS =
  'service_id, observed_at, cpu_usage, memory_usage, disk_usage, load_avg, network_rx_bytes, network_tx_bytes';

async function writeCsv(file: string, rows: number): Promise<void> {
  const services = Array.from({ length: 100 }, () => randomUUID());
  const start = Date.parse('2024-01-01T00:00:00Z');
  const out = createWriteStream(file);
  for (let i = 0; i < rows; i++) {
    const line = `${services[i % 100]},${new Date(start + i).toISOString()},${(i * 7.3) % 100},${(i * 3.1) % 100},${40 + (i % 50)},${(i % 400) / 100},${1000 + i},${2000 + i}\n`;
    if (!out.write(line)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** COPY of `rows` samples into an empty table with system_metrics' columns, defaults and primary key. */
export async function pgCopyRowsPerSecond(
  databaseUrl: string,
  workDir: string,
  rows: number,
): Promise<LimitResult<{ rows: number; seconds: number }>> {
  const csv = join(workDir, 'copy-samples.csv');
  await writeCsv(csv, rows);
  const psql = join(toolPaths.postgresBin, 'psql');
  const sql = (command: string) => run(psql, [databaseUrl, '-v', 'ON_ERROR_STOP=1', '-qc', command]);
  await sql('drop table if exists bench_copy');
  await sql(
    'create table bench_copy (like system_metrics including defaults including constraints, primary key (service_id, observed_at))',
  );
  try {
    const started = process.hrtime.bigint();
    await sql(`\\copy bench_copy (${COLUMNS}) from '${csv}' with (format csv)`);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { value: Math.round(rows / seconds), raw: { rows, seconds } };
  } finally {
    await sql('drop table if exists bench_copy');
  }
}

/**
 * Kafka's own ProducerPerformance (acks=all, idempotent, like the relay) on a fresh topic with
 * the pipeline's partition count; `recordSize` near one sample event's size.
 */
export async function kafkaProduceMessagesPerSecond(
  brokers: string,
  records: number,
  recordSize: number,
  partitions: number,
): Promise<LimitResult<{ records: number; recordSize: number; output: string }>> {
  const java = ['-cp', `${toolPaths.kafkaLibs}/*`];
  const topic = `bench.produce.${Date.now()}`;
  const topics = (...args: string[]) =>
    run('java', [...java, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', brokers, ...args]);
  await topics('--create', '--topic', topic, '--partitions', String(partitions), '--replication-factor', '1');
  try {
    const { stdout } = await run(
      'java',
      [
        ...java,
        'org.apache.kafka.tools.ProducerPerformance',
        '--topic',
        topic,
        '--num-records',
        String(records),
        '--record-size',
        String(recordSize),
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${brokers}`,
        'acks=all',
        'enable.idempotence=true',
      ],
      { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 },
    );
    // The last line: "N records sent, X records/sec (Y MB/sec), ... ms avg latency, ..."
    const last = stdout.trim().split('\n').at(-1) ?? '';
    const match = /records sent, ([\d.]+) records\/sec/.exec(last);
    if (!match?.[1]) throw new Error(`ProducerPerformance: unexpected output:\n${stdout.slice(-2000)}`);
    return { value: Math.round(Number(match[1])), raw: { records, recordSize, output: last } };
  } finally {
    await topics('--delete', '--topic', topic);
  }
}

/** req/s of a bare node:http server (one process) under k6 closed-loop load. */
export async function httpHelloRequestsPerSecond(
  runDir: string,
  outDir: string,
  seconds: number,
): Promise<LimitResult<K6Run>> {
  const port = await freePort();
  const server = ManagedProcess.start(runDir, {
    name: 'bench-hello',
    command: process.execPath,
    args: ['--import', 'tsx', join(repoRoot, 'bench/hello-server.ts'), String(port)],
    cwd: repoRoot,
  });
  try {
    const url = `http://127.0.0.1:${port}/`;
    await waitFor('the hello server', async () => (await probe(url)).ok, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
    const k6 = await runK6(
      'bench/hello.js',
      { HELLO_URL: url, HELLO_SECONDS: String(seconds) },
      {
        outDir,
        timeoutSeconds: seconds + 60,
      },
    );
    const requests = metricValue(k6.summary, 'http_reqs', 'count') ?? 0;
    return { value: Math.round(requests / seconds), raw: k6 };
  } finally {
    await server.stop();
  }
}
