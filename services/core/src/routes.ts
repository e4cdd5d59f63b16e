/**
 * Routes as data: one spec per route names its method, path, zod schemas and handler, and the same
 * spec both mounts the express handler (which validates with the schemas) and produces the route's
 * OpenAPI entry, so the document cannot drift from what the service accepts.
 */
import { createHash } from 'node:crypto';
import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';
import type { Express, Request } from 'express';
import { z } from 'zod';
import { compressible, contentFor, varyOnEncoding } from './compression.js';
import { badRequest, unprocessable, type FieldError, type PreparedAnswer } from './http.js';

type Method = 'get' | 'post' | 'put' | 'delete';

export interface RouteResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteInput<P, B, C, Q = Record<string, never>> {
  params: P;
  body: B;
  query: Q;
  /** What the service's `prepare` hook derived from the request (e.g. the authenticated key). */
  context: C;
  req: Request;
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
  prepare: (route: RouteSpec<z.ZodObject, z.ZodType, C>, req: Request) => Promise<C>;
}

export function mountRoutes<C>(
  app: Express,
  routes: RouteSpec<z.ZodObject, z.ZodType, C>[],
  options: MountOptions<C>,
): void {
  for (const route of routes) {
    const expressPath = options.prefix + route.path.replace(/\{(\w+)\}/g, ':$1');
    app[route.method](expressPath, async (req, res) => {
      const context = await options.prepare(route, req);
      const params = route.params ? route.params.safeParse(req.params) : undefined;
      if (params && !params.success) throw badRequest('invalid path parameter', fieldErrors(params.error));
      const query = route.query ? route.query.safeParse(req.query) : undefined;
      if (query && !query.success)
        throw badRequest('invalid query parameter', fieldErrors(query.error, 'query'));
      let body: unknown = undefined;
      if (route.body) {
        const parsed = route.body.safeParse(req.body);
        if (!parsed.success) throw unprocessable(fieldErrors(parsed.error));
        body = parsed.data;
      }
      const result = await route.handler({
        params: params?.data ?? {},
        query: query?.data ?? {},
        body,
        context,
        req,
      });
      if (result.body === undefined) {
        res
          .set(result.headers ?? {})
          .status(result.status)
          .end();
        return;
      }
      const answer = prepareAnswer(expressPath, result);
      const content = contentFor(req, answer.body);
      // With the ETag set, express answers 304 to a matching If-None-Match and computes none itself.
      res.status(answer.status).set(answer.headers).set(content.headers).send(content.bytes);
    });
  }
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
