/** Polls a real condition until it holds or a deadline passes. Tests use this instead of sleeps. */

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Checked on every round; a non-undefined result aborts the wait with that error (e.g. "process exited"). */
  abortIf?: () => Error | undefined;
}

/**
 * Calls `check` until it returns a value other than `undefined`/`false`, and returns that value.
 * A throwing check counts as "not yet"; its last error is reported if the deadline passes.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitOptions,
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 200;
  let lastError: unknown;
  for (;;) {
    const aborted = options.abortIf?.();
    if (aborted) throw aborted;
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** A readiness probe's GET: bounded in time, since a port held by something else may accept and never answer. */
export function probe(url: string, timeoutMs = 2_000): Promise<Response> {
  return fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
}
