import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The bytes as sent: never decompressed, unlike fetch's body. */
  body: Buffer;
}

/**
 * A request whose bytes are sent as given and whose answer is kept as it came. A body given in
 * several chunks without a Content-Length goes chunked (Transfer-Encoding: chunked).
 */
export function rawRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; chunks?: Buffer[] } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const sent = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    }).on('error', reject);
    for (const chunk of options.chunks ?? []) sent.write(chunk);
    sent.end();
  });
}

/** A GET that keeps the answer's bytes as they came, to see what the server put on the wire. */
export const rawGet = (url: string, headers: Record<string, string> = {}) => rawRequest(url, { headers });
