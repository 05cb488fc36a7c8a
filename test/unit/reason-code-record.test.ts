/**
 * The run's record check (reason-code-record.ts) fails for each reason it gives: a code
 * of the lists no test asserted, a stale exemption, a code in no list, one code with
 * two exits, a lifecycle code with another exit than src/agent/reasons.ts gives it.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { checkRecord } from './reason-code-record.js';

const defined = new Set(['CHECKSUM_MISMATCH', 'LOCKED', 'HASH_WORKER_FAILED']);

describe('the reason-code record check', () => {
  it('passes when every listed code was asserted (an UNTESTED one excepted)', () => {
    const r = checkRecord(
      [
        { exit: 4, code: 'CHECKSUM_MISMATCH' },
        { exit: 1, code: 'LOCKED' },
      ],
      defined,
    );
    assert.deepEqual(r.problems, []);
    assert.equal(r.asserted, 2);
  });

  it('fails on a listed code that no helper recorded', () => {
    const r = checkRecord([{ exit: 4, code: 'CHECKSUM_MISMATCH' }], defined);
    assert.deepEqual(r.unasserted, ['LOCKED']);
    assert.deepEqual(r.problems, ['LOCKED: in src/reason-codes.ts, asserted by no test']);
  });

  it('fails on an exempted code that a test asserts after all', () => {
    const r = checkRecord(
      [
        { exit: 4, code: 'CHECKSUM_MISMATCH' },
        { exit: 1, code: 'LOCKED' },
        { exit: 1, code: 'HASH_WORKER_FAILED' },
      ],
      defined,
    );
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!, /^HASH_WORKER_FAILED: asserted now, remove it from UNTESTED/);
  });

  it('fails on a code in no list, and on one code asserted with two exits', () => {
    const r = checkRecord(
      [
        { exit: 4, code: 'CHECKSUM_MISMATCH' },
        { exit: 1, code: 'CHECKSUM_MISMATCH' },
        { exit: 1, code: 'LOCKED' },
        { exit: 2, code: 'NOT_A_CODE_ANYWHERE' },
      ],
      defined,
    );
    assert.deepEqual(r.problems, [
      'CHECKSUM_MISMATCH: asserted with exit codes 4 and 1',
      'NOT_A_CODE_ANYWHERE: asserted, but in no list of src/reason-codes.ts',
    ]);
  });

  it("fails on a lifecycle code asserted with another exit than src/agent/reasons.ts's", () => {
    const r = checkRecord(
      [
        { exit: 4, code: 'CHECKSUM_MISMATCH' },
        { exit: 3, code: 'LOCKED' },
      ],
      defined,
    );
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!, /^LOCKED: asserted with exit 3, src\/agent\/reasons.ts says/);
  });
});
