/**
 * Running the boot-time commit-deadline watchdog stage (os/init.d) under a shell, for
 * the GRUB, U-Boot and tryboot watchdog tests. Its output goes to a file, as init's goes
 * to the console: the background wait keeps writing there after the stage has returned
 * (a pipe would stay open until it ends).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toolSkipReason } from '../helpers/require-tool.js';

export const WATCHDOG_SCRIPT = fileURLToPath(
  new URL('../../os/init.d/20-kubesolo-update-watchdog.sh', import.meta.url),
);

/** A device root of a watchdog test: `p` resolves a path under it. */
export interface StageRoot {
  root: string;
  p: (path: string) => string;
}

export interface StageOptions {
  /** Environment beyond the defaults (KUBESOLO_ROOT, a reboot that appends to `rebooted`, a 0.05 s poll). */
  env?: Record<string, string>;
  /** The hang detector's limit, not a measure: the stage returns at once whatever it finds. */
  timeoutMs: number;
  /** Told the output file's path (a test that reads every output later keeps it). */
  onOutput?: (file: string) => void;
}

let outputs = 0;

/** Run the stage under `shell` on `r`; exit 0 is required; returns what it printed. */
export function runWatchdogStage(shell: string[], r: StageRoot, options: StageOptions): string {
  const [cmd, ...args] = shell as [string, ...string[]];
  const file = r.p(`stage-${++outputs}.out`);
  options.onOutput?.(file);
  const fd = openSync(file, 'w');
  try {
    const out = spawnSync(cmd, [...args, WATCHDOG_SCRIPT], {
      env: {
        PATH: process.env.PATH,
        KUBESOLO_ROOT: r.root,
        KUBESOLO_UPDATE_REBOOT_COMMAND: `echo reboot >> '${r.p('rebooted')}'`,
        KUBESOLO_UPDATE_WATCHDOG_POLL: '0.05',
        ...options.env,
      },
      stdio: ['ignore', fd, fd],
      timeout: options.timeoutMs,
    });
    const text = readFileSync(file, 'utf8');
    assert.equal(out.status, 0, text);
    return text;
  } finally {
    closeSync(fd);
  }
}

export const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Poll `cond` every 20 ms; fail the test naming `what` after `ms`. */
export async function waitUntil(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms: number,
): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}

/** Pids of the processes the stages started on this root (their KUBESOLO_ROOT is it). */
export function processesOf(root: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (env.includes(`KUBESOLO_ROOT=${root}`)) pids.push(Number(name));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** Kill what the stages left running on `roots` (a wait armed for a deadline never reached). */
export function stopStages(roots: string[]): void {
  for (const root of roots) {
    for (const pid of processesOf(root)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
  }
}

/**
 * The device roots of a watchdog test file, with their cleanup: after each test, what its
 * stages left running (a wait armed for a deadline the test never reached, and its
 * backstop) is stopped, or dozens of 0.05 s pollers pile up and starve the tests after
 * them on a 2-core machine; after the file, `beforeRemove` runs, then the roots go.
 */
export function useStageRoots(
  prefix: string,
  beforeRemove?: (roots: readonly string[]) => void,
): { newRoot(): Promise<StageRoot> } {
  const roots: string[] = [];
  let stopped = 0;
  afterEach(() => {
    stopStages(roots.slice(stopped));
    stopped = roots.length;
  });
  after(async () => {
    beforeRemove?.(roots);
    for (const r of roots) await rm(r, { recursive: true, force: true });
  });
  return {
    /** A new device root under the system temp directory: `p` resolves a path under it. */
    async newRoot() {
      const root = await mkdtemp(join(tmpdir(), prefix));
      roots.push(root);
      return { root, p: (path: string) => join(root, path) };
    },
  };
}

/**
 * The shells the stage runs under: name, command line, and why it is skipped (under root
 * a missing shell fails the file). dash and busybox sh are the OS's; `bash --posix` is the
 * third whose special-builtin rules the stage must live with.
 */
export const SHELLS: [string, string[], string | false][] = [
  ['dash', ['dash'], toolSkipReason(['dash'], 'dash')],
  ['busybox ash', ['busybox', 'sh'], toolSkipReason(['busybox'], 'busybox-static')],
  ['bash --posix', ['bash', '--posix'], toolSkipReason(['bash'], 'bash')],
];
