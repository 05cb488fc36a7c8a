import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DISK_PROBE_BYTES, checkDiskWritable } from '../../src/health/disk.js';
import { rootSkipReason } from '../helpers/require-tool.js';
import { assertCode } from '../helpers/code-assert.js';
import { assertVerdicts } from '../helpers/code-verdicts.js';

const dir = mkdtempSync(join(tmpdir(), 'disk-'));
const mounts: string[] = [];
after(() => {
  for (const m of mounts) execFileSync('umount', [m]);
  rmSync(dir, { recursive: true, force: true });
});

function tmpfs(name: string, opts: string): string {
  const m = join(dir, name);
  mkdirSync(m);
  execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', m]);
  mounts.push(m);
  return m;
}

describe('disk_writable check', () => {
  it('writes, syncs, reads back and removes 1 KiB, leaving nothing behind', async () => {
    const d = join(dir, 'ok');
    mkdirSync(d);
    let seen = -1;
    const o = await checkDiskWritable(d, {
      afterWrite: (p) => {
        seen = readdirSync(d).length;
        assert.match(p, /\.kubesolo-update-health-/);
      },
    });
    assertVerdicts(`${o.verdict}:${o.reason}`, 'pass:OK');
    assert.equal(seen, 1, 'the probe file existed during the check');
    assert.deepEqual(readdirSync(d), []);
    assert.equal(DISK_PROBE_BYTES, 1024);
  });

  it('fails when the data directory is missing', async () => {
    const o = await checkDiskWritable(join(dir, 'absent'));
    assertCode(o.reason, 'DISK_NOT_WRITABLE');
    assert.match(o.message, /ENOENT/);
  });

  it('fails when the bytes read back differ (a device that loses writes), and cleans up', async () => {
    const d = join(dir, 'liar');
    mkdirSync(d);
    const o = await checkDiskWritable(d, {
      afterWrite: (p) => writeFileSync(p, Buffer.alloc(1024)),
    });
    assertCode(o.reason, 'DISK_READBACK_MISMATCH');
    assert.deepEqual(readdirSync(d), []);
  });

  it(
    'fails on a read-only filesystem (EROFS)',
    { skip: rootSkipReason('mounts a tmpfs') },
    async () => {
      const m = tmpfs('ro', 'ro,size=1m');
      const o = await checkDiskWritable(m);
      assertCode(o.reason, 'DISK_NOT_WRITABLE');
      assert.match(o.message, /EROFS/);
    },
  );

  it(
    'fails on a full filesystem (ENOSPC) and removes its partial file',
    { skip: rootSkipReason('mounts a tmpfs') },
    async () => {
      const m = tmpfs('full', 'size=64k');
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(m, 'fill')}`, 'bs=4k'], { stdio: 'ignore' });
      } catch {
        // dd exits non-zero when the disk is full: that is the point.
      }
      const o = await checkDiskWritable(m);
      assertCode(o.reason, 'DISK_NOT_WRITABLE');
      assert.match(o.message, /ENOSPC/);
      assert.deepEqual(readdirSync(m), ['fill']);
    },
  );
});
