/** Shared fixtures for the OCI tests: release files, keys and skopeo as a second client. */
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

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
