/**
 * Refusals of the real binaries that come from their surroundings rather than from an
 * update: a bad option value, a key directory that cannot be written, a slot tool that
 * cannot be run. Each asserts the exit code and the reason code, written out.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { expectRefusal, runAgent, runRelease } from '../helpers/cli.js';
import { deviceSnapshot, makeDevice } from '../helpers/device.js';
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';

describe('refusals from the surroundings', () => {
  const tmp = useTempDir('ks-io-refusals-', 'all');

  it('healthcheck --timeout with a value that is not seconds: INVALID_OPTION, exit 2', async () => {
    for (const bad of ['abc', '86401', '']) {
      const r = await runAgent(['healthcheck', '--timeout', bad, '--json', '--root', tmp.dir]);
      assert.equal(r.code, 2, r.stderr);
      const doc = JSON.parse(r.stdout) as { error: { code: string; flag?: string } };
      assertCode(doc.error.code, 'INVALID_OPTION');
      assert.equal(doc.error.flag, '--timeout');
    }
  });

  it('keygen into a directory that cannot be made (a file is in the way): KEY_WRITE_FAILED, exit 1', async () => {
    await writeFile(tmp.path('blocker'), 'x');
    const r = await runRelease(['keygen', '--out', tmp.path('blocker', 'keys'), '--json']);
    expectRefusal(r, 'KEY_WRITE_FAILED', 1);
    assert.deepEqual(await readdir(tmp.dir), ['blocker']);
  });

  it('rollback over block slots with no blkid to run (empty PATH): SLOT_TOOL_FAILED, exit 1, nothing written', async () => {
    const dev = await makeDevice({ config: { slot_backend: 'block' } });
    try {
      await dev.writeConfig({ slot_backend: 'block', grubenv: '/boot/grub/grubenv' });
      // A block device node under the root (loop0's numbers), so the scan has something
      // to run blkid on: with --root only nodes in <root>/dev are looked at.
      await mkdir(dev.path('dev'), { recursive: true });
      execFileSync('mknod', [dev.path('dev/loop0'), 'b', '7', '0']);
      const before = await deviceSnapshot(dev);
      const r = await runAgent(['rollback', '--json', '--root', dev.root], { env: { PATH: '' } });
      expectRefusal(r, 'SLOT_TOOL_FAILED', 1);
      assert.deepEqual(await deviceSnapshot(dev), before);
    } finally {
      await dev.cleanup();
    }
  });
});
