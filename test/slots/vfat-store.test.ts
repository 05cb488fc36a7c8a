/**
 * The block slot store on FAT (`slot_fs=vfat`, the Raspberry Pi's boot partitions),
 * against real FAT32 filesystems (mkfs.vfat, dosfstools) on loop devices (root only).
 *
 * A slot holds files the agent does not write (firmware, device trees, overlays,
 * config.txt, cmdline.txt: "factory files" here); every test checks they survive.
 *
 * The power-cut test takes a copy of the disk image after every step of a write, while
 * the slot is still mounted: the loop device writes into its backing file, so the copy
 * holds what had reached the "medium" at that moment and nothing of what was still in
 * the page cache, which is what a power cut there would leave.
 */
import { strict as assert } from 'node:assert';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createBlockSlotStore } from '../../src/slots/block-store.js';
import type { SlotWriteStep } from '../../src/slots/slot-files.js';
import { checkAndRepairFat } from '../../src/slots/fat-check.js';
import { createLogger, silentLogger, type Logger } from '../../src/log.js';
import {
  attachLoop,
  detachLoop,
  deviceNodeUnder,
  loopSkipReason,
  makeLoopDisk,
  mountsOf,
  uniqueLabel,
} from '../helpers/loop.js';
import { toolSkipReason } from '../helpers/require-tool.js';
import {
  flipOnDevice,
  makeStoreWork,
  SLOT_WRITE_STEPS,
  stageImage,
  type StagedImage,
} from './fixtures.js';
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { PI_BOOT_FILES, setFatEntry } from '../helpers/fat-image.js';

const exec = promisify(execFile);
const fatTools = toolSkipReason(
  ['mkfs.vfat', 'fsck.fat', 'mcopy', 'blkid'],
  'dosfstools mtools util-linux',
);
const loopSkip = (await loopSkipReason()) || fatTools;
/**
 * The kernel's FAT driver: not a tool apt-get installs but the machine's kernel. The
 * CI machine's kernel (a Firecracker VM, 6.18-fc) has none, so the mounted tests skip
 * there with this reason, loudly, even under root (docs/boot.md "FAT slots" says what is
 * proved where).
 */
async function vfatSkipReason(): Promise<string | false> {
  if (loopSkip) return loopSkip;
  const fs = await readFile('/proc/filesystems', 'utf8');
  if (/\tvfat$/m.test(fs)) return false;
  await exec('modprobe', ['vfat']).catch(() => undefined);
  if (/\tvfat$/m.test(await readFile('/proc/filesystems', 'utf8'))) return false;
  const why = `this kernel (${(await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim()}) has no vfat driver (/proc/filesystems): the mounted FAT slot tests need one; test/e2e/fat-slots.test.ts (npm run test:e2e) runs the agent on FAT slots in a QEMU guest whose kernel has it (docs/e2e.md "FAT slots")`;
  console.log(`# SKIP (NOT PROVED ON THIS MACHINE): ${why}`);
  return why;
}
const mountSkip = await vfatSkipReason();

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the OS image builder puts in a Pi boot partition besides the agent's files. */
const FACTORY = PI_BOOT_FILES;

interface FatDisk {
  device: string;
  image: string;
  label: string;
}

describe(
  'block slot store on mounted FAT slots (slot_fs=vfat, the kernel vfat driver)',
  { skip: mountSkip },
  () => {
    let work: string;
    let mountBase: string;
    let staging: string;
    const devices: string[] = [];
    let v1: StagedImage;
    let v2: StagedImage;
    let v3: StagedImage;

    async function fatDisk(prefix: string, sizeMiB = 40): Promise<FatDisk> {
      const label = uniqueLabel(prefix); // 8 characters: FAT labels hold 11
      const image = join(work, `${label}.img`);
      await writeFile(image, '');
      await truncate(image, sizeMiB << 20);
      await exec('mkfs.vfat', ['-F', '32', '-n', label, image]);
      const device = await attachLoop(image);
      devices.push(device);
      await withMount(device, 'rw', async (mp) => {
        for (const [name, bytes] of Object.entries(FACTORY)) {
          await mkdir(join(mp, name, '..'), { recursive: true });
          await writeFile(join(mp, name), bytes);
        }
      });
      return { device, image, label };
    }

    async function withMount<T>(device: string, mode: 'ro' | 'rw', fn: (mp: string) => Promise<T>) {
      const mp = await mkdtemp(join(work, 'look-'));
      await exec('mount', ['-t', 'vfat', '-o', mode, device, mp]);
      try {
        return await fn(mp);
      } finally {
        await exec('umount', [mp]);
        await rm(mp, { recursive: true });
      }
    }

    /** The slot as a fresh mount sees it: version, image digests, factory files intact. */
    async function look(device: string) {
      return withMount(device, 'ro', async (mp) => {
        const read = (name: string) => readFile(join(mp, name)).catch(() => undefined);
        const version = (await read('version'))?.toString().trim();
        const kernel = await read('vmlinuz');
        const initramfs = await read('kubesolo-os.gz');
        const factory: string[] = [];
        for (const [name, bytes] of Object.entries(FACTORY)) {
          const got = await read(name);
          if (got === undefined || !got.equals(bytes)) factory.push(name);
        }
        return {
          version,
          vmlinuz: kernel && sha(kernel),
          initramfs: initramfs && sha(initramfs),
          damagedFactoryFiles: factory,
          names: (await readdir(mp)).sort(),
        };
      });
    }

    const fsckClean = async (device: string) =>
      (await exec('fsck.fat', ['-n', device]).then(
        () => 0,
        (e: { code: number }) => e.code,
      )) === 0;

    function store(d: FatDisk, extra: Partial<Parameters<typeof createBlockSlotStore>[0]> = {}) {
      return createBlockSlotStore({
        log: silentLogger,
        labels: { A: d.label, B: uniqueLabel('KFNONE') },
        fsType: 'vfat',
        mountBase,
        ...extra,
      });
    }

    async function assertNothingMounted(device: string) {
      assert.deepEqual(await mountsOf(device), [], `${device} still mounted`);
      assert.deepEqual(await readdir(mountBase), [], 'mount point directories left behind');
    }

    before(async () => {
      ({ work, mountBase, staging } = await makeStoreWork('ks-fatstore-'));
      v1 = await stageImage(staging, 'v1.0.0', { kernel: 2 << 20, initramfs: 3 << 20 });
      v2 = await stageImage(staging, 'v2.0.0', { kernel: 2 << 20, initramfs: 4 << 20 });
      v3 = await stageImage(staging, 'v3.0.0', { kernel: 1 << 20, initramfs: 2 << 20 });
    });
    after(async () => {
      for (const d of devices) await detachLoop(d).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    });

    it('writes a FAT slot, reads it back, keeps the firmware files, and leaves the FAT clean', async () => {
      const d = await fatDisk('KFA');
      const s = store(d);
      assert.equal(await s.hasBootableImage('A'), false);
      await s.write('A', v1.image, v1.digests);
      await assertNothingMounted(d.device);
      assert.equal(await s.readVersion('A'), 'v1.0.0');
      assert.equal(await s.hasBootableImage('A'), true);
      await s.verify('A', v1.digests);
      await s.write('A', v2.image, v2.digests); // over an image: the renames replace files
      const seen = await look(d.device);
      assert.deepEqual(seen, {
        version: 'v2.0.0',
        vmlinuz: v2.digests.vmlinuz,
        initramfs: v2.digests.initramfs,
        damagedFactoryFiles: [],
        names: [
          '.incoming',
          'bcm2711-rpi-4-b.dtb',
          'cmdline.txt',
          'config.txt',
          'fixup4.dat',
          'kubesolo-os.gz',
          'overlays',
          'start4.elf',
          'version',
          'vmlinuz',
        ],
      });
      assert.ok(await fsckClean(d.device), 'fsck.fat -n finds the FAT clean');
      // Read-only operations mount it read-only, without a check (nothing is written).
      assert.equal(await s.readVersion('A'), 'v2.0.0');
      await assertNothingMounted(d.device);
    });

    it('read-back reads the medium: a bit flipped on the device behind a clean page cache is caught', async () => {
      const d = await fatDisk('KFR');
      let flipped = false;
      const s = store(d, {
        onWriteStep: (step, dir) => {
          if (step === 'initramfs-renamed' && !flipped) {
            flipped = true;
            flipOnDevice(d.device, join(dir, 'kubesolo-os.gz'), 4096);
          }
        },
      });
      await rejectsWithCode(s.write('A', v1.image, v1.digests), 'SLOT_VERIFY_FAILED', 4);
      assert.equal(await s.readVersion('A'), undefined, 'no version: not bootable');
      assert.equal(await s.hasBootableImage('A'), false);
      await assertNothingMounted(d.device);
    });

    it('a full partition: SLOT_NO_SPACE, the old image and the firmware files untouched', async () => {
      const d = await fatDisk('KFF');
      const s = store(d);
      await s.write('A', v1.image, v1.digests);
      const huge = await stageImage(staging, 'v9.0.0', { kernel: 1 << 20, initramfs: 36 << 20 });
      await rejectsWithCode(s.write('A', huge.image, huge.digests), 'SLOT_NO_SPACE', 3);
      const seen = await look(d.device);
      assert.equal(seen.version, 'v1.0.0');
      assert.equal(seen.vmlinuz, v1.digests.vmlinuz);
      assert.equal(seen.initramfs, v1.digests.initramfs);
      assert.deepEqual(seen.damagedFactoryFiles, []);
      await assertNothingMounted(d.device);
    });

    it('a power cut after any step of a write: the old image, no version, or the new one, never a version its files do not match; the next write repairs the FAT and succeeds', async () => {
      const d = await fatDisk('KFP');
      await store(d).write('A', v1.image, v1.digests);
      const cuts: [SlotWriteStep, string][] = [];
      const s = store(d, {
        onWriteStep: (step) => {
          const copy = join(work, `cut-${cuts.length}-${step}.img`);
          copyFileSync(d.image, copy);
          cuts.push([step, copy]);
        },
      });
      await s.write('A', v2.image, v2.digests);
      assert.deepEqual(
        cuts.map(([step]) => step),
        SLOT_WRITE_STEPS,
      );
      // The live disk goes; each cut is attached in its place (same label) and looked at
      // after the repair the store makes before its next write.
      await detachLoop(d.device);
      devices.splice(devices.indexOf(d.device), 1);
      const images = { 'v1.0.0': v1.digests, 'v2.0.0': v2.digests };
      let repaired = 0;
      for (const [step, copy] of cuts) {
        const dev = await attachLoop(copy);
        devices.push(dev);
        try {
          execFileSync('fsck.fat', ['-a', '-w', dev], { stdio: 'ignore' });
        } catch {
          repaired++; // exit 1: it found (and fixed) something, e.g. the dirty bit
        }
        const seen = await look(dev);
        assert.deepEqual(seen.damagedFactoryFiles, [], `${step}: firmware files damaged`);
        if (seen.version !== undefined) {
          const want = images[seen.version as keyof typeof images];
          assert.ok(want, `${step}: version ${seen.version}`);
          assert.equal(
            seen.vmlinuz,
            want.vmlinuz,
            `${step}: version ${seen.version}, other kernel`,
          );
          assert.equal(
            seen.initramfs,
            want.initramfs,
            `${step}: version ${seen.version}, other initramfs`,
          );
        }
        const expected: Record<SlotWriteStep, string | undefined> = {
          'temp-vmlinuz': 'v1.0.0',
          'temp-initramfs': 'v1.0.0',
          'temp-version': 'v1.0.0',
          'old-version-removed': undefined,
          'vmlinuz-renamed': undefined,
          'initramfs-renamed': undefined,
          verified: undefined,
          'version-renamed': 'v2.0.0',
        };
        assert.equal(seen.version, expected[step], `${step}: version`);
        if (step === 'verified') {
          // What the read-back compared is what is on the medium before `version` is.
          assert.equal(
            seen.vmlinuz,
            v2.digests.vmlinuz,
            'verified: the new kernel is on the medium',
          );
          assert.equal(seen.initramfs, v2.digests.initramfs, 'verified: the new initramfs too');
        }
        await detachLoop(dev);
        devices.splice(devices.indexOf(dev), 1);
      }
      assert.ok(repaired > 0, 'some cut left a FAT that needed fsck (at least its dirty bit)');

      // The store itself repairs a cut disk before it writes, and says so.
      const [, midSwap] = cuts.find(([step]) => step === 'vmlinuz-renamed')!;
      const dev = await attachLoop(midSwap);
      devices.push(dev);
      const { log, lines: logged } = captureLog();
      assert.equal(await fsckClean(dev), false, 'the cut disk is not clean');
      await store(d, { log }).write('A', v3.image, v3.digests);
      assert.match(logged.join(''), /its FAT was not clean .* and was repaired before writing/);
      assert.ok(await fsckClean(dev), 'clean after the write');
      const seen = await look(dev);
      assert.equal(seen.version, 'v3.0.0');
      assert.equal(seen.vmlinuz, v3.digests.vmlinuz);
      assert.equal(seen.initramfs, v3.digests.initramfs);
      assert.deepEqual(seen.damagedFactoryFiles, []);
    });
  },
);

/** A logger whose lines the test reads. */
function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    }),
    { isTTY: false },
  );
  return { log: createLogger({ level: 'warn', json: true, stream }), lines };
}

/**
 * fat-check.ts against real FAT32 images (mkfs.vfat; files put in with mtools, no mount):
 * each damage an interrupted write leaves is found by `fsck.fat -n`, repaired, and the
 * firmware files survive the repair; what cannot be repaired or is not FAT is refused
 * before anything is written. Needs no root and no kernel FAT driver.
 */
describe(
  'FAT slots are checked and repaired before a write (fsck.fat, real images)',
  { skip: fatTools },
  () => {
    const tmp = useTempDir('ks-fatcheck-', 'all');

    /** A 40 MiB FAT32 image holding the factory files and a `version`. */
    async function image(name: string): Promise<string> {
      const img = tmp.path(`${name}.img`);
      await writeFile(img, '');
      await truncate(img, 40 << 20);
      await exec('mkfs.vfat', ['-F', '32', '-n', 'KSOLOB', img]);
      const src = tmp.path(`${name}-files`);
      await mkdir(join(src, 'overlays'), { recursive: true });
      await exec('mmd', ['-i', img, '::/overlays']);
      for (const [file, bytes] of Object.entries({
        ...FACTORY,
        version: Buffer.from('v1.0.0\n'),
      })) {
        await writeFile(join(src, file), bytes);
        await exec('mcopy', ['-i', img, join(src, file), `::/${file}`]);
      }
      return img;
    }
    const fsckN = (img: string) =>
      exec('fsck.fat', ['-n', img]).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
    async function factoryIntact(img: string): Promise<void> {
      for (const [file, bytes] of Object.entries(FACTORY)) {
        const { stdout } = await exec('mtype', ['-i', img, `::/${file}`], {
          encoding: 'buffer',
          maxBuffer: 8 << 20,
        });
        assert.ok(Buffer.from(stdout).equals(bytes), `${file} changed by the repair`);
      }
    }
    const opts = (log: Logger) => ({ slot: 'B' as const, label: 'KSOLOB', log });

    it('a clean FAT is left alone: nothing logged, not a byte written', async () => {
      const img = await image('clean');
      const before = sha(await readFile(img));
      const { log, lines } = captureLog();
      await checkAndRepairFat(img, opts(log));
      assert.deepEqual(lines, []);
      assert.equal(sha(await readFile(img)), before);
    });

    const damages: [string, (img: string) => Promise<void>][] = [
      [
        // Linux sets it while a FAT is mounted read-write and clears it at unmount.
        'the dirty bit a power cut during a read-write mount leaves',
        async (img) => {
          const fd = openSync(img, 'r+');
          writeSync(fd, Buffer.from([0x01]), 0, 1, 0x41);
          closeSync(fd);
          await Promise.resolve();
        },
      ],
      [
        // Allocated in the FAT, in no file: a download cut before its entry reached the medium.
        'lost clusters',
        async (img) => {
          setFatEntry(img, 60_000, 0x0fffffff);
          await Promise.resolve();
        },
      ],
      [
        // The state a power cut left grubenv in on the ESP (docs/boot.md): an entry whose
        // clusters the FAT marks free, so the next file written could take them.
        'an entry pointing at clusters the FAT marks free',
        async (img) => {
          const { stdout } = await exec('mshowfat', ['-i', img, '::/version']);
          const first = /<(\d+)/.exec(stdout);
          assert.ok(first, stdout);
          setFatEntry(img, Number(first[1]), 0);
        },
      ],
    ];
    for (const [kind, damage] of damages) {
      it(`${kind}: found, repaired (logged), clean afterwards, the firmware files intact`, async () => {
        const img = await image(kind.split(' ')[0]! + kind.length);
        await damage(img);
        assert.equal(await fsckN(img), 1, 'fsck.fat -n finds the damage');
        const { log, lines } = captureLog();
        await checkAndRepairFat(img, opts(log));
        assert.match(lines.join(''), /its FAT was not clean .* and was repaired before writing/);
        assert.equal(await fsckN(img), 0, 'clean after the repair');
        await factoryIntact(img);
      });
    }

    it('a FAT fsck.fat cannot repair (three FAT copies) is SLOT_REPAIR_FAILED', async () => {
      const img = await image('threefats');
      const fd = openSync(img, 'r+');
      writeSync(fd, Buffer.from([3]), 0, 1, 16);
      closeSync(fd);
      await assert.rejects(
        checkAndRepairFat(img, opts(silentLogger)),
        (err: Error & { code?: string }) => {
          assertCode(err.code, 'SLOT_REPAIR_FAILED');
          assert.match(err.message, /could not make its FAT clean; nothing was written/);
          return true;
        },
      );
    });

    it('what is not FAT is refused before fsck.fat touches it (SLOT_MOUNT_FAILED), byte for byte unchanged', async () => {
      const ext4 = tmp.path('ext4.img');
      await writeFile(ext4, '');
      await truncate(ext4, 16 << 20);
      await exec('mkfs.ext4', ['-q', '-F', ext4]);
      const blank = tmp.path('blank.img');
      await writeFile(blank, Buffer.alloc(1 << 20));
      for (const [img, what] of [
        [ext4, /holds ext4, not FAT \(slot_fs=vfat\)/],
        [blank, /holds no filesystem blkid knows, not FAT/],
      ] as const) {
        const before = sha(await readFile(img));
        await assert.rejects(
          checkAndRepairFat(img, opts(silentLogger)),
          (err: Error & { code?: string }) => {
            assertCode(err.code, 'SLOT_MOUNT_FAILED');
            assert.match(err.message, what);
            return true;
          },
        );
        assert.equal(sha(await readFile(img)), before);
      }
    });
  },
);

/**
 * The block store with slot_fs=vfat on loop devices, up to its mount: what it refuses
 * happens before any mount, so it runs on a kernel without a FAT driver too.
 */
describe(
  'block slot store, slot_fs=vfat: refusals before the mount (loop devices)',
  { skip: loopSkip },
  () => {
    let work: string;
    let mountBase: string;
    let staged: StagedImage;
    const devices: string[] = [];
    before(async () => {
      let staging: string;
      ({ work, mountBase, staging } = await makeStoreWork('ks-fatrefuse-'));
      staged = await stageImage(staging, 'v1.0.0');
    });
    after(async () => {
      for (const d of devices) await detachLoop(d).catch(() => undefined);
      await rm(work, { recursive: true, force: true });
    });
    const storeFor = (label: string) =>
      createBlockSlotStore({
        log: silentLogger,
        labels: { A: label, B: uniqueLabel('KFNONE') },
        fsType: 'vfat',
        mountBase,
      });

    it('an ext4 partition: SLOT_MOUNT_FAILED, unchanged, nothing mounted', async () => {
      const ext4 = await makeLoopDisk({ label: uniqueLabel('KFE'), dir: work });
      devices.push(ext4.device);
      const before = sha(await readFile(ext4.image));
      await rejectsWithCode(
        storeFor(ext4.label).write('A', staged.image, staged.digests),
        'SLOT_MOUNT_FAILED',
        1,
      );
      assert.equal(sha(await readFile(ext4.image)), before);
      assert.deepEqual(await mountsOf(ext4.device), []);
      assert.deepEqual(await readdir(mountBase), []);
    });

    it('a FAT fsck.fat cannot make clean: SLOT_REPAIR_FAILED, nothing mounted', async () => {
      const label = uniqueLabel('KFX');
      const img = join(work, 'x.img');
      await writeFile(img, '');
      await truncate(img, 40 << 20);
      await exec('mkfs.vfat', ['-F', '32', '-n', label, img]);
      const fd = openSync(img, 'r+');
      writeSync(fd, Buffer.from([3]), 0, 1, 16);
      closeSync(fd);
      const device = await attachLoop(img);
      devices.push(device);
      // blkid finds no label on it any more (it looks for the root directory past three
      // FATs): the slot is named by a udev link under --root, as a pod sees the host's.
      const root = join(work, 'root');
      const node = await deviceNodeUnder(root, device);
      await mkdir(join(root, 'dev/disk/by-label'), { recursive: true });
      await symlink(node, join(root, 'dev/disk/by-label', label));
      const store = createBlockSlotStore({
        log: silentLogger,
        labels: { A: label, B: uniqueLabel('KFNONE') },
        fsType: 'vfat',
        mountBase,
        root,
      });
      await rejectsWithCode(
        store.write('A', staged.image, staged.digests),
        'SLOT_REPAIR_FAILED',
        1,
      );
      assert.deepEqual(await mountsOf(device), []);
      assert.deepEqual(await readdir(mountBase), []);
    });
  },
);
