import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareVersions, parseVersion } from '../../src/config/version.js';
import { parseReleaseMetadata } from '../../src/metadata/parse.js';
import { checkVersion } from '../../src/slots/slot-files.js';
import { VerificationError } from '../../src/errors.js';
import { throwsWithCode } from '../helpers/rejects.js';

describe('parseVersion', () => {
  const good: [string, number, number, number, string | undefined, string | undefined][] = [
    ['v0.3.1', 0, 3, 1, undefined, undefined],
    ['1.2.3', 1, 2, 3, undefined, undefined],
    ['v10.20.30-rc1', 10, 20, 30, 'rc1', undefined],
    ['v1.0.0+build.5', 1, 0, 0, undefined, 'build.5'],
    ['v1.0.0-beta.2+sha.abc-1', 1, 0, 0, 'beta.2', 'sha.abc-1'],
    ['v01.002.0003', 1, 2, 3, undefined, undefined],
    ['999999999999999.0.0', 999999999999999, 0, 0, undefined, undefined],
  ];
  for (const [text, major, minor, patch, prerelease, build] of good) {
    it(`parses ${JSON.stringify(text)}`, () => {
      const v = parseVersion(text);
      assert.deepEqual(
        [v.major, v.minor, v.patch, v.prerelease, v.build, v.raw],
        [major, minor, patch, prerelease, build, text],
      );
    });
  }

  const bad = [
    '',
    'v',
    '1',
    '1.2',
    'v1.2.3.4',
    'V1.2.3',
    'vv1.2.3',
    '1.2.x',
    '-1.2.3',
    '1.-2.3',
    '1.2.3-',
    '1.2.3+',
    '1.2.3-rc_1',
    '1.2.3 rc1',
    'latest',
    '1.2.3\nv4.5.6',
    '1234567890123456.0.0',
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)} with INVALID_VERSION (never 0.0.0)`, () => {
      const err = throwsWithCode(() => parseVersion(text), 'INVALID_VERSION', 4);
      assert.ok(err instanceof VerificationError, String(err));
    });
  }

  it('comparing a malformed version throws instead of ordering it', () => {
    assert.throws(() => compareVersions('garbage', 'v0.0.0'), VerificationError);
    assert.throws(() => compareVersions('v0.0.1', ''), VerificationError);
  });
});

describe('compareVersions', () => {
  const table: [string, string, -1 | 0 | 1][] = [
    ['v1.0.0', 'v1.0.0', 0],
    ['1.0.0', 'v1.0.0', 0],
    ['v1.0.0', 'v1.0.1', -1],
    ['v1.0.10', 'v1.0.9', 1], // numeric, not lexicographic
    ['v1.10.0', 'v1.9.99', 1],
    ['v2.0.0', 'v1.99.99', 1],
    ['v0.3.1', 'v0.3.2', -1],
    ['v1.2.0-rc1', 'v1.2.0', 0], // pre-release ignored for ordering (Go agent)
    ['v1.2.0-rc1', 'v1.2.0-rc2', 0],
    ['v1.2.0+a', 'v1.2.0+b', 0],
    ['v1.2.1-rc1', 'v1.2.0', 1],
    ['v01.2.3', 'v1.2.3', 0],
  ];
  for (const [a, b, want] of table) {
    it(`${a} vs ${b} = ${want}`, () => {
      assert.equal(compareVersions(a, b), want);
      assert.equal(compareVersions(parseVersion(a), parseVersion(b)), want);
    });
  }

  const suffix = fc.option(fc.stringMatching(/^[0-9A-Za-z.-]{1,8}$/), { nil: undefined });
  const versionArb = fc
    .record({
      v: fc.boolean(),
      major: fc.nat(20),
      minor: fc.nat(20),
      patch: fc.nat(20),
      pre: suffix,
      build: suffix,
    })
    .map(
      ({ v, major, minor, patch, pre, build }) =>
        `${v ? 'v' : ''}${major}.${minor}.${patch}` +
        (pre === undefined ? '' : `-${pre}`) +
        (build === undefined ? '' : `+${build}`),
    );

  it('property: reflexive', () => {
    fc.assert(fc.property(versionArb, (a) => compareVersions(a, a) === 0));
  });

  it('property: antisymmetric', () => {
    fc.assert(
      fc.property(versionArb, versionArb, (a, b) => {
        assert.equal(compareVersions(a, b), -compareVersions(b, a) || 0);
      }),
    );
  });

  it('property: transitive', () => {
    fc.assert(
      fc.property(versionArb, versionArb, versionArb, (a, b, c) => {
        const ab = compareVersions(a, b);
        const bc = compareVersions(b, c);
        if (ab <= 0 && bc <= 0) assert.ok(compareVersions(a, c) <= 0);
        if (ab >= 0 && bc >= 0) assert.ok(compareVersions(a, c) >= 0);
        if (ab === 0 && bc === 0) assert.equal(compareVersions(a, c), 0);
      }),
      { numRuns: 500 },
    );
  });

  it('property: agrees with ordering the numeric triple', () => {
    fc.assert(
      fc.property(versionArb, versionArb, (a, b) => {
        const key = (s: string) => {
          const v = parseVersion(s);
          return v.major * 1e6 + v.minor * 1e3 + v.patch;
        };
        assert.equal(compareVersions(a, b), Math.sign(key(a) - key(b)) || 0);
      }),
    );
  });

  it('property: suffixes never change the order', () => {
    fc.assert(
      fc.property(versionArb, (a) => {
        const v = parseVersion(a);
        const base = `v${v.major}.${v.minor}.${v.patch}`;
        assert.equal(compareVersions(a, base), 0);
      }),
    );
  });
});

/**
 * One version rule (issue 27): three rules judged a version before it, the latest.json
 * parser (its own character set, then parseVersion), parseVersion (which trimmed) and
 * the slot writer's checkVersion (any line of at most 128 characters). The verdicts
 * they gave, recorded from the code before the change, stand beside today's, and every
 * row whose verdict changed is listed. Codes: 'ok', or the error's code.
 */
describe('the one version rule: what changed from the three rules before it', () => {
  type Verdicts = [metadata: string, parseVersion: string, slot: string];
  const long = (n: number) => 'v1.2.3-' + 'a'.repeat(n - 7);
  const rows: [input: string, before: Verdicts, after: Verdicts][] = [
    ['v1.2.3', ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    ['1.2.3', ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    ['v1.2.3-rc1', ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    ['v1.2.3+build.5', ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    ['v1.2.3-rc.1+b.2', ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    ['v01.02.003', ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    [long(128), ['ok', 'ok', 'ok'], ['ok', 'ok', 'ok']],
    [
      ' v1.2.3',
      ['METADATA_FIELD_INVALID', 'ok', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3\n',
      ['METADATA_FIELD_INVALID', 'ok', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3 ',
      ['METADATA_FIELD_INVALID', 'ok', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'latest',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      '',
      ['METADATA_FIELD_MISSING', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
      ['METADATA_FIELD_MISSING', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3.4',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'V1.2.3',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3-',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3_x',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3~1',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3-rc_1',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3-ä',
      ['METADATA_FIELD_INVALID', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1111111111111111.0.0',
      ['INVALID_VERSION', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      long(129),
      ['METADATA_FIELD_INVALID', 'ok', 'SLOT_INVALID_VERSION'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      'v1.2.3\0',
      ['METADATA_FIELD_INVALID', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
    [
      '../x',
      ['METADATA_FIELD_INVALID', 'INVALID_VERSION', 'ok'],
      ['INVALID_VERSION', 'INVALID_VERSION', 'SLOT_INVALID_VERSION'],
    ],
  ];

  const verdict = (f: () => unknown): string => {
    try {
      f();
      return 'ok';
    } catch (err) {
      return (err as { code?: string }).code ?? String(err);
    }
  };
  const metadataWith = (version: string) =>
    Buffer.from(
      JSON.stringify({
        version,
        vmlinuz_url: 'k',
        vmlinuz_sha256: 'a'.repeat(64),
        initramfs_url: 'i',
        initramfs_sha256: 'b'.repeat(64),
      }),
    );
  const today = (v: string): Verdicts => [
    verdict(() => parseReleaseMetadata(metadataWith(v), 'http://x/latest.json')),
    verdict(() => parseVersion(v)),
    verdict(() => checkVersion(v)),
  ];

  for (const [input, , after] of rows) {
    it(`${JSON.stringify(input.length > 24 ? `${input.slice(0, 12)}… (${input.length})` : input)}: ${after.join(', ')}`, () => {
      assert.deepEqual(today(input), after);
    });
  }

  it('the rows whose verdict changed, and nothing else', () => {
    const changed = rows.filter(([, before, after]) => before.join() !== after.join());
    assert.deepEqual(
      changed.map(([input]) => (input.length > 24 ? input.length : input)),
      [
        ' v1.2.3',
        'v1.2.3\n',
        'v1.2.3 ',
        'latest',
        'v1.2',
        'v1.2.3.4',
        'V1.2.3',
        'v1.2.3-',
        'v1.2.3_x',
        'v1.2.3~1',
        'v1.2.3-rc_1',
        'v1.2.3-ä',
        'v1111111111111111.0.0',
        129,
        'v1.2.3\0',
        '../x',
      ],
    );
    // And no row says "ok" where another rule refuses: the three agree.
    for (const [input, , after] of rows) {
      assert.equal(new Set(after.map((v) => v === 'ok')).size, 1, JSON.stringify(input));
    }
  });
});
