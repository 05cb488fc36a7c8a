/**
 * The fixture most lifecycle tests share: a release directory served on loopback for
 * the describe block (useReleaseServer), and for each test a fresh simulated device that
 * trusts `keys` (makeSignedDevice), optionally with one release already published.
 */
import { strict as assert } from 'node:assert';
import { afterEach, beforeEach } from 'node:test';
import {
  makeSignedDevice,
  publishRelease,
  useReleaseServer,
  type Device,
  type Keys,
  type StaticServer,
} from './device.js';
import { grubEnv } from './grub-env.js';

export interface SignedDeviceFixture {
  /** The device of the running test. */
  readonly dev: Device;
  /** The served release directory. */
  readonly releases: { dir: string; server: StaticServer };
  /** `['--root', dev.root]`, for an agent command line. */
  readonly root: () => string[];
}

export interface SignedDeviceOptions {
  /** update.conf keys beside `server` and `pubkey`. */
  config?: Record<string, string>;
  /** A release (signed with `keys`) published before each test. */
  publish?: string;
}

export function useSignedDevice(
  keys: Keys,
  options: SignedDeviceOptions = {},
): SignedDeviceFixture {
  const releases = useReleaseServer();
  let current: Device | undefined;
  beforeEach(async () => {
    releases.server.setDelay(0);
    current = await makeSignedDevice(releases.server, keys, options.config);
    if (options.publish) await publishRelease(releases.dir, { version: options.publish, keys });
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  const fixture: SignedDeviceFixture = {
    get dev() {
      if (!current) throw new Error('useSignedDevice: the device exists only inside a test');
      return current;
    },
    releases,
    root: () => ['--root', fixture.dev.root],
  };
  return fixture;
}

/** `dev` boots `slot` committed: its GRUB environment is exactly that, with a full counter. */
export function assertCommittedBoot(dev: Device, slot: 'A' | 'B'): void {
  assert.deepEqual(grubEnv(dev.path('boot/grub/grubenv')), {
    active_slot: slot,
    boot_counter: '3',
    boot_success: '1',
  });
}
