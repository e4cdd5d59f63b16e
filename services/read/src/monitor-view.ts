/**
 * What `pulse monitor` shows, as a pure function of what it fetched: per-stage lag and backlog,
 * pipeline rates, replicas and service health, coloured by thresholds.
 */
export interface StageView {
  name: string;
  lag_seconds: number | null;
  backlog: number | null;
  detail: Record<string, unknown>;
}

export interface Snapshot {
  at: Date;
  sync: { position: string | null; stages: StageView[] };
  dashboard: {
    services: { total: number; by_health: Record<string, number> };
    alerts: { open: number; open_by_severity: Record<string, number> };
    top_cpu: {
      name: string | null;
      hostname: string | null;
      health: string;
      latest: { cpu_usage: number } | null;
    }[];
  };
  /** Events per second by pipeline step, from Prometheus; undefined without it. */
  rates: Record<string, number | null> | undefined;
}

export type Level = 'ok' | 'warn' | 'bad' | 'none';

/** Lag in seconds: under 1 s is fine, under 5 s (the replica staleness default) a warning. */
export const lagLevel = (seconds: number | null): Level =>
  seconds === null ? 'none' : seconds < 1 ? 'ok' : seconds < 5 ? 'warn' : 'bad';
export const backlogLevel = (events: number | null): Level =>
  events === null ? 'none' : events === 0 ? 'ok' : events < 1_000 ? 'warn' : 'bad';
const HEALTH_LEVEL: Record<string, Level> = { healthy: 'ok', degraded: 'warn', down: 'bad', unknown: 'none' };

const COLOURS: Record<Level, string> = { ok: '\x1b[32m', warn: '\x1b[33m', bad: '\x1b[31m', none: '\x1b[2m' };
const RESET = '\x1b[0m';

const seconds = (value: number | null) => (value === null ? 'unknown' : `${value.toFixed(2)} s`);
const count = (value: number | null) => (value === null ? 'unknown' : String(value));

export function render(snapshot: Snapshot, colour: boolean): string {
  const paint = (level: Level, text: string) => (colour ? `${COLOURS[level]}${text}${RESET}` : text);
  const lines = [
    `Pulse monitor  ${snapshot.at.toISOString()}  position ${snapshot.sync.position ?? '-'}`,
    '',
  ];
  lines.push('STAGE        LAG          BACKLOG');
  for (const stage of snapshot.sync.stages) {
    lines.push(
      `${stage.name.padEnd(12)} ${paint(lagLevel(stage.lag_seconds), seconds(stage.lag_seconds).padEnd(12))} ${paint(
        backlogLevel(stage.name === 'replica' ? null : stage.backlog),
        count(stage.backlog).padEnd(10),
      )}${stage.name === 'replica' ? ' bytes' : ''}`,
    );
    const replicas = stage.detail.replicas as
      { replica: string; up: boolean; lag_seconds: number | null }[] | undefined;
    for (const replica of replicas ?? []) {
      const state = replica.up ? seconds(replica.lag_seconds) : 'DOWN';
      lines.push(
        `  ${replica.replica.padEnd(30)} ${paint(replica.up ? lagLevel(replica.lag_seconds) : 'bad', state)}`,
      );
    }
    if (typeof stage.detail.error === 'string') lines.push(`  ${paint('warn', stage.detail.error)}`);
  }
  if (snapshot.rates) {
    lines.push('', 'RATES (events/s, 1 m)');
    for (const [name, rate] of Object.entries(snapshot.rates)) {
      lines.push(`  ${name.padEnd(12)} ${rate === null ? 'unknown' : rate.toFixed(1)}`);
    }
  }
  const { services, alerts, top_cpu } = snapshot.dashboard;
  lines.push('', `SERVICES ${services.total}`);
  lines.push(
    `  ${Object.entries(services.by_health)
      .map(([health, n]) => paint(n > 0 ? (HEALTH_LEVEL[health] ?? 'none') : 'none', `${health} ${n}`))
      .join('  ')}`,
  );
  lines.push(
    `ALERTS ${paint(alerts.open === 0 ? 'ok' : (alerts.open_by_severity.critical ?? 0) > 0 ? 'bad' : 'warn', `${alerts.open} open`)}` +
      `  (${Object.entries(alerts.open_by_severity)
        .map(([severity, n]) => `${severity} ${n}`)
        .join(', ')})`,
  );
  if (top_cpu.length > 0) {
    lines.push('', 'BUSIEST (cpu %)');
    for (const service of top_cpu) {
      const name = `${service.name ?? '?'}@${service.hostname ?? '?'}`;
      lines.push(
        `  ${name.padEnd(30)} ${(service.latest?.cpu_usage.toFixed(1) ?? '-').padStart(6)}  ${paint(
          HEALTH_LEVEL[service.health] ?? 'none',
          service.health,
        )}`,
      );
    }
  }
  return lines.join('\n');
}
