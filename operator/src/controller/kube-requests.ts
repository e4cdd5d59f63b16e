/**
 * The API calls every reconcile makes (read the target's scale, merge-patch the status; and the
 * scale patch when it scales), sent as plain JSON requests over a shared keep-alive agent instead
 * of through the generated client. With 500 resources, the generated client's own work per request
 * (its serializers and middleware, node-fetch, re-reading the credentials and building an agent
 * that is then thrown away) took 28 % of the operator's busy time, for two requests a reconcile
 * (docs/benchmarks/2026-11-22-operator-64b66bd.md). Everything else (the watch, leases, events)
 * stays on @kubernetes/client-node.
 *
 * The credentials are the same KubeConfig's, applied by the client itself (`applyToHTTPSOptions`:
 * TLS, bearer token, exec and auth-provider plugins), applied anew at most every `refreshMs` (10 s):
 * the kubelet replaces a projected service account token once it is 80 % through its lifetime
 * (an hour or more), so a token read 10 s ago is still valid.
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';
import { KeepAliveAgents } from './keep-alive.js';

/** A request the API server answered with a status other than 2xx. */
export class KubeRequestError extends Error {
  override name = 'KubeRequestError';

  constructor(
    readonly code: number,
    method: string,
    path: string,
    body: string,
  ) {
    super(`${method} ${path}: HTTP ${code}: ${apiMessage(body)}`);
  }
}

/** The `message` of a Kubernetes Status, else the start of whatever came back. */
function apiMessage(body: string): string {
  try {
    const status = JSON.parse(body) as { message?: unknown };
    if (typeof status.message === 'string') return status.message;
  } catch {
    // not JSON: fall through
  }
  return body.slice(0, 500);
}

interface Credentials {
  server: URL;
  agent: http.Agent | undefined;
  headers: http.OutgoingHttpHeaders;
  until: number;
}

export interface KubeRequestsOptions {
  /** How long applied credentials are reused. */
  refreshMs?: number;
  /** Bound on each request. */
  timeoutMs?: number;
}

export class KubeRequests {
  private credentials: Promise<Credentials> | undefined;
  private readonly agents = new KeepAliveAgents();
  private readonly plainAgent = new http.Agent({ keepAlive: true });
  private readonly refreshMs: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly config: KubeConfig,
    options: KubeRequestsOptions = {},
  ) {
    this.refreshMs = options.refreshMs ?? 10_000;
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  /** A JSON merge patch (RFC 7396). */
  mergePatch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>('PATCH', path, JSON.stringify(body), 'application/merge-patch+json');
  }

  private async send<T>(method: string, path: string, body?: string, contentType?: string): Promise<T> {
    const { server, agent, headers } = await this.current();
    const url = new URL(server.pathname.replace(/\/$/, '') + path, server);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise<T>((resolve, reject) => {
      const request = transport.request(
        url,
        {
          method,
          agent,
          timeout: this.timeoutMs,
          headers: {
            ...headers,
            accept: 'application/json',
            ...(body === undefined
              ? {}
              : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }),
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            if (status < 200 || status > 299) {
              reject(new KubeRequestError(status, method, path, text));
              return;
            }
            try {
              resolve(JSON.parse(text) as T);
            } catch {
              reject(new Error(`${method} ${path}: the answer is not JSON: ${text.slice(0, 200)}`));
            }
          });
        },
      );
      request.on('timeout', () =>
        request.destroy(new Error(`${method} ${path}: no answer in ${this.timeoutMs} ms`)),
      );
      request.on('error', reject);
      request.end(body);
    });
  }

  private async current(): Promise<Credentials> {
    const known = await this.credentials?.catch(() => undefined);
    if (known && Date.now() < known.until) return known;
    this.credentials = this.apply();
    return this.credentials;
  }

  private async apply(): Promise<Credentials> {
    const cluster = this.config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig names no current cluster');
    const options: https.RequestOptions = {};
    await this.config.applyToHTTPSOptions(options);
    const server = new URL(cluster.server);
    const made = options.agent;
    // A proxy's agent is used as made; a plain TLS one is swapped for the shared keep-alive one.
    let agent: http.Agent | undefined;
    if (server.protocol === 'http:') agent = this.plainAgent;
    else if (made instanceof https.Agent && made.constructor === https.Agent) agent = this.agents.like(made);
    else agent = made instanceof http.Agent ? made : undefined;
    return {
      server,
      agent,
      // client-node sets the headers as an object (never the raw-array form).
      headers: {
        ...(options.headers as http.OutgoingHttpHeaders | undefined),
        ...(options.auth ? { authorization: basic(options.auth) } : {}),
      },
      until: Date.now() + this.refreshMs,
    };
  }
}

const basic = (userPassword: string) => `Basic ${Buffer.from(userPassword).toString('base64')}`;
