/**
 * Kubeconfig loading: just the parts the agent needs (current-context → cluster and
 * user). Format: https://kubernetes.io/docs/reference/config-api/kubeconfig.v1/
 *
 * Decisions (docs/health.md):
 * - TLS is always verified. `insecure-skip-tls-verify` is ignored (logged by the
 *   caller through `warnings`); a plain `http://` server is refused, because the
 *   admin credentials would travel in the clear.
 * - `*-data` fields win over their file counterparts (client-go's documented
 *   "…-data will override" rule).
 * - Relative file paths are relative to the kubeconfig's directory (as in client-go);
 *   absolute ones are resolved under `--root` when the kubeconfig itself came from
 *   under `--root` (config key or default), because they then name files on the
 *   device image.
 * - Exec and auth-provider credential plugins are not supported: the agent runs no
 *   helper programs. Such a user authenticates with whatever else it has.
 */
import { access, readFile } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../errors.js';
import { DEFAULT_PATHS, underRoot } from '../paths.js';
import type { KubeConfig, KubeconfigLocation, KubeconfigSearch } from './config-types.js';
import { inClusterLocation } from './in-cluster.js';

export type {
  KubeConfig,
  KubeconfigLocation,
  KubeconfigSearch,
  KubeconfigSource,
} from './config-types.js';

/**
 * Candidate kubeconfig files, in precedence order: the `kubeconfig=` config key (device
 * configuration, resolved under --root), else every entry of `KUBECONFIG` (a host path
 * list, used as is, as kubectl reads it), else the KubeSolo default under --root.
 */
export function kubeconfigCandidates(search: KubeconfigSearch): KubeconfigLocation[] {
  const root = search.root ?? '/';
  // The merged settings always carry a kubeconfig (the built-in default fills it in), so
  // the default path is treated as "not set" here: otherwise KUBECONFIG could never apply.
  const explicit =
    search.kubeconfigPath !== undefined &&
    search.kubeconfigPath !== '' &&
    search.kubeconfigPath !== DEFAULT_PATHS.kubeconfig;
  if (explicit) {
    return [{ path: underRoot(root, search.kubeconfigPath!), source: 'config', rooted: true }];
  }
  const fromEnv = search.env?.KUBECONFIG;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return fromEnv
      .split(delimiter)
      .filter((p) => p.trim() !== '')
      .map((p) => ({ path: resolve(p.trim()), source: 'env' as const, rooted: false }));
  }
  return [{ path: underRoot(root, DEFAULT_PATHS.kubeconfig), source: 'default', rooted: true }];
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Where the client's configuration comes from, or undefined when there is none. In a
 * pod (KUBERNETES_SERVICE_HOST/PORT set and a service account token mounted), the
 * pod's own account: the pods of deploy/kubernetes get a least-privilege account and
 * no longer see the node's admin kubeconfig, whatever update.conf's `kubeconfig=`
 * names for the host (docs/kubernetes.md "Least privilege"). Elsewhere the first
 * existing file of the `kubeconfig=` key or `KUBECONFIG` (either one set means only
 * those are considered, as kubectl does), else KubeSolo's admin kubeconfig under
 * --root, which the host's own stages use.
 */
export async function findKubeconfig(
  search: KubeconfigSearch,
): Promise<KubeconfigLocation | undefined> {
  const inCluster = await inClusterLocation(search);
  if (inCluster) return inCluster;
  for (const candidate of kubeconfigCandidates(search)) {
    // kubectl also skips KUBECONFIG entries that do not exist.
    if (await exists(candidate.path)) return candidate;
  }
  return undefined;
}

function invalid(path: string, message: string, cause?: unknown): ConfigError {
  return new ConfigError('KUBECONFIG_INVALID', `kubeconfig ${path}: ${message}`, {
    details: { path },
    ...(cause === undefined ? {} : { cause }),
  });
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(obj: Obj, key: string, path: string): string | undefined {
  const v = obj[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(path, `'${key}' must be a string`);
  return v;
}

/** Find `name` in a kubeconfig named list (`clusters`, `users`, `contexts`). */
function named(doc: Obj, list: string, inner: string, name: string, path: string): Obj {
  const entries = doc[list];
  if (!Array.isArray(entries)) throw invalid(path, `no '${list}' list`);
  for (const e of entries as unknown[]) {
    if (isObj(e) && e.name === name) {
      const body = e[inner];
      if (!isObj(body)) throw invalid(path, `${list} entry '${name}' has no '${inner}' map`);
      return body;
    }
  }
  throw invalid(path, `no ${list} entry named '${name}'`);
}

// RFC 4648 §4 alphabet; kubeconfig data fields are standard base64 of PEM text.
const BASE64 = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

function decodeData(value: string, field: string, path: string): Buffer {
  if (!BASE64.test(value)) throw invalid(path, `'${field}' is not base64`);
  const buf = Buffer.from(value, 'base64');
  if (buf.length === 0) throw invalid(path, `'${field}' is empty`);
  return buf;
}

export interface LoadKubeConfigOptions {
  /** `--root` for absolute file references (only when `rooted`). */
  root?: string;
  /** Resolve absolute file references under root (default true when root is given). */
  rooted?: boolean;
}

/**
 * Parse the kubeconfig at `path`. Throws ConfigError KUBECONFIG_NOT_FOUND when the file
 * does not exist and KUBECONFIG_INVALID for anything unusable in it.
 */
export async function loadKubeConfig(
  path: string,
  options: LoadKubeConfigOptions = {},
): Promise<KubeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError('KUBECONFIG_NOT_FOUND', `cannot read kubeconfig ${path}`, {
      cause: err,
      details: { path },
    });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalid(path, 'not valid YAML', err);
  }
  if (!isObj(doc)) throw invalid(path, 'not a kubeconfig document');

  const root = options.root ?? '/';
  const rooted = options.rooted ?? true;
  const baseDir = dirname(path);
  const filePath = (p: string): string =>
    isAbsolute(p) ? (rooted ? underRoot(root, p) : p) : resolve(baseDir, p);
  const readRef = async (p: string, field: string): Promise<Buffer> => {
    const full = filePath(p);
    try {
      return await readFile(full);
    } catch (err) {
      throw invalid(path, `cannot read '${field}' file ${full}`, err);
    }
  };
  /** kubeconfig's two spellings of PEM material: inline `<field>-data` (base64) wins over the file `<field>`. */
  const pem = async (obj: Obj, field: string): Promise<Buffer | undefined> => {
    const data = optString(obj, `${field}-data`, path);
    const file = optString(obj, field, path);
    if (data !== undefined) return decodeData(data, `${field}-data`, path);
    return file === undefined ? undefined : readRef(file, field);
  };

  // client-go refuses a kubeconfig without current-context; we accept one whose only
  // context is unambiguous, since an admin kubeconfig has exactly one.
  let contextName = optString(doc, 'current-context', path);
  if (contextName === undefined) {
    const contexts = doc.contexts;
    if (Array.isArray(contexts) && contexts.length === 1 && isObj(contexts[0])) {
      const only = contexts[0].name;
      if (typeof only === 'string') contextName = only;
    }
  }
  if (contextName === undefined) throw invalid(path, "no 'current-context'");
  const context = named(doc, 'contexts', 'context', contextName, path);
  const clusterName = optString(context, 'cluster', path);
  if (clusterName === undefined) throw invalid(path, `context '${contextName}' names no cluster`);
  const cluster = named(doc, 'clusters', 'cluster', clusterName, path);
  const userName = optString(context, 'user', path);
  const user = userName === undefined ? {} : named(doc, 'users', 'user', userName, path);

  const serverText = optString(cluster, 'server', path);
  if (serverText === undefined) throw invalid(path, `cluster '${clusterName}' has no server`);
  let server: URL;
  try {
    server = new URL(serverText);
  } catch (err) {
    throw invalid(path, `server '${serverText}' is not a URL`, err);
  }
  if (server.protocol !== 'https:') {
    throw invalid(path, `server '${serverText}' is not https (TLS is required)`);
  }

  const warnings: string[] = [];
  if (cluster['insecure-skip-tls-verify'] === true) {
    warnings.push('insecure-skip-tls-verify is ignored: the agent always verifies TLS');
  }

  const ca = await pem(cluster, 'certificate-authority');
  const cert = await pem(user, 'client-certificate');
  const key = await pem(user, 'client-key');
  if ((cert === undefined) !== (key === undefined)) {
    throw invalid(
      path,
      `user '${userName ?? ''}' has a client certificate without a key or vice versa`,
    );
  }

  let token = optString(user, 'token', path);
  const tokenRef = optString(user, 'tokenFile', path);
  const tokenFile = token === undefined && tokenRef !== undefined ? filePath(tokenRef) : undefined;
  if (tokenFile !== undefined) {
    // Read once now, so an unusable file is a configuration error up front.
    token = (await readRef(tokenRef!, 'tokenFile')).toString('utf8').trim() || undefined;
  }
  if (isObj(user.exec) || isObj(user['auth-provider'])) {
    warnings.push('exec and auth-provider credential plugins are not supported and are ignored');
  }

  return {
    server,
    ca,
    cert,
    key,
    token,
    tokenFile,
    tlsServerName: optString(cluster, 'tls-server-name', path),
    path,
    context: contextName,
    warnings,
  };
}
