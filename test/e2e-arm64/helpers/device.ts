/**
 * The arm64 e2e test device on the host side (docs/e2e.md "arm64"): build the disk once
 * per run (boot/build-test-image-arm64), give each scenario its own copy and its own
 * blank NOR bank (U-Boot's own environment, unused: U-Boot boots its built-in one),
 * boot it in qemu-system-aarch64 with Debian's U-Boot, and read the A/B environment
 * file off the boot partition between boots with mtools and libubootenv's fw_printenv
 * (the oracle, not the agent's codec).
 */
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BootEnv, Machine } from '../../e2e/helpers/host.js';
import {
  buildDir,
  ensureImage,
  REPO,
  TestDevice,
  toolVars,
  whyCannotRun,
} from '../../e2e/helpers/host.js';
import { UBOOT_ARM64 } from '../../e2e/helpers/qemu.js';
import { ensureKeys } from '../../e2e/helpers/release.js';

/** The arm64 machine: `virt`, Debian's U-Boot, a blank 64 MiB NOR bank per device. */
export const ARM64: Machine = {
  arch: 'arm64',
  dir: join(REPO, '.tmp', 'e2e-arm64'),
  /** Per-boot bound; a boot takes about 40 s here on a busy 2-core machine. */
  bootTimeoutMs: 600_000,
  vars: {
    file: 'nor.img',
    make: (path) => {
      writeFileSync(path, '');
      truncateSync(path, 64 * 1024 * 1024);
    },
  },
  timingName: (name) => name,
};

export const BUILD_DIR = buildDir(ARM64);
export const IMAGE = { buildDir: BUILD_DIR, arch: 'arm64' } as const;

export interface Layout {
  partitions: Record<
    'KSOLOBOOT' | 'KSOLOA' | 'KSOLOB' | 'KSOLODATA',
    { number: number; offsetMiB: number; sizeMiB: number }
  >;
  envSize: number;
  kernel: string;
  versions: Record<string, string>;
}

/** Why the suite cannot run here: skip when not root (apt-get download), fail on missing tools. */
export function cannotRun(): Promise<{ skip?: string; fail?: string }> {
  return whyCannotRun({
    notRoot: 'the arm64 e2e suite runs as root (apt-get download of the arm64 packages)',
    tools: ['qemu-system-aarch64', 'mkimage', 'fw_printenv', 'readelf'],
    files: [UBOOT_ARM64, '/bin/busybox'],
  });
}

/** Build the image (boot/build-test-image-arm64) unless an identical build exists. */
export async function ensureBuilt(): Promise<Layout> {
  const pubkey = await ensureKeys();
  return ensureImage<Layout>(ARM64, {
    script: 'build-test-image-arm64',
    args: ['--cache', join(REPO, '.tmp', 'e2e-arm64-cache'), '--pubkey', pubkey],
    inputs: [
      'dist/kubesolo-update-linux-arm64',
      'boot/build-test-image-arm64',
      'boot/uboot/boot.cmd',
      'boot/uboot/mkbootscr',
      'src/bootenv/uboot-env.ts',
    ],
    inputDirs: ['boot/e2e-arm64'],
    extra: [readFileSync(pubkey, 'utf8')],
  });
}

/** The arm64 device; its A/B environment file is read with libubootenv's fw_printenv. */
export class Device extends TestDevice<Layout> {
  /** The A/B environment file on the boot partition, as `fw_printenv` reads it. */
  async bootEnv(): Promise<BootEnv> {
    const offset = this.layout.partitions.KSOLOBOOT.offsetMiB;
    const file = await this.copyOff(offset, '/kubesolo.env', 'kubesolo.env.read');
    const config = join(this.dir, 'fw_env.config');
    writeFileSync(config, `${file} 0x0 0x${this.layout.envSize.toString(16)}\n`);
    return toolVars('fw_printenv', ['-c', config]);
  }
}

/** Guest shell for the arm64 control scripts: busybox httpd serves a release on loopback. */
export const ARM64_GUEST_LIB = String.raw`
serve_httpd() {
  busybox httpd -p 127.0.0.1:8080 -h "$1" || { mark "httpd failed"; return 1; }
  i=0
  until wget -q -O /dev/null http://127.0.0.1:8080/latest.json; do
    i=$((i + 1))
    if [ $i -gt 120 ]; then mark "serve failed"; return 1; fi
    sleep 0.5
  done
  mark "serve up"
}
`;
