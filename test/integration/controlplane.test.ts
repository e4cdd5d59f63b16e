import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { testStack, type TestStack } from '../harness/testing.js';
import { waitFor } from '../harness/wait.js';

const run = promisify(execFile);

describe('local stack: Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)', () => {
  let stack: TestStack;
  const kubectl = async (args: string[], input?: string) => {
    const child = run('kubectl', ['--kubeconfig', stack.env.KUBECONFIG ?? '', ...args]);
    if (input !== undefined) {
      child.child.stdin?.end(input);
    }
    return (await child).stdout;
  };

  before(async () => {
    stack = await testStack(['controlplane']);
  });
  after(async () => {
    await stack.release();
  });

  it('answers kubectl with the pinned release over verified TLS', async () => {
    const namespaces = await kubectl(['get', 'ns', '-o', 'name']);
    assert.match(namespaces, /namespace\/default/);
    assert.match(namespaces, /namespace\/kube-system/);
    const version = JSON.parse(await kubectl(['version', '-o', 'json'])) as {
      serverVersion: { gitVersion: string };
    };
    assert.match(version.serverVersion.gitVersion, /^v1\.\d+\.\d+$/);
  });

  it('installs a CRD, accepts a valid custom resource and rejects an invalid one', async () => {
    const group = `smoke${randomUUID().slice(0, 8)}.pulse.dev`;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: { size: { type: 'integer', minimum: 1, maximum: 10 } },
                  },
                },
              },
            },
          },
        ],
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(crd));
    await kubectl(['wait', '--for=condition=Established', '--timeout=30s', `crd/widgets.${group}`]);
    const widget = (size: number) =>
      JSON.stringify({
        apiVersion: `${group}/v1`,
        kind: 'Widget',
        metadata: { name: `w${size}` },
        spec: { size },
      });
    await kubectl(['create', '-f', '-'], widget(3));
    assert.match(await kubectl(['get', `widgets.${group}`, 'w3', '-o', 'jsonpath={.spec.size}']), /^3$/);
    await assert.rejects(kubectl(['create', '-f', '-'], widget(42)), /spec\.size/);
  });

  it('runs the controllers: a Deployment gets a ReplicaSet of the wanted size', async () => {
    const name = `smoke-${randomUUID().slice(0, 8)}`;
    await kubectl(['create', 'deployment', name, '--image=registry.invalid/none:0', '--replicas=2']);
    const replicas = await waitFor(
      'a ReplicaSet for the Deployment',
      async () => {
        const out = await kubectl([
          'get',
          'rs',
          '-l',
          `app=${name}`,
          '-o',
          'jsonpath={.items[0].spec.replicas}',
        ]);
        return out.trim() || undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.equal(replicas, '2');
    await kubectl(['delete', 'deployment', name, '--wait=false']);
  });
});
