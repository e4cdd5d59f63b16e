import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { toolPaths, versions } from '../harness/tools.js';

const run = promisify(execFile);
const output = async (command: string, args: string[]) => {
  const { stdout, stderr } = await run(command, args);
  return stdout + stderr;
};

describe('pinned command-line tools', () => {
  it('helm is the pinned release and renders for the pinned Kubernetes minor', async () => {
    assert.match(
      await output(toolPaths.helm, ['version', '--short']),
      new RegExp(`^v${versions.HELM_VERSION}\\b`),
    );
    const chart = mkdtempSync(join(tmpdir(), 'pulse-helm-'));
    mkdirSync(join(chart, 'templates'));
    writeFileSync(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: smoke\nversion: 0.1.0\n');
    writeFileSync(
      join(chart, 'templates', 'cm.yaml'),
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: smoke}\ndata: {kube: "{{ .Capabilities.KubeVersion.Minor }}"}\n',
    );
    try {
      const rendered = await output(toolPaths.helm, ['template', chart]);
      const minor = versions.KUBERNETES_VERSION?.split('.')[1];
      assert.match(rendered, new RegExp(`kube: "${minor}"`));
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
  });

  it('k6 is the pinned release', async () => {
    assert.match(await output(toolPaths.k6, ['version']), new RegExp(`v${versions.K6_VERSION}\\b`));
  });

  it('kubeconform is the pinned release', async () => {
    assert.match(await output(toolPaths.kubeconform, ['-v']), new RegExp(`${versions.KUBECONFORM_VERSION}`));
  });
});
