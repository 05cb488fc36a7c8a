/**
 * The simulated fleet of the Prometheus tests: one signed release served on loopback and
 * devices that update from it, brought into their states through the real agent (the
 * built bundle), each command's exit code checked.
 */
import { strict as assert } from 'node:assert';
import { after, before } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  useReleaseServer,
  type Device,
  type ReleaseOptions,
} from '../helpers/device.js';

export interface Fleet {
  /** A new device on slot A (committed) with the release's key, config `config`. */
  device(config: Record<string, string>): Promise<Device>;
}

/**
 * The release served for the enclosing describe() and the devices made by `device`,
 * all removed after it. Call it before the hooks that use it.
 */
export function useFleet(release: Omit<ReleaseOptions, 'keys'>): Fleet {
  const keys = makeKeys();
  const releases = useReleaseServer();
  const made: Device[] = [];
  before(() => publishRelease(releases.dir, { ...release, keys }));
  after(async () => {
    for (const dev of made) await dev.cleanup();
  });
  return {
    async device(config) {
      const dev = await makeSignedDevice(releases.server, keys, config);
      made.push(dev);
      return dev;
    },
  };
}

/** `kubesolo-update ARGS --root DEV` must exit `expectCode`; its standard output. */
export async function agentOn(dev: Device, args: string[], expectCode = 0): Promise<string> {
  const r = await runAgent([...args, '--root', dev.root]);
  assert.equal(r.code, expectCode, `${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
