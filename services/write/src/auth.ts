/** Issuing API keys; checking them is shared with the read service (@pulse/core auth). */
import { randomBytes } from 'node:crypto';

/**
 * 32 random bytes: far beyond guessing, which is also why a fast unsalted hash is enough to
 * store it (slow salted hashes protect low-entropy passwords, not random keys).
 */
export function generateApiKey(): string {
  return `pulse_${randomBytes(32).toString('base64url')}`;
}
