/**
 * Debian's U-Boot for QEMU's arm64 `virt` board (u-boot-qemu, qemu_arm64) under
 * qemu-system-aarch64 (qemu-system-arm), with no kernel: one boot of the project's
 * boot.scr from a small GPT disk, the console read until the script's decision, then
 * QEMU is stopped. Used by the state-table test (test/bootenv/ab-spec.test.ts).
 *
 * That U-Boot keeps its own environment in NOR flash, the second pflash bank
 * (CONFIG_ENV_IS_IN_FLASH, CONFIG_ENV_ADDR 0x4000000 = bank 1 offset 0, CONFIG_ENV_SIZE
 * 0x40000, one copy; /usr/share/doc/u-boot-qemu/configs/config.qemu_arm64.gz): `nor` is
 * that bank's 64 MiB image.
 */
import { execFile, spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { toolSkipReason } from './require-tool.js';

const run = promisify(execFile);

export const UBOOT_BIN = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';
/** The second pflash bank: 64 MiB; U-Boot's environment at offset 0, 256 KiB. */
export const NOR_SIZE = 64 * 1024 * 1024;
export const NOR_ENV_SIZE = 0x40000;
const REPO = fileURLToPath(new URL('../../', import.meta.url));

export function ubootQemuSkipReason(): string | false {
  const tools = toolSkipReason(
    ['qemu-system-aarch64', 'mkimage', 'mkenvimage', 'fw_printenv', 'mkfs.vfat', 'mcopy', 'sgdisk'],
    'qemu-system-arm u-boot-qemu u-boot-tools libubootenv-tool dosfstools mtools gdisk',
  );
  if (tools) return tools;
  return toolSkipReason([UBOOT_BIN], 'u-boot-qemu');
}

/** Where the boot partition sits on the test disk (for mtools' `-i disk@@offset`). */
export const BOOT_PART_OFFSET = 1024 * 1024;

/**
 * A GPT disk: partition 1 FAT16 `KSOLOBOOT` with boot.scr (boot/uboot/mkbootscr, with
 * `envFile` the environment-file mode), partitions 2 and 3 named KSOLOA and KSOLOB,
 * empty (no kernel: the script's decision is what is looked at).
 */
export async function makeBootDisk(
  dir: string,
  opts: { envFile?: { name: string; size: number } },
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const scr = join(dir, 'boot.scr');
  await run(join(REPO, 'boot', 'uboot', 'mkbootscr'), [
    ...(opts.envFile
      ? ['--env-file', opts.envFile.name, '--env-size', `0x${opts.envFile.size.toString(16)}`]
      : []),
    scr,
  ]);
  const fat = join(dir, 'boot.fat');
  rmSync(fat, { force: true });
  await run('mkfs.vfat', ['-F', '16', '-s', '1', '-n', 'KSOLOBOOT', '-C', fat, String(8 * 1024)]);
  await run('mcopy', ['-i', fat, scr, '::/boot.scr'], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
  const disk = join(dir, 'disk.img');
  rmSync(disk, { force: true });
  await run('truncate', ['-s', '12M', disk]);
  await run('sgdisk', [
    '-o',
    '-n',
    '1:2048:+8M',
    '-c',
    '1:KSOLOBOOT',
    '-n',
    '2:0:+1M',
    '-c',
    '2:KSOLOA',
    '-n',
    '3:0:+1M',
    '-c',
    '3:KSOLOB',
    disk,
  ]);
  await run('dd', [`if=${fat}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc', 'status=none']);
  return disk;
}

/** Put a file on the boot partition of `disk`. */
export async function putBootFile(disk: string, local: string, name: string): Promise<void> {
  await run('mcopy', ['-o', '-i', `${disk}@@${BOOT_PART_OFFSET}`, local, `::/${name}`], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
}

/** Copy a file off the boot partition of `disk`. */
export async function getBootFile(disk: string, name: string, local: string): Promise<void> {
  rmSync(local, { force: true });
  await run('mcopy', ['-n', '-i', `${disk}@@${BOOT_PART_OFFSET}`, `::/${name}`, local], {
    env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
  });
}

/** A NOR bank image (sparse, zeros) with `env` (a U-Boot environment image) at offset 0. */
export function writeNor(path: string, env?: Buffer): void {
  writeFileSync(path, env ?? Buffer.alloc(0));
  truncateSync(path, NOR_SIZE);
}

export interface UbootRun {
  lines: string[];
  /** The "KubeSolo: " lines, without the prefix. */
  marks: string[];
  timedOut: boolean;
  durationMs: number;
}

/** The boot ends for the test at one of these lines. */
const END = /KubeSolo: (no bootable slot|booting slot)|^=> $/;

/**
 * One boot: U-Boot from `-bios`, the NOR bank as pflash unit 1, the disk as virtio-blk,
 * no NIC (-nodefaults), serial console to a file. QEMU is killed when the script has
 * decided and tried the slots (its writes are done by then: fatwrite and saveenv
 * return after the device write, which QEMU has passed to the image file).
 */
export function bootUboot(o: {
  disk: string;
  nor: string;
  log: string;
  timeoutMs?: number;
}): Promise<UbootRun> {
  const start = performance.now();
  const raw = `${o.log}.raw`;
  writeFileSync(raw, '');
  const args = [
    '-machine',
    'virt',
    '-cpu',
    'cortex-a57',
    '-m',
    '512',
    '-smp',
    '1',
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-monitor',
    'none',
    '-serial',
    `file:${raw}`,
    '-bios',
    UBOOT_BIN,
    '-drive',
    `if=pflash,unit=1,format=raw,file=${o.nor}`,
    '-drive',
    `file=${o.disk},if=none,id=disk,format=raw`,
    '-device',
    'virtio-blk-pci,drive=disk',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const fd = openSync(raw, 'r');
    const buf = Buffer.alloc(1 << 16);
    let text = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 120_000);
    const poll = setInterval(() => {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) break;
        text += buf.subarray(0, n).toString('latin1');
      }
      if (text.split('\n').some((l) => END.test(l.replace(/\r/g, '')))) child.kill('SIGKILL');
    }, 50);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      clearInterval(poll);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) break;
        text += buf.subarray(0, n).toString('latin1');
      }
      closeSync(fd);
      const lines = text.replace(/\r/g, '').split('\n');
      writeFileSync(o.log, lines.join('\n') + (stderr ? `\n--- qemu ---\n${stderr}` : ''));
      rmSync(raw, { force: true });
      const marks = lines
        .filter((l) => l.startsWith('KubeSolo: '))
        .map((l) => l.slice('KubeSolo: '.length));
      resolve({ lines, marks, timedOut, durationMs: Math.round(performance.now() - start) });
    });
  });
}
