/**
 * The one HTTP client configuration (undici): connection timeout, an optional extra CA
 * bundle for private servers, and HTTP_PROXY/HTTPS_PROXY/NO_PROXY.
 */
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { ConfigError, ioFailure } from '../errors.js';

export interface DispatcherOptions {
  /** PEM file with extra CA certificates, trusted in addition to the system roots. */
  caFile?: string;
  /** TCP + TLS connect timeout (ms). */
  connectTimeoutMs?: number;
  /**
   * Environment to read proxy settings from (default process.env): `HTTPS_PROXY`,
   * `HTTP_PROXY`, `NO_PROXY` and their lowercase forms, as curl reads them.
   */
  env?: NodeJS.ProcessEnv;
}

function proxyVar(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value === undefined || value === '' ? undefined : value;
}

function readCa(caFile: string): string[] {
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'CA_FILE_UNREADABLE',
      `cannot read CA file ${caFile}`,
      ioFailure(err, { path: caFile }),
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError('CA_FILE_INVALID', `CA file ${caFile} holds no PEM certificate`, {
      details: { path: caFile },
    });
  }
  // Setting `ca` replaces Node's default roots, so add them back: the CA file extends
  // trust for a private server, it does not narrow it.
  return [...rootCertificates, pem];
}

export function createDispatcher(options: DispatcherOptions = {}): Dispatcher {
  const env = options.env ?? process.env;
  const tls = {
    timeout: options.connectTimeoutMs ?? 30_000,
    ...(options.caFile === undefined ? {} : { ca: readCa(options.caFile) }),
  };
  const httpProxy = proxyVar(env, 'http_proxy');
  const httpsProxy = proxyVar(env, 'https_proxy');
  if (httpProxy === undefined && httpsProxy === undefined) {
    return new Agent({ connect: tls });
  }
  return new EnvHttpProxyAgent({
    connect: tls,
    requestTls: tls,
    proxyTls: { timeout: tls.timeout },
    // Pass explicit values so the agent never falls back to a different process.env.
    httpProxy: httpProxy ?? '',
    // undici uses HTTP_PROXY for https: URLs too when HTTPS_PROXY is unset.
    httpsProxy: httpsProxy ?? '',
    noProxy: proxyVar(env, 'no_proxy') ?? '',
  });
}
