/**
 * Fleet safety over HTTP through the real binaries (issue 18): releases made by
 * `kubesolo-release publish` (waves, min_version, default expiry, chosen keys), served
 * on loopback, installed by `kubesolo-update` on a simulated device whose reboots follow
 * GRUB's rules. Covers the secure default, waves at instants relative to the test's
 * clock (hours apart, as the maintenance-window tests do), the anti-rollback floor
 * (replay after commit, min_version, rollback below it) and a full key rotation.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { simulateGrubBoot } from '../../src/bootenv/grub-sim.js';
import { readDeviceId } from '../../src/fleet/device-id.js';
import { rolloutBucket } from '../../src/fleet/rollout.js';
import { logLines, runAgent, runRelease, expectRefusal } from '../helpers/cli.js';
import {
  makeDevice,
  readJson,
  serveDir,
  type Device,
  type StaticServer,
} from '../helpers/device.js';
import { grubSet } from '../helpers/grub-env.js';
import { assertCode } from '../helpers/code-assert.js';
import { loggedLine } from '../helpers/code-log-line.js';

const HOUR = 3600_000;
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

describe('fleet safety over HTTP, through the binaries', () => {
  let work: string;
  let site: string;
  let server: StaticServer;
  let dev: Device;
  const keyOld = () => join(work, 'keys-old/release.key');
  const keyNew = () => join(work, 'keys-new/release.key');
  const pubOld = async () => (await readFile(join(work, 'keys-old/release.pub'), 'utf8')).trim();
  const pubNew = async () => (await readFile(join(work, 'keys-new/release.pub'), 'utf8')).trim();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ks-fleet-http-'));
    site = join(work, 'site');
    await mkdir(site);
    server = await serveDir(site);
    for (const dir of ['keys-old', 'keys-new']) {
      const r = await runRelease(['keygen', '--out', join(work, dir)]);
      assert.equal(r.code, 0, r.stderr);
    }
  });
  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dev = await makeDevice({
      config: {
        server: server.url,
        pubkey: '/etc/kubesolo/update.pub',
        health_checks: 'disk_writable',
      },
    });
    await writeFile(dev.path('etc/kubesolo/update.pub'), `${await pubOld()}\n`);
    grubSet(dev.path('boot/grub/grubenv'), {
      active_slot: 'A',
      boot_success: '1',
      boot_counter: '3',
    });
  });
  afterEach(async () => {
    await dev.cleanup();
  });

  /** `kubesolo-release publish` of fresh images as `version`; --force replaces the folder. */
  async function publish(version: string, extra: string[] = [], key = keyOld()) {
    const dir = join(work, 'build', version);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'vmlinuz'), randomBytes(32 * 1024));
    await writeFile(join(dir, 'kubesolo-os.gz'), randomBytes(64 * 1024));
    const r = await runRelease([
      'publish',
      '--key',
      key,
      '--release-version',
      version,
      '--kernel',
      join(dir, 'vmlinuz'),
      '--initramfs',
      join(dir, 'kubesolo-os.gz'),
      '--out',
      site,
      '--force',
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r;
  }

  /** `publish --json` of the v1.1.0 build as `version` with `extra`, whatever it answers. */
  function publishArgs(version: string, extra: string[]) {
    return runRelease([
      'publish',
      '--key',
      keyOld(),
      '--release-version',
      version,
      '--kernel',
      join(work, 'build/v1.1.0/vmlinuz'),
      '--initramfs',
      join(work, 'build/v1.1.0/kubesolo-os.gz'),
      '--out',
      site,
      '--json',
      ...extra,
    ]);
  }

  async function agent(args: string[]) {
    const r = await runAgent([...args, '--root', dev.root, '--json']);
    return { ...r, doc: r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, any>) : {} };
  }

  async function reboot(): Promise<string> {
    const { bootedSlot } = simulateGrubBoot(dev.path('boot/grub/grubenv'));
    await dev.setRunningSlot(bootedSlot);
    await dev.newBootId();
    return bootedSlot;
  }

  /** apply → activate → reboot → healthcheck: the release on offer is committed. */
  async function installAndCommit(version: string): Promise<void> {
    const a = await agent(['apply', '--activate']);
    assert.equal(a.code, 0, a.stderr);
    await reboot();
    const h = await agent(['healthcheck', '--timeout', '0']);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(h.doc.action, 'committed');
    const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
    assert.equal(st.to_version, version);
  }

  const floorFile = () => dev.path('var/lib/kubesolo/update/floor.json');
  /** update.conf of the test device (dir slots, this server) with `extra`; no key unless given. */
  const deviceConfig = (extra: Record<string, string>) => ({
    slot_backend: 'dir',
    slot_a_dir: '/slots/a',
    slot_b_dir: '/slots/b',
    grubenv: '/boot/grub/grubenv',
    server: server.url,
    ...extra,
  });

  describe('secure by default', () => {
    it('no key configured: check and apply refuse (PUBKEY_REQUIRED, exit 2), nothing written', async () => {
      await publish('v1.1.0');
      await dev.writeConfig(deviceConfig({}));
      for (const cmd of ['check', 'apply']) {
        const r = await agent([cmd]);
        assert.equal(r.code, 2, `${cmd}: ${r.stderr}`);
        assertCode(r.doc.error.code, 'PUBKEY_REQUIRED');
        assert.match(r.doc.error.message, /set pubkey= .*allow_unsigned=true/);
      }
      assert.equal(await readFile(dev.path('slots/b/version'), 'utf8').catch(() => ''), '');
    });

    it('allow_unsigned=true (a lab) installs an unsigned release, and says so', async () => {
      await publish('v1.1.0');
      // The lab device has no key: the signatures next to the images are simply not read.
      await dev.writeConfig(deviceConfig({ allow_unsigned: 'true' }));
      const r = await agent(['apply']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.doc.outcome, 'staged');
      const warning = logLines(r.stderr).find((l) =>
        /no public key configured/.test(String(l.msg)),
      );
      assert.equal(warning?.level, 'warn', r.stderr);
    });
  });

  describe('waves', () => {
    /** publish's flags for a schedule from `start` with these waves (PERCENT@AFTER each). */
    const schedule = (start: string, ...waves: string[]) => [
      ...['--rollout-start', start],
      ...waves.flatMap((w) => ['--wave', w]),
    ];

    /** A machine-id whose bucket for `version` is in 5..94, and that bucket. */
    async function deviceInMidBucket(version: string): Promise<number> {
      for (let i = 0; ; i++) {
        const machineId = `${i.toString(16).padStart(8, '0')}${'ab'.repeat(12)}`;
        await writeFile(dev.path('etc/machine-id'), `${machineId}\n`);
        const id = await readDeviceId({
          machineId: dev.path('etc/machine-id'),
          stored: dev.path('var/lib/kubesolo/update/device-id'),
        });
        const bucket = rolloutBucket(id!.id, version);
        if (bucket >= 5 && bucket <= 94) return bucket;
      }
    }

    it('a device waits for its wave: check explains, apply refuses (ROLLOUT_NOT_OPEN, exit 3), --force overrides', async () => {
      const bucket = await deviceInMidBucket('v1.1.0');
      // Wave 1 (up to this device's bucket, exclusive) opened an hour ago; wave 2 (which
      // reaches it) opens in a day; wave 3 in three.
      const start = Date.now() - HOUR;
      await publish('v1.1.0', schedule(iso(start), `${bucket}@0s`, `${bucket + 1}@1d`, '100@3d'));
      const c = await agent(['check']);
      assert.equal(c.code, 3, c.stderr);
      const gate = (
        c.doc.gates as { gate: string; pass: boolean; code?: string; message: string }[]
      ).find((g) => g.gate === 'rollout');
      assert.equal(gate?.pass, false);
      assertCode(gate?.code, 'ROLLOUT_NOT_OPEN');
      assert.match(
        gate.message,
        new RegExp(
          `^wave 2 of 3 \\(${bucket + 1} %\\) opens .* UTC; this device is in bucket ${bucket}$`,
        ),
      );
      // check wrote nothing: the identifier is machine-id's, derived again each time.
      assert.equal(
        await readFile(dev.path('var/lib/kubesolo/update/device-id'), 'utf8').catch(() => 'absent'),
        'absent',
      );

      const a = await agent(['apply']);
      expectRefusal(a, 'ROLLOUT_NOT_OPEN', 3);
      const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
      assert.equal(st.phase, 'failed');
      assertCode(st.reason, 'ROLLOUT_NOT_OPEN');
      // apply keeps the identifier it used: the same bucket from now on, whoever runs it,
      // and logs only its first 8 characters.
      const kept = logLines(a.stderr).find((l) => /rollout identifier kept/.test(String(l.msg)));
      assert.match(String(kept?.id), /^[0-9a-f]{8}…$/);
      assert.equal(kept?.from, 'machine-id');
      assert.match(
        await readFile(dev.path('var/lib/kubesolo/update/device-id'), 'utf8'),
        /^[0-9a-f]{64}\n$/,
      );

      const forced = await agent(['apply', '--force']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(forced.doc.outcome, 'staged');
    });

    it('when its wave opens the device installs; a schedule stopped below its bucket holds it back', async () => {
      const bucket = await deviceInMidBucket('v1.1.0');
      // Stopped halfway: republished with the last wave below this device's bucket.
      const twoDaysAgo = iso(Date.now() - 2 * 24 * HOUR);
      await publish('v1.1.0', [...schedule(twoDaysAgo, `${bucket}@0s`), '--partial-rollout']);
      const held = await agent(['apply']);
      expectRefusal(held, 'ROLLOUT_NOT_OPEN', 3);
      assert.match(held.doc.error.message, new RegExp(`bucket ${bucket}, which no wave reaches`));
      // Going on: the schedule's second wave (one day in) has opened a day ago.
      await publish('v1.1.0', [
        ...schedule(twoDaysAgo, `${bucket}@0s`, `${bucket + 1}@1d`),
        '--partial-rollout',
      ]);
      const c = await agent(['check']);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(c.doc.would_apply, true);
      const a = await agent(['apply']);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(a.doc.outcome, 'staged');
    });

    it('verify prints the schedule; publish refuses a schedule a device would refuse', async () => {
      const r = await publish('v1.1.0', schedule('2026-12-01T14:00:00Z', '1@0s', '100@3d'));
      assert.match(r.stdout, /rollout\s+2 waves from 2026-12-01 14:00 UTC/);
      const v = await runRelease(['verify', '--pubkey', join(work, 'keys-old/release.pub'), site]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stdout, /wave 1 of 2\s+1 %\s+opens 2026-12-01 14:00 UTC \(start \+ 0s\)/);
      assert.match(v.stdout, /wave 2 of 2\s+100 %\s+opens 2026-12-04 14:00 UTC \(start \+ 3d\)/);
      const bad = await publishArgs('v1.1.1', ['--wave', '10@1d', '--wave', '5@2d']);
      assert.equal(bad.code, 2, bad.stderr);
      assertCode(JSON.parse(bad.stdout).error.code, 'INVALID_WAVE');
    });
  });

  describe('the anti-rollback floor', () => {
    it('a committed release becomes the floor; an old signed release replayed after it is refused (BELOW_FLOOR)', async () => {
      await publish('v1.0.5');
      const old = await readFile(join(site, 'latest.json'));
      const oldSig = await readFile(join(site, 'latest.json.sig'));
      await publish('v1.1.0');
      await installAndCommit('v1.1.0');
      assert.equal((await readJson(floorFile())).version, 'v1.1.0');
      assert.equal((await readJson(floorFile())).source, 'commit');
      // status shows it, as JSON and for people.
      const st = await agent(['status']);
      assert.equal(st.doc.floor.version, 'v1.1.0');
      assert.equal(st.doc.floor.source, 'commit');
      assert.deepEqual(st.doc.problems, []);
      const human = await runAgent(['status', '--root', dev.root]);
      assert.match(human.stdout, /^Floor: +v1\.1\.0 /m);

      // A power cut right after the commit lost the floor write: the next apply records
      // it again from state.json (phase success, to_version) before judging anything.
      await rm(floorFile());

      // The mirror serves the old, validly signed latest.json again.
      await writeFile(join(site, 'latest.json'), old);
      await writeFile(join(site, 'latest.json.sig'), oldSig);
      await writeFile(join(site, 'v1.0.5/latest.json.sig'), oldSig);
      const replay = await agent(['apply', '--allow-downgrade', '--force']);
      expectRefusal(replay, 'BELOW_FLOOR', 3);
      assert.match(replay.doc.error.message, /v1\.0\.5 is below the anti-rollback floor v1\.1\.0/);
      assert.equal((await readJson(floorFile())).version, 'v1.1.0');
      const c = await agent(['check', '--allow-downgrade']);
      assert.equal(c.code, 3);
      const floor = (c.doc.gates as { gate: string; code?: string }[]).find(
        (g) => g.gate === 'floor',
      );
      assertCode(floor?.code, 'BELOW_FLOOR');
    });

    it('rollback below the floor stays possible and is recorded; updates must then be at or above it', async () => {
      await publish('v1.1.0');
      await installAndCommit('v1.1.0');
      const rb = await agent(['rollback']);
      assert.equal(rb.code, 0, rb.stderr);
      const warn = loggedLine(rb.stderr, 'BELOW_FLOOR_ROLLBACK');
      assert.equal(warn.floor, 'v1.1.0');
      assert.equal(await reboot(), 'A');
      const st = await readJson(dev.path('var/lib/kubesolo/update/state.json'));
      assertCode(st.reason, 'MANUAL_ROLLBACK');
      // v1.0.5 is newer than what runs (v1.0.0) but older than the committed v1.1.0.
      await publish('v1.0.5');
      const a = await agent(['apply']);
      expectRefusal(a, 'BELOW_FLOOR', 3);
      assert.equal((await readFile(dev.path('slots/b/version'), 'utf8')).trim(), 'v1.1.0');
    });

    it('status reports an unreadable floor as a problem and goes on (FLOOR_CORRUPT)', async () => {
      await mkdir(dirname(floorFile()), { recursive: true });
      await writeFile(floorFile(), '{"version": 7}');
      const st = await agent(['status']);
      assert.equal(st.doc.floor, null);
      assert.deepEqual(
        (st.doc.problems as { source: string; code: string }[]).map((p) => [p.source, p.code]),
        [['floor', 'FLOOR_CORRUPT']],
      );
      assert.equal(st.doc.slots.A.version, 'v1.0.0');
    });

    it('a signed min_version raises the floor fleet-wide', async () => {
      await publish('v1.3.0', ['--min-version', 'v1.2.0']);
      const a = await agent(['apply']);
      assert.equal(a.code, 0, a.stderr);
      assert.deepEqual(
        {
          version: (await readJson(floorFile())).version,
          source: (await readJson(floorFile())).source,
        },
        { version: 'v1.2.0', source: 'min_version' },
      );
      await publish('v1.1.9');
      const below = await agent(['apply']);
      expectRefusal(below, 'BELOW_FLOOR', 3);
    });
  });

  describe('key rotation', () => {
    it('old key → a release shipping the new key, signed by the old → releases by the new key → old retired and refused', async () => {
      // Before the rotation the device trusts the old key only: the new one is refused.
      await publish('v1.1.0', [], keyNew());
      const early = await agent(['apply']);
      expectRefusal(early, 'SIGNATURE_INVALID', 4);

      // Step 2: a release signed by the old key whose OS carries both keys (the OS
      // image installs /etc/kubesolo/update.pub; here the test writes what it carries).
      await publish('v1.1.0', [], keyOld());
      await installAndCommit('v1.1.0');
      await writeFile(
        dev.path('etc/kubesolo/update.pub'),
        `# release keys of v1.1.0\n${await pubOld()}  # retiring\n${await pubNew()}  # 2027\n`,
      );
      const both = join(work, 'both.pub');
      await writeFile(both, `${await pubOld()}\n${await pubNew()}\n`);

      // Step 3: releases signed by the new key; verify checks against the key set.
      await publish('v1.2.0', [], keyNew());
      const v = await runRelease(['verify', '--pubkey', both, site]);
      assert.equal(v.code, 0, v.stderr);
      await installAndCommit('v1.2.0');

      // Step 4: a release by the new key whose OS trusts only the new key, as a directory.
      await publish('v1.3.0', [], keyNew());
      await installAndCommit('v1.3.0');
      await rm(dev.path('etc/kubesolo/update.pub'));
      await mkdir(dev.path('etc/kubesolo/keys.d'));
      await writeFile(dev.path('etc/kubesolo/keys.d/2027.pub'), `${await pubNew()}\n`);
      await dev.writeConfig(
        deviceConfig({ pubkey: '/etc/kubesolo/keys.d', health_checks: 'disk_writable' }),
      );

      // The retired key signs nothing the device accepts any more.
      await publish('v1.4.0', [], keyOld());
      const retired = await agent(['apply']);
      expectRefusal(retired, 'SIGNATURE_INVALID', 4);
      const vOld = await runRelease([
        'verify',
        '--pubkey',
        join(work, 'keys-new/release.pub'),
        site,
        '--json',
      ]);
      assert.equal(vOld.code, 4);
      await publish('v1.4.0', [], keyNew());
      await installAndCommit('v1.4.0');
    });
  });

  describe('expiry', () => {
    it('publish writes a 30-day expires unless --no-expiry; push and publish share the rule', async () => {
      await publish('v1.1.0');
      const md = JSON.parse(await readFile(join(site, 'latest.json'), 'utf8'));
      const days = (Date.parse(md.expires) - Date.now()) / (24 * HOUR);
      assert.ok(days > 29.9 && days <= 30, `expires in ${days} days`);
      await publish('v1.1.0', ['--no-expiry']);
      assert.equal(
        JSON.parse(await readFile(join(site, 'latest.json'), 'utf8')).expires,
        undefined,
      );
      const both = await publishArgs('v1.1.0', ['--force', '--no-expiry', '--expires-in', '1d']);
      assert.equal(both.code, 2);
      assertCode(JSON.parse(both.stdout).error.code, 'CONFLICTING_OPTIONS');
    });
  });
});
