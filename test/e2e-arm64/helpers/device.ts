/**
 * The arm64 e2e test device on the host side (docs/e2e.md "arm64"): build the disk once
 * per run (boot/build-test-image-arm64), give each scenario its own copy and its own
 * blank NOR bank (U-Boot's own environment, unused: U-Boot boots its built-in one),
 * boot it in qemu-system-aarch64 with Debian's U-Boot, and read the A/B environment
 * file off the boot partition between boots with mtools and libubootenv's fw_printenv
 * (the oracle, not the agent's codec).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from '../../e2e/helpers/image.js';
import { boot, UBOOT_ARM64, type BootResult } from '../../e2e/helpers/qemu.js';
import { ensureKeys } from '../../e2e/helpers/release.js';

const run = promisify(execFile);

export const E2E_DIR = join(REPO, '.tmp', 'e2e-arm64');
export const BUILD_DIR = join(E2E_DIR, 'build');
export const RUN_DIR = join(E2E_DIR, 'run');
export const TIMINGS = join(E2E_DIR, 'timings.jsonl');
export const IMAGE = { buildDir: BUILD_DIR, arch: 'arm64' } as const;

/** Per-boot bound; a boot takes about 40 s here on a busy 2-core machine. */
export const BOOT_TIMEOUT_MS = Number(process.env.KSOLO_E2E_BOOT_TIMEOUT_MS ?? 600_000);

export interface Layout {
  partitions: Record<
    'KSOLOBOOT' | 'KSOLOA' | 'KSOLOB' | 'KSOLODATA',
    { number: number; offsetMiB: number; sizeMiB: number }
  >;
  envSize: number;
  kernel: string;
  versions: Record<string, string>;
}

const TOOLS = [
  'qemu-system-aarch64',
  'mkimage',
  'fw_printenv',
  'mkfs.ext4',
  'mkfs.vfat',
  'mcopy',
  'sgdisk',
  'cpio',
  'zstd',
  'readelf',
  'tar',
];

/** Why the suite cannot run here: skip when not root (apt-get download), fail on missing tools. */
export async function cannotRun(): Promise<{ skip?: string; fail?: string }> {
  if (process.getuid?.() !== 0)
    return { skip: 'the arm64 e2e suite runs as root (apt-get download of the arm64 packages)' };
  const missing: string[] = [];
  for (const t of TOOLS) {
    try {
      await run('sh', ['-c', `command -v ${t}`]);
    } catch {
      missing.push(t);
    }
  }
  for (const f of [UBOOT_ARM64, '/bin/busybox']) if (!existsSync(f)) missing.push(f);
  if (missing.length > 0)
    return { fail: `missing: ${missing.join(', ')} (see APT_PACKAGES in .ci/run)` };
  return {};
}

/** Inputs of the image; a change in any of them rebuilds it. */
function fingerprint(pubkey: string): string {
  const h = createHash('sha256');
  const files = [
    'dist/kubesolo-update-linux-arm64',
    'boot/build-test-image-arm64',
    'boot/uboot/boot.cmd',
    'boot/uboot/mkbootscr',
    'src/bootenv/uboot-env.ts',
    ...readdirSync(join(REPO, 'boot', 'e2e')).map((f) => `boot/e2e/${f}`),
    ...readdirSync(join(REPO, 'boot', 'e2e-arm64')).map((f) => `boot/e2e-arm64/${f}`),
    ...readdirSync(join(REPO, 'os', 'init.d')).map((f) => `os/init.d/${f}`),
  ];
  for (const f of files) {
    const p = join(REPO, f);
    h.update(f);
    if (existsSync(p)) h.update(readFileSync(p));
  }
  h.update(readFileSync(pubkey, 'utf8'));
  return h.digest('hex');
}

export function recordTiming(entry: Record<string, unknown>): void {
  mkdirSync(E2E_DIR, { recursive: true });
  writeFileSync(TIMINGS, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`, {
    flag: 'a',
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Build the image unless an identical build exists (serialized: test files run concurrently). */
export async function ensureBuilt(): Promise<Layout> {
  mkdirSync(E2E_DIR, { recursive: true });
  const pubkey = await ensureKeys();
  const want = fingerprint(pubkey);
  const stamp = join(BUILD_DIR, '.fingerprint');
  const lock = join(E2E_DIR, 'build.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      await sleep(1000);
    }
  }
  try {
    if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== want) {
      const t0 = performance.now();
      await run(
        join(REPO, 'boot', 'build-test-image-arm64'),
        ['--out', BUILD_DIR, '--cache', join(REPO, '.tmp', 'e2e-arm64-cache'), '--pubkey', pubkey],
        { maxBuffer: 64 << 20 },
      );
      recordTiming({
        what: 'build-test-image-arm64',
        durationMs: Math.round(performance.now() - t0),
      });
      writeFileSync(stamp, want);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return JSON.parse(readFileSync(join(BUILD_DIR, 'layout.json'), 'utf8')) as Layout;
}

export type UbootEnv = Record<string, string>;

/** A scenario's own device: a copy of the built disk and a blank 64 MiB NOR bank. */
export class Device {
  readonly disk: string;
  readonly nor: string;
  private boots = 0;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly layout: Layout,
  ) {
    this.disk = join(dir, 'disk.img');
    this.nor = join(dir, 'nor.img');
  }

  static async create(name: string, layout: Layout): Promise<Device> {
    const dir = join(RUN_DIR, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const d = new Device(name, dir, layout);
    await run('cp', ['--sparse=always', join(BUILD_DIR, 'disk.img'), d.disk]);
    writeFileSync(d.nor, '');
    truncateSync(d.nor, 64 * 1024 * 1024);
    return d;
  }

  /** The A/B environment file on the boot partition, as `fw_printenv` reads it. */
  async ubootEnv(): Promise<UbootEnv> {
    const file = join(this.dir, 'kubesolo.env.read');
    rmSync(file, { force: true });
    await run(
      'mcopy',
      [
        '-n',
        '-i',
        `${this.disk}@@${this.layout.partitions.KSOLOBOOT.offsetMiB}M`,
        '::/kubesolo.env',
        file,
      ],
      {
        env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
      },
    );
    const config = join(this.dir, 'fw_env.config');
    writeFileSync(config, `${file} 0x0 0x${this.layout.envSize.toString(16)}\n`);
    const { stdout } = await run('fw_printenv', ['-c', config]);
    const env: UbootEnv = {};
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    return env;
  }

  /** Boot once; the console goes to <dir>/boot-<n>-<label>.log. */
  async boot(label: string, opts: { control?: string; cutOn?: RegExp } = {}): Promise<BootResult> {
    this.boots += 1;
    const logFile = join(this.dir, `boot-${this.boots}-${label}.log`);
    const r = await boot({
      arch: 'arm64',
      disk: this.disk,
      vars: this.nor,
      logFile,
      timeoutMs: BOOT_TIMEOUT_MS,
      ...opts,
    });
    recordTiming({
      what: 'boot',
      scenario: this.name,
      boot: this.boots,
      label,
      durationMs: r.durationMs,
      milestones: r.milestones,
      timedOut: r.timedOut,
      cut: r.cutAt !== undefined,
    });
    return r;
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
