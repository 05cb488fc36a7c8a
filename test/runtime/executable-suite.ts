/**
 * What every single-file agent executable must do on a device with no Node.js: run with
 * no PATH and no inherited environment, report a simulated device's status from a GRUB
 * environment made by grub-editenv, check and apply a signed release served on loopback
 * (apply hashes the images on a worker thread, so the executable's workers run too).
 * Shared by the native (amd64) and the emulated (arm64) test files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  type Device,
  useReleaseServer,
} from '../helpers/device.js';
import {
  PACKAGE_VERSION,
  executable,
  executableSkipReason,
  runExecutable,
  skipOutsideCi,
  type Arch,
} from '../helpers/executables.js';

export function executableSuite(arch: Arch): void {
  const reason = executableSkipReason(arch);
  const skip = skipOutsideCi(reason);
  const agent = executable('kubesolo-update', arch);

  describe(`kubesolo-update-linux-${arch}`, { skip }, () => {
    const keys = makeKeys();
    const releases = useReleaseServer();
    let dev: Device;
    let empty: string;
    // No PATH with anything on it: an empty directory, so `node` cannot be found anywhere.
    const env = () => ({ PATH: empty });
    const run = (args: string[]) => runExecutable(agent, arch, args, { env: env(), cwd: empty });
    const json = async (args: string[]) => {
      const r = await run([...args, '--root', dev.root, '--json']);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, any>;
    };

    before(async () => {
      assert.equal(reason, undefined, `prerequisite missing in CI: ${reason}`);
      empty = await mkdtemp(join(tmpdir(), 'ks-empty-path-'));
      await publishRelease(releases.dir, { version: 'v1.1.0', keys, architecture: arch });
      dev = await makeSignedDevice(releases.server, keys, { health_checks: 'disk_writable' });
    });
    after(async () => {
      await dev?.cleanup();
      await rm(empty, { recursive: true, force: true });
    });

    it('--version runs with no environment at all', async () => {
      const r = await runExecutable(agent, arch, ['--version'], { env: {}, cwd: empty });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), PACKAGE_VERSION);
      // No "ExperimentalWarning: Single executable application" or other runtime noise.
      assert.equal(r.stderr, '');
    });

    it('status --json reads the device (grub-editenv environment, dir slots)', async () => {
      const doc = await json(['status']);
      assert.equal(doc.active_slot, 'A');
      assert.equal(doc.running_slot, 'A');
      assert.equal(doc.boot_counter, 3);
      assert.equal(doc.boot_success, true);
      assert.equal(doc.slots.A.version, 'v1.0.0');
      assert.equal(doc.slots.B.version, null);
    });

    it(`check finds the ${arch} release on the loopback server`, async () => {
      const doc = await json(['check']);
      assert.equal(doc.available_version, 'v1.1.0');
      assert.equal(doc.update_available, true);
      // The architecture gate compares the release's architecture with the running
      // process's: it passes only if the executable really runs as ${arch}.
      const gate = (doc.gates as { gate: string; pass: boolean; skipped?: boolean }[]).find(
        (g) => g.gate === 'architecture',
      );
      assert.equal(gate?.pass, true, JSON.stringify(doc.gates));
      assert.notEqual(gate.skipped, true, JSON.stringify(gate));
      assert.equal(doc.would_apply, true);
    });

    it('apply verifies the signed images and stages them in slot B', async () => {
      const doc = await json(['apply']);
      assert.equal(doc.outcome, 'staged');
      assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
    });
  });
}
