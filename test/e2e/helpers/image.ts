/**
 * The e2e test device on the host side: build the disk image once per run
 * (boot/build-test-image), give each scenario its own copy, boot it, and look at its
 * disk between boots without mounting anything: the ESP through mtools, the GRUB
 * environment through `grub-editenv` (the oracle, independent of our codec).
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootEnv, Machine } from './host.js';
import {
  buildDir,
  ensureImage,
  MTOOLS_ENV,
  REPO,
  run,
  TestDevice,
  toolVars,
  whyCannotRun,
} from './host.js';
import { OVMF_CODE, OVMF_VARS } from './qemu.js';

export { REPO } from './host.js';

/** The amd64 machine: q35, OVMF (a per-device copy of its variables), GRUB. */
export const AMD64: Machine = {
  arch: 'amd64',
  dir: join(REPO, '.tmp', 'e2e'),
  /**
   * Per-boot bound. A boot takes about a minute under emulation on an idle 2-core
   * machine, but up to 7 minutes was seen with the cores shared by ~25 busy processes.
   */
  bootTimeoutMs: 900_000,
  vars: { file: 'OVMF_VARS.fd', make: (path) => copyFileSync(OVMF_VARS, path) },
  // The block-store variant (npm run test:e2e:block) is summarized apart.
  timingName: (name) => (process.env.KSOLO_E2E_SLOT_BACKEND === 'block' ? `${name} (block)` : name),
};

export const E2E_DIR = AMD64.dir;
export const BUILD_DIR = buildDir(AMD64);
export const RUN_DIR = join(E2E_DIR, 'run');

export interface Layout {
  partitions: Record<
    'KSOLOEFI' | 'KSOLOA' | 'KSOLOB' | 'KSOLODATA',
    { number: number; offsetMiB: number; sizeMiB: number }
  >;
  kernel: string;
  versions: Record<string, string>;
}

/** Why the suite cannot run here (not root: skip; a missing tool: fail). */
export function cannotRun(): Promise<{ skip?: string; fail?: string }> {
  return whyCannotRun({
    notRoot: 'the e2e suite runs as root (apt-get download of the kernel)',
    tools: ['qemu-system-x86_64', 'grub-mkstandalone', 'grub-editenv'],
    files: [OVMF_CODE, OVMF_VARS, '/bin/busybox', '/usr/lib/grub/x86_64-efi'],
  });
}

/** Build the image (boot/build-test-image) unless an identical build exists. */
export function ensureBuilt(
  opts: { pubkey?: string; grubCfg?: string; slotBackend?: string } = {},
): Promise<Layout> {
  const args = ['--cache', join(REPO, '.tmp', 'e2e-cache')];
  if (opts.pubkey) args.push('--pubkey', opts.pubkey);
  if (opts.grubCfg) args.push('--grub-cfg', opts.grubCfg);
  if (opts.slotBackend) args.push('--slot-backend', opts.slotBackend);
  return ensureImage<Layout>(AMD64, {
    script: 'build-test-image',
    args,
    inputs: [
      'dist/kubesolo-update-linux-amd64',
      'dist/kubesolo-release-linux-amd64',
      'boot/build-test-image',
      'boot/grub.cfg',
      'src/bootenv/grubenv.ts',
    ],
    extra: [
      opts.pubkey ? readFileSync(opts.pubkey, 'utf8') : '',
      opts.grubCfg ? readFileSync(opts.grubCfg, 'utf8') : '',
      opts.slotBackend ?? '',
    ],
  });
}

/** The amd64 device; its ESP is read and written through mtools, its grubenv with grub-editenv. */
export class Device extends TestDevice<Layout> {
  /** The GRUB environment on the ESP, as `grub-editenv list` reads it. */
  async bootEnv(): Promise<BootEnv> {
    const offset = this.layout.partitions.KSOLOEFI.offsetMiB;
    const file = await this.copyOff(offset, '/boot/grub/grubenv', 'grubenv.read');
    return toolVars('grub-editenv', [file, 'list']);
  }

  /** Replace the GRUB environment on the ESP with one `grub-editenv` writes. */
  async setGrubenv(vars: BootEnv): Promise<void> {
    const tmp = join(this.dir, 'grubenv.write');
    rmSync(tmp, { force: true });
    await run('grub-editenv', [tmp, 'create']);
    await run('grub-editenv', [tmp, 'set', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
    const esp = `${this.disk}@@${this.layout.partitions.KSOLOEFI.offsetMiB}M`;
    await run('mcopy', ['-o', '-i', esp, tmp, '::/boot/grub/grubenv'], { env: MTOOLS_ENV });
  }

  /** Put a built release into a slot as a factory would: a fresh ext4 written over it. */
  async writeSlot(slot: 'A' | 'B', release: string): Promise<void> {
    const p = this.layout.partitions[slot === 'A' ? 'KSOLOA' : 'KSOLOB'];
    const src = join(BUILD_DIR, 'releases', release);
    const img = join(this.dir, `slot${slot}.img`);
    rmSync(img, { force: true });
    await run('mkfs.ext4', [
      '-q',
      '-F',
      '-L',
      `KSOLO${slot}`,
      '-d',
      src,
      '-E',
      'root_owner=0:0',
      img,
      `${p.sizeMiB}M`,
    ]);
    await run('dd', [
      `if=${img}`,
      `of=${this.disk}`,
      'bs=1M',
      `seek=${p.offsetMiB}`,
      'conv=notrunc,sparse',
      'status=none',
    ]);
    rmSync(img);
  }
}

/**
 * The per-boot control disk: a tar archive (busybox tar reads it straight from
 * /dev/vdb) holding control.sh and any files the script needs, e.g. a release
 * directory to serve inside the guest.
 */
export async function controlDisk(
  dir: string,
  name: string,
  script: string,
  trees: Record<string, string> = {},
): Promise<string> {
  const stage = join(dir, `${name}.ctl`);
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  writeFileSync(join(stage, 'control.sh'), script);
  for (const [dest, src] of Object.entries(trees)) {
    await run('cp', ['-r', src, join(stage, dest)]);
  }
  const out = join(dir, `${name}.tar`);
  await run('tar', ['-cf', out, '--owner=0', '--group=0', '-C', stage, '.']);
  rmSync(stage, { recursive: true, force: true });
  return out;
}
