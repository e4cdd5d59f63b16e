/** Keep-alive agents for the API server, shared by every request with the same TLS settings. */
import https from 'node:https';

/** One keep-alive https.Agent per set of TLS settings. */
export class KeepAliveAgents {
  private readonly agents: { settings: unknown[]; agent: https.Agent }[] = [];

  /** The shared keep-alive agent with the TLS settings of `made`. */
  like(made: https.Agent): https.Agent {
    const { ca, cert, key, pfx, passphrase, servername, rejectUnauthorized } = made.options;
    const settings = [ca, cert, key, pfx, passphrase, servername, rejectUnauthorized];
    let shared = this.agents.find((known) => sameSetting(known.settings, settings))?.agent;
    if (!shared) {
      shared = new https.Agent({ ...made.options, keepAlive: true });
      this.agents.push({ settings, agent: shared });
    }
    return shared;
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
