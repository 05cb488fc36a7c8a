/**
 * The host side both QEMU suites share (amd64: test/e2e, helpers/image.ts; arm64:
 * test/e2e-arm64, helpers/device.ts): whether a suite can run here, building its image
 * once per run, a scenario's own copy of the disk, one recorded boot of it, and reading
 * the A/B variables off the disk between boots with the bootloader's own tool.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { boot, type BootOptions, type BootResult } from './qemu.js';

export const run = promisify(execFile);

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** mtools refuses a FAT whose geometry it finds odd (a partition inside a disk image). */
export const MTOOLS_ENV = { ...process.env, MTOOLS_SKIP_CHECK: '1' };

/** One suite's machine: where its image and devices live, how its firmware keeps state. */
export interface Machine {
  arch: 'amd64' | 'arm64';
  /** .tmp/e2e or .tmp/e2e-arm64: the build, the devices, the timings, the build lock. */
  dir: string;
  /** Per-boot bound unless KSOLO_E2E_BOOT_TIMEOUT_MS says otherwise. */
  bootTimeoutMs: number;
  /** The firmware's per-device state file in the device directory, made fresh. */
  vars: { file: string; make(path: string): void };
  /** How a device's boots are named in the timings. */
  timingName(device: string): string;
}

export const buildDir = (m: Machine) => join(m.dir, 'build');
const timingsFile = (m: Machine) => join(m.dir, 'timings.jsonl');

export function recordTiming(m: Machine, entry: Record<string, unknown>): void {
  mkdirSync(m.dir, { recursive: true });
  appendFileSync(timingsFile(m), `${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`);
}

/** What every image builder (boot/build-test-image*) runs, whatever the architecture. */
const BUILD_TOOLS = ['mkfs.ext4', 'mkfs.vfat', 'mcopy', 'sgdisk', 'cpio', 'zstd', 'tar'];

/**
 * Why a suite cannot run here, or {} when it can. Not being root only skips (its build
 * uses apt-get download); a missing tool or file fails, since .ci/run installs them.
 * `tools` are the suite's own, besides BUILD_TOOLS.
 */
export async function whyCannotRun(need: {
  notRoot: string;
  tools: string[];
  files: string[];
}): Promise<{ skip?: string; fail?: string }> {
  if (process.getuid?.() !== 0) return { skip: need.notRoot };
  const missing: string[] = [];
  for (const t of [...need.tools, ...BUILD_TOOLS]) {
    try {
      await run('sh', ['-c', `command -v ${t}`]);
    } catch {
      missing.push(t);
    }
  }
  for (const f of need.files) if (!existsSync(f)) missing.push(f);
  if (missing.length > 0)
    return { fail: `missing: ${missing.join(', ')} (see APT_PACKAGES in .ci/run)` };
  return {};
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run `fn` holding the suite's build lock (mkdir is atomic): test files run
 * concurrently, and every builder of a suite fetches into one cache.
 */
export async function withBuildLock<T>(m: Pick<Machine, 'dir'>, fn: () => Promise<T>): Promise<T> {
  mkdirSync(m.dir, { recursive: true });
  const lock = join(m.dir, 'build.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Repository files below `dir`, as paths from the repository's root. */
const filesIn = (dir: string) => readdirSync(join(REPO, dir)).map((f) => `${dir}/${f}`);

/**
 * Inputs of an image: repository files (hashed with their names), the test OS
 * (boot/e2e) and the OS's boot stages (os/init.d) every image carries, other strings.
 */
function fingerprint(files: string[], extra: string[]): string {
  const h = createHash('sha256');
  for (const f of [...files, ...filesIn('boot/e2e'), ...filesIn('os/init.d')]) {
    const p = join(REPO, f);
    h.update(f);
    if (existsSync(p)) h.update(readFileSync(p));
  }
  for (const e of extra) h.update(e);
  return h.digest('hex');
}

/**
 * Build the suite's image with `script` unless a build of the same inputs exists; its
 * layout.json. A change in any input file or extra string rebuilds it (`inputs`: the
 * builder's own files, and files below `inputDirs`).
 */
export async function ensureImage<L>(
  m: Machine,
  image: {
    script: string;
    args: string[];
    inputs: string[];
    inputDirs?: string[];
    extra: string[];
  },
): Promise<L> {
  const out = buildDir(m);
  const inputs = [...image.inputs, ...(image.inputDirs ?? []).flatMap(filesIn)];
  const want = fingerprint(inputs, image.extra);
  const stamp = join(out, '.fingerprint');
  await withBuildLock(m, async () => {
    if (existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return;
    const t0 = performance.now();
    await run(join(REPO, 'boot', image.script), ['--out', out, ...image.args], {
      maxBuffer: 64 << 20,
    });
    recordTiming(m, { what: image.script, durationMs: Math.round(performance.now() - t0) });
    writeFileSync(stamp, want);
  });
  return JSON.parse(readFileSync(join(out, 'layout.json'), 'utf8')) as L;
}

/** One boot, its timing appended to the suite's timings (bench/e2e-times.mjs reads them). */
export async function recordedBoot(
  m: Machine,
  opts: Omit<BootOptions, 'arch' | 'timeoutMs'>,
  timing: { what: string; scenario: string; boot?: number; label: string },
): Promise<BootResult> {
  const timeoutMs = Number(process.env.KSOLO_E2E_BOOT_TIMEOUT_MS ?? m.bootTimeoutMs);
  const r = await boot({ arch: m.arch, timeoutMs, ...opts });
  recordTiming(m, {
    ...timing,
    durationMs: r.durationMs,
    milestones: r.milestones,
    timedOut: r.timedOut,
    cut: r.cutAt !== undefined,
  });
  return r;
}

/** The `key=value` lines a tool prints (grub-editenv list, fw_printenv) as a record. */
export async function toolVars(tool: string, args: string[]): Promise<Record<string, string>> {
  const { stdout } = await run(tool, args);
  const env: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

/** A bootloader's A/B variables as its own tool lists them. */
export type BootEnv = Record<string, string>;

/**
 * A scenario's own device: a copy of the built disk and fresh firmware state in
 * .tmp/<suite>/run/<name> (made by freshDevice), booted one QEMU process at a time.
 */
export abstract class TestDevice<L> {
  readonly disk: string;
  readonly vars: string;
  private boots = 0;

  constructor(
    readonly machine: Machine,
    readonly name: string,
    readonly dir: string,
    readonly layout: L,
  ) {
    this.disk = join(dir, 'disk.img');
    this.vars = join(dir, machine.vars.file);
  }

  /** The A/B variables on the disk, as the bootloader's tool reads them (the oracle). */
  abstract bootEnv(): Promise<BootEnv>;

  /** Copy `path` off the FAT partition at `offsetMiB` (mtools) to `name` in the device directory. */
  protected async copyOff(offsetMiB: number, path: string, name: string): Promise<string> {
    const file = join(this.dir, name);
    rmSync(file, { force: true });
    await run('mcopy', ['-n', '-i', `${this.disk}@@${offsetMiB}M`, `::${path}`, file], {
      env: MTOOLS_ENV,
    });
    return file;
  }

  /** Boot once; the console goes to <dir>/boot-<n>-<label>.log. */
  async boot(label: string, opts: { control?: string; cutOn?: RegExp } = {}): Promise<BootResult> {
    this.boots += 1;
    return recordedBoot(
      this.machine,
      {
        disk: this.disk,
        vars: this.vars,
        logFile: join(this.dir, `boot-${this.boots}-${label}.log`),
        ...opts,
      },
      { what: 'boot', scenario: this.machine.timingName(this.name), boot: this.boots, label },
    );
  }
}

/**
 * A scenario's fresh device of class `Kind`: its directory made afresh, a sparse copy of
 * the built disk, new firmware state.
 */
export async function freshDevice<L, D extends TestDevice<L>>(
  Kind: new (machine: Machine, name: string, dir: string, layout: L) => D,
  m: Machine,
  name: string,
  layout: L,
): Promise<D> {
  const dir = join(m.dir, 'run', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dev = new Kind(m, name, dir, layout);
  await run('cp', ['--sparse=always', join(buildDir(m), 'disk.img'), dev.disk]);
  m.vars.make(dev.vars);
  return dev;
}
