/**
 * Configuration comes from PULSE_* environment variables, validated by one zod schema per service
 * when the process starts, so that a typo stops the process at once with the variable's name
 * instead of surfacing later as a confusing runtime failure.
 */
import { z } from 'zod';

/** Variables whose values must never reach a log: keys, passwords, and URLs that may embed one. */
const SECRET_NAME = /(KEY|SECRET|PASSWORD|TOKEN|_URL|_URI)$/;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses the environment with the schema; the error message names every bad variable. */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.map(String).join('.');
    const value = env[name];
    const shown =
      value === undefined ? '(unset)' : SECRET_NAME.test(name) ? '(hidden: a secret)' : JSON.stringify(value);
    return `${name}=${shown}: ${issue.message}`;
  });
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
}

/** Field builders for the schemas; an empty variable counts as unset, as shells often export them so. */
const unsetIfEmpty = (value: unknown) => (value === '' ? undefined : value);

export const envField = {
  /** Any schema, with an empty value treated as unset so that its default applies. */
  of: <S extends z.ZodType>(schema: S) => z.preprocess(unsetIfEmpty, schema),
  integer: (fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) =>
    envField.of(z.coerce.number().int().min(min).max(max).default(fallback)),
  port: (fallback: number) => envField.integer(fallback, { min: 0, max: 65_535 }),
  boolean: (fallback: boolean) =>
    envField.of(
      z
        .enum(['true', 'false'])
        .default(fallback ? 'true' : 'false')
        .transform((value) => value === 'true'),
    ),
  postgresUrl: () =>
    envField.of(z.url({ protocol: /^postgres(ql)?$/, error: 'expected a postgres:// or postgresql:// URL' })),
  /** The address the HTTP server binds: unset, every interface (a pod); the local stack binds 127.0.0.1. */
  httpHost: () => envField.of(z.string().min(1).optional()),
  /** How long a service trusts an API key it has checked (see ApiKeyAuthenticator). */
  authCacheTtlMs: () => envField.integer(5_000, { max: 300_000 }),
  logLevel: () =>
    envField.of(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')),
};
