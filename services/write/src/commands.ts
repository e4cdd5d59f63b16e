/**
 * The frame of every command: one transaction holding the domain rows, the outbox events and the
 * idempotency record (written last, with the events); the answer carries the position token of
 * that transaction.
 *
 * Small commands that arrive while others are committing share a transaction (group commit): one
 * BEGIN, one outbox statement and one COMMIT, with its WAL flush, for the whole group instead of
 * for each. Commands of one kind that can run merged (a `CommandKind`, e.g. single samples) also
 * share their statements: a group of 64 single-sample POSTs inserts its samples in one statement,
 * not in 64 round trips. A kind may commit such a group by itself, in one statement outside BEGIN and
 * COMMIT (`commitInOneStatement`): a group of single-sample POSTs is then one round trip. A group
 * never changes an answer: when any of its commands fails or finds its key taken, the group rolls
 * back and each of its commands runs again in a transaction of its own.
 *
 * Every command has an idempotency key, the client's or one made here, so that a retry after a
 * connection lost during COMMIT finds what the lost attempt committed. A kind that commits in one
 * statement may instead find that attempt by what it wrote (single samples: by their event, whose
 * id is the command's), and then stores records only for the clients' keys.
 */
import { createHash } from 'node:crypto';
import {
  currentTraceparent,
  formatPosition,
  groupBy,
  HttpError,
  isRetryableError,
  newEventId,
  onlyRow,
  withRetries,
  withTransaction,
  type EventType,
  type Queryable,
} from '@pulse/core';
import type pg from 'pg';
import type { Counter } from 'prom-client';
import { appendEvents, type PendingEvent } from './repositories/outbox.js';
import { findStoredResponse } from './repositories/idempotency.js';

export interface CommandOutcome {
  status: number;
  body: Record<string, unknown>;
  events: PendingEvent[];
  /** A command that changed nothing can point at the transaction that did (a repeated registration). */
  position?: string;
}

export interface CommandRequest {
  tenantId: string;
  /**
   * The client's Idempotency-Key, if it sent one, with what identifies the request's content, so
   * that the key reused for a different request is refused.
   */
  idempotency: { key: string; fingerprint: string } | undefined;
}

export interface CommandResult {
  status: number;
  body: Record<string, unknown>;
  position: string;
  replayed: boolean;
}

export interface CommandDeps {
  pool: pg.Pool;
  /** Called after a commit that wrote events. */
  wakeRelay: () => void;
  retries: Counter;
  events: Counter<'type'>;
  /** Commands per committed transaction, by how it committed. */
  groupSize: { observe: (labels: { commit: CommitPath }, size: number) => void };
}

/** A group committed in BEGIN/COMMIT, or by one statement of its kind. */
export type CommitPath = 'transaction' | 'statement';

export type Command = (tx: Queryable) => Promise<CommandOutcome>;

/**
 * How commands of one kind run together: `runMany` gets the inputs of a transaction's commands of
 * this kind in their order and returns their outcomes in the same order, each the outcome its
 * command would have had running alone after the ones before it. A failure fails them all.
 */
export interface CommandKind<I> {
  runMany(tx: Queryable, inputs: I[]): Promise<CommandOutcome[]>;
  /**
   * Commits commands of this kind, and nothing else, in one statement outside BEGIN/COMMIT: their
   * rows, their events and the idempotency records of the clients' keys, with the outcomes runMany
   * would give. Undefined when it cannot (runMany then runs in a transaction). A client's key
   * already taken fails the statement. `retry` says that an earlier attempt may have committed
   * (its answer was lost with the connection): the kind must then answer the commands that attempt
   * committed with that attempt's outcome, and not commit them again.
   */
  commitInOneStatement?(
    db: pg.Pool,
    commands: KeyedInput<I>[],
    retry: boolean,
  ): Promise<StatementCommit | undefined>;
}

/** A command's input with what its idempotency record and events carry. */
export interface KeyedInput<I> {
  input: I;
  tenantId: string;
  /** Made once per command, time-ordered: an id that every attempt of the command shares. */
  commandId: string;
  /** The client's Idempotency-Key and its request's hash; none when the key was made here. */
  clientKey: IdempotencyKey | undefined;
  traceparent: string | null;
}

/** A key as its idempotency record holds it, with the hash of the request that claimed it. */
export interface IdempotencyKey {
  key: string;
  requestHash: Buffer;
}

export interface StatementCommit {
  /** The type of each event committed, by this statement or by an earlier attempt it found. */
  eventTypes: EventType[];
  /** The commands' answers, in their order, each with its position. */
  outcomes: { status: number; body: Record<string, unknown>; position: string; replayed: boolean }[];
}

/** A command as its kind and input, so that it can run merged with others of its kind. */
export interface Work {
  kind: CommandKind<unknown>;
  input: unknown;
}

export function work<I>(kind: CommandKind<I>, input: I): Work {
  return { kind, input };
}

/** Commands that merge with nothing: each runs its own statements, one after the other. */
const ONE_BY_ONE: CommandKind<Command> = {
  runMany: async (tx, commands) => {
    const outcomes: CommandOutcome[] = [];
    for (const command of commands) outcomes.push(await command(tx));
    return outcomes;
  },
};

const asWork = (command: Command | Work): Work =>
  typeof command === 'function' ? work(ONE_BY_ONE, command) : command;

/**
 * Runs the works, each kind's in one `runMany` (kinds in the order they first appear), and returns
 * their outcomes in the works' order. Kinds write different rows, so no outcome depends on which
 * kind ran first.
 */
async function runWorks(tx: Queryable, works: Work[]): Promise<CommandOutcome[]> {
  const outcomes: CommandOutcome[] = [];
  for (const [kind, ofKind] of groupBy(works.entries(), ([, { kind }]) => kind)) {
    const kindOutcomes = await kind.runMany(
      tx,
      ofKind.map(([, { input }]) => input),
    );
    if (kindOutcomes.length !== ofKind.length) {
      throw new Error(
        `a command kind answered ${kindOutcomes.length} outcomes for ${ofKind.length} commands`,
      );
    }
    ofKind.forEach(([index], i) => (outcomes[index] = kindOutcomes[i] as CommandOutcome));
  }
  return outcomes;
}

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return `${method} ${path}\n${JSON.stringify(body ?? null)}`;
}

/** A command with what its every attempt must reuse: its id, the client's key and its trace. */
interface Prepared {
  tenantId: string;
  commandId: string;
  clientKey: IdempotencyKey | undefined;
  traceparent: string | null;
  work: Work;
}

/**
 * The request hash recorded with a key made here: only this command's own retries can meet that
 * key, so there is no other request to tell apart, and no hash worth computing per request.
 */
const OWN_KEY_HASH = Buffer.alloc(0);

function prepare(request: CommandRequest, work: Work): Prepared {
  const { idempotency } = request;
  return {
    tenantId: request.tenantId,
    // Time-ordered (UUIDv7), so that a thousand ids a second land at the right edge of an index
    // instead of dirtying pages all over it.
    commandId: newEventId(),
    clientKey: idempotency && {
      key: idempotency.key,
      requestHash: createHash('sha256').update(idempotency.fingerprint).digest(),
    },
    traceparent: currentTraceparent(),
    work,
  };
}

/**
 * The key a command's record holds in a transaction. Without a client key the command still gets
 * one, made from its id and so the same for every retry: when a connection breaks during COMMIT,
 * the next attempt finds the key if COMMIT did succeed.
 */
function recordedKey({ clientKey, commandId }: Prepared): IdempotencyKey {
  return clientKey ?? { key: `auto:${commandId}`, requestHash: OWN_KEY_HASH };
}

/** Thrown inside the transaction when a key belongs to a committed command, to roll the group back. */
class KeyTaken extends Error {}

/**
 * Commits the commands in one transaction. The position of each names the transaction and all of
 * its events: the projection has applied a command once it has applied the whole transaction.
 */
async function commitTogether(deps: CommandDeps, commands: Prepared[]): Promise<CommandResult[]> {
  let committedEvents: PendingEvent[] = [];
  const results = await withTransaction(
    deps.pool,
    async (tx) => {
      const outcomes = await runWorks(
        tx,
        commands.map(({ work }) => work),
      );
      const done = commands.map((command, index) => {
        const outcome = outcomes[index] as CommandOutcome;
        const body = outcome.position ? { ...outcome.body, position: outcome.position } : outcome.body;
        return { command, outcome, body };
      });
      const events = done.flatMap(({ command, outcome }) =>
        outcome.events.map((event) => ({ event, traceparent: command.traceparent })),
      );
      const { txid, recorded } = await appendEvents(
        tx,
        events,
        done.map(({ command, outcome, body }) => ({
          tenantId: command.tenantId,
          ...recordedKey(command),
          status: outcome.status,
          body,
        })),
      );
      if (recorded < commands.length) throw new KeyTaken();
      committedEvents = events.map(({ event }) => event);
      const transaction = formatPosition({ txid, events: events.length });
      return done.map(({ outcome, body }) => {
        const position = outcome.position ?? transaction;
        return { status: outcome.status, body: { ...body, position }, position, replayed: false };
      });
    },
    {
      onRetry: () => {
        deps.retries.inc();
      },
    },
  );
  afterCommit(
    deps,
    committedEvents.map(({ type }) => type),
    { commit: 'transaction' },
    commands.length,
  );
  return results;
}

/** Counted after COMMIT: an attempt that was rolled back and retried must not count twice. */
function afterCommit(
  deps: CommandDeps,
  eventTypes: EventType[],
  labels: { commit: CommitPath },
  commands: number,
): void {
  for (const type of eventTypes) deps.events.inc({ type });
  if (eventTypes.length > 0) deps.wakeRelay();
  deps.groupSize.observe(labels, commands);
}

/** The commands' results from their kind's one statement, or undefined where it cannot commit them. */
async function commitInOneStatement(
  deps: CommandDeps,
  kind: CommandKind<unknown>,
  commands: Prepared[],
): Promise<CommandResult[] | undefined> {
  if (!kind.commitInOneStatement) return undefined;
  const keyed = commands.map(({ work, tenantId, commandId, clientKey, traceparent }) => ({
    input: work.input,
    tenantId,
    commandId,
    clientKey,
    traceparent,
  }));
  const commit = kind.commitInOneStatement.bind(kind);
  let attempts = 0;
  const committed = await withRetries(() => commit(deps.pool, keyed, attempts++ > 0), {
    onRetry: () => {
      deps.retries.inc();
    },
  });
  if (!committed) return undefined;
  afterCommit(deps, committed.eventTypes, { commit: 'statement' }, commands.length);
  return committed.outcomes.map(({ status, body, position, replayed }) => ({
    status,
    body: { ...body, position },
    position,
    replayed,
  }));
}

async function commitAlone(deps: CommandDeps, command: Prepared): Promise<CommandResult> {
  try {
    return onlyRow(await commitTogether(deps, [command]));
  } catch (error) {
    if (!(error instanceof KeyTaken)) throw error;
    return replay(deps.pool, command.tenantId, recordedKey(command));
  }
}

/** Runs one command in a transaction of its own; a plain `Command` merges with nothing. */
export function runCommand(
  deps: CommandDeps,
  request: CommandRequest,
  command: Command | Work,
): Promise<CommandResult> {
  return commitAlone(deps, prepare(request, asWork(command)));
}

interface Queued extends Prepared {
  resolve: (result: CommandResult) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for small commands. A command starts a transaction at once while fewer than
 * `maxGroups` are committing; otherwise it waits and joins the next group, up to `maxGroupSize`.
 * So a command waits for at most one commit it is not part of, and a lone command runs alone.
 */
export class CommandGroups {
  private readonly queue: Queued[] = [];
  private committing = 0;

  constructor(
    private readonly deps: CommandDeps,
    private readonly maxGroups: number,
    private readonly maxGroupSize: number,
  ) {}

  /** Commands waiting for a group to start. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Runs a command in the next group; a plain `Command` merges with nothing. */
  run(request: CommandRequest, command: Command | Work): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ...prepare(request, asWork(command)), resolve, reject });
      this.startGroups();
    });
  }

  private startGroups(): void {
    while (this.committing < this.maxGroups && this.queue.length > 0) {
      const group = this.queue.splice(0, this.maxGroupSize);
      this.committing++;
      void this.commit(group).finally(() => {
        this.committing--;
        this.startGroups();
      });
    }
  }

  private async commit(group: Queued[]): Promise<void> {
    try {
      const results = await this.commitAsOne(group);
      if (results) {
        group.forEach((command, index) => {
          command.resolve(results[index] as CommandResult);
        });
        return;
      }
    } catch (error) {
      // The database stayed out of reach for the whole retry deadline: alone, each would wait again.
      if (isRetryableError(error)) {
        for (const command of group) command.reject(error);
        return;
      }
      // Some command failed or its key was taken: each gets its own transaction and its own answer.
    }
    await Promise.all(
      group.map((command) => commitAlone(this.deps, command).then(command.resolve, command.reject)),
    );
  }

  /**
   * The group's results committed together: by its kind's one statement when all are of one kind
   * that has it, else in one transaction. Undefined for a lone command that runs alone anyway.
   */
  private async commitAsOne(group: Queued[]): Promise<CommandResult[] | undefined> {
    const kind = group[0]?.work.kind;
    if (kind && group.every(({ work }) => work.kind === kind)) {
      const results = await commitInOneStatement(this.deps, kind, group);
      if (results) return results;
    }
    if (group.length === 1) return undefined;
    return commitTogether(this.deps, group);
  }
}

/** The answer of the committed command that holds the key, if it was the same request. */
async function replay(
  pool: pg.Pool,
  tenantId: string,
  { key, requestHash }: IdempotencyKey,
): Promise<CommandResult> {
  const stored = await findStoredResponse(pool, tenantId, key);
  // Purged between the two statements: only after the retention of idempotency keys, far beyond any retry.
  if (!stored) throw new Error(`idempotency key ${key} vanished after it was found taken`);
  if (!stored.requestHash.equals(requestHash)) {
    throw new HttpError(
      422,
      'Unprocessable Content',
      'the Idempotency-Key was used for a different request',
      {
        errors: [{ field: 'Idempotency-Key', message: 'was used for a different request' }],
      },
    );
  }
  return {
    status: stored.status,
    body: { ...stored.body, position: stored.position },
    position: stored.position,
    replayed: true,
  };
}
