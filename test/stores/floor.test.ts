/**
 * The anti-rollback floor file (src/stores/floor.ts): it only rises, a power cut around
 * its write leaves the old floor or the new one, and a damaged file stops apply instead
 * of reading as "no floor".
 */
import { strict as assert } from 'node:assert';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { beforeEach, describe, it } from 'node:test';
import { effectiveFloor, floorGate } from '../../src/gates/floor-gate.js';
import { raiseFloor, readFloor } from '../../src/stores/floor.js';
import type { AtomicWriteStep } from '../../src/fs/atomic.js';
import { assertCode } from '../helpers/code-assert.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';
import { failAt } from '../fs/fail-at.js';

const now = new Date('2026-12-03T14:00:00Z');

describe('anti-rollback floor', () => {
  const tmp = useTempDir('ks-floor-');
  let path: string;
  beforeEach(() => (path = tmp.path('floor.json')));

  it('is absent until recorded, then only rises', async () => {
    assert.equal(await readFloor(path), undefined);
    assert.equal(
      (await raiseFloor(path, { version: 'v1.2.0', source: 'commit' }, now)).raised,
      true,
    );
    const doc = JSON.parse(await readFile(path, 'utf8'));
    assert.deepEqual(doc, {
      version: 'v1.2.0',
      set_at: '2026-12-03T14:00:00.000Z',
      source: 'commit',
    });
    const lower = await raiseFloor(path, { version: 'v1.1.9', source: 'commit' }, now);
    assert.equal(lower.raised, false);
    assert.equal(lower.floor.version, 'v1.2.0');
    assert.equal(
      (await raiseFloor(path, { version: '1.2.0', source: 'commit' }, now)).raised,
      false,
    );
    const up = await raiseFloor(
      path,
      { version: 'v1.3.0', source: 'min_version', release: 'v1.4.0' },
      now,
    );
    assert.equal(up.raised, true);
    assert.deepEqual(await readFloor(path), {
      version: 'v1.3.0',
      setAt: '2026-12-03T14:00:00.000Z',
      source: 'min_version',
      release: 'v1.4.0',
    });
  });

  it('a power cut at any step of the write leaves the old floor or the new one', async () => {
    const steps: AtomicWriteStep[] = ['open', 'write', 'fsync', 'close', 'rename', 'fsync-dir'];
    for (const step of steps) {
      await rm(path, { force: true });
      await raiseFloor(path, { version: 'v1.1.0', source: 'commit' }, now);
      await rejectsWithCode(
        raiseFloor(path, { version: 'v1.2.0', source: 'commit' }, now, failAt(step, 'power cut')),
        'FLOOR_WRITE_FAILED',
        1,
      );
      const renamed = step === 'rename' || step === 'fsync-dir';
      assert.equal((await readFloor(path))?.version, renamed ? 'v1.2.0' : 'v1.1.0', step);
      assert.deepEqual(await readdir(tmp.dir), ['floor.json'], step);
      // The next commit records it again.
      await raiseFloor(path, { version: 'v1.2.0', source: 'commit' }, now);
      assert.equal((await readFloor(path))?.version, 'v1.2.0', step);
    }
  });

  for (const [what, text] of [
    ['torn JSON', '{"version": "v1.2'],
    ['a list', '[]'],
    ['no version', '{"set_at": "x"}'],
    ['a version devices cannot order', '{"version": "latest"}'],
  ] as const) {
    it(`${what} is FLOOR_CORRUPT, never "no floor"`, async () => {
      await writeFile(path, text);
      const err = await rejectsWithCode(readFloor(path), 'FLOOR_CORRUPT', 1);
      assert.equal(err.details.path, path);
      assert.match(err.message, /docs\/operating\.md/);
      // Raising refuses too: overwriting would hide what happened to the file.
      await rejectsWithCode(
        raiseFloor(path, { version: 'v9.0.0', source: 'commit' }, now),
        'FLOOR_CORRUPT',
        1,
      );
    });
  }

  it('the gate refuses below the floor with BELOW_FLOOR, accepts at or above it', () => {
    assert.equal(floorGate(undefined, 'v1.0.0').skipped, true);
    assert.equal(floorGate('v1.2.0', 'v1.2.0').pass, true);
    assert.equal(floorGate('v1.2.0', 'v1.3.0').pass, true);
    const refused = floorGate('v1.2.0', 'v1.1.5');
    assert.equal(refused.pass, false);
    assertCode(refused.code, 'BELOW_FLOOR', 3);
    assert.match(refused.message, /v1\.1\.5 is below the anti-rollback floor v1\.2\.0/);
  });

  it('a signed min_version raises the floor a release is judged against; an unsigned one does not', () => {
    const recorded = { version: 'v1.2.0', setAt: '', source: 'commit' as const };
    assert.equal(effectiveFloor(recorded, 'v1.3.0', true), 'v1.3.0');
    assert.equal(effectiveFloor(recorded, 'v1.1.0', true), 'v1.2.0');
    assert.equal(effectiveFloor(recorded, 'v1.3.0', false), 'v1.2.0');
    assert.equal(effectiveFloor(undefined, 'v1.3.0', true), 'v1.3.0');
    assert.equal(effectiveFloor(undefined, undefined, true), undefined);
  });
});
