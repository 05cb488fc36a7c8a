/**
 * The shipped Kubernetes manifests as kubectl reads them (YAML 1.1 rules, sigs.k8s.io/yaml
 * over go-yaml), and their RBAC objects turned into the grants the loopback API server
 * of kube-api.ts enforces: so the client is tested with exactly what the manifests grant.
 */
import { strict as assert } from 'node:assert';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { Grant } from './kube-api.js';

export const KUBERNETES_DIR = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
export const MONITORING_DIR = fileURLToPath(new URL('../../deploy/monitoring/', import.meta.url));

export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [k: string]: unknown;
}

/** Every `*.yaml` of `dir`, by file name, each a list of its documents. */
export async function loadManifests(dir: string): Promise<Map<string, Obj[]>> {
  const files = new Map<string, Obj[]>();
  for (const f of (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort()) {
    const docs = parseAllDocuments(await readFile(dir + f, 'utf8'), { version: '1.1' });
    assert.ok(Array.isArray(docs), f);
    for (const d of docs) assert.deepEqual(d.errors, [], `${f}: ${String(d.errors[0]?.message)}`);
    files.set(
      f,
      docs.map((d) => d.toJS() as Obj),
    );
  }
  return files;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Binding {
  roleRef: { kind: string; name: string };
  subjects: { kind: string; name: string; namespace?: string }[];
}

/**
 * What RBAC allows, from Roles, ClusterRoles and their bindings: a ClusterRole bound by
 * a ClusterRoleBinding grants cluster-wide; a Role (or a ClusterRole bound by a
 * RoleBinding) grants in the binding's namespace.
 */
export function grantsOf(objects: Obj[]): Grant[] {
  const rulesOf = (kind: string, name: string, namespace?: string): Rule[] => {
    const role = objects.find(
      (o) =>
        o.kind === kind &&
        o.metadata.name === name &&
        (kind === 'ClusterRole' || o.metadata.namespace === namespace),
    );
    assert.ok(role, `${kind} ${name} exists`);
    return (role as unknown as { rules: Rule[] }).rules;
  };
  const grants: Grant[] = [];
  for (const o of objects) {
    if (o.kind !== 'ClusterRoleBinding' && o.kind !== 'RoleBinding') continue;
    const b = o as unknown as Binding & Obj;
    const namespace = o.kind === 'RoleBinding' ? o.metadata.namespace : undefined;
    for (const rule of rulesOf(b.roleRef.kind, b.roleRef.name, namespace)) {
      for (const s of b.subjects) {
        assert.equal(s.kind, 'ServiceAccount', 'only service accounts are bound');
        grants.push({
          user: `system:serviceaccount:${s.namespace}:${s.name}`,
          apiGroups: rule.apiGroups,
          resources: rule.resources,
          verbs: rule.verbs,
          ...(namespace === undefined ? {} : { namespace }),
        });
      }
    }
  }
  return grants;
}
