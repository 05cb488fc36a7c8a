/**
 * FAT slots (`slot_fs=vfat`, the Raspberry Pi's boot partitions) written by the agent
 * on a kernel with a vfat driver: the mounted half of test/slots/vfat-store.test.ts,
 * which skips on the CI machine (its kernel has no vfat driver), proved here in a QEMU
 * guest running Debian's kernel (boot/e2e/build-fat-image, docs/e2e.md "FAT slots").
 *
 * The guest's disk: KSOLOA (the running slot, v1.0.0), four FAT32 partitions each
 * holding the firmware files a Pi boot partition carries and v1.0.0, and KSOLODATA
 * (ext4: the agent's state and grubenv). Each case points `slot_b_label` at its own
 * partition; the agent executable runs `apply` against `kubesolo-release serve` on the
 * guest's loopback; the guest then looks at the partition afresh (fsck.fat -n, a
 * read-only mount, sha256 of every file) and the test compares with what it made.
 *
 *   write   apply over an installed image: the new image byte for byte, the firmware
 *           files intact, the FAT clean, nothing left mounted; status reads the version
 *   repair  a slot with a dirty bit, lost clusters and an entry on free clusters: the
 *           store repairs it before its read-write mount (logged), then writes
 *   full    a release that does not fit: SLOT_NO_SPACE, the old image untouched
 *   cut     power cut (QEMU killed) while the slot has no `version`; on the next boot
 *           the FAT is dirty, the slot not bootable, and `apply` repairs and writes it
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { before, describe, it } from 'node:test';
import {
  buildFatGuest,
  damageFat,
  expectedFiles,
  fatImage,
  fsckCode,
  gptDisk,
  imageFiles,
  publishImage,
  type ImageFiles,
} from './helpers/fat-disk.js';
import { jsonOut, rc, script } from './helpers/guest.js';
import { recordedBoot } from './helpers/host.js';
import { AMD64, controlDisk, RUN_DIR } from './helpers/image.js';
import type { BootResult } from './helpers/qemu.js';
import { ensureKeys } from './helpers/release.js';
import { assertCleanPoweroff, fields, mark } from './helpers/marks.js';
import { assertCanRun, suite } from './helpers/suite.js';

const run = promisify(execFile);

const DIR = join(RUN_DIR, 'fat-slots');
const CASES = { write: 'KFWRITE', repair: 'KFDIRTY', full: 'KFFULL', cut: 'KFCUT' } as const;

/** Shell run in the guest after GUEST_LIB (agent, cut_when). */
const FAT_LIB = String.raw`
[ -f /var/lib/kubesolo/grubenv ] || cp /ctl/grubenv /var/lib/kubesolo/grubenv

# serve_on PORT DIR: kubesolo-release serve on the guest's loopback, wait until it answers.
serve_on() {
  kubesolo-release serve "$2" --listen 127.0.0.1:$1 > /tmp/serve-$1.log 2>&1 &
  i=0
  until wget -q -O /dev/null http://127.0.0.1:$1/latest.json; do
    i=$((i + 1))
    if [ $i -gt 240 ]; then mark "serve $1 failed"; cat /tmp/serve-$1.log; return 1; fi
    sleep 0.5
  done
}

# on CASE LABEL PORT COMMAND...: the agent with this case's update.conf (slot B is the
# partition LABEL, FAT) and its own state file.
on() {
  c=$1 l=$2 p=$3; shift 3
  mkdir -p /var/lib/kubesolo/$c
  cat > /var/lib/kubesolo/$c/update.conf <<EOF
server=http://127.0.0.1:$p
pubkey=/etc/kubesolo/update.pub
slot_backend=block
slot_fs=vfat
slot_a_label=KSOLOA
slot_b_label=$l
grubenv=/var/lib/kubesolo/grubenv
EOF
  agent "$c-$1" "$@" --json --conf /var/lib/kubesolo/$c/update.conf --state /var/lib/kubesolo/$c/state.json
}

# look NAME LABEL: the partition as a fresh look finds it: mounts left, fsck.fat -n's
# verdict, and (read-only mount) every file's sha256.
look() {
  dev=$(readlink -f /dev/disk/by-label/$2)
  mark "look $1 mounts=$(grep -c "^$dev " /proc/mounts)"
  fsck.fat -n "$dev" > /tmp/fsck.out 2>&1
  mark "look $1 fsck-rc=$?"
  sed "s/^/KSOLO-E2E: look $1 fsck-out /" /tmp/fsck.out
  mkdir -p /mnt/look
  mount -t vfat -o ro "$dev" /mnt/look || { mark "look $1 unmountable"; return 1; }
  (cd /mnt/look && find . -type f | sed 's|^\./||' | sort) | while read -r f; do
    mark "look $1 file $f $(sha256sum "/mnt/look/$f" | cut -d' ' -f1)"
  done
  umount /mnt/look
  mark "look $1 done"
}
`;

/** The files `look NAME` saw: path → sha256. */
function looked(r: BootResult, name: string): Record<string, string> {
  assert.ok(
    r.marks.includes(`look ${name} done`),
    `look ${name} did not finish; marks: ${JSON.stringify(r.marks)}`,
  );
  const out: Record<string, string> = {};
  const line = new RegExp(`^look ${name} file (\\S+) (\\S+)$`);
  for (const m of r.marks) {
    const hit = line.exec(m);
    if (hit) out[hit[1]!] = hit[2]!;
  }
  return out;
}

const lookField = (r: BootResult, name: string, key: string) =>
  fields(mark(r, `look ${name} ${key}=`))[key];

/** `look NAME` found exactly `image` and the firmware files, a clean FAT, nothing mounted. */
function assertSlotHolds(r: BootResult, name: string, image: ImageFiles): void {
  assert.deepEqual(looked(r, name), expectedFiles(image));
  assert.equal(lookField(r, name, 'fsck-rc'), '0', 'fsck.fat -n finds the FAT clean');
  assert.equal(lookField(r, name, 'mounts'), '0', 'the store unmounted the slot');
}

/** The agent's log lines (stderr) of a command run with agent(). */
const logOf = (r: BootResult, name: string) =>
  r.marks.filter((m) => m.startsWith(`${name}-log `)).join('\n');

async function bootGuest(
  label: string,
  kernel: { vmlinuz: string; initrd: string },
  disk: string,
  control: string,
  cutOn?: RegExp,
): Promise<BootResult> {
  return recordedBoot(
    AMD64,
    {
      disk,
      vars: '',
      kernel: { ...kernel, append: 'console=ttyS0 panic=10 kubesolo.slot=A' },
      control,
      logFile: join(DIR, `boot-${label}.log`),
      ...(cutOn ? { cutOn } : {}),
    },
    // Not `boot`: bench/e2e-times.mjs's tables are of the GRUB boot chain's boots.
    { what: 'fat-boot', scenario: 'fat-slots', label },
  );
}

describe(
  'e2e: FAT slot store (slot_fs=vfat) on a kernel with vfat',
  { skip: suite.skipReason },
  () => {
    let v1: ImageFiles;
    let v2: ImageFiles;
    let first: BootResult;
    let second: BootResult;
    const damagedBefore: Record<string, number> = {};

    before(async () => {
      assertCanRun();
      rmSync(DIR, { recursive: true, force: true });
      mkdirSync(DIR, { recursive: true });
      const kernel = await buildFatGuest(await ensureKeys());
      v1 = imageFiles('v1.0.0', 1, 2);
      // Large enough that the cut case's watcher (polling every 50 ms) sees the slot
      // without `version` while the image is read back.
      v2 = imageFiles('v2.0.0', 2, 12);
      const v9 = imageFiles('v9.0.0', 1, 38);
      const rel2 = await publishImage(DIR, v2, join(DIR, 'v2'));
      const rel9 = await publishImage(DIR, v9, join(DIR, 'v9'));

      const img = (label: string) => join(DIR, `${label}.img`);
      await fatImage(img('KSOLOA'), 'KSOLOA', 40, v1);
      await fatImage(img(CASES.write), CASES.write, 64, v1);
      await fatImage(img(CASES.repair), CASES.repair, 64, v1);
      await damageFat(img(CASES.repair));
      damagedBefore.repair = await fsckCode(img(CASES.repair));
      await fatImage(img(CASES.full), CASES.full, 40, v1);
      await fatImage(img(CASES.cut), CASES.cut, 64, v1);
      damagedBefore.cut = await fsckCode(img(CASES.cut));
      await run('truncate', ['-s', '16M', img('KSOLODATA')]);
      await run('mkfs.ext4', ['-q', '-F', '-L', 'KSOLODATA', img('KSOLODATA')]);
      const disk = join(DIR, 'disk.img');
      await gptDisk(disk, [
        { label: 'KSOLOA', sizeMiB: 40, image: img('KSOLOA') },
        { label: CASES.write, sizeMiB: 64, image: img(CASES.write) },
        { label: CASES.repair, sizeMiB: 64, image: img(CASES.repair) },
        { label: CASES.full, sizeMiB: 40, image: img(CASES.full) },
        { label: CASES.cut, sizeMiB: 64, image: img(CASES.cut) },
        { label: 'KSOLODATA', sizeMiB: 16, image: img('KSOLODATA') },
      ]);
      const grubenv = join(DIR, 'grubenv');
      await run('grub-editenv', [grubenv, 'create']);
      await run('grub-editenv', [
        grubenv,
        'set',
        'active_slot=A',
        'boot_counter=3',
        'boot_success=1',
      ]);

      const ctl1 = await controlDisk(
        DIR,
        'apply',
        script(`${FAT_LIB}
serve_on 8080 /ctl/v2 || exit 1
serve_on 8081 /ctl/v9 || exit 1
on write ${CASES.write} 8080 apply
look write ${CASES.write}
on write ${CASES.write} 8080 status
on repair ${CASES.repair} 8080 apply
look repair ${CASES.repair}
on full ${CASES.full} 8081 apply
look full ${CASES.full}
# Last: the host cuts the power while the agent writes into the slot, mounted
# read-write: the initramfs (12 MiB) half downloaded into .incoming/, the kernel (2 MiB)
# done. (The window between removing the old version and renaming the new one in holds
# only renames: too short to hit from a 50 ms poll under emulation.)
dev=$(readlink -f /dev/disk/by-label/${CASES.cut})
cut_when mid-write \\
  'mp=$(awk -v d=$dev '"'"'$1 == d {print $2}'"'"' /proc/mounts); [ -n "$mp" ] && find "$mp/.incoming" -type f -size +4096k 2>/dev/null | grep -q .' \\
  'ls -la $mp $mp/.incoming'
on cut ${CASES.cut} 8080 apply
mark "cut missed"
`),
        { v2: rel2, v9: rel9, grubenv },
      );
      first = await bootGuest('1-apply-cut', kernel, disk, ctl1, /KSOLO-E2E: cut-now /);

      const ctl2 = await controlDisk(
        DIR,
        'after-cut',
        script(`${FAT_LIB}
look cut-before ${CASES.cut}
on cut ${CASES.cut} 8080 status
serve_on 8080 /ctl/v2 || exit 1
on cut ${CASES.cut} 8080 apply
look cut-after ${CASES.cut}
`),
        { v2: rel2, grubenv },
      );
      second = await bootGuest('2-after-cut', kernel, disk, ctl2);
    });

    it('the guest kernel has the vfat driver and finds every slot partition by label', () => {
      const init = fields(mark(first, 'init '));
      assert.equal(init.vfat, '1', 'vfat in the guest kernel /proc/filesystems');
      for (const label of ['KSOLOA', ...Object.values(CASES), 'KSOLODATA']) {
        assert.ok(init.labels!.split(',').includes(label), `${label} in /dev/disk/by-label`);
      }
    });

    it('write: apply over an installed image writes it byte for byte, keeps the firmware files, leaves the FAT clean and nothing mounted', () => {
      assert.equal(rc(first, 'write-apply'), 0, logOf(first, 'write-apply'));
      assertSlotHolds(first, 'write', v2);
      assert.equal(rc(first, 'write-status'), 0);
      const st = jsonOut(first, 'write-status') as { slots: { B: { version?: string } } };
      assert.equal(st.slots.B.version, 'v2.0.0', 'status reads the FAT slot (read-only mount)');
    });

    it('repair: a FAT with a dirty bit, lost clusters and an entry on free clusters is repaired before the write (logged), then written and clean', () => {
      assert.equal(damagedBefore.repair, 1, 'fsck.fat -n finds the damage made on the host');
      assert.equal(rc(first, 'repair-apply'), 0, logOf(first, 'repair-apply'));
      assert.match(
        logOf(first, 'repair-apply'),
        /its FAT was not clean .* and was repaired before writing/,
      );
      assertSlotHolds(first, 'repair', v2);
    });

    it('full: a release that does not fit in the FAT slot is refused before anything is written; the old image and the firmware files are untouched', () => {
      // The agent's pre-flight measures the mounted FAT (statfs) and refuses the release
      // (INSUFFICIENT_SPACE) before the store's own check (SLOT_NO_SPACE, the host test's
      // case, reached only when the space goes while writing) can see it.
      assert.equal(rc(first, 'full-apply'), 3, logOf(first, 'full-apply'));
      const out = jsonOut(first, 'full-apply') as {
        error: { code: string; gate: string; free_bytes: number; needed_bytes: number };
      };
      assert.equal(out.error.code, 'INSUFFICIENT_SPACE');
      assert.equal(out.error.gate, 'free_space');
      // 40 MiB of FAT32 holding v1.0.0 (3 MiB) and the firmware files: under 37 MiB free.
      assert.ok(
        out.error.free_bytes > 30 << 20 && out.error.free_bytes < 37 << 20,
        `${out.error.free_bytes}`,
      );
      assert.ok(out.error.needed_bytes > out.error.free_bytes);
      assertSlotHolds(first, 'full', v1);
    });

    it('cut: a power cut while the agent writes into the FAT slot leaves the old image and a dirty FAT; the next apply repairs the FAT and writes the image byte for byte', () => {
      assert.equal(damagedBefore.cut, 0, 'the cut slot starts clean');
      assert.match(first.cutAt ?? '', /cut-now mid-write/, 'the power was cut in the write');
      assert.ok(!first.marks.includes('cut missed'));
      assertCleanPoweroff(second);
      // What the cut left, before the agent touches it: the dirty bit of the read-write
      // mount at least; the old image, whole (the half download in .incoming/ aside).
      assert.equal(
        lookField(second, 'cut-before', 'fsck-rc'),
        '1',
        'fsck.fat -n finds the cut FAT not clean',
      );
      const left = Object.fromEntries(
        Object.entries(looked(second, 'cut-before')).filter(([f]) => !f.startsWith('.incoming/')),
      );
      assert.deepEqual(left, expectedFiles(v1), 'the old image and the firmware files, intact');
      const st = jsonOut(second, 'cut-status') as { slots: { B: { version?: string } } };
      assert.equal(st.slots.B.version, 'v1.0.0', 'the agent reads what the medium holds');
      assert.equal(rc(second, 'cut-apply'), 0, logOf(second, 'cut-apply'));
      assert.match(
        logOf(second, 'cut-apply'),
        /its FAT was not clean .* and was repaired before writing/,
      );
      assertSlotHolds(second, 'cut-after', v2);
    });
  },
);
