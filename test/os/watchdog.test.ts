/**
 * The commit-deadline watchdog (os/init.d/20-kubesolo-update-watchdog.sh), run as the
 * OS runs it, by dash and by busybox sh (and `bash --posix`, the third shell whose
 * special-builtin rules the stage must live with), against GRUB environments written
 * by the real `grub-editenv` and update.conf files read by the agent's own parser.
 * Time is the test's: /proc/uptime under KUBESOLO_ROOT is a file the test writes, so
 * "the deadline passed" is a fact the test sets, not a race. The reboot command writes
 * a file.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/file.js';
import { DEFAULTS } from '../../src/config/merge.js';
import { grubEditenvOk, grubEditenvSkipReason } from '../bootenv/editenv.js';
import { rootSkipReason } from '../helpers/require-tool.js';
import {
  processesOf,
  runWatchdogStage,
  sleep,
  SHELLS,
  useStageRoots,
  WATCHDOG_SCRIPT,
  waitUntil,
} from './watchdog-stage.js';

const skip = grubEditenvSkipReason();

const mounts: string[] = [];
const roots = useStageRoots('ks-watchdog-', (all) => {
  // A background wait left armed (a test that ends before its deadline) is stopped, so
  // no loop outlives the suite.
  for (const r of all) {
    const file = join(r, 'run/kubesolo-update/watchdog.pid');
    let pid = '';
    try {
      // Only a regular file: some tests plant a FIFO there, and reading it would block.
      if (statSync(file).isFile()) pid = readFileSync(file, 'utf8').trim();
    } catch {
      // none (not armed, ended, or armed without a pid file)
    }
    if (/^\d+$/.test(pid)) spawnSync('kill', [pid]);
  }
  for (const m of mounts) spawnSync('umount', [m]);
});

interface Root {
  root: string;
  p(path: string): string;
  env(vars: Record<string, string>): void;
  uptime(seconds: number): Promise<void>;
  conf(text: string): Promise<void>;
  rebooted(): boolean;
  log(): Promise<string>;
  /** Everything the stages run on this root wrote to their console, until now. */
  console(): string;
  outputs: string[];
}

async function makeRoot(opts: { cmdline?: string; uptime?: number; conf?: string } = {}) {
  const { root, p } = await roots.newRoot();
  await mkdir(p('boot/grub'), { recursive: true });
  await mkdir(p('proc'), { recursive: true });
  await mkdir(p('etc/kubesolo'), { recursive: true });
  await writeFile(
    p('proc/cmdline'),
    opts.cmdline ?? 'BOOT_IMAGE=/vmlinuz kubesolo.slot=B panic=10\n',
  );
  const r: Root = {
    root,
    p,
    env(vars) {
      // Built aside and renamed in, as the agent replaces the block: the watchdog
      // polls it meanwhile and must never see a half-made one.
      const tmp = p('boot/grub/grubenv.new');
      grubEditenvOk(tmp, 'create');
      const args = Object.entries(vars).map(([k, v]) => `${k}=${v}`);
      if (args.length > 0) grubEditenvOk(tmp, 'set', ...args);
      renameSync(tmp, p('boot/grub/grubenv'));
    },
    // Renamed in, as the kernel's file never reads half-written (and so it replaces a
    // FIFO a test planted there without opening it).
    uptime: async (s) => {
      await writeFile(p('proc/uptime.new'), `${s}.42 12.00\n`);
      renameSync(p('proc/uptime.new'), p('proc/uptime'));
    },
    conf: (text) => writeFile(p('etc/kubesolo/update.conf'), text),
    rebooted: () => existsSync(p('rebooted')),
    log: () => readFile(p('var/lib/kubesolo/update/watchdog.log'), 'utf8').catch(() => ''),
    outputs: [],
    console: () => r.outputs.map((f) => readFileSync(f, 'utf8')).join(''),
  };
  await r.uptime(opts.uptime ?? 10);
  await r.conf(opts.conf ?? 'commit_deadline=30s\n');
  return r;
}

/**
 * Run the stage as init would; it returns at once, the wait goes on in the background.
 * Its output goes to a file, as init's goes to the console: the background wait keeps
 * writing there after the stage has returned (a pipe would stay open until it ends).
 */
function stage(shell: string[], r: Root, extraEnv: Record<string, string> = {}): string {
  // A hang detector, not a measure: a loaded machine (2 cores shared) is slow.
  return runWatchdogStage(shell, r, {
    env: extraEnv,
    timeoutMs: 60_000,
    onOutput: (file) => r.outputs.push(file),
  });
}
/** update.conf naming a kernel watchdog device at /dev/watchdog0 (fakeWatchdogDevice). */
const DEVICE_CONF = 'commit_deadline=30s\ncommit_watchdog_device=/dev/watchdog0\n';

/** A kernel watchdog device at /dev/watchdog0 under the root: a plain file whose size counts the pets. */
async function fakeWatchdogDevice(r: Root): Promise<void> {
  await mkdir(r.p('dev'), { recursive: true });
  await writeFile(r.p('dev/watchdog0'), '');
}

/** The reboot in `log` was the watchdog's own: the backstop never had to act. */
function assertNotBackstop(log: string): void {
  assert.doesNotMatch(log, /still runs .* after arming/, 'the watchdog did it, not the backstop');
}

const until = (what: string, cond: () => boolean | Promise<boolean>, ms = 20_000) =>
  waitUntil(what, cond, ms);
/** The background wait ended (its pid file is removed when it returns). */
const waitEnded = (r: Root) =>
  until('watchdog exit', () => !existsSync(r.p('run/kubesolo-update/watchdog.pid')));
/** Pids of the processes the stages started on this root. */
const running = (r: Root) => processesOf(r.root);
const nothingLeft = (r: Root) =>
  until('no watchdog process left (the backstop ends with it)', () => running(r).length === 0);

for (const [name, shell, shellSkip] of SHELLS) {
  describe(`commit-deadline watchdog (${name})`, { skip: skip || shellSkip }, () => {
    it('a committed boot never arms it', async () => {
      for (const vars of <Record<string, string>[]>[
        { active_slot: 'B', boot_counter: '3', boot_success: '1' },
        { active_slot: 'B', boot_counter: '2' }, // boot_success missing: committed for GRUB
        { active_slot: 'A', boot_counter: '3', boot_success: '' },
      ]) {
        const r = await makeRoot({ uptime: 99_999 });
        r.env(vars);
        const err = stage(shell, r);
        assert.match(err, /not an update trial boot .*not armed/);
        await sleep(200);
        assert.equal(r.rebooted(), false);
        assert.equal(existsSync(r.p('run/kubesolo-update/watchdog.pid')), false);
      }
    });

    it('no GRUB environment, or a damaged one, reads as committed (as GRUB reads it)', async () => {
      const r = await makeRoot({ uptime: 99_999 });
      // Missing: said so, not taken for "not an update trial boot".
      const missing = stage(shell, r);
      assert.match(
        missing,
        /no GRUB environment at \S+\/boot\/grub\/grubenv: GRUB boots without one, so this is no update trial boot: not armed/,
      );
      assert.doesNotMatch(missing, /not an update trial boot/);
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      const block = await readFile(r.p('boot/grub/grubenv'));
      await writeFile(r.p('boot/grub/grubenv'), block.subarray(0, 1023)); // wrong size
      assert.match(
        stage(shell, r),
        /GRUB environment \S+ is damaged \(1023 bytes, not a 1024-byte block\): GRUB reads it as no variables, so this is no update trial boot: not armed/,
      );
      await writeFile(
        r.p('boot/grub/grubenv'),
        Buffer.concat([Buffer.from('X'), block.subarray(1)]),
      );
      assert.match(stage(shell, r), /is damaged \(no GRUB signature\).*not armed/);
      assert.match(await r.log(), /no GRUB environment at/, 'kept in the log too');
      await sleep(200);
      assert.equal(r.rebooted(), false);
    });

    it('on trial past the deadline: logs why and reboots', async () => {
      const r = await makeRoot({ uptime: 31 });
      r.env({ active_slot: 'B', boot_counter: '1', boot_success: '0' });
      const err = stage(shell, r);
      assert.match(
        err,
        /slot B is on trial \(boot_counter=1\): armed, reboot unless committed 30 s after boot/,
      );
      await until('reboot', () => r.rebooted());
      await waitEnded(r);
      assert.match(
        await r.log(),
        /uptime=31 slot B still not committed 31 s after boot \(commit_deadline 30 s; boot_success=0 boot_counter=1\): rebooting so GRUB counts the try/,
      );
      assert.equal(
        (await readFile(r.p('rebooted'), 'utf8')).trim(),
        'reboot',
        'exactly one reboot',
      );
    });

    it('fires at the deadline, not before', async () => {
      const r = await makeRoot({ uptime: 10 });
      r.env({ active_slot: 'A', boot_counter: '2', boot_success: '0' });
      await writeFile(r.p('proc/cmdline'), 'kubesolo.slot=A\n');
      stage(shell, r);
      await r.uptime(29);
      await sleep(400); // many polls
      assert.equal(r.rebooted(), false, 'rebooted before the deadline');
      await r.uptime(30);
      await until('reboot at the deadline', () => r.rebooted());
    });

    it('a commit disarms it; it never reboots afterwards', async () => {
      const r = await makeRoot({ uptime: 10 });
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      stage(shell, r);
      await sleep(200);
      // What `healthcheck` does on success (BootEnv.markGood), written by grub-editenv.
      r.env({ active_slot: 'B', boot_counter: '3', boot_success: '1' });
      await waitEnded(r);
      await nothingLeft(r);
      await r.uptime(10_000);
      await sleep(300);
      assert.equal(r.rebooted(), false);
      assert.match(
        await r.log(),
        /boot committed \(boot_success=1, active_slot=B\) after 10 s: disarmed/,
      );
    });

    it('a damaged block while armed is not taken for a commit', async () => {
      const r = await makeRoot({ uptime: 10 });
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      stage(shell, r);
      await writeFile(r.p('boot/grub/grubenv'), ''); // e.g. read while being rewritten
      await sleep(300);
      assert.ok(existsSync(r.p('run/kubesolo-update/watchdog.pid')), 'still armed');
      await r.uptime(30);
      await until('reboot', () => r.rebooted());
      assert.match(await r.log(), /GRUB environment .* unreadable at the commit deadline/);
    });

    it("the agent's rollback (other slot, trusted) also disarms it", async () => {
      const r = await makeRoot({ uptime: 10 });
      r.env({ active_slot: 'B', boot_counter: '1', boot_success: '0' });
      stage(shell, r);
      r.env({ active_slot: 'A', boot_counter: '3', boot_success: '1' }); // forceRollback
      await waitEnded(r);
      assert.match(await r.log(), /disarmed/);
      assert.equal(r.rebooted(), false);
    });

    it('not armed when another slot runs than the one on trial (save_env failed, or chosen by hand)', async () => {
      const r = await makeRoot({ uptime: 99_999, cmdline: 'kubesolo.slot=A console=ttyS0\n' });
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      assert.match(stage(shell, r), /slot B is on trial but slot A is running: not armed/);
      await sleep(200);
      assert.equal(r.rebooted(), false);
    });

    it('commit_deadline=0 turns it off; an invalid value falls back to 15m, loudly', async () => {
      const off = await makeRoot({ uptime: 99_999, conf: 'commit_deadline=0\n' });
      off.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      assert.match(stage(shell, off), /commit_deadline=0: not armed/);
      const bad = await makeRoot({ uptime: 899, conf: 'commit_deadline=5 minutes\n' });
      bad.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      const err = stage(shell, bad);
      assert.match(err, /invalid commit_deadline '5 minutes'.*using 15m/);
      assert.match(err, /reboot unless committed 900 s after boot/);
      await sleep(200);
      assert.equal(bad.rebooted(), false);
      await bad.uptime(900);
      await until('reboot at 900 s', () => bad.rebooted());
      await sleep(200);
      assert.equal(off.rebooted(), false);
    });

    it('a second start while armed does not start a second watchdog', async () => {
      const r = await makeRoot({ uptime: 10 });
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      stage(shell, r);
      assert.match(stage(shell, r), /already armed/);
      await r.uptime(40);
      await until('reboot', () => r.rebooted());
      await waitEnded(r);
      await sleep(200);
      assert.equal((await readFile(r.p('rebooted'), 'utf8')).trim(), 'reboot', 'one reboot only');
    });

    it('the grubenv path comes from update.conf (grubenv=) under the root', async () => {
      const r = await makeRoot({
        uptime: 40,
        conf: 'grubenv=/efi/grubenv\ncommit_deadline=30\n',
      });
      await mkdir(r.p('efi'));
      grubEditenvOk(r.p('efi/grubenv'), 'create');
      grubEditenvOk(r.p('efi/grubenv'), 'set', 'active_slot=B', 'boot_counter=2', 'boot_success=0');
      assert.match(stage(shell, r), /armed/);
      await until('reboot', () => r.rebooted());
    });

    it('kernel watchdog device: petted while armed, magic-closed on commit', async () => {
      const r = await makeRoot({ uptime: 10, conf: DEVICE_CONF });
      await fakeWatchdogDevice(r);
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      stage(shell, r);
      await until('petted', async () => (await readFile(r.p('dev/watchdog0'), 'utf8')).length >= 3);
      r.env({ active_slot: 'B', boot_counter: '3', boot_success: '1' });
      await waitEnded(r);
      const written = await readFile(r.p('dev/watchdog0'), 'utf8');
      assert.match(written, /^\.+V$/, 'pets, then the magic close');
      assert.match(await r.log(), /kernel watchdog \/dev\/watchdog0 opened/);
    });

    it('kernel watchdog device with nowayout is not used (it could not be stopped)', async () => {
      const r = await makeRoot({ uptime: 10, conf: DEVICE_CONF });
      await fakeWatchdogDevice(r);
      await mkdir(r.p('sys/class/watchdog/watchdog0'), { recursive: true });
      await writeFile(r.p('sys/class/watchdog/watchdog0/nowayout'), '1\n');
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      stage(shell, r);
      await r.uptime(30);
      await until('reboot', () => r.rebooted());
      assert.equal(await readFile(r.p('dev/watchdog0'), 'utf8'), '');
      assert.match(await r.log(), /not using \/dev\/watchdog0: its driver has nowayout set/);
    });
  });
}

/** Shared by the bad-input tests: a 20 MB one-line file in a root of its own (hard-linked into others). */
let hugeFile: string | undefined;
async function huge(): Promise<string> {
  if (!hugeFile) {
    hugeFile = (await roots.newRoot()).p('huge');
    await writeFile(hugeFile, `x=${'y'.repeat(20 * 1024 * 1024)}\n`);
  }
  return hugeFile;
}

/** What a broken disk or a hostile hand can leave where a small regular file belongs. */
const ODD = ['fifo', 'link to /dev/zero', 'directory', 'huge'] as const;
type Odd = (typeof ODD)[number];
/** What the stage says it found there. */
const WHY: Record<Odd, string> = {
  fifo: 'not a regular file',
  'link to /dev/zero': 'not a regular file',
  directory: 'a directory',
  huge: 'larger than 65536 bytes',
};
async function plant(path: string, kind: Odd | 'missing') {
  await rm(path, { recursive: true, force: true });
  if (kind === 'fifo') {
    const made = spawnSync('mkfifo', [path]);
    assert.equal(made.status, 0, `mkfifo: ${made.stderr.toString()}`);
  } else if (kind === 'link to /dev/zero') await symlink('/dev/zero', path);
  else if (kind === 'directory') await mkdir(path);
  else if (kind === 'huge') linkSync(await huge(), path);
}

/** The same, swapped in at once (built aside, renamed over): the watchdog never sees a gap. */
async function swap(path: string, kind: 'fifo' | 'link to /dev/zero') {
  const aside = `${path}.swap`;
  await plant(aside, kind);
  renameSync(aside, path);
}

/** Every line on the console is the stage's own: no shell error (Illegal number, can't create ...). */
function onlyOwnLines(text: string) {
  for (const line of text.split('\n').filter(Boolean))
    assert.match(line, /^kubesolo-update-watchdog: /, `not the stage's own line:\n${text}`);
}
const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A character device major no driver has registered (open(2) says ENXIO), never one in use. */
function unusedCharMajor(): number {
  const text = readFileSync('/proc/devices', 'utf8');
  const chars = text.slice(0, text.indexOf('Block devices:'));
  const used = new Set([...chars.matchAll(/^\s*(\d+) /gm)].map((m) => Number(m[1])));
  // 60-63 and 120-127 are reserved for local and experimental use (devices.txt).
  const free = [60, 61, 62, 63, 120, 121, 122, 123, 124, 125, 126, 127].find((m) => !used.has(m));
  assert.ok(free !== undefined, 'no unused local character major');
  return free;
}

/**
 * The stage with its stderr on a pipe whose reader goes away: before the stage starts
 * ('before': the stage's own first line meets a closed pipe) or once it has returned
 * ('after': only the background writes on). Resolves with what was read, if anything.
 */
async function stageClosedStderr(
  shell: string[],
  r: Root,
  when: 'before' | 'after',
): Promise<string> {
  const env = {
    PATH: process.env.PATH,
    KUBESOLO_ROOT: r.root,
    KUBESOLO_UPDATE_REBOOT_COMMAND: `echo reboot >> '${r.p('rebooted')}'`,
    KUBESOLO_UPDATE_WATCHDOG_POLL: '0.05',
  };
  // 'before': a shell waits on stdin, then execs the stage, so the test can close the
  // pipe's read end first.
  const line =
    when === 'before'
      ? ['sh', '-c', 'read _ && exec "$@"', 'sh', ...shell, WATCHDOG_SCRIPT]
      : [...shell, WATCHDOG_SCRIPT];
  const [cmd, ...args] = line as [string, ...string[]];
  const child = spawn(cmd, args, {
    env,
    stdio: [when === 'before' ? 'pipe' : 'ignore', 'ignore', 'pipe'],
  });
  let text = '';
  child.stderr!.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  if (when === 'before') {
    child.stderr!.destroy();
    await sleep(50);
    child.stdin!.end('go\n');
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  const code = await exited;
  clearTimeout(timer);
  assert.equal(code, 0, `the stage ended with ${code} (signal ${child.signalCode}): ${text}`);
  if (when === 'after') {
    await until('the stage said it armed', () => /armed/.test(text));
    child.stderr!.destroy();
  }
  return text;
}

for (const [name, shell, shellSkip] of SHELLS) {
  describe(`the watchdog stage survives its inputs (${name})`, { skip: skip || shellSkip }, () => {
    const onTrial = async (opts: { uptime?: number; conf?: string } = {}) => {
      const r = await makeRoot(opts);
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      return r;
    };
    /** On trial since uptime 10 s, with a kernel watchdog device (fakeWatchdogDevice). */
    const onTrialWithDevice = async () => {
      const r = await onTrial({ uptime: 10, conf: DEVICE_CONF });
      await fakeWatchdogDevice(r);
      return r;
    };

    for (const kind of ODD) {
      it(`update.conf ${kind}: returns at once and arms with the defaults, loudly`, async () => {
        const r = await onTrial({ uptime: 10 });
        await plant(r.p('etc/kubesolo/update.conf'), kind);
        const out = stage(shell, r); // a stage that blocks fails here (10 s timeout)
        assert.match(
          out,
          new RegExp(
            `cannot read \\S+/etc/kubesolo/update\\.conf \\(${WHY[kind]}; the agent refuses it too\\): using commit_deadline 15m`,
          ),
        );
        assert.match(out, /armed, reboot unless committed 900 s after boot/);
        onlyOwnLines(out);
      });

      it(`grubenv ${kind}: returns at once, says what it found, not armed`, async () => {
        const r = await makeRoot({ uptime: 99_999 });
        await plant(r.p('boot/grub/grubenv'), kind);
        const out = stage(shell, r);
        if (kind === 'huge')
          assert.match(
            out,
            /GRUB environment \S+ is damaged \(larger than 65536 bytes\): GRUB reads it as no variables, so this is no update trial boot: not armed/,
          );
        else
          assert.match(
            out,
            new RegExp(
              `cannot read the GRUB environment \\S+/boot/grub/grubenv \\(${WHY[kind]}\\): cannot tell whether this is an update trial boot: not armed`,
            ),
          );
        onlyOwnLines(out);
        assert.equal(existsSync(r.p('run/kubesolo-update/watchdog.pid')), false);
      });

      it(`/proc/cmdline ${kind}: returns at once and takes the slot on trial as running`, async () => {
        const r = await onTrial({ uptime: 10 });
        await plant(r.p('proc/cmdline'), kind);
        const out = stage(shell, r);
        assert.match(
          out,
          new RegExp(
            `cannot read the kernel command line \\S+/proc/cmdline \\(${WHY[kind]}\\): taking slot B, the one on trial, as the running one`,
          ),
        );
        assert.match(out, /slot B is on trial \(boot_counter=2\): armed/);
        await r.uptime(30);
        await until('reboot', () => r.rebooted());
        onlyOwnLines(r.console());
      });
    }

    it('the reproduction of issue 31: a FIFO update.conf, run under timeout (no 124)', async () => {
      const r = await onTrial();
      await plant(r.p('etc/kubesolo/update.conf'), 'fifo');
      // Output to a file: a pipe would stay open as long as the background runs. The
      // issue ran it under `timeout 10`; 60 here, a hang detector on a loaded 2-core
      // machine, not a measure (the stage takes milliseconds when the machine is idle).
      const fd = openSync(r.p('timeout.out'), 'w');
      const run = spawnSync('timeout', ['60', ...shell, WATCHDOG_SCRIPT], {
        env: {
          PATH: process.env.PATH,
          KUBESOLO_ROOT: r.root,
          KUBESOLO_UPDATE_REBOOT_COMMAND: 'true',
        },
        stdio: ['ignore', fd, fd],
        timeout: 120_000,
      });
      closeSync(fd);
      const out = readFileSync(r.p('timeout.out'), 'utf8');
      assert.equal(run.status, 0, `exit ${run.status} (124: timed out): ${out}`);
      assert.match(out, /armed, reboot unless committed 900 s after boot/);
    });

    for (const kind of ['fifo', 'link to /dev/zero'] as const) {
      it(`a grubenv that becomes a ${kind} while armed blocks nothing: rebooted at the deadline`, async () => {
        const r = await onTrialWithDevice();
        // Looks 2 s apart; each ends with a pet. Swapped just after one, so while the
        // watchdog sleeps: its next look finds the swap whole. (Swapped in the middle
        // of a look, between a check and a read, it could block that read: the
        // backstop's case, tested below.)
        stage(shell, r, { KUBESOLO_UPDATE_WATCHDOG_POLL: '2' });
        await until('a look', () => statSync(r.p('dev/watchdog0')).size >= 1);
        await swap(r.p('boot/grub/grubenv'), kind);
        await until('the loss logged', async () => /unreadable while armed/.test(await r.log()));
        await until('two more looks', () => statSync(r.p('dev/watchdog0')).size >= 3);
        await r.uptime(30);
        await until('reboot', () => r.rebooted());
        const log = await r.log();
        assertNotBackstop(log);
        assert.match(
          log,
          /GRUB environment \S+ unreadable while armed \(not a regular file\): not taken for a commit, still rebooting at the deadline/,
        );
        assert.equal(count(log, /unreadable while armed/), 1, 'logged once, not at every look');
        assert.match(
          log,
          /GRUB environment \S+ \(not a regular file\) unreadable at the commit deadline \(30 s\): rebooting/,
        );
        onlyOwnLines(r.console());
      });
    }

    for (const [what, text] of [
      ['missing', undefined],
      ['empty', ''],
      ['not a number', 'abc 12.00\n'],
      ['not a number', '1x 12.00\n'],
      ['not a regular file', 'fifo'],
    ] as const) {
      it(`/proc/uptime ${text === undefined ? 'missing' : JSON.stringify(text)} at the start: counts its own time from 0, loudly, once; uses uptime again when it reads`, async () => {
        const r = await onTrial();
        if (text === 'fifo') await plant(r.p('proc/uptime'), 'fifo');
        else if (text === undefined) await rm(r.p('proc/uptime'));
        else await writeFile(r.p('proc/uptime'), text);
        const out = stage(shell, r);
        assert.match(
          out,
          new RegExp(
            `cannot read \\S+/proc/uptime \\(${what}\\): counting time from my own sleeps from 0 s on \\(the reboot may come late, never early\\)`,
          ),
        );
        assert.match(out, /armed, reboot unless committed 30 s after boot/);
        await sleep(300); // many looks
        assert.equal(r.rebooted(), false, 'no reboot 0.3 s into a 30 s deadline');
        await r.uptime(30);
        await until('reboot', () => r.rebooted());
        const log = await r.log();
        assert.equal(count(log, /proc\/uptime/), 2, `lost once, back once:\n${log}`);
        assert.match(log, /proc\/uptime reads again: using it/);
        onlyOwnLines(r.console());
      });
    }

    it('/proc/uptime lost while armed: never "0 forever", the counted time reaches the deadline', async () => {
      const r = await onTrialWithDevice();
      const pets = () => statSync(r.p('dev/watchdog0')).size;
      // Armed at 10 s: the backstop would act only 20 s + its grace later, so the reboot
      // below is the watchdog's own count.
      stage(shell, r, { KUBESOLO_UPDATE_WATCHDOG_POLL: '0.25' });
      await until('a look', () => pets() >= 1);
      await r.uptime(29);
      const seen = pets() + 2; // a whole look after the write has read 29
      await until('a look at 29 s', () => pets() >= seen);
      await rm(r.p('proc/uptime'));
      // 29 s known, then 1 s of counted sleeps (0.25 s each) to the 30 s deadline.
      await until('reboot on the counted time', () => r.rebooted());
      const log = await r.log();
      assertNotBackstop(log);
      assert.match(
        log,
        /cannot read \S+\/proc\/uptime \(missing\): counting time from my own sleeps from 29 s on/,
      );
      assert.match(log, /counted=30 slot B still not committed 30 s after boot/);
      assert.equal(count(log, /proc\/uptime/), 1, 'logged once, not at every look');
      onlyOwnLines(r.console());
    });

    for (const poll of ['abc', '0']) {
      it(`KUBESOLO_UPDATE_WATCHDOG_POLL=${poll} is refused loudly: 5 s, no spinning`, async () => {
        const r = await onTrialWithDevice();
        const out = stage(shell, r, { KUBESOLO_UPDATE_WATCHDOG_POLL: poll });
        assert.match(
          out,
          new RegExp(
            `invalid KUBESOLO_UPDATE_WATCHDOG_POLL '${poll}' \\(want seconds, 0\\.01 to 60\\): using 5`,
          ),
        );
        // Every look pets the device file: one look, then a 5 s sleep.
        await until('the first look', () => statSync(r.p('dev/watchdog0')).size >= 1);
        await sleep(1000);
        assert.equal(
          readFileSync(r.p('dev/watchdog0'), 'utf8'),
          '.',
          'one look in the first second',
        );
        onlyOwnLines(r.console());
      });
    }

    it('other invalid KUBESOLO_UPDATE_WATCHDOG_POLL values are refused too', async () => {
      for (const poll of ['0.0', '-1', '1e3', '61', '0.001', '.5', '5.', '1.2.3', '0.0050']) {
        const r = await makeRoot({ uptime: 10 });
        r.env({ active_slot: 'B', boot_counter: '2', boot_success: '1' }); // not armed: fast
        const out = stage(shell, r, { KUBESOLO_UPDATE_WATCHDOG_POLL: poll });
        assert.match(
          out,
          new RegExp(`invalid KUBESOLO_UPDATE_WATCHDOG_POLL '${escape(poll)}'.*: using 5`),
          poll,
        );
        onlyOwnLines(out);
      }
    });

    it('valid KUBESOLO_UPDATE_WATCHDOG_POLL values are taken as they are', async () => {
      for (const poll of ['0.05', '0.5', '5', '60', '0.01', '07']) {
        const r = await makeRoot({ uptime: 10 });
        r.env({ active_slot: 'B', boot_counter: '2', boot_success: '1' }); // not armed: fast
        const out = stage(shell, r, { KUBESOLO_UPDATE_WATCHDOG_POLL: poll });
        assert.doesNotMatch(out, /invalid KUBESOLO_UPDATE_WATCHDOG_POLL/, poll);
      }
    });

    describe('commit_watchdog_device that cannot be opened: logged, and the deadline still reboots', () => {
      const armWith = async (device: string, prepare: (r: Root) => Promise<void>) => {
        const r = await onTrial({
          uptime: 31,
          conf: `commit_deadline=30s\ncommit_watchdog_device=${device}\n`,
        });
        await prepare(r);
        const out = stage(shell, r);
        assert.match(out, /armed, reboot unless committed 30 s after boot/);
        await until('reboot at the deadline', () => r.rebooted());
        const log = await r.log();
        assert.match(log, /slot B still not committed 31 s after boot/);
        onlyOwnLines(r.console());
        return { r, log };
      };

      it('missing: not created, said missing', async () => {
        const { r, log } = await armWith('/dev/watchdog0', async (r) => mkdir(r.p('dev')));
        assert.match(
          log,
          /cannot use the kernel watchdog \/dev\/watchdog0 \(missing\): going on without it; the deadline still reboots/,
        );
        assert.equal(existsSync(r.p('dev/watchdog0')), false, '`>` must not create it');
      });

      it('a directory', async () => {
        const { log } = await armWith('/dev/watchdog0', (r) =>
          mkdir(r.p('dev/watchdog0'), { recursive: true }).then(() => undefined),
        );
        assert.match(log, /cannot use the kernel watchdog \/dev\/watchdog0 \(a directory\)/);
      });

      it('a FIFO (opening it for writing would block)', async () => {
        const { log } = await armWith('/dev/watchdog0', async (r) => {
          await mkdir(r.p('dev'));
          await plant(r.p('dev/watchdog0'), 'fifo');
        });
        assert.match(
          log,
          /cannot use the kernel watchdog \/dev\/watchdog0 \(not a character device\)/,
        );
      });

      it(
        'a device node without a driver (open says ENXIO): `exec` does not end the shell',
        { skip: rootSkipReason('mknod') },
        async () => {
          const { log } = await armWith('/dev/watchdog0', async (r) => {
            await mkdir(r.p('dev'));
            const made = spawnSync('mknod', [
              r.p('dev/watchdog0'),
              'c',
              String(unusedCharMajor()),
              '0',
            ]);
            assert.equal(made.status, 0, `mknod: ${made.stderr.toString()}`);
          });
          assert.match(
            log,
            /cannot open the kernel watchdog \/dev\/watchdog0 for writing \(no driver behind it, busy, or read-only\): going on without it; the deadline still reboots/,
          );
        },
      );

      it(
        'a file on a read-only mount (open says EROFS): `exec` does not end the shell',
        { skip: rootSkipReason('mount') },
        async () => {
          const { log } = await armWith('/ro/watchdog0', async (r) => {
            const dir = r.p('ro');
            await mkdir(dir);
            const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
            assert.equal(mounted.status, 0, `mount: ${mounted.stderr.toString()}`);
            mounts.push(dir);
            writeFileSync(join(dir, 'watchdog0'), '');
            const ro = spawnSync('mount', ['-o', 'remount,ro', dir]);
            assert.equal(ro.status, 0, `remount ro: ${ro.stderr.toString()}`);
          });
          assert.match(log, /cannot open the kernel watchdog \/ro\/watchdog0 for writing/);
        },
      );

      it('its nowayout file unreadable (a FIFO): not used, and nothing blocks', async () => {
        const { r, log } = await armWith('/dev/watchdog0', async (r) => {
          await fakeWatchdogDevice(r);
          await mkdir(r.p('sys/class/watchdog/watchdog0'), { recursive: true });
          await plant(r.p('sys/class/watchdog/watchdog0/nowayout'), 'fifo');
        });
        assert.match(
          log,
          /not using \/dev\/watchdog0: cannot read \S+\/nowayout \(not a regular file\), so it might not be stoppable after a commit/,
        );
        assert.equal(readFileSync(r.p('dev/watchdog0'), 'utf8'), '', 'never opened');
      });
    });

    it('a /run that is not a directory: the stage succeeds, arms without a pid file, loudly, and reboots', async () => {
      const r = await onTrial({ uptime: 10 });
      await writeFile(r.p('run'), 'not a directory\n');
      const out = stage(shell, r);
      assert.match(
        out,
        /cannot create \S+\/run\/kubesolo-update \(is \S+\/run a directory\?\): arming without a pid file/,
      );
      assert.match(out, /armed, reboot unless committed 30 s after boot/);
      await r.uptime(30);
      await until('reboot', () => r.rebooted());
      onlyOwnLines(r.console());
    });

    for (const kind of ['fifo', 'directory'] as const) {
      it(`a pid file that is a ${kind}: the stage returns, arms without it, and reboots`, async () => {
        const r = await onTrial({ uptime: 10 });
        await mkdir(r.p('run/kubesolo-update'), { recursive: true });
        await plant(r.p('run/kubesolo-update/watchdog.pid'), kind);
        const out = stage(shell, r);
        assert.match(out, /watchdog\.pid is not a regular file: arming without a pid file/);
        await r.uptime(30);
        await until('reboot', () => r.rebooted());
        onlyOwnLines(r.console());
      });
    }

    it('a wait that ends at once (deadline already past) leaves no pid file behind', async () => {
      const r = await onTrial({ uptime: 99 });
      stage(shell, r);
      await until('reboot', () => r.rebooted());
      await waitEnded(r);
      await sleep(500);
      assert.equal(
        existsSync(r.p('run/kubesolo-update/watchdog.pid')),
        false,
        'a stale pid file: the stage wrote it after the background had removed it',
      );
    });

    it('a watchdog.log that is a FIFO: the stage returns, logs to the console only, and reboots', async () => {
      const r = await onTrial({ uptime: 10 });
      await mkdir(r.p('var/lib/kubesolo/update'), { recursive: true });
      await plant(r.p('var/lib/kubesolo/update/watchdog.log'), 'fifo');
      const out = stage(shell, r);
      assert.match(out, /watchdog\.log is not a regular file: logging to the console only/);
      await r.uptime(30);
      await until('reboot', () => r.rebooted());
      assert.match(r.console(), /slot B still not committed 30 s after boot/);
      assert.equal(count(r.console(), /logging to the console only/), 1, 'said once');
    });

    it('watchdog.log past 64 KiB is cut to its last 32 KiB, whole lines, even a huge one-line file', async () => {
      const r = await makeRoot({ uptime: 10 });
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '1' });
      await mkdir(r.p('var/lib/kubesolo/update'), { recursive: true });
      const log = r.p('var/lib/kubesolo/update/watchdog.log');
      const lines = Array.from({ length: 2000 }, (_, i) => `uptime=1 old line ${i}\n`).join('');
      await writeFile(log, lines); // about 54 KiB: kept as it is
      stage(shell, r);
      assert.equal(readFileSync(log, 'utf8'), lines);
      await writeFile(log, lines + lines); // about 108 KiB
      stage(shell, r);
      const kept = readFileSync(log, 'utf8');
      assert.ok(kept.length <= 32 * 1024, `${kept.length} bytes kept`);
      assert.ok(kept.length > 30 * 1024, `${kept.length} bytes kept`);
      assert.match(kept, /^uptime=1 old line \d+\n/, 'starts with a whole line');
      assert.ok(kept.endsWith('uptime=1 old line 1999\n'), 'the newest lines kept');
      await rm(log);
      linkSync(await huge(), log); // 20 MB, one line
      stage(shell, r);
      assert.equal(statSync(log).size, 0, 'the cut line dropped');
    });

    it("init's stderr pipe closed once the stage returned: the background still reboots (no SIGPIPE death)", async () => {
      const r = await onTrial({ uptime: 10 });
      const out = await stageClosedStderr(shell, r, 'after');
      assert.match(out, /armed/);
      await r.uptime(30);
      await until('reboot', () => r.rebooted());
      assert.match(await r.log(), /slot B still not committed 30 s after boot/);
    });

    it('a watchdog stuck on anything is rebooted by its backstop, past the deadline plus a grace', async () => {
      const r = await onTrial({ uptime: 29 });
      stage(shell, r);
      const pid = Number(readFileSync(r.p('run/kubesolo-update/watchdog.pid'), 'utf8'));
      // As stuck as a read of a FIFO swapped in after its check: it never runs again.
      process.kill(pid, 'SIGSTOP');
      try {
        await r.uptime(40);
        // 1 s to the deadline + a grace of 10 s and two looks, counted by the backstop.
        await until('the backstop reboots', () => r.rebooted(), 40_000);
        await until('the backstop logged why', async () =>
          /the watchdog \(pid \d+\) still runs 12 s after arming, past its deadline: it is stuck \(a blocked read or write\); rebooting/.test(
            await r.log(),
          ),
        );
        assert.equal(
          (await readFile(r.p('rebooted'), 'utf8')).trim(),
          'reboot',
          'the backstop, and only it, rebooted',
        );
      } finally {
        process.kill(pid, 'SIGKILL');
      }
    });

    it('a watchdog stopped by hand (kill): its backstop ends too and never reboots', async () => {
      const r = await onTrial({ uptime: 29 });
      stage(shell, r);
      const pid = Number(readFileSync(r.p('run/kubesolo-update/watchdog.pid'), 'utf8'));
      process.kill(pid, 'SIGTERM');
      await nothingLeft(r);
      await r.uptime(99);
      await sleep(300);
      assert.equal(r.rebooted(), false);
    });

    it("init's stderr pipe closed before the stage starts: it still arms, and reboots", async () => {
      const r = await onTrial({ uptime: 10 });
      await stageClosedStderr(shell, r, 'before');
      assert.match(await r.log(), /armed, reboot unless committed 30 s after boot/);
      await r.uptime(30);
      await until('reboot', () => r.rebooted());
      assert.match(await r.log(), /slot B still not committed 30 s after boot/);
    });
  });
}

/**
 * The sh reader against GRUB's own writer: other variables whose values contain
 * newlines, backslashes, `=`, `#` and lines that look like our variables must not
 * change what the watchdog reads. Expected: what GRUB would decide from the values set.
 */
describe('the watchdog reads the GRUB environment as GRUB does', { skip }, () => {
  const valueChars = fc.constantFrom('a', 'B', '0', '1', '=', '#', '\\', '\n', ' ', '_');
  const trickyValue = fc.oneof(
    fc.string({ unit: valueChars, maxLength: 12 }),
    fc.constantFrom('x\nboot_success=1', 'y\\\nactive_slot=A', '\\\\', '\\\nboot_success=1\\'),
  );
  it('property: the armed/not-armed decision matches GRUB semantics', async () => {
    const r = await makeRoot({ uptime: 5 });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('A', 'B', 'X', ''),
        fc.constantFrom('0', '1', '', 'yes'),
        fc.array(fc.tuple(fc.constantFrom('note', 'kubesolo_console', 'z_other'), trickyValue), {
          maxLength: 3,
        }),
        fc.boolean(),
        async (active, success, others, othersFirst) => {
          const file = r.p('boot/grub/grubenv');
          grubEditenvOk(file, 'create');
          const ours = [`active_slot=${active}`, `boot_success=${success}`, 'boot_counter=2'];
          const theirs = [...new Map(others).entries()].map(([k, v]) => `${k}=${v}`);
          const all = othersFirst ? [...theirs, ...ours] : [...ours, ...theirs];
          grubEditenvOk(file, 'set', ...all);
          const slot = active === 'B' ? 'B' : 'A';
          await writeFile(r.p('proc/cmdline'), `kubesolo.slot=${slot}\n`);
          await rm(r.p('run'), { recursive: true, force: true });
          const err = stage(['dash'], r, { KUBESOLO_UPDATE_REBOOT_COMMAND: 'true' });
          const trial = success !== '' && success !== '1';
          if (trial)
            assert.match(err, new RegExp(`slot ${slot} is on trial \\(boot_counter=2\\): armed`));
          else assert.match(err, new RegExp(`boot_success=${success || 'unset'}\\): not armed`));
          // Stop a background wait before the next case.
          const pid = await readFile(r.p('run/kubesolo-update/watchdog.pid'), 'utf8').catch(
            () => '',
          );
          if (pid.trim()) spawnSync('kill', [pid.trim()]);
        },
      ),
      { numRuns: 60 },
    );
  });
});

/**
 * update.conf as the agent reads it: the sh's deadline equals the agent's parse of the
 * same file (or the default 15m when the agent would refuse the value, which the sh
 * logs). Lines: comments, blanks, CRLF, quotes, repeats, empty values, other keys.
 */
describe('the watchdog reads commit_deadline as the agent does', { skip }, () => {
  const deadline = fc.oneof(
    fc.constantFrom(
      '0',
      '30',
      '29',
      '30s',
      '15m',
      '24h',
      '25h',
      '86400',
      '86401',
      '1d',
      'off',
      '',
      '007m',
    ),
    fc
      .tuple(fc.integer({ min: 0, max: 2000 }), fc.constantFrom('', 's', 'm', 'h'))
      .map(([n, u]) => `${n}${u}`),
  );
  const line = fc.oneof(
    deadline.map((d) => `commit_deadline=${d}`),
    deadline.map((d) => `  commit_deadline = "${d}"  `),
    deadline.map((d) => `commit_deadline='${d}'\r`),
    fc.constant('# commit_deadline=60'),
    fc.constant(''),
    fc.constant('channel=stable'),
    fc.constant('commit_deadline_extra=5'),
  );
  it('property: same seconds as parseConfig (default when invalid)', async () => {
    const r = await makeRoot({ uptime: 1 });
    r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 5 }), async (lines) => {
        const text = lines.join('\n') + '\n';
        let expected: number | 'invalid';
        try {
          expected = parseConfig(text, 'update.conf').commitDeadline ?? DEFAULTS.commitDeadline;
        } catch {
          expected = 'invalid';
        }
        await r.conf(text);
        await rm(r.p('run'), { recursive: true, force: true });
        const err = stage(['dash'], r, { KUBESOLO_UPDATE_REBOOT_COMMAND: 'true' });
        const pid = await readFile(r.p('run/kubesolo-update/watchdog.pid'), 'utf8').catch(() => '');
        if (pid.trim()) spawnSync('kill', [pid.trim()]);
        if (expected === 'invalid') {
          assert.match(err, /invalid commit_deadline .*using 15m/);
          assert.match(err, /reboot unless committed 900 s after boot/);
        } else if (expected === 0) {
          assert.match(err, /commit_deadline=0: not armed/);
        } else {
          assert.match(err, new RegExp(`reboot unless committed ${expected} s after boot`), text);
        }
      }),
      { numRuns: 120 },
    );
  });
});
