/**
 * The U-Boot environment codec and fw_env.config, without tools: layout, CRC, the
 * terminator, names U-Boot reads differently, both flag meanings of redundant copies,
 * and the location file's grammar.
 */
import { strict as assert } from 'node:assert';
import { crc32 } from 'node:zlib';
import { describe, it } from 'node:test';
import { parseFwEnvConfig } from '../../src/bootenv/fw-env-config.js';
import {
  nextFlags,
  parseUbootEnvData,
  readCopy,
  selectCopy,
  serializeUbootEnv,
  sortedVars,
  ubootImportedValue,
  type EnvCopy,
} from '../../src/bootenv/uboot-env.js';
import { expectCode } from './uboot-tools.js';

const AB = new Map([
  ['active_slot', 'B'],
  ['boot_counter', '3'],
  ['boot_success', '0'],
]);

describe('U-Boot environment codec', () => {
  it('single copy: little-endian CRC32 of the whole data area, then name=value\\0 entries and \\0', () => {
    const img = serializeUbootEnv(AB, { size: 64, redundant: false });
    assert.equal(img.length, 64);
    const text = 'active_slot=B\0boot_counter=3\0boot_success=0\0\0';
    assert.equal(img.toString('latin1', 4, 4 + text.length), text);
    assert.ok(
      img.subarray(4 + text.length).every((b) => b === 0),
      'zero padding by default',
    );
    assert.equal(img.readUInt32LE(0), crc32(img.subarray(4)));
    assert.deepEqual(parseUbootEnvData(readCopy(img, false).data), AB);
  });

  it('redundant copy: CRC, flags byte, data; the CRC does not cover the flags', () => {
    const a = serializeUbootEnv(AB, { size: 64, redundant: true, flags: 7 });
    const b = serializeUbootEnv(AB, { size: 64, redundant: true, flags: 8 });
    assert.equal(a[4], 7);
    assert.equal(a.readUInt32LE(0), b.readUInt32LE(0));
    assert.equal(a.readUInt32LE(0), crc32(a.subarray(5)));
    const c = readCopy(a, true);
    assert.deepEqual([c.crcOk, c.flags], [true, 7]);
  });

  it('a changed byte anywhere in the data area, padding included, breaks the CRC', () => {
    const img = serializeUbootEnv(AB, { size: 64, redundant: false });
    for (const at of [4, 20, 63]) {
      const bad = Buffer.from(img);
      bad[at] = bad[at]! ^ 1;
      assert.equal(readCopy(bad, false).crcOk, false, `byte ${at}`);
    }
  });

  it('refuses what does not fit, to the byte (the terminator counts)', () => {
    const one = new Map([['a', 'x'.repeat(10)]]); // "a=xxxxxxxxxx\0" 13 bytes + terminator 1
    serializeUbootEnv(one, { size: 4 + 14, redundant: false });
    expectCode(
      () => serializeUbootEnv(one, { size: 4 + 13, redundant: false }),
      'UBOOTENV_TOO_LARGE',
    );
    expectCode(
      () => serializeUbootEnv(one, { size: 5 + 13, redundant: true }),
      'UBOOTENV_TOO_LARGE',
    );
  });

  it('refuses names U-Boot would read differently and values with NUL', () => {
    for (const name of ['', 'a=b', ' x', '\tx', '#x', 'a\0b']) {
      expectCode(
        () => serializeUbootEnv(new Map([[name, '1']]), { size: 64, redundant: false }),
        'UBOOTENV_INVALID_KEY',
      );
    }
    expectCode(
      () => serializeUbootEnv(new Map([['a', 'x\0y']]), { size: 64, redundant: false }),
      'UBOOTENV_INVALID_VALUE',
    );
  });

  it('keeps bytes that are not UTF-8, and newlines, exactly (latin1 strings)', () => {
    const vars = new Map([
      ['bootcmd', 'run distro_bootcmd;\nx'],
      ['raw', '\xff\xfe\x80'],
    ]);
    const img = serializeUbootEnv(vars, { size: 128, redundant: false });
    assert.deepEqual(parseUbootEnvData(readCopy(img, false).data), vars);
    assert.deepEqual(
      [
        ...img.subarray(
          4 + 'bootcmd=run distro_bootcmd;\nx\0raw='.length,
          4 + 'bootcmd=run distro_bootcmd;\nx\0raw='.length + 3,
        ),
      ],
      [0xff, 0xfe, 0x80],
    );
  });

  it('parse: the terminator must come before the end of the area', () => {
    const data = Buffer.from('a=1\0b=2\0', 'latin1');
    expectCode(() => parseUbootEnvData(data), 'UBOOTENV_CORRUPT', { reason: 'terminator' });
    assert.deepEqual(
      parseUbootEnvData(Buffer.from('a=1\0b=2\0\0', 'latin1')),
      new Map([
        ['a', '1'],
        ['b', '2'],
      ]),
    );
  });

  it('parse: entries without = are skipped, the last of a repeated name counts, bad names are corrupt', () => {
    assert.deepEqual(
      parseUbootEnvData(Buffer.from('a=1\0junk\0b=\0a=2\0\0', 'latin1')),
      new Map([
        ['b', ''],
        ['a', '2'],
      ]),
    );
    for (const entry of ['=x', ' a=1', '#a=1']) {
      expectCode(
        () => parseUbootEnvData(Buffer.from(`${entry}\0\0`, 'latin1')),
        'UBOOTENV_CORRUPT',
        {
          reason: 'name',
        },
      );
    }
  });

  it("U-Boot's import drops a backslash and keeps the next character", () => {
    const imported = { '\\B': 'B', 'a\\\\b': 'a\\b', 'end\\': 'end\\', 'x\\\ny': 'x\ny' };
    for (const [stored, read] of Object.entries(imported)) {
      assert.equal(ubootImportedValue(stored), read, JSON.stringify(stored));
    }
  });

  it('sorts variables by name, byte by byte, as saveenv and libubootenv store them', () => {
    const sorted = sortedVars(
      new Map([
        ['b', '1'],
        ['B', '2'],
        ['a_', '3'],
        ['a', '4'],
        ['é', '5'],
      ]),
    );
    assert.deepEqual(
      sorted.map(([k]) => k),
      ['B', 'a', 'a_', 'b', 'é'],
    );
  });
});

describe('redundant copies: which one U-Boot imports', () => {
  const copy = (crcOk: boolean, flags: number): EnvCopy => ({
    crcOk,
    flags,
    data: Buffer.alloc(0),
  });

  it('a copy with a bad CRC is never chosen; none valid: none', () => {
    for (const scheme of ['incremental', 'boolean'] as const) {
      assert.equal(selectCopy(copy(true, 1), copy(false, 9), scheme), 0);
      assert.equal(selectCopy(copy(false, 9), copy(true, 1), scheme), 1);
      assert.equal(selectCopy(copy(false, 1), copy(false, 2), scheme), undefined);
    }
  });

  it('incremental: the higher counter, 0 after 255, the first on a tie', () => {
    const pick = (a: number, b: number) => selectCopy(copy(true, a), copy(true, b), 'incremental');
    // [flags of copy 0, flags of copy 1, the copy chosen]
    for (const [f0, f1, chosen] of [
      [4, 5, 1],
      [5, 4, 0],
      [255, 0, 1],
      [0, 255, 0],
      [254, 255, 1],
      [3, 3, 0],
    ] as const) {
      assert.equal(pick(f0, f1), chosen, `${f0} vs ${f1}`);
    }
    assert.equal(nextFlags(254, 'incremental'), 255);
    assert.equal(nextFlags(255, 'incremental'), 0);
  });

  it('boolean (NOR): active over obsolete, 0xff over anything else, the first on a tie', () => {
    const pick = (a: number, b: number) => selectCopy(copy(true, a), copy(true, b), 'boolean');
    // 0xff, 0xff → 0: U-Boot (env/flash.c) takes the first; libubootenv the second.
    const pairs = [
      [1, 0],
      [0, 1],
      [1, 1],
      [0xff, 0xff],
      [0xff, 0],
      [0, 0xff],
      [1, 0xff],
    ] as const;
    assert.deepEqual(
      pairs.map(([f0, f1]) => pick(f0, f1)),
      [0, 1, 0, 0, 0, 1, 1],
    );
    assert.equal(nextFlags(1, 'boolean'), 1);
    assert.equal(nextFlags(0, 'boolean'), 1);
  });
});

describe('fw_env.config', () => {
  it('reads devices, C offsets and hexadecimal sizes, one or two copies', () => {
    const one = parseFwEnvConfig('# comment\n\n/dev/mtd1 0x0 0x40000 0x40000\n');
    assert.deepEqual(one, {
      copies: [{ device: '/dev/mtd1', offset: 0, size: 0x40000, sectorSize: 0x40000 }],
      redundant: false,
      size: 0x40000,
    });
    const two = parseFwEnvConfig('/dev/mmcblk0 0x3f8000 4000\n/dev/mmcblk0 4177920 0x4000\n');
    assert.equal(two.redundant, true);
    assert.deepEqual(
      two.copies.map((c) => [c.offset, c.size]),
      [
        [0x3f8000, 0x4000],
        [4177920, 0x4000],
      ],
    );
    assert.equal(
      parseFwEnvConfig('/boot/uboot.env 010 0x20').copies[0]!.offset,
      8,
      'leading 0: octal',
    );
  });

  it('refuses what libubootenv would misread or half-support, with the reason', () => {
    const cases: [string, string][] = [
      ['', 'empty'],
      ['/dev/mtd1 0x0', 'fields'],
      ['/dev/mtd1 0x0 0x4000 0x4000 1 extra', 'fields'],
      ['/dev/mtd1 -0x4000 0x4000', 'offset'],
      ['/dev/mtd1 08 0x4000', 'offset'],
      ['/dev/mtd1 0x0 0x4', 'size'],
      ['/dev/mtd1 0x0 zz', 'size'],
      ['/dev/mtd1 0x0 0x4000 0xzz', 'sector'],
      ['/dev/ubi0:env 0x0 0x4000', 'ubi'],
      ['f 0 0x4000\nf 0x4000 0x2000', 'size'],
      ['f 0 0x4000\nf 0x2000 0x4000', 'overlap'],
      ['f 0 0x10\ng 0 0x10\nh 0 0x10', 'copies'],
    ];
    for (const [text, reason] of cases) {
      expectCode(() => parseFwEnvConfig(text), 'UBOOTENV_CONFIG_INVALID', { reason });
    }
  });
});
