/**
 * Prints the ReplicationLag CRD as YAML, for the Helm chart and manifests/:
 *   node --import tsx operator/src/api/render-crd.ts > manifests/crds/replicationlags.pulse.dev.yaml
 */
import { renderCrdYaml } from './crd.js';

process.stdout.write(renderCrdYaml());
