import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareVersions, parseVersion } from '../../src/config/version.js';
import { VerificationError } from '../../src/errors.js';

describe('parseVersion', () => {
  const good: [string, number, number, number, string | undefined, string | undefined][] = [
    ['v0.3.1', 0, 3, 1, undefined, undefined],
    ['1.2.3', 1, 2, 3, undefined, undefined],
    ['v10.20.30-rc1', 10, 20, 30, 'rc1', undefined],
    ['v1.0.0+build.5', 1, 0, 0, undefined, 'build.5'],
    ['v1.0.0-beta.2+sha.abc-1', 1, 0, 0, 'beta.2', 'sha.abc-1'],
    ['v01.002.0003', 1, 2, 3, undefined, undefined],
    ['  v2.0.0\n', 2, 0, 0, undefined, undefined],
    ['999999999999999.0.0', 999999999999999, 0, 0, undefined, undefined],
  ];
  for (const [text, major, minor, patch, prerelease, build] of good) {
    it(`parses ${JSON.stringify(text)}`, () => {
      const v = parseVersion(text);
      assert.deepEqual(
        [v.major, v.minor, v.patch, v.prerelease, v.build, v.raw],
        [major, minor, patch, prerelease, build, text.trim()],
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
      assert.throws(
        () => parseVersion(text),
        (err: unknown) =>
          err instanceof VerificationError && err.code === 'INVALID_VERSION' && err.exitCode === 4,
      );
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
