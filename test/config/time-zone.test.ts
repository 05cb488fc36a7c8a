/**
 * time_zone and the host's /etc/localtime (src/config/time-zone.ts): which zone the
 * maintenance window is read in, unit by unit and through the real agent.
 */
import { strict as assert } from 'node:assert';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { resolveTimeZone, zoneFromLink } from '../../src/config/time-zone.js';
import { formatMinute, localMinuteOfDay } from '../../src/config/window.js';
import type { LogFields, Logger } from '../../src/log.js';
import { runAgent } from '../helpers/cli.js';
import { makeDevice, type Device } from '../helpers/device.js';
import { assertCode, assertNamesCode } from '../helpers/code-assert.js';

function recordingLog(): Logger & { warnings: { msg: string; fields?: LogFields }[] } {
  const warnings: { msg: string; fields?: LogFields }[] = [];
  return {
    level: 'debug',
    warnings,
    debug: () => undefined,
    info: () => undefined,
    warn: (msg, fields) => warnings.push({ msg, ...(fields ? { fields } : {}) }),
    error: () => undefined,
  };
}

describe('zoneFromLink', () => {
  const cases: [string, string | undefined][] = [
    ['/usr/share/zoneinfo/Europe/Berlin', 'Europe/Berlin'],
    ['../usr/share/zoneinfo/America/Argentina/Buenos_Aires', 'America/Argentina/Buenos_Aires'],
    ['/usr/share/zoneinfo/posix/Asia/Tokyo', 'Asia/Tokyo'],
    ['/usr/share/zoneinfo/right/UTC', 'UTC'],
    ['/etc/zoneinfo/Etc/UTC', 'Etc/UTC'],
    ['/usr/share/zoneinfo/Mars/Base', undefined],
    ['/etc/alternatives/localtime', undefined],
    ['', undefined],
  ];
  for (const [target, zone] of cases) {
    it(`${JSON.stringify(target)} → ${String(zone)}`, () =>
      assert.equal(zoneFromLink(target), zone));
  }
});

describe('resolveTimeZone', () => {
  let dev: Device;
  before(async () => {
    dev = await makeDevice();
    await mkdir(dev.path('etc'), { recursive: true });
  });
  after(() => dev.cleanup());
  const localtime = () => dev.path('etc/localtime');
  const reset = async () => {
    const { rm } = await import('node:fs/promises');
    await rm(localtime(), { force: true });
    await rm(dev.path('etc/timezone'), { force: true });
  };
  /** resolveTimeZone under the device's root must give `expected`; returns its warnings. */
  async function expectZone(expected: { zone?: string; source: string }, configured?: string) {
    const log = recordingLog();
    const resolved = await resolveTimeZone({ log, configured, root: dev.root });
    assert.deepEqual(resolved, { zone: undefined, ...expected });
    return log.warnings;
  }

  it('time_zone wins over /etc/localtime', async () => {
    await reset();
    await symlink('/usr/share/zoneinfo/Asia/Tokyo', localtime());
    await expectZone({ zone: 'Europe/Berlin', source: 'time_zone' }, 'Europe/Berlin');
  });

  it('a zoneinfo symlink names the zone (under --root, not the host)', async () => {
    await reset();
    // The target need not exist under the root: only its name is read.
    await symlink('../usr/share/zoneinfo/Pacific/Kiritimati', localtime());
    await expectZone({ zone: 'Pacific/Kiritimati', source: '/etc/localtime' });
  });

  it('a copied file: /etc/timezone names it when valid', async () => {
    await reset();
    await writeFile(localtime(), 'TZif2 not parsed');
    await writeFile(dev.path('etc/timezone'), 'America/St_Johns\n');
    await expectZone({ zone: 'America/St_Johns', source: '/etc/timezone' });
  });

  it('a copied TZif file (what a hostPath mount of the link gives a pod): matched in a zoneinfo tree', async () => {
    await reset();
    // The host's file, copied: its bytes, not its name, reach the pod.
    await copyFile('/usr/share/zoneinfo/Pacific/Kiritimati', localtime());
    await expectZone({ zone: 'Pacific/Kiritimati', source: 'zoneinfo match' });
    // A zoneinfo tree under --root is searched first (here: a single zone file).
    await mkdir(dev.path('usr/share/zoneinfo/Etc'), { recursive: true });
    await copyFile('/usr/share/zoneinfo/Etc/UTC', dev.path('usr/share/zoneinfo/Etc/UTC'));
    await copyFile('/usr/share/zoneinfo/Etc/UTC', localtime());
    await expectZone({ zone: 'Etc/UTC', source: 'zoneinfo match' });
  });

  it('a copied file without a name: the process zone, with a TIME_ZONE_UNKNOWN warning', async () => {
    await reset();
    await copyFile('/etc/hostname', localtime()).catch(() => writeFile(localtime(), 'TZif2'));
    await writeFile(dev.path('etc/timezone'), 'Not/AZone\n');
    const warnings = await expectZone({ source: 'process' });
    assert.equal(warnings.length, 1);
    assertCode(warnings[0]!.fields?.code, 'TIME_ZONE_UNKNOWN');
    assert.match(warnings[0]!.msg, /set time_zone=/);
  });

  it('a symlink outside any zoneinfo tree: the process zone, with a warning', async () => {
    await reset();
    await symlink('/etc/alternatives/localtime', localtime());
    const warnings = await expectZone({ source: 'process' });
    assertCode(warnings[0]!.fields?.code, 'TIME_ZONE_UNKNOWN');
  });

  it('no /etc/localtime under --root: the process zone, silently', async () => {
    await reset();
    assert.equal((await expectZone({ source: 'process' })).length, 0);
  });
});

// Through the real agent: `activate` of a staged update checks the window before any
// network work (the window gates the activation, docs/operating.md "The reboot honours the
// window"), so a closed window is exit 3 OUTSIDE_MAINTENANCE_WINDOW and an open one goes on
// to fetch the offer again from the (absent) server and fails there. Pacific/Kiritimati
// is UTC+14 and Pacific/Pago_Pago UTC-11 (neither has DST): the same instant is 25 hours apart on their wall clocks, so a
// one-hour window around Kiritimati's "now" is closed in Pago Pago.
describe('the agent reads the window in the configured zone', () => {
  let dev: Device;
  before(async () => {
    dev = await makeDevice();
    await mkdir(dev.path('etc'), { recursive: true });
    // An update staged in slot B (the slot's content is looked at only after the gates).
    await mkdir(dev.path('var/lib/kubesolo/update'), { recursive: true });
    await writeFile(
      dev.path('var/lib/kubesolo/update/state.json'),
      JSON.stringify({
        phase: 'staged',
        target_slot: 'B',
        from_version: 'v1.0.0',
        to_version: 'v1.1.0',
        kernel_sha256: 'a'.repeat(64),
        initramfs_sha256: 'b'.repeat(64),
      }),
    );
  });
  after(() => dev.cleanup());

  function windowAroundNow(zone: string): string {
    const m = localMinuteOfDay(new Date(), zone);
    return `${formatMinute((m + 1440 - 30) % 1440)}-${formatMinute((m + 30) % 1440)}`;
  }
  async function apply(extra: Record<string, string>, args: string[] = []) {
    await dev.writeConfig({
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      slot_b_dir: '/slots/b',
      grubenv: '/boot/grub/grubenv',
      server: 'http://127.0.0.1:9/',
      ...extra,
    });
    return runAgent(['activate', '--json', '--root', dev.root, ...args], {
      env: { TZ: 'Pacific/Pago_Pago' },
    });
  }

  it('default: the zone /etc/localtime links to, not the process TZ', async () => {
    await symlink('/usr/share/zoneinfo/Pacific/Kiritimati', dev.path('etc/localtime'));
    const window = windowAroundNow('Pacific/Kiritimati');
    const open = await apply({ maintenance_window: window });
    assert.notEqual(open.code, 3, `window ${window} is open in Kiritimati: ${open.stdout}`);
    assert.doesNotMatch(open.stdout, /OUTSIDE_MAINTENANCE_WINDOW/);

    const closed = await apply({ maintenance_window: window, time_zone: 'Pacific/Pago_Pago' });
    assert.equal(closed.code, 3, closed.stdout + closed.stderr);
    assertNamesCode(closed.stdout, 'OUTSIDE_MAINTENANCE_WINDOW', 3);
    assert.match(closed.stdout, /Pacific\/Pago_Pago/);
  });

  it('--time-zone overrides the file, and a bad zone is exit 2 TIME_ZONE_INVALID', async () => {
    const window = windowAroundNow('Pacific/Pago_Pago');
    const r = await apply({ maintenance_window: window }, ['--time-zone', 'Pacific/Pago_Pago']);
    assert.notEqual(r.code, 3, r.stdout);
    const bad = await apply({ maintenance_window: window }, ['--time-zone', 'Pacific/Atlantis']);
    assert.equal(bad.code, 2);
    assertNamesCode(bad.stdout + bad.stderr, 'TIME_ZONE_INVALID', 2);
    assert.match(bad.stdout + bad.stderr, /--time-zone/);
  });
});
