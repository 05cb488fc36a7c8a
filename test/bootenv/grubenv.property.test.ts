/**
 * Property tests of the grubenv codec with the real grub-editenv as the oracle, over
 * random names and values within GRUB's rules (escapes, '=', '#', UTF-8, sizes around
 * the 1024-byte limit).
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  grubEnvDelete,
  grubEnvSet,
  invalidKeyReason,
  iterateGrubEnv,
  parseGrubEnv,
  serializeGrubEnv,
} from '../../src/bootenv/grubenv.js';
import { KubesoloError } from '../../src/errors.js';
import { grubEditenv, grubEditenvSkipReason, listing } from './editenv.js';
import { assertCode } from '../helpers/code-assert.js';
import { hasReason } from '../helpers/rejects.js';
import { names, stored, values } from './env-arbitraries.js';

const key = names('abcXYZ019_-. \\#é✓\t', 10, invalidKeyReason);
const value = values('ab=#\\\n \ré✓\t', 40, [100, 500]);
const varList = fc.uniqueArray(fc.tuple(key, value), { selector: (t) => t[0], maxLength: 12 });

const skip = grubEditenvSkipReason();

describe('grubenv properties (grub-editenv oracle)', { skip }, () => {
  let dir: string;
  let n = 0;
  const fresh = () => join(dir, `env-${n++}`);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ks-grubenv-prop-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('serialize == grub-editenv create + set, both ways; what does not fit is refused by both', async () => {
    let fitted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(varList, async (list) => {
        const vars = new Map(list);
        const f = fresh();
        assert.equal(grubEditenv(f, 'create').status, 0);
        const r = grubEditenv(f, 'set', '--', ...list.map(([k, v]) => `${k}=${v}`));
        const ours = stored(() => serializeGrubEnv(vars));
        if (r.status === 0) {
          fitted++;
          assert.ok(
            Buffer.isBuffer(ours),
            `grub-editenv stored it but we refused: ${String(ours)}`,
          );
          const theirs = await readFile(f);
          assert.deepEqual(ours, theirs);
          assert.deepEqual(parseGrubEnv(theirs), vars);
          assert.deepEqual(grubEditenv(f, 'list').stdout, listing(vars));
        } else {
          refused++;
          assert.match(r.stderr, /too small/);
          assert.ok(ours instanceof KubesoloError, 'grub-editenv refused it but we serialized it');
          assertCode(ours.code, 'GRUBENV_TOO_LARGE');
        }
      }),
      { numRuns: 120 },
    );
    // The generator must exercise both sides of the limit, or the property is weak.
    assert.ok(fitted > 10 && refused > 5, `fitted ${fitted}, refused ${refused}`);
  });

  it('in-place set/delete match grub-editenv set/unset byte for byte', async () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), k: key, v: value }),
      fc.record({ kind: fc.constant('unset' as const), k: key }),
    );
    await fc.assert(
      fc.asyncProperty(
        varList,
        fc.array(op, { maxLength: 6 }),
        fc.nat(),
        async (list, ops, pick) => {
          const start = stored(() => serializeGrubEnv(new Map(list)));
          fc.pre(Buffer.isBuffer(start));
          const ours = Buffer.from(start);
          const f = fresh();
          await writeFile(f, start);
          for (const o of ops) {
            // Half the time, edit a name that exists.
            const k = list.length > 0 && pick % 2 === 0 ? list[pick % list.length]![0] : o.k;
            if (o.kind === 'set') {
              const ok = grubEnvSet(ours, k, o.v);
              const r = grubEditenv(f, 'set', '--', `${k}=${o.v}`);
              assert.equal(ok, r.status === 0, `set ${JSON.stringify(k)}: ${r.stderr}`);
            } else {
              grubEnvDelete(ours, k);
              assert.equal(grubEditenv(f, 'unset', '--', k).status, 0);
            }
            assert.ok(
              ours.equals(await readFile(f)),
              `bytes differ after ${o.kind} ${JSON.stringify(k)}`,
            );
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('on damaged blocks, iterate lists what grub-editenv lists, and strict parse never disagrees', async () => {
    const damage = fc.array(
      fc.tuple(fc.nat({ max: 1023 }), fc.constantFrom(0x0a, 0x3d, 0x23, 0x5c, 0x61, 0x00, 0xff)),
      { minLength: 1, maxLength: 4 },
    );
    let strictAccepted = 0;
    await fc.assert(
      fc.asyncProperty(varList, damage, fc.nat({ max: 1100 }), async (list, hits, size) => {
        const start = stored(() => serializeGrubEnv(new Map(list)));
        fc.pre(Buffer.isBuffer(start));
        let block = Buffer.from(start);
        for (const [at, byte] of hits) block[at] = byte;
        if (size < 40) block = block.subarray(0, size); // sometimes a truncated file
        const f = fresh();
        await writeFile(f, block);
        const r = grubEditenv(f, 'list');
        const it = iterateGrubEnv(block);
        if (r.status !== 0) {
          assert.equal(it, undefined);
          return;
        }
        assert.ok(it !== undefined);
        const expected = Buffer.concat(
          it.vars.flatMap((v) => [v.name, Buffer.from('='), v.value, Buffer.from('\n')]),
        );
        assert.deepEqual(r.stdout, expected);
        let strict: Map<string, string> | undefined;
        try {
          strict = parseGrubEnv(block);
        } catch (err) {
          assert.ok(err instanceof KubesoloError, String(err));
          hasReason('GRUBENV_CORRUPT')(err);
        }
        if (strict !== undefined) {
          strictAccepted++;
          assert.deepEqual(r.stdout, listing(strict));
        }
      }),
      { numRuns: 150 },
    );
    assert.ok(strictAccepted > 0, 'no damaged block was accepted; the property is vacuous');
  });
});
