/**
 * Every loopback port of one stack. A fixed base gives predictable addresses for `make up`;
 * without one, each port is taken free from the kernel so that isolated test stacks never clash.
 */
import { createServer } from 'node:net';

const offsets = {
  postgresPrimary: 0,
  postgresReplica: 1,
  postgresProjection: 2,
  kafka: 10,
  kafkaController: 11,
  prometheus: 20,
  etcd: 30,
  etcdPeer: 31,
  kubeApiserver: 32,
  kubeControllerManager: 33,
  write: 40,
  read: 41,
  replicator: 42,
  operator: 43,
} as const;

export type PortName = keyof typeof offsets;
export type Ports = Record<PortName, number>;

export async function planPorts(base?: number): Promise<Ports> {
  const ports = {} as Ports;
  const taken = new Set<number>();
  for (const [name, offset] of Object.entries(offsets) as [PortName, number][]) {
    ports[name] = base === undefined ? await distinctFreePort(taken) : base + offset;
  }
  return ports;
}

/**
 * A free port not among `taken`: each one is closed again once named, so the kernel may name the
 * same port twice in a row. Two servers of one stack on one port once left the second unable to
 * bind, while its readiness check reached the first.
 */
async function distinctFreePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
