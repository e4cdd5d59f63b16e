/**
 * What each command does inside its transaction: the domain rows it writes and the events it
 * emits. Tenant isolation lives here: every lookup is scoped to the caller's tenant, so another
 * tenant's service is indistinguishable from one that does not exist (404).
 */
import {
  formatPosition,
  groupBy,
  newEventId,
  notFound,
  type AlertRules,
  type EventType,
  type ProcessSample,
  type Queryable,
} from '@pulse/core';
import {
  insertProcessSamples,
  insertSystemSamples,
  type StoredSystemSample,
  type SystemSampleRow,
} from './repositories/metrics.js';
import { commitSingleSamples } from './repositories/single-samples.js';
import { committedEventPositions, type PendingEvent } from './repositories/outbox.js';
import {
  findServiceByName,
  insertService,
  recordHeartbeats,
  type HeartbeatRow,
} from './repositories/services.js';
import type { ServiceOwners } from './ownership.js';
import { setAlertRules } from './repositories/tenants.js';
import type { CommandKind, CommandOutcome } from './commands.js';

export interface RegisterService {
  name: string;
  hostname: string;
  os?: string | undefined;
  version?: string | undefined;
  labels?: Record<string, string> | undefined;
}

export async function registerService(
  tx: Queryable,
  tenantId: string,
  input: RegisterService,
): Promise<CommandOutcome> {
  const service = {
    id: newEventId(),
    tenantId,
    name: input.name,
    hostname: input.hostname,
    os: input.os ?? null,
    version: input.version ?? null,
    labels: input.labels ?? {},
  };
  const registeredAt = await insertService(tx, service);
  if (registeredAt === undefined) {
    const existing = await findServiceByName(tx, tenantId, input.name, input.hostname);
    if (!existing) throw new Error('service vanished between insert and lookup'); // cannot happen: no deletes race here
    const txid = existing.registeredTxid;
    return {
      status: 200,
      body: { id: existing.id },
      events: [],
      // A registration commits alone (it is not grouped), so its transaction holds its one event.
      ...(txid ? { position: formatPosition({ txid, events: 1 }) } : {}),
    };
  }
  const { id, name, hostname, os, version, labels } = service;
  return {
    status: 201,
    body: { id },
    events: [
      {
        type: 'service.registered',
        tenantId,
        aggregateId: id,
        occurredAt: registeredAt,
        payload: { name, hostname, os, version, labels, registered_at: registeredAt },
      },
    ],
  };
}

/**
 * Heartbeats, of any tenants, merged: one statement moves every service's heartbeat forward, and
 * each command gets its heartbeat event. A service that is not its tenant's fails them all (alone,
 * it is that command's 404).
 */
export const heartbeats: CommandKind<HeartbeatRow> = {
  runMany: async (tx, beats) => {
    const [unknown] = await recordHeartbeats(tx, beats);
    if (unknown !== undefined) {
      const { serviceId } = beats[unknown] as HeartbeatRow;
      throw notFound(`service ${serviceId} not found`, 'id');
    }
    return beats.map(({ tenantId, serviceId, observedAt }) => ({
      status: 202,
      body: {},
      events: [
        {
          type: 'service.heartbeat',
          tenantId,
          aggregateId: serviceId,
          occurredAt: observedAt,
          payload: { observed_at: observedAt },
        },
      ],
    }));
  },
};

/** The answer to a sample command, whether its sample was stored or already was. */
const SAMPLE_ACCEPTED = Object.freeze({ status: 202, body: Object.freeze({}) });

/** One event per service touched, carrying that service's newly stored samples. */
export async function recordSystemSamples(
  tx: Queryable,
  owners: ServiceOwners,
  tenantId: string,
  samples: SystemSampleRow[],
  field: (index: number) => string,
): Promise<{ outcome: CommandOutcome; accepted: number }> {
  const serviceIds = samples.map((s) => s.service_id);
  await owners.require(tx, tenantId, serviceIds, field);
  const stored = await owners.inserting(serviceIds, field(0), () => insertSystemSamples(tx, samples));
  return {
    outcome: { ...SAMPLE_ACCEPTED, events: systemSampleEvents(tenantId, stored) },
    accepted: stored.length,
  };
}

function systemSampleEvents(tenantId: string, stored: StoredSystemSample[]): PendingEvent[] {
  return [...groupBy(stored, (row) => row.serviceId)].map(([serviceId, rows]) => {
    const serviceSamples = rows.map((row) => row.sample);
    return {
      type: 'metrics.system.recorded',
      tenantId,
      aggregateId: serviceId,
      occurredAt: serviceSamples.reduce((latest, s) => (s.observed_at > latest ? s.observed_at : latest), ''),
      payload: { samples: serviceSamples },
    };
  });
}

export interface SingleSystemSample {
  tenantId: string;
  sample: SystemSampleRow;
}

/**
 * Single-sample commands, of any tenants, merged: one ownership check per tenant (usually none, the
 * owners being remembered) and one insert for all. Each command gets the event of its own sample if
 * that was stored, as if the commands had run one after the other.
 */
export function singleSystemSamples(owners: ServiceOwners): CommandKind<SingleSystemSample> {
  const field = () => 'service_id';
  return {
    runMany: async (tx, commands) => {
      for (const [tenantId, ofTenant] of groupBy(commands, (command) => command.tenantId)) {
        await owners.require(
          tx,
          tenantId,
          ofTenant.map(({ sample }) => sample.service_id),
          field,
        );
      }
      const samples = commands.map(({ sample }) => sample);
      const stored = await owners.inserting(
        samples.map((sample) => sample.service_id),
        field(),
        () => insertSystemSamples(tx, samples),
      );
      const storedOf = new Map(stored.map((row) => [row.index, row]));
      return commands.map(({ tenantId }, index) => {
        const own = storedOf.get(index);
        return { ...SAMPLE_ACCEPTED, events: own ? systemSampleEvents(tenantId, [own]) : [] };
      });
    },
    // Only where every owner is remembered: a service deleted since then fails the samples' foreign
    // key, and the group then runs in transactions, whose runMany answers 404.
    commitInOneStatement: async (db, commands, retry) => {
      const known = commands.every(({ input }) => owners.knows(input.tenantId, input.sample.service_id));
      if (!known) return undefined;
      // A command's event carries its id, so a retry finds what a lost attempt committed without an
      // idempotency record, which took a quarter of the primary's WAL per sample when every command
      // had one. A command whose sample that attempt found already stored wrote no event; run again,
      // it finds the sample stored again and gets the same answer, in the retry's position.
      const earlier = retry
        ? await committedEventPositions(
            db,
            commands.map(({ commandId }) => commandId),
          )
        : new Map<string, string>();
      const committed = await commitSingleSamples(
        db,
        commands
          .filter(({ commandId }) => !earlier.has(commandId))
          .map(({ input, commandId, clientKey, traceparent }) => ({
            ...input,
            eventId: commandId,
            clientKey,
            traceparent,
            ...SAMPLE_ACCEPTED,
          })),
      );
      const position = formatPosition(committed);
      return {
        eventTypes: Array<EventType>(committed.events + earlier.size).fill('metrics.system.recorded'),
        outcomes: commands.map(({ commandId }) => {
          const found = earlier.get(commandId);
          return { ...SAMPLE_ACCEPTED, position: found ?? position, replayed: found !== undefined };
        }),
      };
    },
  };
}

export async function recordProcessSamples(
  tx: Queryable,
  owners: ServiceOwners,
  tenantId: string,
  input: { service_id: string; observed_at: string; processes: ProcessSample[] },
): Promise<CommandOutcome> {
  await owners.require(tx, tenantId, [input.service_id], () => 'service_id');
  const stored = await owners.inserting([input.service_id], 'service_id', () =>
    insertProcessSamples(tx, input.service_id, input.observed_at, input.processes),
  );
  // A snapshot already stored (a resend) emits nothing; an empty process list is news and does.
  const unchanged = input.processes.length > 0 && stored.processes.length === 0;
  return {
    status: 202,
    body: {},
    events: unchanged
      ? []
      : [
          {
            type: 'metrics.process.recorded',
            tenantId,
            aggregateId: input.service_id,
            occurredAt: stored.observed_at,
            payload: stored,
          },
        ],
  };
}

export async function updateAlertRules(
  tx: Queryable,
  tenantId: string,
  rules: AlertRules,
): Promise<CommandOutcome> {
  if (!(await setAlertRules(tx, tenantId, rules)))
    throw notFound(`tenant ${tenantId} not found`, 'tenant_id');
  return {
    status: 200,
    body: { rules },
    events: [
      {
        type: 'tenant.alert_rules.updated',
        tenantId,
        aggregateId: tenantId,
        occurredAt: new Date().toISOString(),
        payload: { rules },
      },
    ],
  };
}
