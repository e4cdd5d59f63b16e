/**
 * The full and the quick run: the same scripts, with the sizes each reads from the environment.
 * The rates stay at their targets in both; the quick run shortens durations and data sizes.
 */
export interface Profile {
  name: 'full' | 'quick';
  /** Seconds of each rate step (write-load, read-load) and of the batch phase. */
  stepSeconds: number;
  lagSeconds: number;
  mixedSeconds: number;
  readServices: number;
  readDays: number;
  backlogSamples: number;
  drainTimeoutSeconds: number;
  soakSeconds: number;
  limits: { copyRows: number; kafkaRecords: number; helloSeconds: number };
}

export const profiles: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    stepSeconds: 60,
    lagSeconds: 120,
    mixedSeconds: 120,
    readServices: 1000,
    readDays: 30,
    backlogSamples: 1_000_000,
    drainTimeoutSeconds: 900,
    soakSeconds: 1800,
    limits: { copyRows: 1_000_000, kafkaRecords: 1_000_000, helloSeconds: 30 },
  },
  quick: {
    name: 'quick',
    stepSeconds: 10,
    lagSeconds: 20,
    mixedSeconds: 15,
    readServices: 1000,
    readDays: 2,
    backlogSamples: 100_000,
    drainTimeoutSeconds: 300,
    soakSeconds: 60,
    limits: { copyRows: 200_000, kafkaRecords: 200_000, helloSeconds: 10 },
  },
};

/** The environment of each script for a profile (the scripts' own defaults are the full sizes). */
export function scriptEnv(profile: Profile) {
  return {
    writeLoad: {
      PULSE_STEP_SECONDS: String(profile.stepSeconds),
      PULSE_BATCH_SECONDS: String(profile.stepSeconds),
    },
    replicationLag: { PULSE_LAG_SECONDS: String(profile.lagSeconds) },
    mixed: { PULSE_MIXED_SECONDS: String(profile.mixedSeconds) },
    readLoad: {
      PULSE_STEP_SECONDS: String(profile.stepSeconds),
      PULSE_READ_SERVICES: String(profile.readServices),
      PULSE_READ_DAYS: String(profile.readDays),
    },
    backlog: {
      PULSE_BACKLOG_SAMPLES: String(profile.backlogSamples),
      PULSE_DRAIN_TIMEOUT_SECONDS: String(profile.drainTimeoutSeconds),
    },
    soak: { PULSE_SOAK_SECONDS: String(profile.soakSeconds) },
  };
}

/** The parts of the suite, in the order they run. */
export const PARTS = ['write-load', 'replication-lag', 'mixed', 'read-load', 'backlog', 'soak'] as const;
export type Part = (typeof PARTS)[number];

/** The parts `--only` names (in the suite's order), or all of them. */
export function selectedParts(only: string | undefined): Part[] {
  if (only === undefined) return [...PARTS];
  const named = only
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (named.length === 0) throw new Error(`--only names no part; the parts are ${PARTS.join(', ')}`);
  const unknown = named.filter((part) => !(PARTS as readonly string[]).includes(part));
  if (unknown.length > 0)
    throw new Error(`--only: no part ${unknown.join(', ')}; the parts are ${PARTS.join(', ')}`);
  return PARTS.filter((part) => named.includes(part));
}
