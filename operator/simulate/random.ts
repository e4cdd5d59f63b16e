/**
 * A seeded pseudo-random source, so that a simulation run is reproducible from its seed alone.
 * Marsaglia's xorshift32: small and fast; its quality is ample for noise on rates.
 */
export interface Random {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal (Box-Muller). */
  normal(): number;
  /** A non-negative real rounded to an integer up or down at random, unbiased: 2.3 is 3 with p 0.3. */
  round(value: number): number;
}

export function seededRandom(seed: number): Random {
  // Zero is xorshift's fixed point; any other 32-bit state works.
  let state = seed >>> 0 || 0x9e3779b9;
  const uniform = () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  return {
    uniform,
    normal: () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()),
    round: (value) => {
      const whole = Math.floor(value);
      return whole + (uniform() < value - whole ? 1 : 0);
    },
  };
}

/** Derives an independent stream's seed, so that two streams of one run never share draws. */
export function streamSeed(seed: number, stream: string): number {
  let hash = seed >>> 0;
  for (const char of stream) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  return hash;
}
