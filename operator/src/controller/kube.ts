/** The Kubernetes API clients the operator uses, and the few helpers every caller needs. */
import https from 'node:https';
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';

export interface KubeClients {
  config: KubeConfig;
  apps: AppsV1Api;
  coordination: CoordinationV1Api;
  customObjects: CustomObjectsApi;
  events: EventsV1Api;
}

/** KUBECONFIG (or ~/.kube/config) when set, else the pod's service account. */
export function kubeClients(config = defaultKubeConfig()): KubeClients {
  return {
    config,
    apps: config.makeApiClient(AppsV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    customObjects: config.makeApiClient(CustomObjectsApi),
    events: config.makeApiClient(EventsV1Api),
  };
}

type RequestContext = Parameters<KubeConfig['applySecurityAuthentication']>[0];

/**
 * client-node 1.x gives every API request a new https.Agent, so every request paid a TLS handshake:
 * the largest single cost (28 % of the busy time) of an operator with 500 resources
 * (docs/benchmarks/2026-11-22-operator.md). This
 * config hands every request one keep-alive agent per set of TLS settings instead. Agents of
 * other kinds (a proxy's) are left as they are. The settings are compared as they are (the client
 * reads them anew for every request, so a rotated certificate gets an agent of its own); hashing
 * them per request cost 2-4 % of the busy time.
 */
export class KeepAliveKubeConfig extends KubeConfig {
  private readonly agents: { settings: unknown[]; agent: https.Agent }[] = [];

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (made?.constructor !== https.Agent) return;
    const { ca, cert, key, pfx, passphrase, servername, rejectUnauthorized } = made.options;
    const settings = [ca, cert, key, pfx, passphrase, servername, rejectUnauthorized];
    let shared = this.agents.find((known) => sameSetting(known.settings, settings))?.agent;
    if (!shared) {
      shared = new https.Agent({ ...made.options, keepAlive: true });
      this.agents.push({ settings, agent: shared });
    }
    context.setAgent(shared);
  }
}

/** Deep equality over what TLS options hold: strings, Buffers, arrays of them, booleans. */
function sameSetting(a: unknown, b: unknown): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => sameSetting(item, b[index]));
  }
  return a === b;
}

function defaultKubeConfig(): KubeConfig {
  const config = new KeepAliveKubeConfig();
  config.loadFromDefault();
  return config;
}

/** The generated clients send JSON Patch unless told otherwise; every patch here is a merge patch. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call, if it got that far. */
export const httpStatus = (error: unknown): number | undefined =>
  error instanceof ApiException ? error.code : undefined;
