/**
 * A Kubernetes control plane without nodes, envtest style: etcd, kube-apiserver and
 * kube-controller-manager (so Deployments get ReplicaSets and the scale subresource behaves).
 * The admin identity is a static bearer token in group system:masters; the kubeconfig trusts the
 * apiserver's self-signed serving certificate.
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { StackContext, Started } from '../context.js';
import { ManagedProcess } from '../process.js';
import { toolPaths } from '../tools.js';
import { probe, waitFor } from '../wait.js';

const insecureAgent = new Agent({ rejectUnauthorized: false });

/** GETs a path of a loopback TLS endpoint whose certificate is self-signed; resolves the status code. */
export function httpsStatus(url: string, token?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { agent: insecureAgent, headers: token ? { authorization: `Bearer ${token}` } : {}, timeout: 2_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

function ensureServiceAccountKeys(dir: string): { publicKey: string; privateKey: string } {
  const publicKey = join(dir, 'sa.pub');
  const privateKey = join(dir, 'sa.key');
  if (!existsSync(privateKey)) {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(publicKey, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(privateKey, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return { publicKey, privateKey };
}

function kubeconfig(server: string, token: string, caFile: string): string {
  const ca = readFileSync(caFile).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '  - name: pulse-local',
    '    cluster:',
    `      server: ${server}`,
    `      certificate-authority-data: ${ca}`,
    'users:',
    '  - name: pulse-admin',
    '    user:',
    `      token: ${token}`,
    'contexts:',
    '  - name: pulse-local',
    '    context: { cluster: pulse-local, user: pulse-admin, namespace: default }',
    'current-context: pulse-local',
    '',
  ].join('\n');
}

export async function startControlPlane(ctx: StackContext): Promise<Started> {
  const root = join(ctx.runDir, 'kube');
  const certDir = join(root, 'certs');
  mkdirSync(certDir, { recursive: true });
  const { etcd: etcdPort, etcdPeer, kubeApiserver: apiPort, kubeControllerManager: kcmPort } = ctx.ports;
  const token = ctx.secrets.kubeAdminToken;
  const processes: ManagedProcess[] = [];
  const stopAll = async () => {
    for (const p of processes.reverse()) await p.stop();
  };
  try {
    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeer}`;
    const etcd = ManagedProcess.start(ctx.runDir, {
      name: 'etcd',
      command: toolPaths.etcd,
      args: [
        `--data-dir=${join(root, 'etcd')}`,
        '--name=pulse',
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=pulse=${peerUrl}`,
        '--unsafe-no-fsync',
        '--quota-backend-bytes=2147483648',
      ],
    });
    processes.push(etcd);
    await waitFor(
      `etcd to be healthy at ${etcdUrl}`,
      async () => {
        const body = (await (await probe(`${etcdUrl}/health`)).json()) as { health?: string };
        return body.health === 'true';
      },
      { timeoutMs: 30_000, abortIf: () => etcd.exitedError() },
    );

    const keys = ensureServiceAccountKeys(root);
    const tokenFile = join(root, 'tokens.csv');
    writeFileSync(tokenFile, `${token},pulse-admin,pulse-admin,"system:masters"\n`, { mode: 0o600 });
    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = ManagedProcess.start(ctx.runDir, {
      name: 'kube-apiserver',
      command: toolPaths.kubeApiserver,
      args: [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${certDir}`,
        // Service IPs are never routed here: there are no nodes. The range only has to be valid.
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=RBAC',
        `--token-auth-file=${tokenFile}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${keys.publicKey}`,
        `--service-account-signing-key-file=${keys.privateKey}`,
        '--allow-privileged=true',
      ],
    });
    processes.push(apiserver);
    await waitFor(
      `kube-apiserver to be ready at ${server}`,
      async () => (await httpsStatus(`${server}/readyz`, token)) === 200,
      {
        timeoutMs: 120_000,
        intervalMs: 500,
        abortIf: () => apiserver.exitedError(),
      },
    );

    const kubeconfigFile = join(ctx.runDir, 'kubeconfig');
    writeFileSync(kubeconfigFile, kubeconfig(server, token, join(certDir, 'apiserver.crt')), { mode: 0o600 });

    const controllerManager = ManagedProcess.start(ctx.runDir, {
      name: 'kube-controller-manager',
      command: toolPaths.kubeControllerManager,
      args: [
        `--kubeconfig=${kubeconfigFile}`,
        `--authentication-kubeconfig=${kubeconfigFile}`,
        `--authorization-kubeconfig=${kubeconfigFile}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--cert-dir=${join(root, 'kcm-certs')}`,
        '--leader-elect=false',
        `--service-account-private-key-file=${keys.privateKey}`,
        '--use-service-account-credentials=true',
        '--controllers=*',
      ],
    });
    processes.push(controllerManager);
    await waitFor(
      'kube-controller-manager to be healthy',
      async () => (await httpsStatus(`https://127.0.0.1:${kcmPort}/healthz`)) === 200,
      {
        timeoutMs: 60_000,
        intervalMs: 500,
        abortIf: () => controllerManager.exitedError(),
      },
    );
    return { processes, env: { KUBECONFIG: kubeconfigFile, PULSE_KUBE_APISERVER_URL: server } };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
