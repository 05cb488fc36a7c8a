/**
 * Damage made by hand in a FAT32 image, as an interrupted write leaves it: the host's
 * FAT slot tests (test/slots/vfat-store.test.ts) and the QEMU guest's disk
 * (test/e2e/helpers/fat-disk.ts) damage their images the same way.
 */
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';

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
