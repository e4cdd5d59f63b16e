/**
 * A token bucket per API key: `ratePerSecond` tokens refill continuously up to `burst`, and each
 * request takes one. Per process: with N replicas a key gets up to N times the rate, which the
 * deployment's replica count bounds; docs/write-service.md says so.
 */
export interface Bucket {
  tokens: number;
  updatedMs: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Whole seconds until a token is available (for Retry-After); 0 when allowed. */
  retryAfterSeconds: number;
  bucket: Bucket;
}

export function takeToken(
  bucket: Bucket | undefined,
  nowMs: number,
  ratePerSecond: number,
  burst: number,
): TakeResult {
  const elapsedSeconds = bucket ? Math.max(0, nowMs - bucket.updatedMs) / 1000 : 0;
  const available = bucket ? Math.min(burst, bucket.tokens + elapsedSeconds * ratePerSecond) : burst;
  if (available >= 1)
    return { allowed: true, retryAfterSeconds: 0, bucket: { tokens: available - 1, updatedMs: nowMs } };
  return {
    allowed: false,
    retryAfterSeconds: Math.max(1, Math.ceil((1 - available) / ratePerSecond)),
    bucket: { tokens: available, updatedMs: nowMs },
  };
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private takesSinceSweep = 0;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  take(key: string, nowMs: number): TakeResult {
    const result = takeToken(this.buckets.get(key), nowMs, this.ratePerSecond, this.burst);
    this.buckets.set(key, result.bucket);
    if (++this.takesSinceSweep >= 10_000) this.sweep(nowMs);
    return result;
  }

  /** Forgets buckets that have refilled: they behave exactly like a new bucket, so memory stays bounded. */
  private sweep(nowMs: number): void {
    this.takesSinceSweep = 0;
    const refillMs = (this.burst / this.ratePerSecond) * 1000;
    for (const [key, bucket] of this.buckets) {
      if (nowMs - bucket.updatedMs >= refillMs) this.buckets.delete(key);
    }
  }
}
