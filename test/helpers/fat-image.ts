/**
 * FAT32 slot images as the host's FAT slot tests (test/slots/vfat-store.test.ts) and the
 * QEMU guest's disk (test/e2e/helpers/fat-disk.ts) both make them: the firmware files a
 * Pi boot partition carries, and damage made by hand as an interrupted write leaves it.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';

/**
 * What the OS image builder puts in a Pi boot partition besides the agent's files: a
 * FAT slot must keep them, byte for byte, across every write of the agent's own.
 */
export const PI_BOOT_FILES: Readonly<Record<string, Buffer>> = {
  'config.txt': Buffer.from('kernel=vmlinuz\ninitramfs kubesolo-os.gz followkernel\narm_64bit=1\n'),
  'cmdline.txt': Buffer.from('kubesolo.slot=A panic=10 console=serial0,115200\n'),
  'start4.elf': randomBytes(300 << 10),
  'fixup4.dat': randomBytes(8 << 10),
  'bcm2711-rpi-4-b.dtb': randomBytes(50 << 10),
  'overlays/disable-bt.dtbo': randomBytes(2 << 10),
};

/** Set the 32-bit FAT32 entry of `cluster` to `value` in every FAT copy of `image`. */
export function setFatEntry(image: string, cluster: number, value: number): void {
  const fd = openSync(image, 'r+');
  try {
    const boot = Buffer.alloc(512);
    readSync(fd, boot, 0, 512, 0);
    const bps = boot.readUInt16LE(11);
    const reserved = boot.readUInt16LE(14);
    const fats = boot[16]!;
    const fatSectors = boot.readUInt32LE(36);
    const entry = Buffer.alloc(4);
    entry.writeUInt32LE(value);
    for (let i = 0; i < fats; i++) {
      writeSync(fd, entry, 0, 4, (reserved + i * fatSectors) * bps + 4 * cluster);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
