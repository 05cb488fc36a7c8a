/**
 * Registry credentials and the `WWW-Authenticate` challenge (RFC 7235 §4.1, and the
 * distribution token protocol, docs/spec/auth/token.md of distribution/distribution).
 *
 * Credentials come from `registry_username`/`registry_password` or from a docker-style
 * `config.json` (`registry_auth_file`): `auths[host].auth` is base64 `user:password`;
 * `username`/`password`, `identitytoken` (an OAuth2 refresh token) and `registrytoken`
 * (a ready bearer token) are read too. Credential helpers (`credsStore`,
 * `credHelpers`) are not run: the agent does not execute programs named by a file.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, errnoCode } from '../../errors.js';
import { parseJsonObject } from '../../json.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** docker config `identitytoken`: OAuth2 refresh token for the token endpoint. */
  identityToken?: string;
  /** docker config `registrytoken`: a bearer token used as is. */
  registryToken?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse a WWW-Authenticate header into challenges (RFC 7235 §4.1: challenge =
 * auth-scheme [ 1*SP ( token68 / #auth-param ) ], auth-param = token "=" ( token /
 * quoted-string )). Several challenges may share one header, separated by commas.
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipWs = () => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
  };
  const token = () => {
    const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(s.slice(i));
    if (!m) return '';
    i += m[0].length;
    return m[0];
  };
  while (i < s.length) {
    skipWs();
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      const save = i;
      if (s[i] === ',') i++;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      const name = token();
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      if (!name || s[i] !== '=') {
        // Not an auth-param: the start of the next challenge (or the end).
        i = save;
        break;
      }
      i++;
      while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i];
          i++;
        }
        i++;
      } else {
        value = token();
      }
      challenge.params[name.toLowerCase()] = value;
    }
    if (i < s.length && s[i] === ',') i++;
  }
  return out;
}

export function basicAuthorization(username: string, password: string): string {
  return 'Basic ' + Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `host:5000/x` → `host:5000`. */
function normalizeAuthKey(key: string): string {
  return key
    .replace(/^[a-z]+:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
}

function hostAliases(host: string): string[] {
  const h = host.toLowerCase();
  // Docker Hub credentials are stored under its v1 index address.
  if (h === 'registry-1.docker.io' || h === 'docker.io' || h === 'index.docker.io') {
    return ['index.docker.io', 'registry-1.docker.io', 'docker.io'];
  }
  return [h];
}

interface DockerAuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

function invalid(path: string, why: string, cause?: unknown): ConfigError {
  return new ConfigError('REGISTRY_AUTH_FILE_INVALID', `registry auth file ${path}: ${why}`, {
    cause,
    details: { file: path },
  });
}

/** Credentials for `host` from a docker-style config.json, or undefined when it has none. */
export async function readDockerConfigCredentials(
  path: string,
  host: string,
): Promise<RegistryCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw invalid(path, `cannot read it (${errnoCode(err) ?? 'error'})`, err);
  }
  const read = parseJsonObject(text);
  if (!('doc' in read)) {
    throw read.problem === 'not-json'
      ? invalid(path, 'not valid JSON', read.cause)
      : invalid(path, 'not a JSON object');
  }
  const auths = read.doc.auths;
  if (auths === undefined) return undefined;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) {
    throw invalid(path, '"auths" is not an object');
  }
  const wanted = hostAliases(host);
  for (const [key, raw] of Object.entries(auths as Record<string, unknown>)) {
    if (!wanted.includes(normalizeAuthKey(key))) continue;
    if (typeof raw !== 'object' || raw === null)
      throw invalid(path, `auths["${key}"] is not an object`);
    return entryCredentials(path, key, raw);
  }
  return undefined;
}

function entryCredentials(path: string, key: string, e: DockerAuthEntry): RegistryCredentials {
  const creds: RegistryCredentials = {};
  if (typeof e.auth === 'string' && e.auth !== '') {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalid(path, `auths["${key}"].auth is not base64 "user:password"`);
    creds.username = decoded.slice(0, colon);
    creds.password = decoded.slice(colon + 1);
  } else {
    if (typeof e.username === 'string') creds.username = e.username;
    if (typeof e.password === 'string') creds.password = e.password;
  }
  if (typeof e.identitytoken === 'string' && e.identitytoken !== '') {
    creds.identityToken = e.identitytoken;
  }
  if (typeof e.registrytoken === 'string' && e.registrytoken !== '') {
    creds.registryToken = e.registrytoken;
  }
  return creds;
}

export interface CredentialSources {
  username?: string;
  password?: string;
  /** Path of a docker-style config.json. */
  authFile?: string;
}

/**
 * Pick the credentials for `host`: explicit username/password (config keys or flags)
 * win over the auth file; neither means anonymous access.
 */
export async function resolveCredentials(
  sources: CredentialSources,
  host: string,
): Promise<RegistryCredentials | undefined> {
  if (sources.username !== undefined || sources.password !== undefined) {
    if (!sources.username || sources.password === undefined) {
      throw new ConfigError(
        'REGISTRY_CREDENTIALS_INCOMPLETE',
        'registry_username and registry_password must be set together',
      );
    }
    return { username: sources.username, password: sources.password };
  }
  if (sources.authFile !== undefined) return readDockerConfigCredentials(sources.authFile, host);
  return undefined;
}
