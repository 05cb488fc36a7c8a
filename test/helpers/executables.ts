/**
 * The single-file executables of `npm run package` (dist/<tool>-linux-<arch>) and the
 * pinned runtime they are made from (docs/runtime.md), for the tests that run them the
 * way a device does: no Node.js installed, no inherited environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCommand, type RunOptions, type RunResult } from './cli.js';
import { isRoot, loudSkip } from './require-tool.js';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

export type Arch = 'amd64' | 'arm64';

interface SeaTarget {
  nodeArch: string;
  nodePackage: string;
  emulator: string;
  sysroot: string;
}

/** scripts/sea-targets.json: the one table of architectures the package script builds. */
export const TARGETS = JSON.parse(
  readFileSync(`${REPO}scripts/sea-targets.json`, 'utf8'),
) as Record<Arch, SeaTarget>;

const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as {
  version: string;
  optionalDependencies: Record<string, string>;
};

/** The agent's version (package.json), which `--version` prints. */
export const PACKAGE_VERSION = pkg.version;

/** The Node.js version package.json pins for an architecture's runtime package. */
export function pinnedNodeVersion(arch: Arch): string {
  const v = pkg.optionalDependencies[TARGETS[arch].nodePackage];
  if (v === undefined) throw new Error(`package.json pins no ${TARGETS[arch].nodePackage}`);
  return v;
}

/** The architecture this machine runs natively, in the project's (Go) names. */
export const HOST_ARCH = (Object.keys(TARGETS) as Arch[]).find(
  (a) => TARGETS[a].nodeArch === process.arch,
);

export function executable(tool: 'kubesolo-update' | 'kubesolo-release', arch: Arch): string {
  return `${REPO}dist/${tool}-linux-${arch}`;
}

/**
 * Why an executable test cannot run here (undefined when it can). Under root or in CI
 * (.ci/run installs every tool and runs `npm run package` first) nothing may be
 * missing: skipOutsideCi turns a reason into a failing test there instead of a skip.
 */
export function executableSkipReason(arch: Arch): string | undefined {
  const file = executable('kubesolo-update', arch);
  if (!existsSync(file)) return `${file} is missing: run npm run package`;
  if (arch !== HOST_ARCH) {
    const t = TARGETS[arch];
    if (findCommand(t.emulator) === undefined)
      return `${t.emulator} is not installed (qemu-user-static)`;
    if (!existsSync(t.sysroot)) return `${t.sysroot} is missing (libc6-${arch}-cross)`;
  }
  return undefined;
}

/**
 * require-tool.ts's rule for the suites that run the executables: under root (as CI
 * runs them) or with CI=true a missing prerequisite is no skip: `false`, so the suite
 * runs and its before() fails naming what is missing. Elsewhere a loud skip (printed,
 * and counted as a skipped test).
 */
export function skipOutsideCi(reason: string | undefined): string | false {
  if (reason === undefined || isRoot || process.env.CI === 'true') return false;
  return loudSkip(reason);
}

/** Absolute path of a command on this process's PATH (children here get no PATH). */
export function findCommand(name: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  return dirs.map((d) => `${d}/${name}`).find((p) => existsSync(p));
}

/**
 * Run an executable of `arch` with exactly `options.env` (default: empty): natively, or
 * under the target's qemu-user emulator with its C/C++ runtime from the cross sysroot.
 */
export function runExecutable(
  file: string,
  arch: Arch,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  if (arch === HOST_ARCH) return runCommand(file, args, { ...options, timeoutMs });
  const t = TARGETS[arch];
  // qemu-user reads QEMU_LD_PREFIX and passes the rest of the environment through.
  return runCommand(findCommand(t.emulator) ?? t.emulator, [file, ...args], {
    ...options,
    timeoutMs,
    env: { QEMU_LD_PREFIX: t.sysroot, ...options.env },
  });
}
