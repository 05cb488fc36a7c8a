/**
 * The agent's container image, end to end with real tools, as a release publishes it:
 * deploy/container/publish-image builds it from scratch for amd64 and arm64 with
 * buildah, pushes both and one OCI index to the reference registry (docker-registry on
 * loopback) and writes the index's digest into a copy of the kustomization. skopeo
 * pulls each architecture back by that digest, umoci unpacks it, and its executables run
 * in a chroot inside new mount/PID/IPC/UTS namespaces (unshare): the amd64 image
 * natively, the arm64 image through qemu-aarch64-static called explicitly (no
 * binfmt_misc here), each printing `status --json` for a simulated device mounted at
 * /host, as the pods run it. The image's zoneinfo names the zone of a host's
 * /etc/localtime that is a plain TZif file (what a hostPath mount gives a pod).
 * Root only (buildah's storage, umoci's unpack as owner, chroot).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { makeDevice, type Device } from '../helpers/device.js';
import {
  PACKAGE_VERSION,
  REPO,
  executableSkipReason,
  findCommand,
  skipOutsideCi,
  type Arch,
} from '../helpers/executables.js';
import { registrySkipReason, startRegistry, type TestRegistry } from '../helpers/registry.js';

const run = promisify(execFile);
const ARCHES: Arch[] = ['amd64', 'arm64'];

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (buildah storage, umoci unpack, chroot)';
  for (const tool of [
    'buildah',
    'umoci',
    'skopeo',
    'unshare',
    'grub-editenv',
    'qemu-aarch64-static',
  ]) {
    if (findCommand(tool) === undefined) return `${tool} is not installed (.ci/run APT_PACKAGES)`;
  }
  return registrySkipReason() || executableSkipReason('amd64') || executableSkipReason('arm64');
}

const reason = skipReason();

interface RuntimeConfig {
  process: { args: string[]; env: string[] };
}

describe(
  'container image (publish-image: buildah → registry → skopeo → umoci → chroot, amd64 and arm64)',
  { skip: skipOutsideCi(reason) },
  () => {
    let work: string;
    let reg: TestRegistry;
    let dev: Device;
    let image: string;
    let digest: string;
    let kustomization: string;
    const bundles = {} as Record<Arch, { dir: string; config: RuntimeConfig }>;

    before(async () => {
      assert.equal(reason, undefined, `prerequisite missing in CI: ${reason}`);
      work = mkdtempSync(join(tmpdir(), 'ks-image-'));
      reg = await startRegistry();
      image = `${reg.host}/kubesolo/kubesolo-update`;
      kustomization = join(work, 'kustomization.yaml');
      copyFileSync(join(REPO, 'deploy/kubernetes/kustomization.yaml'), kustomization);
      const { stdout } = await run(
        join(REPO, 'deploy/container/publish-image'),
        [
          '--image',
          image,
          '--kustomization',
          kustomization,
          '--archive',
          join(work, 'preload.tar'),
          '--dest-tls-verify=false',
        ],
        { maxBuffer: 16 << 20 },
      );
      digest = stdout.trim();

      dev = await makeDevice({ config: { maintenance_window: '02:00-04:00' } });
      const grubenv = dev.path('boot/grub/grubenv');
      execFileSync('grub-editenv', [grubenv, 'create']);
      execFileSync('grub-editenv', [grubenv, 'set', 'active_slot=A', 'boot_counter=3']);
      execFileSync('grub-editenv', [grubenv, 'set', 'boot_success=1']);
      // The host's /etc/localtime as a hostPath mount shows it: the zone's TZif bytes.
      copyFileSync('/usr/share/zoneinfo/Europe/Berlin', dev.path('etc/localtime'));

      for (const arch of ARCHES) {
        const pulled = `${work}/pulled-${arch}`;
        await run('skopeo', [
          'copy',
          '--src-tls-verify=false',
          '--override-arch',
          arch,
          `docker://${image}@${digest}`,
          `oci:${pulled}:kubesolo-update`,
        ]);
        const dir = join(work, `bundle-${arch}`);
        await run('umoci', ['unpack', '--image', `${pulled}:kubesolo-update`, dir]);
        // The pods mount the host's paths under /host (docs/kubernetes.md).
        cpSync(dev.root, join(dir, 'rootfs/host'), { recursive: true });
        bundles[arch] = {
          dir,
          config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RuntimeConfig,
        };
      }
      // The arm64 executables run through the emulator, named explicitly.
      copyFileSync(
        findCommand('qemu-aarch64-static')!,
        join(bundles.arm64.dir, 'rootfs/usr/bin/qemu-aarch64-static'),
      );
    });
    after(async () => {
      await reg?.stop();
      await dev?.cleanup();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    /** Run argv in an unpacked image: new namespaces, chroot, the image's environment only. */
    const inImage = (arch: Arch, argv: string[]) => {
      const { dir, config } = bundles[arch];
      const emulated = arch === 'arm64' ? ['/usr/bin/qemu-aarch64-static'] : [];
      return run(
        'unshare',
        [
          '--mount',
          '--pid',
          '--fork',
          '--ipc',
          '--uts',
          'chroot',
          join(dir, 'rootfs'),
          ...emulated,
          ...argv,
        ],
        { env: Object.fromEntries(config.process.env.map((e) => e.split(/=(.*)/s, 2))) },
      );
    };

    it('one OCI index for amd64 and arm64 under a qualified name, its digest in the kustomization', async () => {
      assert.match(digest, /^sha256:[0-9a-f]{64}$/);
      const { stdout } = await run('skopeo', [
        'inspect',
        '--raw',
        '--tls-verify=false',
        `docker://${image}:${PACKAGE_VERSION}`,
      ]);
      // The tag and the digest name the same bytes.
      assert.equal(`sha256:${createHash('sha256').update(stdout).digest('hex')}`, digest);
      const index = JSON.parse(stdout) as {
        mediaType: string;
        manifests: { platform: { architecture: string; os: string } }[];
      };
      assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
      assert.deepEqual(
        index.manifests.map((m) => `${m.platform.os}/${m.platform.architecture}`).sort(),
        ['linux/amd64', 'linux/arm64'],
      );
      const kust = parse(readFileSync(kustomization, 'utf8')) as {
        resources: string[];
        images: { name: string; newName: string; digest?: string; newTag?: string }[];
      };
      assert.deepEqual(kust.images, [{ name: 'kubesolo-update', newName: image, digest }]);
      // The rest of the file is untouched.
      const shipped = parse(
        readFileSync(join(REPO, 'deploy/kubernetes/kustomization.yaml'), 'utf8'),
      ) as { resources: string[] };
      assert.deepEqual(kust.resources, shipped.resources);
    });

    it('each image carries the OCI labels: source, revision, version', async () => {
      for (const arch of ARCHES) {
        const { stdout } = await run('skopeo', [
          'inspect',
          '--tls-verify=false',
          '--override-arch',
          arch,
          `docker://${image}@${digest}`,
        ]);
        const info = JSON.parse(stdout) as { Architecture: string; Labels: Record<string, string> };
        assert.equal(info.Architecture, arch);
        assert.equal(info.Labels['org.opencontainers.image.version'], PACKAGE_VERSION);
        assert.match(info.Labels['org.opencontainers.image.revision']!, /^([0-9a-f]{40}|unknown)$/);
        assert.match(info.Labels['org.opencontainers.image.source']!, /^(https?|git|ssh):|@/);
      }
    });

    it('the air-gapped preload archive keeps the digest', async () => {
      const { stdout } = await run('skopeo', [
        'inspect',
        '--raw',
        `oci-archive:${join(work, 'preload.tar')}`,
      ]);
      assert.equal(`sha256:${createHash('sha256').update(stdout).digest('hex')}`, digest);
    });

    for (const arch of ARCHES) {
      it(`${arch}: the entrypoint prints status --json for the device under /host`, async () => {
        const { config, dir } = bundles[arch];
        assert.deepEqual(config.process.args, ['/usr/bin/kubesolo-update', '--help']);
        assert.deepEqual(
          readdirSync(join(dir, 'rootfs/usr/bin')).filter((f) => /node/.test(f)),
          [],
        );
        const { stdout } = await inImage(arch, [
          config.process.args[0]!,
          'status',
          '--json',
          '--root',
          '/host',
        ]);
        const doc = JSON.parse(stdout) as Record<string, any>;
        assert.equal(doc.active_slot, 'A');
        assert.equal(doc.running_slot, 'A');
        assert.equal(doc.slots.A.version, 'v1.0.0');
      });

      it(`${arch}: the zone of the host's /etc/localtime (a TZif copy) is named from the image's zoneinfo`, async () => {
        const { stderr } = await inImage(arch, [
          '/usr/bin/kubesolo-update',
          'status',
          '--root',
          '/host',
          '--log-level',
          'debug',
        ]);
        const zone = /named by its zoneinfo match.*"timeZone":"([^"]+)"/.exec(stderr)?.[1];
        assert.ok(zone, stderr);
        // tzdata has byte-identical zones (Europe/Berlin, Arctic/Longyearbyen): any of
        // them keeps the same wall clock.
        assert.ok(
          readFileSync(`/usr/share/zoneinfo/${zone}`).equals(
            readFileSync('/usr/share/zoneinfo/Europe/Berlin'),
          ),
          zone,
        );
        assert.doesNotMatch(stderr, /TIME_ZONE_UNKNOWN/);
      });
    }

    it("amd64: has what the CronJob's script, --reboot and block slots use", async () => {
      // Each tool is run, not only looked up: a missing one (or its libraries) fails here.
      const { stdout } = await inImage('amd64', [
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

    it('arm64: busybox and blkid are arm64 executables that run', async () => {
      const busybox = await inImage('arm64', ['/bin/busybox', 'nsenter', '--help']).catch(
        (e: { stderr: string }) => ({ stdout: '', stderr: e.stderr }),
      );
      assert.match(busybox.stdout + busybox.stderr, /BusyBox v.*multi-call binary/);
      assert.match(
        (await inImage('arm64', ['/sbin/blkid', '--version'])).stdout,
        /blkid from util-linux/,
      );
      const header = readFileSync(join(bundles.arm64.dir, 'rootfs/sbin/blkid')).subarray(18, 20);
      assert.equal(header.readUInt16LE(0), 183, 'e_machine EM_AARCH64');
    });

    it('without the zoneinfo the zone cannot be named: the image is what makes it work', async () => {
      const zoneinfo = join(bundles.amd64.dir, 'rootfs/usr/share/zoneinfo');
      renameSync(zoneinfo, zoneinfo + '.away');
      try {
        const { stderr } = await inImage('amd64', [
          '/usr/bin/kubesolo-update',
          'status',
          '--root',
          '/host',
        ]);
        assert.match(stderr, /TIME_ZONE_UNKNOWN/);
      } finally {
        renameSync(zoneinfo + '.away', zoneinfo);
      }
    });
  },
);
