/**
 * The commit-deadline watchdog (os/init.d/20-kubesolo-update-watchdog.sh) on a U-Boot
 * device (update.conf bootloader=uboot): it reads the A/B variables through the OS's
 * fw_printenv (libubootenv) with the fw_env.config the agent uses, from environments
 * written by `mkenvimage`, by dash and busybox sh. Time is the test's (/proc/uptime
 * under KUBESOLO_ROOT); the reboot command writes a file.
 *
 * fw_printenv does not know KUBESOLO_ROOT: the device paths inside fw_env.config are
 * the host's, so the test writes them as absolute paths of its temporary root.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { mkenvimage, ubootToolsSkipReason } from '../bootenv/uboot-tools.js';
import { runWatchdogStage, sleep, SHELLS, useStageRoots, waitUntil } from './watchdog-stage.js';

/** The OS's own shells: dash and busybox sh. */
const OS_SHELLS = SHELLS.filter(([name]) => name !== 'bash --posix');
const SIZE = 0x4000;
const roots = useStageRoots('ks-watchdog-uboot-');

async function makeRoot(cmdline = 'kubesolo.slot=B panic=10\n') {
  const { root, p } = await roots.newRoot();
  await mkdir(p('boot'), { recursive: true });
  await mkdir(p('proc'), { recursive: true });
  await mkdir(p('etc/kubesolo'), { recursive: true });
  await writeFile(p('proc/cmdline'), cmdline);
  await writeFile(p('proc/uptime'), '10.00 1.00\n');
  await writeFile(
    p('etc/kubesolo/fw_env.config'),
    `${p('boot/kubesolo.env')} 0x0 0x${SIZE.toString(16)}\n`,
  );
  await writeFile(p('etc/kubesolo/update.conf'), 'bootloader=uboot\ncommit_deadline=30s\n');
  return {
    root,
    p,
    /** Built aside and renamed in, as a complete write lands. */
    env(vars: Record<string, string>, torn = false) {
      mkenvimage(p('boot/new.env'), Object.entries(vars), { size: SIZE, pad: 0 });
      if (torn) {
        const b = readFileSync(p('boot/new.env'));
        b[100] = 0x55;
        writeFileSync(p('boot/new.env'), b);
      }
      renameSync(p('boot/new.env'), p('boot/kubesolo.env'));
    },
    uptime: (s: number) => writeFile(p('proc/uptime'), `${s}.00 1.00\n`),
    rebooted: () => existsSync(p('rebooted')),
  };
}
type Root = Awaited<ReturnType<typeof makeRoot>>;

function stage(shell: string[], r: Root, extraEnv: Record<string, string> = {}): string {
  return runWatchdogStage(shell, r, { env: extraEnv, timeoutMs: 10_000 });
}
const until = (what: string, cond: () => boolean, ms = 5000) => waitUntil(what, cond, ms);
const waitEnded = (r: Root) =>
  until('watchdog exit', () => !existsSync(r.p('run/kubesolo-update/watchdog.pid')));

describe('watchdog with bootloader=uboot (fw_printenv)', { skip: ubootToolsSkipReason() }, () => {
  for (const [name, shell, skip] of OS_SHELLS) {
    it(`${name}: a trial of B is armed, fires at the deadline and reboots`, { skip }, async () => {
      const r = await makeRoot();
      r.env({
        active_slot: 'B',
        boot_counter: '2',
        boot_success: '0',
        bootcmd: 'run distro_bootcmd',
      });
      const out = stage(shell, r);
      assert.match(
        out,
        /slot B is on trial \(boot_counter=2\): armed, reboot unless committed 30 s after boot/,
      );
      await sleep(200);
      assert.equal(r.rebooted(), false, 'not before the deadline');
      await r.uptime(31);
      await until('reboot', () => r.rebooted());
      await waitEnded(r);
    });

    it(`${name}: a commit (boot_success=1 written) disarms it`, { skip }, async () => {
      const r = await makeRoot();
      r.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
      stage(shell, r);
      r.env({ active_slot: 'B', boot_counter: '3', boot_success: '1' });
      await waitEnded(r);
      await r.uptime(100);
      await sleep(200);
      assert.equal(r.rebooted(), false);
      assert.match(
        readFileSync(r.p('var/lib/kubesolo/update/watchdog.log'), 'utf8'),
        /boot committed \(boot_success=1, active_slot=B\)/,
      );
    });

    it(
      `${name}: committed, torn (bad CRC) or unreadable environments never arm it`,
      { skip },
      async () => {
        const committed = await makeRoot();
        committed.env({ active_slot: 'B', boot_counter: '3', boot_success: '1' });
        assert.match(
          stage(shell, committed),
          /not an update trial boot \(boot_success=1\): not armed/,
        );
        // A torn environment: U-Boot boots its defaults (slot A, committed); fw_printenv
        // cannot read it; the watchdog takes no variables from it.
        const torn = await makeRoot();
        torn.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' }, true);
        assert.match(
          stage(shell, torn),
          /U-Boot environment \S+fw_env\.config is damaged \(fw_printenv -c \S+ could not read it\): U-Boot reads it as no variables, so this is no update trial boot: not armed/,
        );
        const noTool = await makeRoot();
        noTool.env({ active_slot: 'B', boot_counter: '2', boot_success: '0' });
        assert.match(
          stage(shell, noTool, { KUBESOLO_UPDATE_FW_PRINTENV: noTool.p('no-such-fw_printenv') }),
          /U-Boot environment \S+ is damaged \(fw_printenv -c \S+ could not read it\)/,
        );
        for (const r of [committed, torn, noTool]) assert.equal(r.rebooted(), false);
      },
    );

    it(`${name}: the GRUB environment is not read on a U-Boot device`, { skip }, async () => {
      const r = await makeRoot();
      r.env({ active_slot: 'B', boot_counter: '3', boot_success: '1' });
      // A stale grubenv saying "on trial" must not arm it.
      await mkdir(r.p('boot/grub'), { recursive: true });
      const block = Buffer.alloc(1024, '#');
      block.write('# GRUB Environment Block\nactive_slot=B\nboot_counter=2\nboot_success=0\n');
      await writeFile(r.p('boot/grub/grubenv'), block);
      assert.match(stage(shell, r), /not an update trial boot \(boot_success=1\): not armed/);
    });
  }
});
