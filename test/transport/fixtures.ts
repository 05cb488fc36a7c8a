/** A signed (or not) release served by a loopback test server, for transport tests. */
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { publicKeyBytes } from '../../src/crypto/keys.js';
import { json, sha256, staticFile, type Handler } from '../helpers/http-server.js';

export interface Keys {
  privateKey: KeyObject;
  publicKey: KeyObject;
  raw: Uint8Array;
}

export function newKeys(): Keys {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, raw: publicKeyBytes(publicKey) };
}

export const sig = (data: Uint8Array, key: KeyObject): Buffer => sign(null, data, key);

export interface ReleaseFixture {
  vmlinuz: Buffer;
  initramfs: Buffer;
  doc: Record<string, unknown>;
  metadataBytes: Buffer;
  routes: Record<string, Handler>;
}

export interface ReleaseOptions {
  keys?: Keys;
  signMetadata?: boolean;
  signImages?: boolean;
  extra?: Record<string, unknown>;
  vmlinuzSize?: number;
  initramfsSize?: number;
}

/** latest.json at /latest.json (+ .sig), images under /v1/. */
export function makeRelease(options: ReleaseOptions = {}): ReleaseFixture {
  const vmlinuz = randomBytes(options.vmlinuzSize ?? 200_000);
  const initramfs = randomBytes(options.initramfsSize ?? 300_000);
  const doc: Record<string, unknown> = {
    version: 'v1.2.3',
    vmlinuz_url: 'v1/vmlinuz',
    vmlinuz_sha256: sha256(vmlinuz),
    vmlinuz_size: vmlinuz.length,
    initramfs_url: 'v1/kubesolo-os.gz',
    initramfs_sha256: sha256(initramfs),
    initramfs_size: initramfs.length,
    channel: 'stable',
    architecture: 'amd64',
    ...(options.signImages
      ? { vmlinuz_sig_url: 'v1/vmlinuz.sig', initramfs_sig_url: 'v1/kubesolo-os.gz.sig' }
      : {}),
    ...(options.extra ?? {}),
  };
  const metadataBytes = Buffer.from(JSON.stringify(doc, null, 2));
  const routes: Record<string, Handler> = {
    '/latest.json': staticFile(metadataBytes),
    '/v1/vmlinuz': staticFile(vmlinuz),
    '/v1/kubesolo-os.gz': staticFile(initramfs),
  };
  if (options.keys && options.signMetadata) {
    routes['/latest.json.sig'] = staticFile(sig(metadataBytes, options.keys.privateKey));
  }
  if (options.keys && options.signImages) {
    // One raw, one hex: both formats of docs/design.md §3.4.
    routes['/v1/vmlinuz.sig'] = staticFile(sig(vmlinuz, options.keys.privateKey));
    routes['/v1/kubesolo-os.gz.sig'] = staticFile(
      Buffer.from(sig(initramfs, options.keys.privateKey).toString('hex') + '\n'),
    );
  }
  return { vmlinuz, initramfs, doc, metadataBytes, routes };
}

export { json };
