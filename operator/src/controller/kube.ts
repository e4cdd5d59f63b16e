/** The Kubernetes API clients the operator uses, and the few helpers every caller needs. */
import https from 'node:https';
import {
  ApiException,
  CoordinationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
} from '@kubernetes/client-node';
import { KeepAliveAgents } from './keep-alive.js';
import { KubeRequestError, KubeRequests } from './kube-requests.js';

export interface KubeClients {
  config: KubeConfig;
  /** The calls of every reconcile (see KubeRequests); the generated clients for the rest. */
  requests: KubeRequests;
  coordination: CoordinationV1Api;
  customObjects: CustomObjectsApi;
  events: EventsV1Api;
}

/** KUBECONFIG (or ~/.kube/config) when set, else the pod's service account. */
export function kubeClients(config = defaultKubeConfig()): KubeClients {
  return {
    config,
    requests: new KubeRequests(config),
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
  private readonly agents = new KeepAliveAgents();

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getAgent();
    if (made?.constructor === https.Agent) context.setAgent(this.agents.like(made));
  }
}

function defaultKubeConfig(): KubeConfig {
  const config = new KeepAliveKubeConfig();
  config.loadFromDefault();
  return config;
}

/** The HTTP status of a failed API call, if it got that far. */
export const httpStatus = (error: unknown): number | undefined =>
  error instanceof ApiException || error instanceof KubeRequestError ? error.code : undefined;
