/**
 * A real OCI registry for tests: the Debian `docker-registry` binary (the reference
 * distribution registry, v2.8) on 127.0.0.1 with an ephemeral port, a temp storage
 * directory and a generated config. Optionally behind htpasswd basic auth (the file
 * made with `htpasswd -B`, apache2-utils), or behind token auth with a loopback token
 * service that signs ES256 JWTs (startTokenServer below).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { makeSelfSignedCert } from './http-server.js';
import { toolSkipReason } from './require-tool.js';

export interface TokenAuthConfig {
  realm: string;
  service: string;
  issuer: string;
  /** PEM file with the certificate(s) whose keys sign tokens. */
  rootCertBundle: string;
}

export interface RegistryOptions {
  htpasswd?: { username: string; password: string };
  token?: TokenAuthConfig;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  storageDir: string;
  /** Where the registry's filesystem driver keeps a blob's bytes. */
  blobDataPath(digest: string): string;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Reason to skip registry tests (not root and a tool missing), or false when the tools
 * are installed. Under root, as in CI, a missing tool fails the test file instead: the
 * whole OCI trust matrix runs against this registry and must not turn into a skip.
 */
export function registrySkipReason(): string | false {
  return toolSkipReason(
    ['docker-registry', 'htpasswd', 'skopeo', 'openssl'],
    'docker-registry apache2-utils skopeo openssl',
  );
}

export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-registry-'));
  const storageDir = join(dir, 'storage');
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    '  addr: 127.0.0.1:0',
    `  secret: ${randomUUID()}`,
  ];
  if (options.htpasswd) {
    const file = join(dir, 'htpasswd');
    // -B: bcrypt, the only hash the registry's htpasswd auth accepts.
    execFileSync('htpasswd', ['-Bbc', file, options.htpasswd.username, options.htpasswd.password]);
    lines.push('auth:', '  htpasswd:', '    realm: kubesolo-test', `    path: ${file}`);
  } else if (options.token) {
    const t = options.token;
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${t.realm}`,
      `    service: ${t.service}`,
      `    issuer: ${t.issuer}`,
      `    rootcertbundle: ${t.rootCertBundle}`,
    );
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, lines.join('\n') + '\n');

  const child: ChildProcess = spawn('docker-registry', ['serve', config], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const host = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`registry did not start:\n${log}`)), 15_000);
    const onData = (d: Buffer) => {
      log += d.toString('utf8');
      const m = /listening on (127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`registry exited (${code}) before listening:\n${log}`));
    });
  });

  return {
    host,
    url: `http://${host}`,
    storageDir,
    blobDataPath(digest: string) {
      const hex = digest.replace(/^sha256:/, '');
      return join(storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    logs: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------ token service

export interface TokenServer {
  /** `http://127.0.0.1:PORT/token` */
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  /** Every token request seen: the scopes asked for and who asked. */
  requests: { scope: string[]; service: string | null; user: string | undefined }[];
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  /** Accepted basic credentials; requests without credentials get pull-only tokens. */
  username: string;
  password: string;
  /** Allow anonymous pulls (default false: anonymous gets no actions). */
  anonymousPull?: boolean;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * A minimal token service (distribution docs/spec/auth/token.md): checks basic
 * credentials, grants the asked-for actions the user may have, and returns an ES256
 * JWT whose `x5c` header carries a self-signed certificate that the registry trusts
 * through `rootcertbundle`.
 */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ks-token-'));
  const pem = makeSelfSignedCert(dir, { commonName: 'kubesolo-test-token-issuer', days: 1 });
  const key = createPrivateKey(pem.key);
  const certDer = new X509Certificate(pem.cert).raw;
  const service = 'kubesolo-test-registry';
  const issuer = 'kubesolo-test-issuer';
  const requests: TokenServer['requests'] = [];

  function userOf(req: IncomingMessage): string | null | undefined {
    const h = req.headers.authorization;
    if (!h) return undefined;
    const m = /^Basic (.+)$/.exec(h);
    if (!m) return null;
    const [u, ...rest] = Buffer.from(m[1]!, 'base64').toString('utf8').split(':');
    return u === options.username && rest.join(':') === options.password ? u : null;
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const user = userOf(req);
    const scope = url.searchParams.getAll('scope');
    requests.push({ scope, service: url.searchParams.get('service'), user: user ?? undefined });
    if (user === null) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
      return;
    }
    const access = scope.flatMap((s) => {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || !name || !actions) return [];
      const granted = actions
        .split(',')
        .filter((a) => (user ? true : a === 'pull' && options.anonymousPull === true));
      return [{ type, name, actions: granted }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: issuer,
      sub: user ?? '',
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    // JWS ES256 (RFC 7518 §3.4): the signature is r || s, not DER.
    const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${input}.${b64url(sig)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: 300,
        issued_at: new Date().toISOString(),
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    rootCertBundle: pem.certFile,
    requests,
    async stop() {
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
