/** The operator's hold file (src/stores/hold.ts): written, read, removed; a damaged one still holds. */
import { strict as assert } from 'node:assert';
import { writeFile } from 'node:fs/promises';
import { beforeEach, describe, it } from 'node:test';
import { holdGate } from '../../src/gates/hold-gate.js';
import { checkHoldReason, readHold, removeHold, writeHold } from '../../src/stores/hold.js';
import { assertCode } from '../helpers/code-assert.js';
import { hasCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

describe('hold.json', () => {
  const tmp = useTempDir('ks-hold-');
  let path: string;
  beforeEach(() => (path = tmp.path('hold.json')));

  it('holds from write to removal, with the reason', async () => {
    assert.equal(await readHold(path), undefined);
    assert.equal(holdGate(undefined).pass, true);
    await writeHold(path, 'investigating INC-42', new Date('2026-12-03T14:00:00Z'));
    const held = await readHold(path);
    assert.deepEqual(held, { reason: 'investigating INC-42', since: '2026-12-03T14:00:00.000Z' });
    const verdict = holdGate(held);
    assert.equal(verdict.pass, false);
    assertCode(verdict.code, 'HELD', 3);
    assert.match(verdict.message, /investigating INC-42/);
    assert.equal(await removeHold(path), true);
    assert.equal(await removeHold(path), false);
    assert.equal(await readHold(path), undefined);
  });

  it('a damaged hold file still holds, as HOLD_CORRUPT', async () => {
    await writeFile(path, '{not json');
    const held = await readHold(path);
    assertCode(held?.problem?.code, 'HOLD_CORRUPT');
    assert.equal(holdGate(held).pass, false);
  });

  it('a reason is one printable line of at most 256 characters', () => {
    assert.equal(checkHoldReason('  disk swap  '), 'disk swap');
    assert.throws(() => checkHoldReason('a\nb'), hasCode('USAGE', 2));
    assert.throws(() => checkHoldReason('x'.repeat(257)), hasCode('USAGE', 2));
  });
});
