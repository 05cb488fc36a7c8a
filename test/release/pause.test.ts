/**
 * `publish --pause` / `--resume` (issue 25, item 8) on a published directory: only
 * `paused` changes, the document is signed again (verify accepts it with the release
 * key), and resuming gives back the very bytes publish wrote.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFakeImages } from '../../src/dev/device-root.js';
import { expectRefusal, runRelease } from '../helpers/cli.js';

describe('publish --pause and --resume', () => {
  let dir: string;
  const site = () => join(dir, 'site');
  const key = () => join(dir, 'keys/release.key');
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-pause-'));
    assert.equal((await runRelease(['keygen', '--out', join(dir, 'keys')])).code, 0);
    const images = await writeFakeImages(join(dir, 'build'), 10_000, 20_000);
    const r = await runRelease([
      'publish',
      ...['--key', key(), '--release-version', 'v1.1.0', '--out', site()],
      ...['--kernel', images.vmlinuz, '--initramfs', images.initramfs],
      ...['--wave', '10@0s', '--wave', '100@1d'],
    ]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('changes only paused, signs again, and resuming restores the bytes publish wrote', async () => {
    const original = await readFile(join(site(), 'latest.json'));
    const p = await runRelease(['publish', '--pause', '--key', key(), '--out', site()]);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /paused the rollout of v1\.1\.0/);
    const paused = JSON.parse(await readFile(join(site(), 'latest.json'), 'utf8'));
    assert.deepEqual(paused, { ...JSON.parse(original.toString('utf8')), paused: true });
    const v = await runRelease(['verify', '--pubkey', join(dir, 'keys/release.pub'), site()]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /rollout {4}paused/);
    // Both signatures were replaced: the one next to latest.json and the version folder's.
    const sig = await readFile(join(site(), 'latest.json.sig'), 'utf8');
    assert.equal(await readFile(join(site(), 'v1.1.0/latest.json.sig'), 'utf8'), sig);
    assert.equal(
      (await runRelease(['publish', '--resume', '--key', key(), '--out', site()])).code,
      0,
    );
    assert.deepEqual(await readFile(join(site(), 'latest.json')), original);
  });

  it('needs a published release, and --pause and --resume go alone', async () => {
    const none = await runRelease([
      'publish',
      '--pause',
      '--key',
      key(),
      '--out',
      join(dir, 'empty'),
    ]);
    expectRefusal(none, 'INPUT_UNREADABLE', 2);
    const both = await runRelease([
      'publish',
      '--pause',
      '--resume',
      '--key',
      key(),
      '--out',
      site(),
    ]);
    expectRefusal(both, 'CONFLICTING_OPTIONS', 2);
  });
});
