/**
 * Shared fixtures for the OCI tests: release files, keys, skopeo as a second client, and
 * one describe's registry with its work dir (useRegistry), a push of release files
 * (pushFiles) and the agent's source for a repository (ociSource) with the defaults
 * every test repeated.
 */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { silentLogger } from '../../src/log.js';
import { pushRelease, type OciPushOptions } from '../../src/release/oci-push.js';
import { OciClient } from '../../src/transport/oci/client.js';
import { parseRegistryReference } from '../../src/transport/oci/reference.js';
import {
  createOciUpdateSource,
  type OciUpdateSourceOptions,
} from '../../src/transport/oci/source.js';
import { startRegistry, type RegistryOptions, type TestRegistry } from '../helpers/registry.js';

const run = promisify(execFile);

export interface ReleaseFiles {
  dir: string;
  kernelPath: string;
  initramfsPath: string;
  kernel: Buffer;
  initramfs: Buffer;
}

/** Distinct, deterministic kernel and initramfs bytes (sizes not multiples of 4 KiB). */
export function makeReleaseFiles(
  label: string,
  kernelSize = 300_003,
  initramfsSize = 700_001,
): ReleaseFiles {
  const dir = mkdtempSync(join(tmpdir(), 'ks-oci-files-'));
  const fill = (seed: string, size: number) => {
    const out = Buffer.alloc(size);
    let block = createHash('sha256').update(seed).digest();
    for (let i = 0; i < size; i += block.length) {
      block.copy(out, i);
      block = createHash('sha256').update(block).digest();
    }
    return out;
  };
  const kernel = fill(`kernel-${label}`, kernelSize);
  const initramfs = fill(`initramfs-${label}`, initramfsSize);
  const kernelPath = join(dir, 'vmlinuz');
  const initramfsPath = join(dir, 'kubesolo-os.gz');
  writeFileSync(kernelPath, kernel);
  writeFileSync(initramfsPath, initramfs);
  return { dir, kernelPath, initramfsPath, kernel, initramfs };
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface TestKeys {
  privateKey: KeyObject;
  /** Raw 32-byte public key, as the agent loads it. */
  publicKey: Buffer;
  publicKeyHex: string;
  privatePem: string;
}

export function makeKeys(): TestKeys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ type: 'spki', format: 'der' }).subarray(12);
  return {
    privateKey,
    publicKey: raw,
    publicKeyHex: raw.toString('hex'),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

export interface RawDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
  platform: { architecture: string; os: string };
}

/** A manifest or index as JSON (fields of both, for tests that read either). */
export interface RawManifest {
  schemaVersion: number;
  mediaType: string;
  layers: RawDescriptor[];
  manifests: RawDescriptor[];
  annotations: Record<string, string>;
}

/** `skopeo inspect --raw`: the exact manifest bytes a second, independent client sees. */
export async function skopeoRaw(ref: string, creds?: string): Promise<RawManifest> {
  const args = ['inspect', '--raw', '--tls-verify=false'];
  if (creds) args.push('--creds', creds);
  const { stdout } = await run('skopeo', [...args, `docker://${ref}`]);
  return JSON.parse(stdout) as RawManifest;
}

type Host = Pick<TestRegistry, 'host'>;
type PushExtra = Partial<OciPushOptions>;
type SourceExtra = Partial<OciUpdateSourceOptions>;

/** Where a repository is, as both the push and the source take it. */
const at = (reg: Host, repo: string) => ({ log: silentLogger, registry: `${reg.host}/${repo}` });

/** Push `f` to `reg`'s `repo` as release `tag` (version = tag, amd64) unless `extra` says otherwise. */
export function pushFiles(
  reg: Host,
  repo: string,
  tag: string,
  f: ReleaseFiles,
  extra?: PushExtra,
) {
  const imagePaths = { vmlinuz: f.kernelPath, initramfs: f.initramfsPath };
  return pushRelease({
    ...at(reg, repo),
    tag,
    imagePaths,
    version: tag,
    architecture: 'amd64',
    ...extra,
  });
}

/** The agent's OCI source for `reg`'s `repo` at `tag`, on amd64; `extra` adds trust and credentials. */
export function ociSource(reg: Host, repo: string, tag: string, extra?: SourceExtra) {
  return createOciUpdateSource({ ...at(reg, repo), tag, architecture: 'amd64', ...extra });
}

/** A registry client with push rights on `reg`'s `repo`, to rewrite manifests by hand. */
export function ociClient(reg: Host, repo: string): OciClient {
  const ref = parseRegistryReference(`${reg.host}/${repo}`);
  return new OciClient({ log: silentLogger, ref, actions: ['pull', 'push'] });
}

export interface RegistryFixture {
  /** The running registry (set before the describe's first test). */
  reg: TestRegistry;
  /** An empty directory for staging, removed after the describe. */
  work: string;
  /** Release files made now and removed after the describe. */
  files(label: string, kernelSize?: number, initramfsSize?: number): ReleaseFiles;
  /** pushFiles, ociSource and ociClient on this registry. */
  push(repo: string, tag: string, f: ReleaseFiles, extra?: PushExtra): ReturnType<typeof pushFiles>;
  source(repo: string, tag: string, extra?: SourceExtra): ReturnType<typeof ociSource>;
  client(repo: string): OciClient;
}

/**
 * A registry of its own for the enclosing describe: started before, stopped and removed
 * after. `options` may be a function, called when the registry starts (after the hooks
 * registered before this call have run, e.g. a token service's).
 */
export function useRegistry(
  options: RegistryOptions | (() => RegistryOptions) = {},
): RegistryFixture {
  const dirs: string[] = [];
  const fx: RegistryFixture = {
    reg: undefined as unknown as TestRegistry,
    work: '',
    files(label, kernelSize, initramfsSize) {
      const f = makeReleaseFiles(label, kernelSize, initramfsSize);
      dirs.push(f.dir);
      return f;
    },
    push: (repo, tag, f, extra) => pushFiles(fx.reg, repo, tag, f, extra),
    source: (repo, tag, extra) => ociSource(fx.reg, repo, tag, extra),
    client: (repo) => ociClient(fx.reg, repo),
  };
  before(async () => {
    fx.reg = await startRegistry(typeof options === 'function' ? options() : options);
    fx.work = mkdtempSync(join(tmpdir(), 'ks-oci-work-'));
    dirs.push(fx.work);
  });
  after(async () => {
    await fx.reg?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  return fx;
}
