/**
 * The device identifier of rollout buckets (src/fleet/device-id.ts): kept on the data
 * partition, derived from machine-id without keeping it, drawn once otherwise, written
 * atomically.
 */
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ensureDeviceId, readDeviceId, shortDeviceId } from '../../src/fleet/device-id.js';
import type { AtomicWriteStep } from '../../src/fs/atomic.js';
import { assertCode } from '../helpers/code-assert.js';
import { hasCode } from '../helpers/rejects.js';

const MACHINE_ID = '0123456789abcdef0123456789abcdef';

describe('device identifier', () => {
  let dir: string;
  let paths: { machineId: string; stored: string };
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-device-id-'));
    await mkdir(join(dir, 'etc'));
    paths = { machineId: join(dir, 'etc/machine-id'), stored: join(dir, 'state/device-id') };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('derives one from machine-id, keeps it, and never keeps the machine-id itself', async () => {
    await writeFile(paths.machineId, MACHINE_ID + '\n');
    const read = await readDeviceId(paths);
    assert.equal(read?.source, 'machine-id');
    assert.match(read.id, /^[0-9a-f]{64}$/);
    assert.ok(!read.id.includes(MACHINE_ID));
    // An app-specific HMAC of the machine-id (machine-id(5)'s advice), not a plain hash.
    assert.notEqual(read.id, createHmac('sha256', MACHINE_ID).digest('hex'));
    const kept = await ensureDeviceId(paths);
    assert.equal(kept.id, read.id);
    assert.equal((await readFile(paths.stored, 'utf8')).trim(), read.id);
    // The kept one wins afterwards, even when machine-id changes (made afresh at boot)
    // or is not visible (a pod without the host's /etc/machine-id).
    await writeFile(paths.machineId, 'fedcba9876543210fedcba9876543210\n');
    assert.deepEqual(await readDeviceId(paths), { id: read.id, source: 'stored' });
    await rm(paths.machineId);
    assert.deepEqual(await ensureDeviceId(paths), { id: read.id, source: 'stored' });
  });

  it('without machine-id: nothing until apply draws one, then always the same', async () => {
    assert.equal(await readDeviceId(paths), undefined);
    await writeFile(paths.machineId, 'uninitialized\n');
    assert.equal(await readDeviceId(paths), undefined);
    const drawn = await ensureDeviceId(paths);
    assert.equal(drawn.source, 'generated');
    assert.deepEqual(await ensureDeviceId(paths), { id: drawn.id, source: 'stored' });
    assert.equal(shortDeviceId(drawn.id), `${drawn.id.slice(0, 8)}…`);
  });

  it('a kept file that is not an identifier is replaced', async () => {
    await mkdir(join(dir, 'state'));
    await writeFile(paths.stored, 'garbage\n');
    assert.equal(await readDeviceId(paths), undefined);
    const id = await ensureDeviceId(paths);
    assert.equal(id.source, 'generated');
    assert.equal((await readFile(paths.stored, 'utf8')).trim(), id.id);
  });

  it('a crash at any step of the write leaves no identifier or the whole one', async () => {
    const steps: AtomicWriteStep[] = ['open', 'write', 'fsync', 'close', 'rename', 'fsync-dir'];
    for (const failAt of steps) {
      await rm(join(dir, 'state'), { recursive: true, force: true });
      await assert.rejects(
        ensureDeviceId(paths, {
          onStep: (s) => {
            if (s === failAt) throw new Error(`power cut at ${s}`);
          },
        }),
        hasCode('DEVICE_ID_WRITE_FAILED', 1),
      );
      const after = await readDeviceId(paths);
      const renamed = failAt === 'rename' || failAt === 'fsync-dir';
      assert.equal(after?.source, renamed ? 'stored' : undefined, failAt);
      assert.deepEqual(await readdir(join(dir, 'state')), renamed ? ['device-id'] : [], failAt);
    }
  });

  it('an unreadable path is DEVICE_ID_UNREADABLE', async () => {
    await mkdir(paths.stored, { recursive: true });
    await assert.rejects(readDeviceId(paths), (err: any) => {
      assertCode(err.code, 'DEVICE_ID_UNREADABLE');
      assert.equal(err.details.path, paths.stored);
      return true;
    });
  });
});
