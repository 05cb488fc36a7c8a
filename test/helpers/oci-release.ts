/**
 * A publisher and a device around the real reference registry (docker-registry on
 * loopback) for the enclosing describe(): keys from `kubesolo-release keygen`, two random
 * images, `kubesolo-release push` into HOST/kubesolo/os, and devices that trust the
 * release key. The hooks that start and remove all of it are registered here; call it
 * before the hooks that use it.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { runRelease } from './cli.js';
import type { Device } from './device.js';
import { makeDeviceTrusting } from './oci-agent.js';
import { startRegistry, type TestRegistry } from './registry.js';

export interface OciRelease {
  readonly registry: TestRegistry;
  /** HOST/kubesolo/os, the repository pushed to and followed. */
  readonly repository: string;
  /** A path in the publisher's directory: keys/release.key, vmlinuz, kubesolo-os.gz. */
  path(...parts: string[]): string;
  /** `push` of the two images as TAG with `options`; it must succeed. */
  push(tag: string, options: string[]): Promise<void>;
  /** A new device with the release key as its pubkey and an empty GRUB environment. */
  device(): Promise<Device>;
}

export function useOciRelease(): OciRelease {
  let registry: TestRegistry | undefined;
  let dir: string | undefined;
  const devices: Device[] = [];
  const path = (...parts: string[]) => join(dir!, ...parts);
  before(async () => {
    registry = await startRegistry();
    dir = await mkdtemp(join(tmpdir(), 'ks-oci-release-'));
    const keygen = await runRelease(['keygen', '--out', path('keys')]);
    assert.equal(keygen.code, 0, keygen.stderr);
    await writeFile(path('vmlinuz'), randomBytes(70_000));
    await writeFile(path('kubesolo-os.gz'), randomBytes(150_000));
  });
  after(async () => {
    await registry?.stop();
    for (const dev of devices) await dev.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get registry() {
      return registry!;
    },
    get repository() {
      return `${registry!.host}/kubesolo/os`;
    },
    path,
    async push(tag, options) {
      const r = await runRelease([
        'push',
        ...['--registry', `${registry!.host}/kubesolo/os`, '--tag', tag],
        ...['--kernel', path('vmlinuz'), '--initramfs', path('kubesolo-os.gz')],
        ...options,
      ]);
      assert.equal(r.code, 0, r.stderr);
    },
    async device() {
      const dev = await makeDeviceTrusting(path('keys/release.pub'));
      devices.push(dev);
      return dev;
    },
  };
}
