/** What the security and bad-input suites learn from a running service: its routes and its memory. */
import { readFileSync } from 'node:fs';

export const API_PREFIX = '/api/v1';

export interface ApiRoute {
  method: string;
  /** Below the API prefix, OpenAPI style: /services/{id}/heartbeats */
  path: string;
  /** The API-key scope the route requires (`x-pulse-scope`); undefined for an open route. */
  scope: string | undefined;
  params: string[];
  hasBody: boolean;
}

interface Operation {
  'x-pulse-scope'?: string;
  requestBody?: unknown;
}

/** Every route of the service's /openapi.json, so a new route is covered without editing a suite. */
export async function openApiRoutes(baseUrl: string): Promise<ApiRoute[]> {
  const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, Operation>>;
  };
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => {
      if (!path.startsWith(API_PREFIX)) throw new Error(`${path} is outside ${API_PREFIX}`);
      const relative = path.slice(API_PREFIX.length);
      return {
        method: method.toUpperCase(),
        path: relative,
        scope: operation['x-pulse-scope'],
        params: [...relative.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? ''),
        hasBody: operation.requestBody !== undefined,
      };
    }),
  );
}

/** Resident set size of a process, from /proc. */
export function rssMegabytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Math.round(Number(line?.split(/\s+/)[1] ?? 0) / 1024);
}
