/**
 * The commit-deadline watchdog (os/init.d/20-kubesolo-update-watchdog.sh), run as the
 * OS runs it, by dash and by busybox sh, against GRUB environments written by the real
 * `grub-editenv` and update.conf files read by the agent's own parser. Time is the
 * test's: /proc/uptime under KUBESOLO_ROOT is a file the test writes, so "the deadline
 * passed" is a fact the test sets, not a race. The reboot command writes a file.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/file.js';
import { DEFAULTS } from '../../src/config/merge.js';
import { grubEditenvOk, grubEditenvSkipReason } from '../bootenv/editenv.js';

const SCRIPT = fileURLToPath(
  new URL('../../os/init.d/20-kubesolo-update-watchdog.sh', import.meta.url),
);
const SHELLS: [string, string[]][] = [
  ['dash', ['/bin/sh']],
  ['busybox ash', ['/bin/busybox', 'sh']],
];
const haveBusybox = spawnSync('/bin/busybox', ['true']).status === 0;
const skip = grubEditenvSkipReason();

const roots: string[] = [];
after(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

interface Root {
  root: string;
  p(path: string): string;
  env(vars: Record<string, string>): void;
  uptime(seconds: number): Promise<void>;
  conf(text: string): Promise<void>;
  rebooted(): boolean;
  log(): Promise<string>;
}

async function makeRoot(opts: { cmdline?: string; uptime?: number; conf?: string } = {}) {
  const root = await mkdtemp(join(tmpdir(), 'ks-watchdog-'));
  roots.push(root);
  const p = (path: string) => join(root, path);
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
    uptime: (s) => writeFile(p('proc/uptime'), `${s}.42 12.00\n`),
    conf: (text) => writeFile(p('etc/kubesolo/update.conf'), text),
    rebooted: () => existsSync(p('rebooted')),
    log: () => readFile(p('var/lib/kubesolo/update/watchdog.log'), 'utf8').catch(() => ''),
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
let outputs = 0;
function stage(shell: string[], r: Root, extraEnv: Record<string, string> = {}): string {
  const [cmd, ...args] = shell as [string, ...string[]];
  const file = r.p(`stage-${++outputs}.out`);
  const fd = openSync(file, 'w');
  try {
    const out = spawnSync(cmd, [...args, SCRIPT], {
      env: {
        PATH: process.env.PATH,
        KUBESOLO_ROOT: r.root,
        KUBESOLO_UPDATE_REBOOT_COMMAND: `echo reboot >> '${r.p('rebooted')}'`,
        KUBESOLO_UPDATE_WATCHDOG_POLL: '0.05',
        ...extraEnv,
      },
      stdio: ['ignore', fd, fd],
      timeout: 10_000,
    });
    const text = readFileSync(file, 'utf8');
    assert.equal(out.status, 0, text);
    return text;
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000) {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) assert.fail(`timed out waiting for: ${what}`);
    await sleep(20);
  }
}
/** The background wait ended (its pid file is removed when it returns). */
const waitEnded = (r: Root) =>
  until('watchdog exit', () => !existsSync(r.p('run/kubesolo-update/watchdog.pid')));

for (const [name, shell] of SHELLS) {
  describe(
    `commit-deadline watchdog (${name})`,
    { skip: skip || (name !== 'dash' && !haveBusybox && 'no /bin/busybox') },
    () => {
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
        assert.match(stage(shell, r), /not armed/); // missing
        r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
        const block = await readFile(r.p('boot/grub/grubenv'));
        await writeFile(r.p('boot/grub/grubenv'), block.subarray(0, 1023)); // wrong size
        assert.match(stage(shell, r), /not armed/);
        await writeFile(
          r.p('boot/grub/grubenv'),
          Buffer.concat([Buffer.from('X'), block.subarray(1)]),
        );
        assert.match(stage(shell, r), /not armed/); // no signature
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
        grubEditenvOk(
          r.p('efi/grubenv'),
          'set',
          'active_slot=B',
          'boot_counter=2',
          'boot_success=0',
        );
        assert.match(stage(shell, r), /armed/);
        await until('reboot', () => r.rebooted());
      });

      it('kernel watchdog device: petted while armed, magic-closed on commit', async () => {
        const r = await makeRoot({
          uptime: 10,
          conf: 'commit_deadline=30s\ncommit_watchdog_device=/dev/watchdog0\n',
        });
        await mkdir(r.p('dev'));
        await writeFile(r.p('dev/watchdog0'), '');
        r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
        stage(shell, r);
        await until(
          'petted',
          async () => (await readFile(r.p('dev/watchdog0'), 'utf8')).length >= 3,
        );
        r.env({ active_slot: 'B', boot_counter: '3', boot_success: '1' });
        await waitEnded(r);
        const written = await readFile(r.p('dev/watchdog0'), 'utf8');
        assert.match(written, /^\.+V$/, 'pets, then the magic close');
        assert.match(await r.log(), /kernel watchdog \/dev\/watchdog0 opened/);
      });

      it('kernel watchdog device with nowayout is not used (it could not be stopped)', async () => {
        const r = await makeRoot({
          uptime: 10,
          conf: 'commit_deadline=30s\ncommit_watchdog_device=/dev/watchdog0\n',
        });
        await mkdir(r.p('dev'));
        await mkdir(r.p('sys/class/watchdog/watchdog0'), { recursive: true });
        await writeFile(r.p('sys/class/watchdog/watchdog0/nowayout'), '1\n');
        await writeFile(r.p('dev/watchdog0'), '');
        r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
        stage(shell, r);
        await r.uptime(30);
        await until('reboot', () => r.rebooted());
        assert.equal(await readFile(r.p('dev/watchdog0'), 'utf8'), '');
        assert.match(await r.log(), /not using \/dev\/watchdog0: its driver has nowayout set/);
      });
    },
  );
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
          const err = stage(['/bin/sh'], r, { KUBESOLO_UPDATE_REBOOT_COMMAND: 'true' });
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
        const err = stage(['/bin/sh'], r, { KUBESOLO_UPDATE_REBOOT_COMMAND: 'true' });
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
