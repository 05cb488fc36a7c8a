/**
 * The e2e test device on the host side: build the disk image once per run
 * (boot/build-test-image), give each scenario its own copy, boot it, and look at its
 * disk between boots without mounting anything: the ESP through mtools, the GRUB
 * environment through `grub-editenv` (the oracle, independent of our codec).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { boot, OVMF_CODE, OVMF_VARS, type BootResult } from './qemu.js';

const run = promisify(execFile);

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const E2E_DIR = join(REPO, '.tmp', 'e2e');
export const BUILD_DIR = join(E2E_DIR, 'build');
export const RUN_DIR = join(E2E_DIR, 'run');
export const TIMINGS = join(E2E_DIR, 'timings.jsonl');

/**
 * Per-boot bound. A boot takes about a minute under emulation on an idle 2-core machine,
 * but up to 7 minutes was seen with the cores shared by ~25 busy processes.
 */
export const BOOT_TIMEOUT_MS = Number(process.env.KSOLO_E2E_BOOT_TIMEOUT_MS ?? 900_000);

export interface Layout {
  partitions: Record<
    'KSOLOEFI' | 'KSOLOA' | 'KSOLOB' | 'KSOLODATA',
    { number: number; offsetMiB: number; sizeMiB: number }
  >;
  kernel: string;
  versions: Record<string, string>;
}

const TOOLS = [
  'qemu-system-x86_64',
  'grub-mkstandalone',
  'grub-editenv',
  'mkfs.ext4',
  'mkfs.vfat',
  'mcopy',
  'sgdisk',
  'cpio',
  'zstd',
  'tar',
];

/**
 * Why the suite cannot run here, or undefined when it can. Missing tools are a
 * failure in CI (.ci/run installs them), so callers fail on them; not being root only
 * skips (the kernel download uses apt).
 */
export async function cannotRun(): Promise<{ skip?: string; fail?: string }> {
  if (process.getuid?.() !== 0)
    return { skip: 'the e2e suite runs as root (apt-get download of the kernel)' };
  const missing: string[] = [];
  for (const t of TOOLS) {
    try {
      await run('sh', ['-c', `command -v ${t}`]);
    } catch {
      missing.push(t);
    }
  }
  for (const f of [OVMF_CODE, OVMF_VARS, '/bin/busybox', '/usr/lib/grub/x86_64-efi']) {
    if (!existsSync(f)) missing.push(f);
  }
  if (missing.length > 0)
    return { fail: `missing: ${missing.join(', ')} (see APT_PACKAGES in .ci/run)` };
  return {};
}

/** Inputs of the image; a change in any of them rebuilds it. */
function fingerprint(extra: string[]): string {
  const h = createHash('sha256');
  const files = [
    'dist/kubesolo-update-linux-amd64',
    'dist/kubesolo-release-linux-amd64',
    'boot/build-test-image',
    'boot/grub.cfg',
    'src/bootenv/grubenv.ts',
    ...readdirSync(join(REPO, 'boot', 'e2e')).map((f) => `boot/e2e/${f}`),
    ...readdirSync(join(REPO, 'os', 'init.d')).map((f) => `os/init.d/${f}`),
  ];
  for (const f of files) {
    const p = join(REPO, f);
    h.update(f);
    if (existsSync(p)) h.update(readFileSync(p));
  }
  for (const e of extra) h.update(e);
  return h.digest('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Build the image unless an identical build exists. Test files run concurrently, so
 * the build is serialized with a lock directory (mkdir is atomic).
 */
export async function ensureBuilt(
  opts: { pubkey?: string; grubCfg?: string; slotBackend?: string } = {},
): Promise<Layout> {
  mkdirSync(E2E_DIR, { recursive: true });
  const want = fingerprint([
    opts.pubkey ? readFileSync(opts.pubkey, 'utf8') : '',
    opts.grubCfg ? readFileSync(opts.grubCfg, 'utf8') : '',
    opts.slotBackend ?? '',
  ]);
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
      const args = ['--out', BUILD_DIR, '--cache', join(REPO, '.tmp', 'e2e-cache')];
      if (opts.pubkey) args.push('--pubkey', opts.pubkey);
      if (opts.grubCfg) args.push('--grub-cfg', opts.grubCfg);
      if (opts.slotBackend) args.push('--slot-backend', opts.slotBackend);
      const t0 = performance.now();
      await run(join(REPO, 'boot', 'build-test-image'), args, { maxBuffer: 64 << 20 });
      recordTiming({ what: 'build-test-image', durationMs: Math.round(performance.now() - t0) });
      writeFileSync(stamp, want);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  return JSON.parse(readFileSync(join(BUILD_DIR, 'layout.json'), 'utf8')) as Layout;
}

export function recordTiming(entry: Record<string, unknown>): void {
  mkdirSync(E2E_DIR, { recursive: true });
  appendFileSync(TIMINGS, `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
}

export type GrubEnv = Record<string, string>;

/** A scenario's own device: a copy of the built disk and of the firmware variables. */
export class Device {
  readonly disk: string;
  readonly vars: string;
  private boots = 0;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly layout: Layout,
  ) {
    this.disk = join(dir, 'disk.img');
    this.vars = join(dir, 'OVMF_VARS.fd');
  }

  static async create(name: string, layout: Layout): Promise<Device> {
    const dir = join(RUN_DIR, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const d = new Device(name, dir, layout);
    await run('cp', ['--sparse=always', join(BUILD_DIR, 'disk.img'), d.disk]);
    copyFileSync(OVMF_VARS, d.vars);
    return d;
  }

  private esp(): string {
    return `${this.disk}@@${this.layout.partitions.KSOLOEFI.offsetMiB}M`;
  }

  /** The GRUB environment on the ESP, as `grub-editenv list` reads it. */
  async grubenv(): Promise<GrubEnv> {
    const tmp = join(this.dir, 'grubenv.read');
    rmSync(tmp, { force: true });
    await run('mcopy', ['-n', '-i', this.esp(), '::/boot/grub/grubenv', tmp], {
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
    });
    const { stdout } = await run('grub-editenv', [tmp, 'list']);
    const env: GrubEnv = {};
    for (const line of stdout.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    return env;
  }

  /** Replace the GRUB environment on the ESP with one `grub-editenv` writes. */
  async setGrubenv(vars: GrubEnv): Promise<void> {
    const tmp = join(this.dir, 'grubenv.write');
    rmSync(tmp, { force: true });
    await run('grub-editenv', [tmp, 'create']);
    await run('grub-editenv', [tmp, 'set', ...Object.entries(vars).map(([k, v]) => `${k}=${v}`)]);
    await run('mcopy', ['-o', '-i', this.esp(), tmp, '::/boot/grub/grubenv'], {
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
    });
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

  /** Boot once; the console goes to <dir>/boot-<n>-<label>.log. */
  async boot(label: string, opts: { control?: string; cutOn?: RegExp } = {}): Promise<BootResult> {
    this.boots += 1;
    const logFile = join(this.dir, `boot-${this.boots}-${label}.log`);
    const r = await boot({
      disk: this.disk,
      vars: this.vars,
      logFile,
      timeoutMs: BOOT_TIMEOUT_MS,
      ...opts,
    });
    recordTiming({
      what: 'boot',
      // The block-store variant (npm run test:e2e:block) is summarized apart.
      scenario: process.env.KSOLO_E2E_SLOT_BACKEND === 'block' ? `${this.name} (block)` : this.name,
      boot: this.boots,
      label,
      durationMs: r.durationMs,
      milestones: r.milestones,
      timedOut: r.timedOut,
      cut: r.cutAt !== undefined,
    });
    return r;
  }

  logPath(): string {
    return this.dir;
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
