/**
 * The HTTP frame every Pulse service shares: problem+json errors, JSON-only bodies with a size
 * limit, request metrics and a server span per request, health endpoints, and a graceful drain
 * on SIGTERM. Services add their routes through `mount`.
 */
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { parse as parseContentType } from 'content-type';
import getRawBody from 'raw-body';
import express, { type ErrorRequestHandler, type Express, type Request, type RequestHandler } from 'express';
import type { Logger } from 'pino';
import { contentFor } from './compression.js';
import type { RouteRequest } from './routes.js';
import type { Telemetry } from './telemetry.js';

export interface FieldError {
  field: string;
  message: string;
}

/** An error with an HTTP status; the error handler renders it as application/problem+json (RFC 9457). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    detail: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
  }
}

const describeErrors = (errors: FieldError[]) => errors.map((e) => `${e.field}: ${e.message}`).join('; ');

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new HttpError(
    400,
    'Bad Request',
    errors ? `${detail}: ${describeErrors(errors)}` : detail,
    errors ? { errors } : {},
  );
export const unprocessable = (errors: FieldError[]) =>
  new HttpError(422, 'Unprocessable Content', describeErrors(errors), { errors });
/** A problem about one field: the detail names it, as clients and people read the detail first. */
const fieldProblem = (status: number, title: string, detail: string, field?: string) =>
  field
    ? new HttpError(status, title, describeErrors([{ field, message: detail }]), {
        errors: [{ field, message: detail }],
      })
    : new HttpError(status, title, detail);
export const notFound = (detail: string, field?: string) => fieldProblem(404, 'Not Found', detail, field);
export const conflict = (detail: string, field?: string) => fieldProblem(409, 'Conflict', detail, field);

export interface AppOptions {
  logger: Logger;
  telemetry: Telemetry;
  bodyLimit: string;
  /** Throws when the service cannot serve (e.g. its primary is unreachable); /readyz answers 503 then. */
  readiness: () => Promise<void>;
  openapi: () => object;
  mount: (app: Express) => void;
  /**
   * Answers a request without Express when its whole answer is already known (a kept answer to a
   * repeated read); undefined hands the request to the app. Measured and traced like the app's.
   */
  shortcut?: (req: IncomingMessage) => PreparedAnswer | undefined;
  /**
   * Routes that a plain JSON request reaches without Express (see `directRoutes`): Express's router
   * and body parser were a tenth of the write service's wall time in a CPU profile at 300
   * single-sample POSTs/s. A request
   * the direct path cannot read as the body parser would (compressed, chunked, another charset or
   * type) goes to the app, which answers it as before. Measured and traced like the app's.
   */
  direct?: DirectRoutes;
}

/** A complete answer, sent gzipped to clients that accept it (see compression.ts). */
export interface PreparedAnswer {
  /** The route template it answers, the label the request metrics give it. */
  route: string;
  status: number;
  headers: Record<string, string>;
  /** As it is; its gzip is made once, when a client first accepts one. */
  body: Buffer;
}

/** An answer without a body (a 204, say). */
export type EmptyAnswer = Omit<PreparedAnswer, 'body'>;

/** A route served without Express: its template, and its run from the request and parsed body. */
export interface DirectRoute {
  route: string;
  run: (request: RouteRequest, body: unknown) => Promise<PreparedAnswer | EmptyAnswer>;
}

/** The direct route of a method and path (no query string), if there is one. */
export type DirectRoutes = (method: string, path: string) => DirectRoute | undefined;

export interface HttpApp {
  app: Express;
  /** What the server runs: the shortcut where it answers, else the app. */
  listener: RequestListener;
  /** Makes /readyz fail, so that load balancers stop sending new requests during a drain. */
  markDraining: () => void;
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

export function createHttpApp(options: AppOptions): HttpApp {
  const { logger, telemetry } = options;
  let draining = false;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use(traceAndMeasure(telemetry));
  app.get('/livez', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    if (draining) throw new HttpError(503, 'Service Unavailable', 'draining for shutdown');
    try {
      await options.readiness();
    } catch (error) {
      throw new HttpError(503, 'Service Unavailable', `not ready: ${(error as Error).message}`);
    }
    res.json({ status: 'ready' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(telemetry.registry.contentType).send(await telemetry.registry.metrics());
  });
  app.get('/openapi.json', (_req, res) => {
    res.json(options.openapi());
  });

  app.use((req, _res, next) => {
    // An empty POST is fine (req.is() is null without a body; fetch sends Content-Length: 0), a non-JSON body is not.
    const empty = req.headers['content-length'] === '0';
    if (BODY_METHODS.has(req.method) && !empty && req.is('application/json') === false) {
      throw new HttpError(415, 'Unsupported Media Type', 'the request body must be application/json', {
        headers: { 'Accept-Post': 'application/json' },
      });
    }
    next();
  });
  app.use(express.json({ limit: options.bodyLimit, strict: false }));
  options.mount(app);
  app.use((req) => {
    throw new HttpError(404, 'Not Found', `no route for ${req.method} ${req.path}`);
  });
  app.use(problemHandler(logger));
  const { shortcut, direct, bodyLimit } = options;
  return {
    app,
    listener: (req, res) => {
      const answer = shortcut && takeShortcut(shortcut, req, logger);
      if (answer) {
        measure(telemetry, req, res, () => answer.route);
        writeAnswer(req, res, answer);
        return;
      }
      const path = (req.url ?? '').split('?', 1)[0] ?? '';
      const route = direct?.(req.method ?? '', path);
      if (route && isPlainJson(req)) {
        void serveDirect({ route, path, req, res, bodyLimit, telemetry, logger });
        return;
      }
      app(req, res);
    },
    markDraining: () => {
      draining = true;
    },
  };
}

function writeAnswer(req: IncomingMessage, res: ServerResponse, answer: PreparedAnswer | EmptyAnswer): void {
  if (!('body' in answer)) {
    res.writeHead(answer.status, answer.headers);
    res.end();
    return;
  }
  const content = contentFor(req, answer.body);
  res.writeHead(answer.status, {
    ...answer.headers,
    ...content.headers,
    'Content-Length': String(content.bytes.length),
  });
  res.end(content.bytes);
}

/**
 * A body the direct path reads exactly as express.json would: declared length, no content coding,
 * application/json in UTF-8 (body-parser's default charset).
 */
function isPlainJson(req: IncomingMessage): boolean {
  const { headers } = req;
  if (headers['content-length'] === undefined || headers['transfer-encoding'] !== undefined) return false;
  const coding = headers['content-encoding'];
  if (coding !== undefined && coding.toLowerCase() !== 'identity') return false;
  try {
    const type = parseContentType(headers['content-type'] ?? '');
    const charset = type.parameters.charset?.toLowerCase();
    return type.type === 'application/json' && (charset === undefined || charset === 'utf-8');
  } catch {
    return false;
  }
}

interface DirectRequest {
  route: DirectRoute;
  path: string;
  req: IncomingMessage;
  res: ServerResponse;
  bodyLimit: string;
  telemetry: Telemetry;
  logger: Logger;
}

/** Reads, parses and runs a direct route's request, with the app's errors for the body parser's. */
async function serveDirect({ route, path, req, res, bodyLimit, telemetry, logger }: DirectRequest) {
  const active = measure(telemetry, req, res, () => route.route);
  const request: RouteRequest = {
    method: req.method ?? 'POST',
    path,
    url: req.url ?? path,
    route: route.route,
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
  await context.with(active, async () => {
    try {
      // raw-body, as body-parser reads with it: its errors (413 first of all) map as the app's do.
      const body = await getRawBody(req, { length: req.headers['content-length'], limit: bodyLimit });
      writeAnswer(req, res, await route.run(request, parseJsonBody(body)));
    } catch (error) {
      const problem = problemOf(error, logger, request);
      // An answer already under way cannot become a problem; ending the connection tells the client.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = Buffer.from(JSON.stringify(problemBody(problem, request.url)), 'utf8');
      res.writeHead(problem.status, {
        ...problem.extra.headers,
        'Content-Type': 'application/problem+json; charset=utf-8',
        'Content-Length': String(body.length),
      });
      res.end(body);
    }
  });
}

/** As body-parser's JSON parser (strict off): an empty body is {}, a byte order mark is dropped. */
function parseJsonBody(body: Buffer): unknown {
  if (body.length === 0) return {};
  const text = body.toString('utf8');
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    throw invalidJson(error as Error);
  }
}

/** A shortcut that fails leaves the request to the app, which answers it or renders the error. */
function takeShortcut(
  shortcut: NonNullable<AppOptions['shortcut']>,
  req: IncomingMessage,
  logger: Logger,
): PreparedAnswer | undefined {
  try {
    return shortcut(req);
  } catch (error) {
    logger.warn({ err: error, method: req.method, url: req.url }, 'shortcut failed; the app answers');
    return undefined;
  }
}

function traceAndMeasure(telemetry: Telemetry): RequestHandler {
  return (req, res, next) => {
    const active = measure(telemetry, req, res, () => routeTemplateOf(req));
    context.with(active, next);
  };
}

/**
 * The template of the route Express matched (`/api/v1/services/:id`), 'unmatched' before or without
 * one: what request metrics label a request with, so that ids do not explode the label cardinality.
 */
function routeTemplateOf(req: Request): string {
  return (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
}

/**
 * Starts the request's server span and timer; once the answer is sent, counts and times it under
 * the route `routeOf` names then, and ends the span named after it. Returns the span's context.
 */
function measure(
  telemetry: Telemetry,
  req: IncomingMessage,
  res: ServerResponse,
  routeOf: () => string,
): ReturnType<typeof context.active> {
  const started = process.hrtime.bigint();
  const method = req.method ?? 'GET';
  const parent = propagation.extract(context.active(), req.headers);
  // Named once routed: exporters see the name only when the span ends.
  const span = telemetry.tracer.startSpan(method, { kind: SpanKind.SERVER }, parent);
  res.on('finish', () => {
    const route = routeOf();
    const labels = { method, route, status_code: String(res.statusCode) };
    telemetry.httpRequests.inc(labels);
    telemetry.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    span.updateName(`${method} ${route}`);
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  return trace.setSpan(parent, span);
}

const invalidJson = (error: Error) => badRequest(`the request body is not valid JSON: ${error.message}`);

/** Errors from body-parser carry a `type` and a status; map them to our problems. */
function toHttpError(error: unknown): HttpError | undefined {
  if (error instanceof HttpError) return error;
  const type = (error as { type?: unknown } | undefined)?.type;
  if (type === 'entity.too.large') {
    return new HttpError(413, 'Content Too Large', 'the request body exceeds the size limit');
  }
  if (type === 'entity.parse.failed') return invalidJson(error as Error);
  if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    return new HttpError(415, 'Unsupported Media Type', (error as Error).message);
  }
  return undefined;
}

/** The problem an error answers with; an unknown one is logged and answers 500. */
function problemOf(error: unknown, logger: Logger, request: { method: string; path: string }): HttpError {
  const known = toHttpError(error);
  if (known) return known;
  logger.error({ err: error, method: request.method, path: request.path }, 'request failed');
  return new HttpError(500, 'Internal Server Error', 'the request failed; see the service log');
}

function problemBody(problem: HttpError, instance: string) {
  return {
    type: 'about:blank',
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    instance,
    ...(problem.extra.errors ? { errors: problem.extra.errors } : {}),
  };
}

function problemHandler(logger: Logger): ErrorRequestHandler {
  // Express recognises an error handler by its four parameters, so `next` stays though unused.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  return (error: unknown, req, res, _next) => {
    const problem = problemOf(error, logger, req);
    for (const [name, value] of Object.entries(problem.extra.headers ?? {})) res.setHeader(name, value);
    res.status(problem.status).type('application/problem+json').json(problemBody(problem, req.originalUrl));
  };
}

export interface ServeOptions {
  port: number;
  /** Unset: every interface. */
  host?: string | undefined;
  logger: Logger;
  /** How long in-flight requests may take to finish after SIGTERM before connections are cut. */
  graceMs: number;
  /** Releases what the service holds (pools, timers) once the server has stopped. */
  onClose: () => Promise<void>;
}

/** Listens, and on SIGTERM/SIGINT stops accepting, lets in-flight requests finish, then closes. */
export async function serve(http: HttpApp, options: ServeOptions): Promise<Server> {
  const server = createServer(http.listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address();
  options.logger.info({ port: typeof address === 'object' ? address?.port : address }, 'listening');

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, 'draining');
    http.markDraining();
    const force = setTimeout(() => {
      server.closeAllConnections();
    }, options.graceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      options
        .onClose()
        .then(() => {
          options.logger.info('stopped');
          process.exitCode = 0;
        })
        .catch((error: unknown) => {
          options.logger.error({ err: error }, 'shutdown failed');
          process.exitCode = 1;
        });
    });
    server.closeIdleConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return server;
}
