/**
 * The write cluster (a primary with one physical streaming replica on its own slot, made with
 * pg_basebackup) and the separate projection server, from the installed PostgreSQL binaries.
 * The same shape as CloudNativePG's `pulse-write` and `pulse-projection` clusters.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { StackContext, Started } from '../context.js';
import { ManagedProcess } from '../process.js';
import { toolPaths } from '../tools.js';
import { waitFor } from '../wait.js';

export const DB_USER = 'pulse';
export const WRITE_DB = 'pulse';
export const PROJECTION_DB = 'pulse_projection';
export const REPLICA_SLOT = 'pulse_replica_1';

export function databaseUrl(ctx: StackContext, port: number, database: string): string {
  return `postgres://${DB_USER}:${encodeURIComponent(ctx.secrets.dbPassword)}@127.0.0.1:${port}/${database}`;
}

/** PostgreSQL refuses to run as root; when we are root, its processes run as the `postgres` user. */
type ServerUser = { uid: number; gid: number };

function serverUser(): ServerUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root needs a `postgres` system user for the PostgreSQL servers');
  }
}

function ownedDir(path: string, user: ServerUser | undefined): string {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  if (user) chownSync(path, user.uid, user.gid);
  return path;
}

function runAs(user: ServerUser | undefined, command: string, args: string[], env = {}): void {
  try {
    execFileSync(join(toolPaths.postgresBin, command), args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: user?.uid,
      gid: user?.gid,
      env: { ...process.env, ...env },
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${command} failed: ${stderr || String(error)}`, { cause: error });
  }
}

function initCluster(ctx: StackContext, dataDir: string, user: ServerUser | undefined): void {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return;
  const pwFile = join(ctx.runDir, 'pg', '.pwfile');
  writeFileSync(pwFile, `${ctx.secrets.dbPassword}\n`, { mode: 0o600 });
  if (user) chownSync(pwFile, user.uid, user.gid);
  try {
    runAs(user, 'initdb', [
      '-D',
      dataDir,
      '-U',
      DB_USER,
      `--pwfile=${pwFile}`,
      '--auth-local=scram-sha-256',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
    ]);
  } finally {
    rmSync(pwFile, { force: true });
  }
}

function serverArgs(dataDir: string, port: number, extra: Record<string, string | number>): string[] {
  const settings: Record<string, string | number> = {
    port,
    listen_addresses: '127.0.0.1',
    // TCP only: socket paths under a deep run dir can exceed the 107-byte limit.
    unix_socket_directories: '',
    max_connections: 200,
    shared_buffers: '128MB',
    logging_collector: 'off',
    log_line_prefix: '%m [%p] %q%u@%d ',
    // Commit times of the write and projection transactions: the benchmark reads the pipeline's
    // lag from commit to commit with them (bench/commit-lag.ts).
    track_commit_timestamp: 'on',
    ...extra,
  };
  return ['-D', dataDir, ...Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])];
}

async function startServer(
  name: string,
  ctx: StackContext,
  dataDir: string,
  port: number,
  user: ServerUser | undefined,
  extra: Record<string, string | number>,
  { background = false } = {},
): Promise<ManagedProcess> {
  const server = ManagedProcess.start(ctx.runDir, {
    name,
    command: join(toolPaths.postgresBin, 'postgres'),
    args: serverArgs(dataDir, port, extra),
    user,
    background,
    stopSignal: 'SIGINT', // "fast" shutdown: roll back open transactions, don't wait for clients
  });
  await waitFor(
    `${name} to accept connections on 127.0.0.1:${port}`,
    () => query(ctx, port, 'postgres', 'select 1'),
    {
      timeoutMs: 60_000,
      abortIf: () => server.exitedError(),
    },
  );
  return server;
}

export async function query<R extends pg.QueryResultRow = pg.QueryResultRow>(
  ctx: StackContext,
  port: number,
  database: string,
  sql: string,
  params: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({
    connectionString: databaseUrl(ctx, port, database),
    connectionTimeoutMillis: 2_000,
  });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function ensureDatabase(ctx: StackContext, port: number, database: string): Promise<void> {
  const rows = await query(ctx, port, 'postgres', 'select 1 from pg_database where datname = $1', [database]);
  if (rows.length === 0) await query(ctx, port, 'postgres', `create database ${database}`);
}

export async function startWriteCluster(ctx: StackContext): Promise<Started> {
  const user = serverUser();
  const root = ownedDir(join(ctx.runDir, 'pg'), user);
  const primaryDir = join(root, 'primary');
  const replicaDir = join(root, 'replica');
  const { postgresPrimary: primaryPort, postgresReplica: replicaPort } = ctx.ports;

  initCluster(ctx, ownedDir(primaryDir, user), user);
  const primary = await startServer('postgres-primary', ctx, primaryDir, primaryPort, user, {
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    wal_keep_size: '256MB',
    hot_standby: 'on',
  });
  const processes = [primary];
  try {
    await ensureDatabase(ctx, primaryPort, WRITE_DB);
    const slots = await query(
      ctx,
      primaryPort,
      'postgres',
      'select 1 from pg_replication_slots where slot_name = $1',
      [REPLICA_SLOT],
    );
    if (slots.length === 0) {
      await query(ctx, primaryPort, 'postgres', 'select pg_create_physical_replication_slot($1)', [
        REPLICA_SLOT,
      ]);
    }
    if (!existsSync(join(replicaDir, 'PG_VERSION'))) {
      ownedDir(replicaDir, user);
      // -R writes standby.signal and primary_conninfo; -S streams on our slot so WAL is kept for it.
      runAs(
        user,
        'pg_basebackup',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(primaryPort),
          '-U',
          DB_USER,
          '-D',
          replicaDir,
          '-R',
          '-S',
          REPLICA_SLOT,
          '-X',
          'stream',
          '-c',
          'fast',
        ],
        { PGPASSWORD: ctx.secrets.dbPassword },
      );
    }
    processes.push(
      // Replays the primary's WAL behind the writes, and serves raw history reads too.
      await startServer(
        'postgres-replica',
        ctx,
        replicaDir,
        replicaPort,
        user,
        { hot_standby: 'on' },
        { background: true },
      ),
    );
    await waitFor(
      'the replica to stream from the primary',
      async () => {
        const rows = await query(
          ctx,
          primaryPort,
          'postgres',
          "select 1 from pg_stat_replication where state = 'streaming' and application_name <> ''",
        );
        return rows.length > 0;
      },
      { timeoutMs: 60_000 },
    );
  } catch (error) {
    for (const p of processes.reverse()) await p.stop();
    throw error;
  }
  return {
    processes,
    env: {
      PULSE_WRITE_DATABASE_URL: databaseUrl(ctx, primaryPort, WRITE_DB),
      PULSE_REPLICA_DATABASE_URL: databaseUrl(ctx, replicaPort, WRITE_DB),
    },
  };
}

export async function startProjectionServer(ctx: StackContext): Promise<Started> {
  const user = serverUser();
  const dataDir = ownedDir(join(ownedDir(join(ctx.runDir, 'pg'), user), 'projection'), user);
  initCluster(ctx, dataDir, user);
  const server = await startServer(
    'postgres-projection',
    ctx,
    dataDir,
    ctx.ports.postgresProjection,
    user,
    {},
    // Written by the projector behind the writes, and read by the read service, whose kept answers
    // it refreshes: niced, it slowed the dashboards (2026-12-06-full-4).
    { background: true },
  );
  try {
    await ensureDatabase(ctx, ctx.ports.postgresProjection, PROJECTION_DB);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    processes: [server],
    env: { PULSE_PROJECTION_DATABASE_URL: databaseUrl(ctx, ctx.ports.postgresProjection, PROJECTION_DB) },
  };
}
