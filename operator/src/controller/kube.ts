/** The Kubernetes API clients the operator uses, and the few helpers every caller needs. */
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

function defaultKubeConfig(): KubeConfig {
  const config = new KubeConfig();
  config.loadFromDefault();
  return config;
}

/** The generated clients send JSON Patch unless told otherwise; every patch here is a merge patch. */
export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call, if it got that far. */
export const httpStatus = (error: unknown): number | undefined =>
  error instanceof ApiException ? error.code : undefined;
