/**
 * The U-Boot environment codec against the real tools, both ways and byte for byte:
 * `mkenvimage` (u-boot-tools) builds the same image from the same lines; libubootenv's
 * `fw_printenv` reads ours as we do, picks the same redundant copy, and we read what
 * its `fw_setenv` writes; our writes and `fw_setenv`'s from the same environment are
 * the same bytes. Random names and values within U-Boot's rules (bytes that are not
 * UTF-8, `=`, `#`, blanks, backslashes), sizes around the limit, single and redundant.
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  invalidNameReason,
  parseUbootEnvData,
  readCopy,
  selectCopy,
  serializeUbootEnv,
  sortedVars,
} from '../../src/bootenv/uboot-env.js';
import { loadUbootEnv, updateUbootEnv } from '../../src/bootenv/uboot-env-file.js';
import { KubesoloError } from '../../src/errors.js';
import {
  fwEnvConfig,
  fwPrintenv,
  fwPrintenvRaw,
  fwSetenvScript,
  mkenvimage,
  ubootToolsSkipReason,
} from './uboot-tools.js';
import { hasReason } from '../helpers/rejects.js';
import { names, stored, values } from './env-arbitraries.js';

const name = names('abcXYZ019_-.#= \xe9\xff', 8, invalidNameReason);
// No newline: fw_printenv prints one variable per line (newlines have their own test).
const value = values('ab=#\\ \t\r;$\xe9\xff\x80', 30, [100, 400], 1);
// mkenvimage reads `\` + newline as a newline inside a value: no value ends in `\`.
const mkenvValue = value.filter((v) => !v.endsWith('\\'));
const varList = fc.uniqueArray(fc.tuple(name, value), {
  selector: (t) => t[0],
  minLength: 1,
  maxLength: 10,
});
// fw_setenv's script reader strips a carriage return at the end of a line.
const scriptList = fc.uniqueArray(
  fc.tuple(
    name,
    value.filter((v) => !v.endsWith('\r')),
  ),
  { selector: (t) => t[0], minLength: 1, maxLength: 10 },
);
const mkenvList = fc.uniqueArray(fc.tuple(name, mkenvValue), {
  selector: (t) => t[0],
  minLength: 1,
  maxLength: 10,
});

const skip = ubootToolsSkipReason();

describe('U-Boot environment codec against mkenvimage, fw_printenv and fw_setenv', { skip }, () => {
  let dir: string;
  let n = 0;
  const fresh = () => join(dir, `t${n++}`);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ks-ubootenv-oracle-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('serialize == mkenvimage over the same lines (order, -r, -p); what does not fit is refused by both', () => {
    let fitted = 0;
    let refused = 0;
    fc.assert(
      fc.property(
        mkenvList,
        fc.constantFrom(256, 512, 1024, 4096),
        fc.boolean(),
        fc.constantFrom(0, 0xff),
        (list, size, redundant, pad) => {
          const out = fresh();
          let theirs: Buffer | undefined;
          try {
            mkenvimage(out, list, { size, redundant, pad });
            theirs = readFileSync(out);
          } catch (err) {
            assert.match(String(err), /too large/);
          }
          const ours = stored(() => serializeUbootEnv(list, { size, redundant, pad, flags: 1 }));
          if (theirs !== undefined) {
            fitted++;
            assert.ok(Buffer.isBuffer(ours), `mkenvimage stored it, we refused: ${String(ours)}`);
            assert.ok(ours.equals(theirs), 'byte for byte');
          } else {
            refused++;
            assert.ok(ours instanceof KubesoloError, 'mkenvimage refused it, we did not');
            hasReason('UBOOTENV_TOO_LARGE')(ours);
          }
        },
      ),
      { numRuns: 100 },
    );
    assert.ok(
      fitted > 50 && refused > 5,
      `fitted ${fitted}, refused ${refused}: both sides exercised`,
    );
  });

  it('fw_printenv reads our images as we do; newlines and raw bytes included', () => {
    fc.assert(
      fc.property(varList, fc.boolean(), (list, redundant) => {
        const img = stored(() => serializeUbootEnv(list, { size: 8192, redundant }));
        if (!Buffer.isBuffer(img)) return;
        const f = fresh();
        writeFileSync(f, img);
        const cfg = `${f}.cfg`;
        const copies = [{ device: f, offset: 0, size: 8192 }];
        if (redundant) {
          writeFileSync(
            `${f}.2`,
            serializeUbootEnv([['other', 'copy']], { size: 8192, redundant, flags: 0 }),
          );
          copies.push({ device: `${f}.2`, offset: 0, size: 8192 });
        }
        fwEnvConfig(cfg, copies);
        assert.deepEqual(fwPrintenv(cfg), new Map(list));
        assert.deepEqual(parseUbootEnvData(readCopy(img, redundant).data), new Map(list));
      }),
      { numRuns: 60 },
    );
    const f = fresh();
    const vars: [string, string][] = [
      ['bootcmd', 'echo one;\necho two'],
      ['z', '\xff\x01'],
    ];
    writeFileSync(f, serializeUbootEnv(vars, { size: 512, redundant: false }));
    fwEnvConfig(`${f}.cfg`, [{ device: f, offset: 0, size: 512 }]);
    const raw = fwPrintenvRaw(`${f}.cfg`);
    assert.equal(raw.status, 0, raw.stderr);
    assert.deepEqual(
      raw.stdout,
      Buffer.from('bootcmd=echo one;\necho two\nz=\xff\x01\n', 'latin1'),
    );
  });

  it('redundant copies: fw_printenv picks the copy we pick, for any flags and CRC validity', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        fc.boolean(),
        (f0, f1, ok0, ok1) => {
          const base = fresh();
          const imgs = [0, 1].map((i) => {
            const img = serializeUbootEnv([['copy', String(i)]], {
              size: 256,
              redundant: true,
              flags: i === 0 ? f0 : f1,
            });
            if (!(i === 0 ? ok0 : ok1)) img[200] = 1; // break the CRC
            writeFileSync(`${base}.${i}`, img);
            return readCopy(img, true);
          });
          fwEnvConfig(
            `${base}.cfg`,
            [0, 1].map((i) => ({ device: `${base}.${i}`, offset: 0, size: 256 })),
          );
          const ours = selectCopy(imgs[0]!, imgs[1]!, 'incremental');
          const r = fwPrintenvRaw(`${base}.cfg`);
          if (ours === undefined) {
            assert.notEqual(r.status, 0, 'fw_printenv read an environment with no valid copy');
          } else {
            assert.equal(r.status, 0, r.stderr);
            assert.equal(
              r.stdout.toString('latin1'),
              `copy=${ours}\n`,
              `flags ${f0},${f1} crc ${ok0},${ok1}`,
            );
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('what fw_setenv writes, we read; our next write has the bytes fw_setenv writes up to the terminator, zeros after', async () => {
    let writes = 0;
    await fc.assert(
      fc.asyncProperty(mkenvList, scriptList, fc.boolean(), async (start, changes, redundant) => {
        const size = 16384;
        const header = redundant ? 5 : 4;
        const base = fresh();
        const copies = redundant ? [0, 1] : [0];
        // Both sides start from the same environment.
        for (const i of copies) {
          mkenvimage(`${base}.a${i}`, i === 0 ? start : [['older', 'copy']], {
            size,
            redundant,
            pad: 0,
          });
          if (redundant) {
            const img = readFileSync(`${base}.a${i}`);
            img[4] = i === 0 ? 7 : 6; // copy 0 is the current one
            writeFileSync(`${base}.a${i}`, img);
          }
          copyFileSync(`${base}.a${i}`, `${base}.b${i}`);
        }
        const cfgA = `${base}.a.cfg`;
        const cfgB = `${base}.b.cfg`;
        fwEnvConfig(
          cfgA,
          copies.map((i) => ({ device: `${base}.a${i}`, offset: 0, size })),
        );
        fwEnvConfig(
          cfgB,
          copies.map((i) => ({ device: `${base}.b${i}`, offset: 0, size })),
        );
        const expected = new Map(start);
        for (const [k, v] of changes) expected.set(k, v);
        try {
          serializeUbootEnv(sortedVars(expected), { size, redundant });
        } catch {
          return; // does not fit
        }
        fwSetenvScript(cfgA, `${base}.script`, changes);
        const theirs = await loadUbootEnv({ configPath: cfgA, root: '/' });
        assert.deepEqual(theirs.vars, expected, 'we read what fw_setenv wrote');
        const before = copies.map((i) => readFileSync(`${base}.b${i}`));
        await updateUbootEnv({ configPath: cfgB, root: '/' }, (vars) => {
          for (const [k, v] of changes) vars.set(k, v);
          return vars;
        });
        assert.deepEqual(fwPrintenv(cfgB), expected, 'fw_printenv reads what we wrote');
        if (start.length === expected.size && start.every(([k, v]) => expected.get(k) === v)) {
          // Nothing changed: fw_setenv -s writes anyway, the agent writes nothing.
          for (const i of copies) assert.ok(readFileSync(`${base}.b${i}`).equals(before[i]!));
          return;
        }
        writes++;
        // libubootenv builds the new copy in a buffer it does not clear, so the bytes
        // after the terminator (and with them its CRC) are whatever its heap held;
        // U-Boot's saveenv clears them, and so does the agent. Up to the terminator
        // (flags included), the copies are the same bytes.
        const end = (img: Buffer) => img.indexOf(Buffer.from([0, 0]), header) + 2;
        for (const i of copies) {
          const a = readFileSync(`${base}.a${i}`);
          const b = readFileSync(`${base}.b${i}`);
          assert.ok(
            a.subarray(4, end(a)).equals(b.subarray(4, end(b))),
            `copy ${i}: flags and variables`,
          );
          assert.ok(
            b.subarray(end(b)).every((x) => x === 0),
            `copy ${i}: zeros after the terminator`,
          );
          assert.ok(
            readCopy(a, redundant).crcOk && readCopy(b, redundant).crcOk,
            `copy ${i}: both CRCs hold`,
          );
        }
      }),
      { numRuns: 60 },
    );
    assert.ok(writes > 20, `only ${writes} writes compared`);
  });
});
