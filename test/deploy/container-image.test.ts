/**
 * The agent's container image, end to end with real tools: deploy/container/build-image
 * builds it from scratch with buildah, skopeo pushes it to the reference registry
 * (docker-registry on loopback) and pulls it back, umoci unpacks it, and its entrypoint
 * runs in a chroot inside new mount/PID/IPC/UTS namespaces (unshare) to print
 * `status --json` for a simulated device mounted at /host, as the CronJob runs it.
 * Root only (buildah's storage, umoci's unpack as owner, chroot).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { makeDevice, type Device } from '../helpers/device.js';
import {
  PACKAGE_VERSION,
  REPO,
  executableSkipReason,
  findCommand,
  skipOutsideCi,
} from '../helpers/executables.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';

const run = promisify(execFile);
const IMAGE = `kubesolo-update:${PACKAGE_VERSION}`;

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (buildah storage, umoci unpack, chroot)';
  for (const tool of ['buildah', 'umoci', 'unshare', 'grub-editenv']) {
    if (findCommand(tool) === undefined) return `${tool} is not installed (.ci/run APT_PACKAGES)`;
  }
  return registrySkipReason() || executableSkipReason('amd64');
}

const reason = skipReason();

describe(
  'container image (buildah → registry → skopeo → umoci → chroot)',
  {
    skip: skipOutsideCi(reason),
  },
  () => {
    let work: string;
    let reg: TestRegistry;
    let dev: Device;
    let bundle: string;
    let runtimeConfig: { process: { args: string[]; env: string[] } };

    before(async () => {
      assert.equal(reason, undefined, `prerequisite missing in CI: ${reason}`);
      work = mkdtempSync(join(tmpdir(), 'ks-image-'));
      reg = await startRegistry();
      await run(join(REPO, 'deploy/container/build-image'), ['--out', join(work, 'built')], {
        maxBuffer: 16 << 20,
      });
      const remote = `docker://${reg.host}/${IMAGE}`;
      await run('skopeo', [
        'copy',
        '--dest-tls-verify=false',
        `oci:${work}/built:${IMAGE}`,
        remote,
      ]);
      await run('skopeo', [
        'copy',
        '--src-tls-verify=false',
        remote,
        `oci:${work}/pulled:${IMAGE}`,
      ]);
      bundle = join(work, 'bundle');
      await run('umoci', ['unpack', '--image', `${work}/pulled:${IMAGE}`, bundle]);
      runtimeConfig = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));

      dev = await makeDevice();
      const grubenv = dev.path('boot/grub/grubenv');
      execFileSync('grub-editenv', [grubenv, 'create']);
      execFileSync('grub-editenv', [grubenv, 'set', 'active_slot=A', 'boot_counter=3']);
      execFileSync('grub-editenv', [grubenv, 'set', 'boot_success=1']);
      // The CronJob mounts the host's paths under /host (docs/kubernetes.md).
      cpSync(dev.root, join(bundle, 'rootfs/host'), { recursive: true });
    });
    after(async () => {
      await reg?.stop();
      await dev?.cleanup();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    /** Run argv in the unpacked image: new namespaces, chroot, the image's environment only. */
    const inImage = (argv: string[]) =>
      run(
        'unshare',
        ['--mount', '--pid', '--fork', '--ipc', '--uts', 'chroot', join(bundle, 'rootfs'), ...argv],
        { env: Object.fromEntries(runtimeConfig.process.env.map((e) => e.split(/=(.*)/s, 2))) },
      );

    it('the pulled image is the one that was pushed: entrypoint and no Node.js', () => {
      assert.deepEqual(runtimeConfig.process.args, ['/usr/bin/kubesolo-update', '--help']);
      const rootfs = join(bundle, 'rootfs');
      assert.deepEqual(
        readdirSync(join(rootfs, 'usr/bin')).filter((f) => /node/.test(f)),
        [],
      );
    });

    it('its entrypoint prints status --json for the device under /host', async () => {
      const [entrypoint] = runtimeConfig.process.args;
      const { stdout } = await inImage([entrypoint!, 'status', '--json', '--root', '/host']);
      const doc = JSON.parse(stdout) as Record<string, any>;
      assert.equal(doc.active_slot, 'A');
      assert.equal(doc.running_slot, 'A');
      assert.equal(doc.boot_success, true);
      assert.equal(doc.slots.A.version, 'v1.0.0');
    });

    it("has what the CronJob's script, --reboot and block slots use", async () => {
      // Each tool is run, not only looked up: a missing one (or its libraries) fails here.
      const { stdout } = await inImage([
        '/bin/sh',
        '-c',
        [
          'od -An -N4 -tu4 /bin/busybox',
          'sleep 0',
          // The CronJob's reboot command line, entering the namespaces of this PID
          // namespace's PID 1 (the shell itself), so nothing outside is touched.
          'mount -t proc proc /proc',
          'nsenter --target 1 --mount --uts --ipc --net --pid -- echo nsenter-ok',
          'umount /proc',
          'fsfreeze --help 2>&1 | grep Usage',
          'blkid --version',
          'kubesolo-update --version',
        ].join(' && '),
      ]);
      assert.match(stdout, /^nsenter-ok$/m);
      assert.match(stdout, /Usage: fsfreeze/);
      assert.match(stdout, /blkid from util-linux/);
      assert.equal(stdout.trim().split('\n').at(-1), PACKAGE_VERSION);
    });

    it('the Kubernetes manifests run this image', () => {
      const refs = ['deploy/kubernetes', 'deploy/monitoring'].flatMap((d) =>
        readdirSync(join(REPO, d))
          .filter((f) => f.endsWith('.yaml'))
          .flatMap((f) =>
            [...readFileSync(join(REPO, d, f), 'utf8').matchAll(/^\s*image:\s*(\S+)/gm)].map(
              (m) => `${d}/${f}: ${m[1]}`,
            ),
          ),
      );
      assert.ok(refs.length >= 3, `image references: ${refs.join(', ')}`);
      for (const ref of refs) assert.ok(ref.endsWith(`: ${IMAGE}`), ref);
    });
  },
);
