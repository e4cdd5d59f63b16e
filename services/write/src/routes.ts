/** The write API's routes: thin handlers that validate (via the specs), authorise and run a command. */
import {
  badRequest,
  conflict,
  fieldErrors,
  hashApiKey,
  HttpError,
  newEventId,
  notFound,
  routeBuilder,
  withTransaction,
  type ApiKeyAuthenticator,
  type Principal,
  type RouteRequest,
  type RouteResult,
} from '@pulse/core';
import type pg from 'pg';
import { z } from 'zod';
import { generateApiKey } from './auth.js';
import {
  requestFingerprint,
  runCommand,
  type Command,
  type CommandDeps,
  type CommandGroups,
  type Work,
  work,
} from './commands.js';
import * as domain from './domain.js';
import { ServiceOwners } from './ownership.js';
import { insertApiKey, revokeApiKey } from './repositories/api-keys.js';
import { insertTenant, isSystemTenant, tenantExists } from './repositories/tenants.js';
import { SYSTEM_TENANT } from './bootstrap.js';
import { params, responses, type WriteSchemas } from './schemas.js';

export const API_PREFIX = '/api/v1';
export const POSITION_HEADER = 'X-Pulse-Position';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429;
const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'Malformed JSON, path parameter or header',
  401: 'Missing, unknown or revoked API key',
  403: 'The API key lacks the scope',
  404: 'No such resource for this tenant',
  409: 'Conflicts with an existing resource',
  413: 'The body exceeds the size limit',
  415: 'The body is not application/json',
  422: 'The body fails validation; `errors` names each field',
  429: 'Rate limit exceeded; see Retry-After',
};
const errors = (...statuses: ErrorStatus[]) =>
  Object.fromEntries(statuses.map((status) => [status, { description: ERROR_DESCRIPTIONS[status] }]));
const COMMON = [400, 401, 403, 413, 415, 422, 429] as const;
const route = routeBuilder<Principal>();

export interface RouteDeps {
  pool: pg.Pool;
  commands: CommandDeps;
  /** Small, frequent commands commit in groups. */
  groups: CommandGroups;
  schemas: WriteSchemas;
  keys: ApiKeyAuthenticator;
}

export function writeRoutes({ pool, commands, groups, schemas, keys }: RouteDeps) {
  const owners = new ServiceOwners();
  const singleSamples = domain.singleSystemSamples(owners);
  /**
   * Runs a command for the caller and answers with its position in the body and the header. A
   * small command may share its transaction with others (`{ grouped: true }`); its answer is the same.
   */
  async function command(
    request: RouteRequest,
    principal: Principal,
    body: unknown,
    run: Command | Work,
    { grouped = false } = {},
  ): Promise<RouteResult> {
    const header = request.header(IDEMPOTENCY_HEADER);
    const key = header === undefined ? undefined : idempotencyKeySchema.safeParse(header);
    if (key && !key.success) {
      throw badRequest('invalid header', fieldErrors(key.error, IDEMPOTENCY_HEADER));
    }
    const commandRequest = {
      tenantId: principal.tenantId,
      idempotency: key && {
        key: key.data,
        fingerprint: requestFingerprint(request.method, request.path, body),
      },
    };
    const result = grouped
      ? await groups.run(commandRequest, run)
      : await runCommand(commands, commandRequest, run);
    return {
      status: result.status,
      body: result.body,
      headers: {
        [POSITION_HEADER]: result.position,
        ...(result.replayed ? { 'Idempotent-Replayed': 'true' } : {}),
      },
    };
  }

  /**
   * An admin key manages its own tenant; only the platform's admins (keys of the system tenant,
   * like the bootstrap key) manage every tenant and create tenants. Another tenant answers 404:
   * an admin of one tenant learns nothing about the others.
   */
  async function requireTenantAdmin(principal: Principal, tenantId: string): Promise<void> {
    if (principal.tenantId === tenantId) return;
    if (!(await isSystemTenant(pool, principal.tenantId, SYSTEM_TENANT))) {
      throw notFound(`tenant ${tenantId} not found`, 'tenant_id');
    }
  }

  async function requirePlatformAdmin(principal: Principal): Promise<void> {
    if (!(await isSystemTenant(pool, principal.tenantId, SYSTEM_TENANT))) {
      throw new HttpError(403, 'Forbidden', 'only an admin key of the system tenant can create tenants');
    }
  }

  return [
    route({
      method: 'post',
      path: '/services',
      summary: 'Register a service (the same tenant, name and hostname return the existing id with 200)',
      scope: 'write',
      body: schemas.registerService,
      responses: {
        200: { description: 'Already registered', schema: responses.registered },
        201: { description: 'Registered', schema: responses.registered },
        ...errors(...COMMON),
      },
      handler: ({ request, body, context }) =>
        command(request, context, body, (tx) => domain.registerService(tx, context.tenantId, body)),
    }),
    route({
      method: 'post',
      path: '/services/{id}/heartbeats',
      summary: "Record a service's heartbeat (at the server's time when observed_at is absent)",
      scope: 'write',
      params: params.serviceId,
      body: schemas.heartbeat,
      responses: { 202: { description: 'Recorded', schema: responses.position }, ...errors(...COMMON, 404) },
      handler: ({ request, params: { id }, body, context }) =>
        command(
          request,
          context,
          body,
          work(domain.heartbeats, {
            tenantId: context.tenantId,
            serviceId: id,
            observedAt: body?.observed_at ?? new Date().toISOString(),
          }),
          { grouped: true },
        ),
    }),
    route({
      method: 'post',
      path: '/metrics/system',
      summary: 'Record one system metric sample',
      scope: 'write',
      body: schemas.systemSample,
      responses: { 202: { description: 'Recorded', schema: responses.position }, ...errors(...COMMON, 404) },
      handler: ({ request, body, context }) =>
        command(request, context, body, work(singleSamples, { tenantId: context.tenantId, sample: body }), {
          grouped: true,
        }),
    }),
    route({
      method: 'post',
      path: '/metrics/system/batch',
      summary: 'Record up to 5,000 system samples across services; one bad sample rejects the batch',
      scope: 'write',
      body: schemas.systemBatch,
      responses: { 202: { description: 'Recorded', schema: responses.batch }, ...errors(...COMMON, 404) },
      handler: ({ request, body, context }) =>
        command(request, context, body, async (tx) => {
          const { outcome, accepted } = await domain.recordSystemSamples(
            tx,
            owners,
            context.tenantId,
            body.samples,
            (index) => `samples[${index}].service_id`,
          );
          return { ...outcome, body: { accepted } };
        }),
    }),
    route({
      method: 'post',
      path: '/metrics/process',
      summary: "Record a service's process list",
      scope: 'write',
      body: schemas.processSamples,
      responses: { 202: { description: 'Recorded', schema: responses.position }, ...errors(...COMMON, 404) },
      handler: ({ request, body, context }) =>
        command(
          request,
          context,
          body,
          (tx) => domain.recordProcessSamples(tx, owners, context.tenantId, body),
          {
            grouped: true,
          },
        ),
    }),
    route({
      method: 'post',
      path: '/tenants',
      summary: 'Create a tenant',
      scope: 'admin',
      body: schemas.createTenant,
      responses: { 201: { description: 'Created', schema: responses.tenant }, ...errors(...COMMON, 409) },
      handler: async ({ body, context }) => {
        await requirePlatformAdmin(context);
        const tenant = await withTransaction(pool, (tx) => insertTenant(tx, newEventId(), body.name));
        if (!tenant) throw conflict(`a tenant named ${body.name} exists`, 'name');
        return { status: 201, body: tenant };
      },
    }),
    route({
      method: 'post',
      path: '/tenants/{tenant_id}/api-keys',
      summary: 'Issue an API key; the secret is in this response only',
      scope: 'admin',
      params: params.tenantId,
      body: schemas.issueKey,
      responses: { 201: { description: 'Issued', schema: responses.issuedKey }, ...errors(...COMMON, 404) },
      handler: async ({ params: { tenant_id }, body, context }) => {
        await requireTenantAdmin(context, tenant_id);
        const secret = generateApiKey();
        const id = newEventId();
        const scopes = [...new Set(body.scopes)];
        const created = await withTransaction(pool, async (tx) => {
          if (!(await tenantExists(tx, tenant_id)))
            throw notFound(`tenant ${tenant_id} not found`, 'tenant_id');
          return insertApiKey(tx, {
            id,
            tenantId: tenant_id,
            name: body.name,
            keyHash: hashApiKey(secret),
            scopes,
          });
        });
        if (!created) throw new HttpError(500, 'Internal Server Error', 'a random key collided; try again');
        return {
          status: 201,
          body: { id, tenant_id, name: body.name, scopes, key: secret, created_at: created.created_at },
        };
      },
    }),
    route({
      method: 'delete',
      path: '/tenants/{tenant_id}/api-keys/{key_id}',
      summary: 'Revoke an API key',
      scope: 'admin',
      params: params.apiKey,
      responses: { 204: { description: 'Revoked' }, ...errors(400, 401, 403, 404, 429) },
      handler: async ({ params: { tenant_id, key_id }, context }) => {
        await requireTenantAdmin(context, tenant_id);
        const revoked = await withTransaction(pool, (tx) => revokeApiKey(tx, tenant_id, key_id));
        if (!revoked) throw notFound(`API key ${key_id} of tenant ${tenant_id} not found`, 'key_id');
        keys.forget(key_id);
        return { status: 204 };
      },
    }),
    route({
      method: 'put',
      path: '/tenants/{tenant_id}/alert-rules',
      summary: "Replace a tenant's alert rules",
      scope: 'admin',
      params: params.tenantId,
      body: schemas.alertRules,
      responses: { 200: { description: 'Updated', schema: responses.alertRules }, ...errors(...COMMON, 404) },
      handler: async ({ request, params: { tenant_id }, body, context }) => {
        await requireTenantAdmin(context, tenant_id);
        return command(request, context, body, (tx) => domain.updateAlertRules(tx, tenant_id, body));
      },
    }),
  ];
}
