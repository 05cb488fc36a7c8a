/**
 * The reboot honours the window (issue 25, item 4; docs/operating.md "The reboot honours
 * the window") and the publisher's stop (item 8, `publish --pause`), through the built
 * binaries: the run that activates fetches and verifies the metadata again, so a release
 * paused, superseded or expired after it was staged is never activated; the window must
 * have commit_deadline of it left.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { writeFakeImages } from '../../src/dev/device-root.js';
import { loadPrivateKey } from '../../src/release/keys.js';
import { runAgentJson as json, runRelease, expectRefusal } from '../helpers/cli.js';
import {
  makeSignedDevice,
  readJson,
  serveDir,
  type Device,
  type StaticServer,
} from '../helpers/device.js';
import { grubEnv } from '../helpers/grub-env.js';
import { assertCode } from '../helpers/code-assert.js';

/** The code of `gate`'s verdict in `check --json`. */
function gateCode(doc: Record<string, unknown>, gate: string): unknown {
  return (doc.gates as { gate: string; code: unknown }[]).find((g) => g.gate === gate)?.code;
}

describe('the activation looks at the offer again', () => {
  let work: string;
  let site: string;
  let server: StaticServer;
  let dev: Device;
  const root = () => ['--root', dev.root];
  const key = () => join(work, 'keys/release.key');
  const state = () => readJson(dev.path('var/lib/kubesolo/update/state.json'));

  // One set of images per version: publishing a version again re-signs the same release.
  const imagesOf = new Map<string, Promise<Record<'vmlinuz' | 'initramfs', string>>>();
  /** kubesolo-release publish, as a publisher runs it. */
  async function publish(version: string, ...extra: string[]): Promise<void> {
    if (!imagesOf.has(version))
      imagesOf.set(version, writeFakeImages(join(work, 'build', version), 50_000, 120_000));
    const images = (await imagesOf.get(version))!;
    const r = await runRelease([
      'publish',
      '--key',
      key(),
      '--release-version',
      version,
      '--kernel',
      images.vmlinuz,
      '--initramfs',
      images.initramfs,
      '--out',
      site,
      '--force',
      ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
  }

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ks-window-'));
    site = join(work, 'site');
    assert.equal((await runRelease(['keygen', '--out', join(work, 'keys')])).code, 0);
    server = await serveDir(site);
  });
  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
  });
  beforeEach(async () => {
    const publicHex = (await readFile(join(work, 'keys/release.pub'), 'utf8')).trim();
    dev = await makeSignedDevice(
      server,
      { privateKey: await loadPrivateKey(key()), publicHex },
      { health_checks: 'disk_writable' },
    );
    await publish('v1.1.0');
  });
  afterEach(() => dev.cleanup());

  it('a rollout paused after staging is never activated; resumed, it is', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    const p = await runRelease(['publish', '--pause', '--key', key(), '--out', site, '--json']);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).paused, true);
    for (const args of [['apply', '--activate'], ['activate']]) {
      const r = await json([...args, ...root()]);
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
      assertCode(r.doc.error.code, 'ROLLOUT_PAUSED', undefined, args.join(' '));
    }
    assert.equal((await state()).phase, 'staged');
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'A');
    const c = await json(['check', ...root()]);
    assert.equal(c.code, 3);
    assert.equal(gateCode(c.doc, 'rollout'), 'ROLLOUT_PAUSED');
    const r = await runRelease(['publish', '--resume', '--key', key(), '--out', site]);
    assert.equal(r.code, 0, r.stderr);
    const act = await json(['activate', ...root()]);
    assert.equal(act.code, 0, act.stderr);
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'B');
  });

  it('a device that has not started a paused release does not download it', async () => {
    assert.equal((await runRelease(['publish', '--pause', '--key', key(), '--out', site])).code, 0);
    const a = await json(['apply', ...root()]);
    expectRefusal(a, 'ROLLOUT_PAUSED', 3);
    assert.equal((await state()).phase, 'failed');
    await assert.rejects(readFile(dev.path('slots/b/version')));
    // --force is the operator's own override, as for the waves.
    assert.equal((await json(['apply', '--force', ...root()])).code, 0);
  });

  it('a release superseded after staging is not activated; the next apply stages the new one', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    await publish('v1.2.0');
    const act = await json(['activate', ...root()]);
    expectRefusal(act, 'STAGED_RELEASE_SUPERSEDED', 3);
    assert.equal((await state()).to_version, 'v1.1.0');
    const a = await json(['apply', '--activate', ...root()]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.doc.version, 'v1.2.0');
    assert.equal(grubEnv(dev.path('boot/grub/grubenv')).active_slot, 'B');
  });

  it('metadata that expired after staging is not activated (exit 4); the update stays staged', async () => {
    // Staged from metadata that does not expire; then the same release is signed again
    // with a one-second expiry (as a publisher's short-lived metadata would lapse), so
    // the test does not depend on how long apply takes.
    await publish('v1.1.0');
    assert.equal((await json(['apply', ...root()])).code, 0);
    await publish('v1.1.0', '--expires-in', '1s');
    await new Promise((r) => setTimeout(r, 1500));
    const act = await json(['activate', ...root()]);
    expectRefusal(act, 'METADATA_EXPIRED', 4);
    const st = await state();
    assert.equal(st.phase, 'staged');
    assertCode(st.reason, 'METADATA_EXPIRED');
  });

  it('a window with less than commit_deadline left does not activate', async () => {
    assert.equal((await json(['apply', ...root()])).code, 0);
    const now = new Date();
    const hh = (h: number) => String((now.getHours() + h + 24) % 24).padStart(2, '0');
    // Open now and for at most two more hours; a trial may take up to a day.
    const conf = await readFile(dev.path('etc/kubesolo/update.conf'), 'utf8');
    await writeFile(
      dev.path('etc/kubesolo/update.conf'),
      `${conf}maintenance_window=${hh(0)}:00-${hh(2)}:00\ncommit_deadline=24h\n`,
    );
    const act = await json(['activate', ...root()]);
    expectRefusal(act, 'MAINTENANCE_WINDOW_ENDING', 3);
    assert.match(act.doc.error.message, /an activation needs 1440 min/);
  });
});
