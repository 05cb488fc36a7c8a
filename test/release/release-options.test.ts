/**
 * The release options `publish` and `push` share (src/cli/release/release-options.ts),
 * through the built tool: two mistakes no device could report are refused before
 * anything is written or uploaded: an architecture no device has (with the name meant),
 * and waves that never reach the whole fleet unless --partial-rollout says so.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expectRefusal, runRelease } from '../helpers/cli.js';

describe('release options shared by publish and push', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ks-release-options-'));
    await writeFile(join(work, 'vmlinuz'), 'kernel');
    await writeFile(join(work, 'initramfs'), 'initramfs');
    const keygen = await runRelease(['keygen', '--out', join(work, 'keys')]);
    assert.equal(keygen.code, 0, keygen.stderr);
  });
  after(() => rm(work, { recursive: true, force: true }));

  const publish = (...extra: string[]) =>
    runRelease([
      'publish',
      ...['--key', join(work, 'keys/release.key'), '--release-version', 'v1.0.0'],
      ...['--kernel', join(work, 'vmlinuz'), '--initramfs', join(work, 'initramfs')],
      ...['--out', join(work, 'out'), '--json'],
      ...extra,
    ]);
  const push = (...extra: string[]) =>
    runRelease([
      'push',
      ...['--registry', '127.0.0.1:1/kubesolo/os', '--tag', 'v1.0.0', '--json'],
      ...['--kernel', join(work, 'vmlinuz'), '--initramfs', join(work, 'initramfs')],
      ...['--release-version', 'v1.0.0'],
      ...extra,
    ]);
  const error = (stdout: string) =>
    (JSON.parse(stdout) as { error: { code: string; message: string } }).error;

  for (const [given, meant] of [
    ['x86_64', 'amd64'],
    ['aarch64', 'arm64'],
    ['amd46', 'amd64'],
  ]) {
    it(`--arch ${given}: UNKNOWN_ARCHITECTURE, exit 2, naming ${meant}; nothing published or pushed`, async () => {
      for (const r of [await publish('--arch', given!), await push('--arch', given!)]) {
        expectRefusal(r, 'UNKNOWN_ARCHITECTURE', 2);
        assert.match(error(r.stdout).message, new RegExp(`Did you mean '${meant}'\\?`));
      }
      assert.equal(existsSync(join(work, 'out')), false);
    });
  }

  it('waves that stop short of 100 %: ROLLOUT_PARTIAL, exit 2, unless --partial-rollout', async () => {
    const short = await publish('--arch', 'amd64', '--wave', '1@0s', '--wave', '10@1d');
    expectRefusal(short, 'ROLLOUT_PARTIAL', 2);
    assert.match(error(short.stdout).message, /the other 90 % would never get this release/);
    assert.equal(existsSync(join(work, 'out')), false);
    const meant = await publish('--arch', 'amd64', '--wave', '10@1d', '--partial-rollout');
    assert.equal(meant.code, 0, meant.stderr);
    const full = await publish('--arch', 'amd64', '--wave', '10@0s', '--wave', '100@1d', '--force');
    assert.equal(full.code, 0, full.stderr);
  });

  it('push needs --arch', async () => {
    const r = await push();
    expectRefusal(r, 'MISSING_OPTION', 2);
  });
});
