/**
 * Registry references: `host[:port]/repository[:tag|@digest]`, optionally with an
 * explicit `http://` or `https://` prefix.
 *
 * Scheme choice (docs/oci.md): an explicit prefix wins; otherwise loopback hosts
 * (`localhost`, `127.0.0.0/8`, `[::1]`) use plain HTTP, as Docker and containerd treat
 * them as insecure registries by default, and every other host uses HTTPS. Plain HTTP
 * to a remote host is only ever used when the operator wrote `http://` themselves.
 */
import { UsageError } from '../../errors.js';

export interface RegistryReference {
  /** `http:` or `https:`. */
  scheme: 'http' | 'https';
  /** `host[:port]` as written (Docker Hub is rewritten to its API host). */
  host: string;
  /** Repository path, e.g. `kubesolo/os`. */
  repository: string;
  tag?: string;
  digest?: string;
  /** `scheme://host`, the base the /v2/ API paths hang off. */
  baseUrl: string;
}

// distribution/reference grammar (reference.go): path components are lowercase
// alphanumerics separated by `.`, `_`, `__` or runs of `-`; tags are
// `[\w][\w.-]{0,127}`; digests are `algorithm:hex`.
const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9.-]+)(?::\d{1,5})?$/;

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

export function isDigest(value: string): boolean {
  return DIGEST.test(value);
}

function isLoopbackHost(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name === 'localhost' || name === '[::1]' || /^127(?:\.\d{1,3}){3}$/.test(name ?? '');
}

function bad(ref: string, why: string): UsageError {
  return new UsageError(
    'INVALID_REGISTRY_REFERENCE',
    `invalid registry reference "${ref}": ${why}`,
    {
      details: { registry: ref },
    },
  );
}

/** `path` cut at the separator at `i` (dropped): what is before it and after it; `i < 0`: nothing after. */
function cutAt(path: string, i: number): [string, string | undefined] {
  return i < 0 ? [path, undefined] : [path.slice(0, i), path.slice(i + 1)];
}

export function parseRegistryReference(input: string): RegistryReference {
  let rest = input.trim();
  let scheme: 'http' | 'https' | undefined;
  const m = /^(https?):\/\//.exec(rest);
  if (m) {
    scheme = m[1] as 'http' | 'https';
    rest = rest.slice(m[0].length);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw bad(input, 'expected host/repository');
  let host = rest.slice(0, slash);
  const named = rest.slice(slash + 1);
  if (!HOST.test(host)) throw bad(input, `"${host}" is not a registry host`);

  const [tagged, digest] = cutAt(named, named.indexOf('@'));
  if (digest !== undefined && !isDigest(digest)) {
    throw bad(input, `"${digest}" is not a sha256 digest`);
  }
  const [repository, tag] = cutAt(tagged, tagged.lastIndexOf(':'));
  if (tag !== undefined && !isValidTag(tag)) throw bad(input, `"${tag}" is not a valid tag`);
  let path = repository;
  const components = path.split('/');
  if (components.some((c) => !COMPONENT.test(c))) {
    throw bad(input, `"${path}" is not a valid repository name`);
  }
  // Docker Hub's API lives on registry-1.docker.io and official images sit under library/.
  if (host === 'docker.io' || host === 'index.docker.io') {
    host = 'registry-1.docker.io';
    if (components.length === 1) path = `library/${path}`;
  }
  const chosen = scheme ?? (isLoopbackHost(host) ? 'http' : 'https');
  return {
    scheme: chosen,
    host,
    repository: path,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
    baseUrl: `${chosen}://${host}`,
  };
}

/** `host/repository:tag` for logs and `Release.origin`. */
export function formatReference(ref: RegistryReference, reference?: string): string {
  const r = reference ?? ref.digest ?? ref.tag;
  if (r === undefined) return `${ref.host}/${ref.repository}`;
  return `${ref.host}/${ref.repository}${isDigest(r) ? '@' : ':'}${r}`;
}
