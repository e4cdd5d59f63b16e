/**
 * A stand-in for a Kubernetes Service such as CloudNativePG's `pulse-write-rw`: one stable
 * loopback address that forwards TCP to the current endpoint. Switching the target (after a
 * promotion) closes the connections to the old endpoint, as they break when that pod goes away;
 * clients reconnect through the same address and reach the new one.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Forwards new connections to this port on 127.0.0.1 and drops the existing ones. */
  retarget: (port: number) => void;
  /**
   * Loses the answer of the next PostgreSQL statement whose messages contain `marker` (a prepared
   * statement's name, in its Parse or Bind): the server's bytes up to its ReadyForQuery never reach
   * the client, and then that connection breaks. An implicit transaction commits before its
   * ReadyForQuery, so the statement took effect and the client cannot know. Resolves once lost.
   */
  loseAnswer: (marker: string) => Promise<void>;
  close: () => Promise<void>;
}

/** ReadyForQuery: type 'Z' and length 5; the transaction status byte follows. */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  let target = targetPort;
  let armed: { marker: Buffer; lost: () => void } | undefined;
  const open = new Set<Socket>();
  const track = (socket: Socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: target });
    track(client);
    track(upstream);
    // Either side failing or ending ends both, as a broken route would.
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    let losing: { dropped: Buffer; lost: () => void } | undefined;
    client.on('data', (chunk: Buffer) => {
      if (armed && chunk.includes(armed.marker)) {
        losing = { dropped: Buffer.alloc(0), lost: armed.lost };
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!losing) {
        client.write(chunk);
        return;
      }
      losing.dropped = Buffer.concat([losing.dropped, chunk]);
      if (!losing.dropped.includes(READY_FOR_QUERY)) return;
      client.destroy();
      losing.lost();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP address');
  return {
    port: address.port,
    retarget: (port) => {
      target = port;
      for (const socket of open) socket.destroy();
    },
    loseAnswer: (marker) =>
      new Promise((resolve) => {
        armed = { marker: Buffer.from(marker), lost: resolve };
      }),
    close: () =>
      new Promise((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}
