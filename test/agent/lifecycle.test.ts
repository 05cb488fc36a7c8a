/**
 * The lifecycle end to end through the real agent bundle: a --root device with dir
 * slots, a GRUB environment made by grub-editenv, a signed release on a loopback
 * server, and GRUB's boot rules applied by src/bootenv/grub-sim.ts for reboots.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, afterEach, describe, it } from 'node:test';
import { AGENT_BIN, logLines, runAgent, expectRefusal } from '../helpers/cli.js';
import {
  makeKeys,
  makeSignedDevice,
  publishRelease,
  readJson,
  useReleaseServer,
  type Device,
} from '../helpers/device.js';
import { grubEnv, grubSet } from '../helpers/grub-env.js';
import { formatMinute, localMinuteOfDay } from '../../src/config/window.js';
import { treeSnapshot } from '../helpers/tree.js';
import { INCOMING_DIR } from '../../src/slots/slot-files.js';
import { assertCode } from '../helpers/code-assert.js';
import { loggedLine } from '../helpers/code-log-line.js';
import { assertCommittedBoot } from '../helpers/device-fixture.js';

const keys = makeKeys();

async function json(args: string[], env?: NodeJS.ProcessEnv) {
  const r = await runAgent([...args, '--json'], env ? { env } : {});
  return { ...r, doc: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, any>) : {} };
}

describe('lifecycle over dir slots', () => {
  const fixture = useReleaseServer();
  let dev: Device;
  beforeEach(async () => {
    fixture.server.setDelay(0);
    dev = await makeSignedDevice(fixture.server, keys, { health_checks: 'disk_writable' });
    await publishRelease(fixture.dir, {
      version: 'v1.1.0',
      keys,
      channel: 'stable',
      architecture: 'amd64',
    });
  });
  afterEach(async () => {
    await dev.cleanup();
  });
  const root = () => ['--root', dev.root];

  it('check reports the update and every gate, and changes no lifecycle state', async () => {
    // check creates nothing on a device that never ran the agent (test/cli/
    // operator-experience.test.ts); where the state directory exists, it records itself.
    await mkdir(dev.path('var/lib/kubesolo/update'), { recursive: true });
    const r = await json(['check', ...root()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.current_version, 'v1.0.0');
    assert.equal(r.doc.available_version, 'v1.1.0');
    assert.equal(r.doc.update_available, true);
    assert.equal(r.doc.would_apply, true);
    const names = (r.doc.gates as { gate: string }[]).map((g) => g.gate);
    for (const g of [
      'hold',
      'maintenance_window',
      'channel',
      'architecture',
      'min_compatible_version',
      'version',
      'free_space',
      'node_block',
      'quarantine',
    ]) {
      assert.ok(names.includes(g), g);
    }
    // The lifecycle is untouched; only the check itself is recorded (fleet metrics).
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'idle');
    assert.equal(st.to_version, '');
    assert.equal(st.attempt_count, 0);
    assert.equal(st.updated_at, '');
    assert.equal(st.available_version, 'v1.1.0');
    assert.ok(Math.abs(Date.parse(String(st.last_check_at)) - Date.now()) < 60_000);
    const human = await runAgent(['check', ...root()]);
    assert.match(human.stdout, /Update available:\s+yes/);
    assert.match(human.stdout, /ok\s+version\s+v1\.0\.0 → v1\.1\.0/);
  });

  it('apply → activate → reboot → status: the new slot runs, on trial', async () => {
    const a = await json(['apply', ...root()]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.doc.outcome, 'staged');
    assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'staged');
    assert.equal(st.target_slot, 'B');
    assert.equal(st.from_version, 'v1.0.0');
    assert.equal(st.to_version, 'v1.1.0');
    assert.equal(st.attempt_count, 1);
    // The image was downloaded into slot B itself: no staging copy on the data
    // partition, and the slot's incoming directory is empty once it holds the image.
    assert.equal(existsSync(dev.path('var/lib/kubesolo/update/staging')), false);
    assert.deepEqual(readdirSync(dev.path('slots/b/.incoming')), []);
    assert.deepEqual(readdirSync(dev.path('slots/b')).sort(), [
      '.incoming',
      'kubesolo-os.gz',
      'version',
      'vmlinuz',
    ]);
    // GRUB still boots A until activate.
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'A');

    const act = await json(['activate', ...root()]);
    assert.equal(act.code, 0, act.stderr);
    assert.deepEqual(
      { ...grubEnv(dev.path('boot/grub/grubenv')) },
      { active_slot: 'B', boot_counter: '3', boot_success: '0' },
    );

    assert.equal(await dev.reboot(), 'B');
    const s = await json(['status', ...root()]);
    assert.equal(s.code, 0, s.stderr);
    assert.equal(s.doc.running_slot, 'B');
    assert.equal(s.doc.active_slot, 'B');
    assert.equal(s.doc.boot_success, false);
    assert.deepEqual(s.doc.slots, { A: { version: 'v1.0.0' }, B: { version: 'v1.1.0' } });
    assert.equal(s.doc.state.phase, 'activated');
  });

  it('a slot that never becomes healthy: GRUB falls back and the agent says so (BOOT_FALLBACK)', async () => {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    // Three boots of B that never commit, then GRUB gives up on it.
    const booted: string[] = [];
    for (let i = 0; i < 4; i++) booted.push(await dev.reboot());
    assert.deepEqual(booted, ['B', 'B', 'B', 'A']);
    const s = await json(['status', ...root()]);
    assert.equal(s.doc.running_slot, 'A');
    assert.equal(s.doc.state.phase, 'rolled_back');
    assertCode(s.doc.state.reason, 'BOOT_FALLBACK');
    assert.match(String(s.doc.state.last_error), /fell back to slot A \(v1\.0\.0\)/);
    // Bounded: the old slot is trusted from now on, no ping-pong.
    for (let i = 0; i < 3; i++) assert.equal(await dev.reboot(), 'A');
  });

  it('up to date is exit 0 and changes no slot', async () => {
    await publishRelease(fixture.dir, { version: 'v1.0.0', keys });
    const r = await json(['apply', ...root()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.outcome, 'up-to-date');
    assert.equal(existsSync(dev.path('slots/b/version')), false);
  });

  const refusals: [string, () => Promise<void>, string, number][] = [
    [
      'channel',
      () =>
        publishRelease(fixture.dir, { version: 'v1.1.0', keys, channel: 'beta' }).then(() =>
          setConf(dev, { channel: 'stable' }),
        ),
      'CHANNEL_MISMATCH',
      3,
    ],
    [
      'architecture',
      () =>
        publishRelease(fixture.dir, { version: 'v1.1.0', keys, architecture: 'mips64' }).then(
          () => undefined,
        ),
      'ARCH_MISMATCH',
      3,
    ],
    [
      'minimum version',
      () =>
        publishRelease(fixture.dir, {
          version: 'v2.0.0',
          keys,
          minCompatibleVersion: 'v1.5.0',
        }).then(() => undefined),
      'VERSION_INCOMPATIBLE',
      3,
    ],
    [
      'downgrade',
      () => publishRelease(fixture.dir, { version: 'v0.9.0', keys }).then(() => undefined),
      'DOWNGRADE_REFUSED',
      3,
    ],
    [
      'free space',
      () =>
        publishRelease(fixture.dir, {
          version: 'v1.1.0',
          keys,
          patch: { vmlinuz_size: 2 ** 52 },
        }).then(() => undefined),
      'INSUFFICIENT_SPACE',
      3,
    ],
    [
      'bad signature',
      () =>
        publishRelease(fixture.dir, { version: 'v1.1.0', keys: makeKeys() }).then(() => undefined),
      'SIGNATURE_INVALID',
      4,
    ],
    [
      'tampered image',
      async () => {
        await publishRelease(fixture.dir, { version: 'v1.1.0', keys });
        await writeFile(join(fixture.dir, 'v1.1.0/kubesolo-os.gz'), Buffer.alloc(256 * 1024, 1));
      },
      'HASH_MISMATCH',
      4,
    ],
  ];
  for (const [name, setup, code, exit] of refusals) {
    it(`refused by ${name}: phase failed, ${code}, exit ${exit}, slot B untouched`, async () => {
      // Slot B holds an older image (as after an update and a rollback): a refusal must
      // leave every file of it as it was. Only the download area (.incoming, where a
      // verified image waits for the next run) may change.
      await writeFile(dev.path('slots/b/vmlinuz'), 'old kernel');
      await writeFile(dev.path('slots/b/kubesolo-os.gz'), 'old initramfs');
      await writeFile(dev.path('slots/b/version'), 'v0.8.0\n');
      const slotB = treeSnapshot(dev.path('slots/b'), [INCOMING_DIR]);
      await setup();
      const r = await json(['apply', ...root()]);
      expectRefusal(r, code, exit);
      const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
      assert.equal(st.phase, 'failed');
      assert.equal(st.reason, code);
      assert.ok(String(st.last_error).length > 0);
      assert.deepEqual(treeSnapshot(dev.path('slots/b'), [INCOMING_DIR]), slotB, 'slot B changed');
      assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'A');
      assert.equal(
        logLines(r.stderr).some((l) => l.code === code),
        true,
      );
    });
  }

  // docs/operating.md "The reboot honours the window": staging goes on outside the
  // window, the activation (and the reboot after it) waits for it.
  it('outside the window apply stages; apply --activate and activate defer, GRUB untouched', async () => {
    await setConf(dev, { maintenance_window: closedWindow() });
    // check: the update would be staged now and activated later, which is no refusal.
    const c = await json(['check', ...root()]);
    assert.equal(c.code, 0, c.stderr);
    assert.equal(c.doc.would_apply, true);
    assert.equal(c.doc.activates_now, false);
    const window = (c.doc.gates as Record<string, unknown>[]).find(
      (g) => g.gate === 'maintenance_window',
    );
    assert.deepEqual(
      [window?.pass, window?.code, window?.activation],
      [false, 'OUTSIDE_MAINTENANCE_WINDOW', true],
    );
    assert.match((await runAgent(['check', ...root()])).stdout, /later\s+maintenance_window/);
    const staged = await json(['apply', ...root()]);
    assert.equal(staged.code, 0, staged.stderr);
    assert.equal(staged.doc.outcome, 'staged');
    assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
    const deferred = await json(['apply', '--activate', '--reboot', ...root()], {
      KUBESOLO_UPDATE_REBOOT_COMMAND: `touch ${dev.path('rebooted')}`,
    });
    expectRefusal(deferred, 'ACTIVATION_DEFERRED', 3);
    assert.match(deferred.doc.error.message, /activates in the next maintenance window/);
    assert.equal(existsSync(dev.path('rebooted')), false, 'no reboot outside the window');
    const act = await json(['activate', ...root()]);
    expectRefusal(act, 'OUTSIDE_MAINTENANCE_WINDOW', 3);
    assertCommittedBoot(dev, 'A');
    const s = await json(['status', ...root()]);
    assert.equal(s.doc.state.phase, 'staged');
    assertCode(s.doc.state.reason, 'OUTSIDE_MAINTENANCE_WINDOW');
    assert.equal(s.doc.activation.when, 'next_window');
    const human = await runAgent(['status', ...root()]);
    assert.match(human.stdout, /Activates: in the next maintenance window/);
    // --force activates now, window or not.
    const forced = await json(['activate', '--force', ...root()]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'B');
  });

  // One gate list (src/gates/gates.ts): the activation reads the window in the
  // configured zone. Pacific/Kiritimati is UTC+14, Pacific/Pago_Pago UTC-11: an hour
  // around Kiritimati's "now" is closed in Pago Pago whatever the process's own TZ says.
  it('activate reads the window in time_zone, not the process TZ', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    const m = localMinuteOfDay(new Date(), 'Pacific/Kiritimati');
    const window = `${formatMinute((m + 1440 - 30) % 1440)}-${formatMinute((m + 30) % 1440)}`;
    await setConf(dev, { maintenance_window: window, time_zone: 'Pacific/Pago_Pago' });
    const closed = await runAgent(['activate', '--json', ...root()], {
      env: { TZ: 'Pacific/Kiritimati' },
    });
    assert.equal(closed.code, 3, closed.stdout + closed.stderr);
    const doc = JSON.parse(closed.stdout) as { error: { code: string; message: string } };
    assertCode(doc.error.code, 'OUTSIDE_MAINTENANCE_WINDOW');
    assert.match(doc.error.message, /Pacific\/Pago_Pago/);
    // Refused without recording failed: the staged update stays activatable.
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'staged');
  });

  it('a second run while one holds the lock exits 1 with LOCKED', async () => {
    // Long enough that the first run still holds the lock however slowly the second starts.
    fixture.server.setDelay(60_000);
    const first = spawn(process.execPath, [AGENT_BIN, 'apply', ...root()], { stdio: 'ignore' });
    try {
      await waitFor(() => phaseOf(dev) === 'downloading');
      const second = await json(['apply', ...root()]);
      expectRefusal(second, 'LOCKED', 1);
    } finally {
      first.kill('SIGKILL');
    }
  });

  for (const killIn of ['checking', 'downloading'] as const) {
    it(`a run killed (SIGKILL) in phase ${killIn} is recovered by the next run`, async () => {
      fixture.server.setDelay(3000, { metadata: killIn === 'checking' });
      const child = spawn(process.execPath, [AGENT_BIN, 'apply', '--activate', ...root()], {
        stdio: 'ignore',
      });
      const exited = new Promise((r) => child.on('exit', r));
      await waitFor(() => phaseOf(dev) === killIn);
      child.kill('SIGKILL');
      await exited;
      fixture.server.setDelay(0);
      // The interrupted run never made the half-written slot selectable.
      assertCommittedBoot(dev, 'A');
      const s0 = await json(['status', ...root()]);
      assert.equal(s0.doc.state.phase, killIn);
      // A rerun completes the update.
      const again = await json(['apply', '--activate', ...root()]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await dev.reboot(), 'B');
      const s = await json(['status', ...root()]);
      assert.equal(s.doc.state.phase, 'activated');
      assert.equal(s.doc.slots.B.version, 'v1.1.0');
    });
  }

  it('verified work is never fetched twice: a failed run keeps the verified kernel in the slot, the rerun reuses it', async () => {
    const initramfs = join(fixture.dir, 'v1.1.0', 'kubesolo-os.gz');
    await rename(initramfs, `${initramfs}.away`);
    const failed = await json(['apply', ...root()]);
    expectRefusal(failed, 'HTTP_STATUS', 1);
    // The kernel was verified straight into slot B's incoming directory and stays there.
    assert.ok(readdirSync(dev.path('slots/b/.incoming')).includes('vmlinuz'));
    assert.equal(existsSync(dev.path('slots/b/version')), false);
    await rename(`${initramfs}.away`, initramfs);
    const again = await json(['apply', ...root()]);
    assert.equal(again.code, 0, again.stderr);
    const verified = logLines(again.stderr).filter((l) => l.msg === 'artifact verified');
    const kernel = verified.find((l) => l.artifact === 'vmlinuz')!;
    assert.equal(kernel.fetched, 0);
    assert.equal(kernel.resumed_from, kernel.bytes);
    const initrd = verified.find((l) => l.artifact === 'initramfs')!;
    assert.equal(initrd.fetched, initrd.bytes);
    assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
  });

  it('a power cut between the GRUB write and the state write is recovered (activation recorded)', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    // What activate's one GRUB write does, without the state write that follows it.
    grubSet(dev.path('boot/grub/grubenv'), {
      active_slot: 'B',
      boot_success: '0',
      boot_counter: '3',
    });
    assert.equal(await dev.reboot(), 'B');
    const s = await json(['status', ...root()]);
    assert.equal(s.doc.state.phase, 'activated');
    loggedLine(s.stderr, 'ACTIVATION_RECOVERED');
  });

  it('rollback switches to the other slot, and refuses when it is empty', async () => {
    const refused = await json(['rollback', ...root()]);
    expectRefusal(refused, 'NO_ROLLBACK_TARGET', 3);
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    await dev.reboot();
    const r = await json(['rollback', ...root()]);
    assert.equal(r.code, 0, r.stderr);
    assertCommittedBoot(dev, 'A');
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.phase, 'rolled_back');
    assertCode(st.reason, 'MANUAL_ROLLBACK');
    assert.equal(await dev.reboot(), 'A');
  });

  it('activate refuses without a staged update, and after the slot was tampered with', async () => {
    const none = await json(['activate', ...root()]);
    expectRefusal(none, 'NOTHING_STAGED', 3);
    assert.equal((await json(['apply', ...root()])).code, 0);
    await writeFile(dev.path('slots/b/vmlinuz'), 'evil');
    const r = await json(['activate', ...root()]);
    assert.equal(r.code, 4, r.stderr);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'A');
    assert.equal((await readJson(dev.path('var/lib/kubesolo/update/state.json'))).phase, 'failed');
  });

  it('apply first clears a stale activation (active slot != running slot)', async () => {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    // Not rebooted; the operator rolls back by hand and a newer release comes out.
    grubSet(dev.path('boot/grub/grubenv'), {
      active_slot: 'A',
      boot_success: '1',
      boot_counter: '3',
    });
    await writeFile(
      dev.path('var/lib/kubesolo/update/state.json'),
      JSON.stringify({ phase: 'failed' }),
    );
    grubSet(dev.path('boot/grub/grubenv'), { active_slot: 'B', boot_success: '0' });
    await publishRelease(fixture.dir, { version: 'v1.2.0', keys });
    const r = await json(['apply', ...root()]);
    assert.equal(r.code, 0, r.stderr);
    // While B was being rewritten GRUB pointed at A, the running slot; now A is still active.
    assertCommittedBoot(dev, 'A');
  });
  // A corrupt state file: test/agent/status-corrupt-state.test.ts.
});

function phaseOf(dev: Device): string | undefined {
  try {
    const text = execFileSync('cat', [dev.path('var/lib/kubesolo/update/state.json')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return (JSON.parse(text) as { phase?: string }).phase;
  } catch {
    return undefined;
  }
}

// Generous: a loaded two-core machine takes seconds to start the agent (the condition
// normally holds well within a second).
async function waitFor(cond: () => boolean, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A window that is closed now: it opens two hours from now, for one hour. */
function closedWindow(): string {
  const now = new Date();
  const at = (h: number) => `${String((now.getHours() + h) % 24).padStart(2, '0')}:00`;
  return `${at(2)}-${at(3)}`;
}

async function setConf(dev: Device, extra: Record<string, string>): Promise<void> {
  const current = await readFile(dev.path('etc/kubesolo/update.conf'), 'utf8');
  await writeFile(
    dev.path('etc/kubesolo/update.conf'),
    current +
      Object.entries(extra)
        .map(([k, v]) => `${k}=${v}\n`)
        .join(''),
  );
}
