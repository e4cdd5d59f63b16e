/**
 * Routes as data: one spec per route names its method, path, zod schemas and handler, and the same
 * spec both mounts the express handler (which validates with the schemas) and produces the route's
 * OpenAPI entry, so the document cannot drift from what the service accepts.
 */
import { createHash } from 'node:crypto';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { Express } from 'express';
import { z } from 'zod';
import { compressible, contentFor, varyOnEncoding } from './compression.js';
import {
  badRequest,
  unprocessable,
  type DirectRoute,
  type DirectRoutes,
  type EmptyAnswer,
  type FieldError,
  type PreparedAnswer,
} from './http.js';

type Method = 'get' | 'post' | 'put' | 'delete';

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What a route's handler and the service's prepare hook read of a request, whichever path it took. */
export interface RouteRequest {
  method: string;
  /** The path, without the query string. */
  path: string;
  /** The path and query as the client sent them (a problem's `instance`, a cache key). */
  url: string;
  /** The template of the route it reached, e.g. /api/v1/services/:id (the request metrics' label). */
  route: string;
  header(name: string): string | undefined;
}

export interface RouteInput<P, B, C, Q = Record<string, never>> {
  params: P;
  body: B;
  query: Q;
  /** What the service's `prepare` hook derived from the request (e.g. the authenticated key). */
  context: C;
  request: RouteRequest;
}

export interface RouteSpec<
  P extends z.ZodObject = z.ZodObject,
  B extends z.ZodType = z.ZodType,
  C = unknown,
  Q extends z.ZodObject = z.ZodObject,
> {
  method: Method;
  /** OpenAPI style: /services/{id}/heartbeats */
  path: string;
  summary: string;
  /** Free-form tag the service's prepare hook interprets, e.g. the API-key scope required. */
  scope?: string;
  params?: P;
  /** Query parameters; a bad one is a 400 whose `errors` name it. */
  query?: Q;
  body?: B;
  /** Status code -> description and body schema (undefined for an empty body). */
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  handler: (input: RouteInput<z.infer<P>, z.infer<B>, C, z.infer<Q>>) => Promise<RouteResult>;
}

/**
 * Returns a route builder for a service whose prepare hook yields C. The builder captures each
 * route's schema types for its handler; the specs it returns fit in one list of mixed routes.
 */
export function routeBuilder<C>() {
  return <P extends z.ZodObject, B extends z.ZodType, Q extends z.ZodObject>(
    spec: RouteSpec<P, B, C, Q>,
  ): RouteSpec<z.ZodObject, z.ZodType, C> => spec;
}

/** `samples[3].cpu_usage`, the way a client would address the field in its own JSON. */
export function fieldName(path: readonly PropertyKey[], root = 'body'): string {
  if (path.length === 0) return root;
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}

export function fieldErrors(error: z.ZodError, root?: string): FieldError[] {
  return error.issues.map((issue) => ({ field: fieldName(issue.path, root), message: issue.message }));
}

export interface EncodedBody {
  bytes: Buffer;
  /** A weak validator of the bytes, so that a conditional GET of an unchanged answer gets 304. */
  etag: string;
}

/**
 * Each body object is serialised and hashed once: an answer that a cache keeps is sent to many
 * requests as the same object, and `res.json` with express's ETag would encode and hash it again
 * for each. (Not measured apart: the quick runs of 2026-12-05 before and after it differ within
 * their noise.)
 */
const encodedBodies = new WeakMap<object, EncodedBody>();

export function encodeBody(body: unknown): EncodedBody {
  const kept = typeof body === 'object' && body !== null ? encodedBodies.get(body) : undefined;
  if (kept) return kept;
  const bytes = Buffer.from(JSON.stringify(body), 'utf8');
  const digest = createHash('sha1').update(bytes).digest('base64url');
  const encoded = { bytes, etag: `W/"${bytes.length.toString(16)}-${digest}"` };
  if (typeof body === 'object' && body !== null) encodedBodies.set(body, encoded);
  return encoded;
}

export interface MountOptions<C> {
  prefix: string;
  /** Runs before validation, e.g. authentication; its result reaches the handler as `context`. */
  prepare: (route: RouteSpec<z.ZodObject, z.ZodType, C>, request: RouteRequest) => Promise<C>;
}

/** A request's parameters, query and parsed body before validation. */
interface RawInput {
  params: unknown;
  query: unknown;
  body: unknown;
}

/** Prepares (authenticates), validates and handles: the one way into a route, by either path. */
async function runRoute<C>(
  route: RouteSpec<z.ZodObject, z.ZodType, C>,
  request: RouteRequest,
  raw: RawInput,
  prepare: MountOptions<C>['prepare'],
): Promise<RouteResult> {
  const context = await prepare(route, request);
  const params = route.params ? route.params.safeParse(raw.params) : undefined;
  if (params && !params.success) throw badRequest('invalid path parameter', fieldErrors(params.error));
  const query = route.query ? route.query.safeParse(raw.query) : undefined;
  if (query && !query.success) throw badRequest('invalid query parameter', fieldErrors(query.error, 'query'));
  let body: unknown = undefined;
  if (route.body) {
    const parsed = route.body.safeParse(raw.body);
    if (!parsed.success) throw unprocessable(fieldErrors(parsed.error));
    body = parsed.data;
  }
  return route.handler({ params: params?.data ?? {}, query: query?.data ?? {}, body, context, request });
}

const expressPathOf = (prefix: string, route: RouteSpec<z.ZodObject, z.ZodType, never>) =>
  prefix + route.path.replace(/\{(\w+)\}/g, ':$1');

export function mountRoutes<C>(
  app: Express,
  routes: RouteSpec<z.ZodObject, z.ZodType, C>[],
  options: MountOptions<C>,
): void {
  for (const route of routes) {
    const expressPath = expressPathOf(options.prefix, route);
    app[route.method](expressPath, async (req, res) => {
      const request: RouteRequest = {
        method: req.method,
        path: req.path,
        url: req.originalUrl,
        route: expressPath,
        header: (name) => req.get(name),
      };
      const result = await runRoute(route, request, req, options.prepare);
      const answer = answerOf(expressPath, result);
      if (!('body' in answer)) {
        res.set(answer.headers).status(answer.status).end();
        return;
      }
      const content = contentFor(req, answer.body);
      // With the ETag set, express answers 304 to a matching If-None-Match and computes none itself.
      res.status(answer.status).set(answer.headers).set(content.headers).send(content.bytes);
    });
  }
}

/**
 * The routes with a body that need nothing of Express's routing: no path parameter and no query, so
 * a request names one by its method and path alone. The HTTP frame serves a plain JSON request to
 * one of them directly (see AppOptions.direct); their handling is runRoute's, as on the Express path.
 */
export function directRoutes<C>(
  routes: RouteSpec<z.ZodObject, z.ZodType, C>[],
  options: MountOptions<C>,
): DirectRoutes {
  const byRequest = new Map<string, DirectRoute>();
  for (const route of routes) {
    if (!route.body || route.params || route.query || route.path.includes('{')) continue;
    const path = expressPathOf(options.prefix, route);
    byRequest.set(`${route.method.toUpperCase()} ${path}`, {
      route: path,
      run: async (request, body) =>
        answerOf(path, await runRoute(route, request, { params: {}, query: {}, body }, options.prepare)),
    });
  }
  return (method, path) => byRequest.get(`${method} ${path}`);
}

/** A route's answer, its body (if any) encoded. */
function answerOf(route: string, result: RouteResult): PreparedAnswer | EmptyAnswer {
  if (result.body === undefined) return { route, status: result.status, headers: result.headers ?? {} };
  return prepareAnswer(route, result);
}

/** A route's answer with a body, ready to send: its headers, ETag and content type, its encoded body. */
export function prepareAnswer(route: string, result: RouteResult): PreparedAnswer {
  const { bytes, etag } = encodeBody(result.body);
  const headers: Record<string, string> = {
    ...result.headers,
    ETag: etag,
    'Content-Type': 'application/json; charset=utf-8',
  };
  if (compressible(bytes)) headers.Vary = varyOnEncoding(headers.Vary);
  return { route, status: result.status, headers, body: bytes };
}

/** The body of every error answer (RFC 9457), as the core error handler renders it. */
export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

export interface OpenApiOptions {
  title: string;
  version: string;
  prefix: string;
  /** Header-based API key security scheme name, applied to every route with a scope. */
  apiKeyHeader?: string;
  problemSchema: z.ZodType;
}

export function openApiDocument(
  routes: RouteSpec<z.ZodObject, z.ZodType, never>[],
  options: OpenApiOptions,
): object {
  const registry = new OpenAPIRegistry();
  const security = options.apiKeyHeader
    ? registry.registerComponent('securitySchemes', 'apiKey', {
        type: 'apiKey',
        in: 'header',
        name: options.apiKeyHeader,
      })
    : undefined;
  for (const route of routes) {
    const responses = Object.fromEntries(
      Object.entries(route.responses).map(([status, { description, schema }]) => {
        const mediaType = Number(status) >= 400 ? 'application/problem+json' : 'application/json';
        const body = schema ?? (Number(status) >= 400 ? options.problemSchema : undefined);
        return [status, body ? { description, content: { [mediaType]: { schema: body } } } : { description }];
      }),
    );
    registry.registerPath({
      method: route.method,
      path: options.prefix + route.path,
      summary: route.summary,
      ...(route.scope && security
        ? { security: [{ [security.name]: [] }], 'x-pulse-scope': route.scope }
        : {}),
      request: {
        ...(route.params ? { params: route.params } : {}),
        ...(route.query ? { query: route.query } : {}),
        ...(route.body
          ? { body: { content: { 'application/json': { schema: route.body } }, required: true } }
          : {}),
      },
      responses,
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: options.title, version: options.version },
  });
}
