/** versionNumber: the version as one number PromQL can compare, ordered like compareVersions. */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareVersions, versionNumber } from '../../src/config/version.js';

const component = (max: number) => fc.integer({ min: 0, max });
const version = fc
  .tuple(
    component(899_999),
    component(99_999),
    component(99_999),
    fc.constantFrom('', '-rc1', '+build.7', '-beta.2+x'),
  )
  .map(([a, b, c, suffix]) => `v${a}.${b}.${c}${suffix}`);

describe('versionNumber', () => {
  it('encodes MAJOR·1e10 + MINOR·1e5 + PATCH, ignoring suffixes', () => {
    assert.equal(versionNumber('v1.2.3'), 10_000_200_003);
    assert.equal(versionNumber('0.3.1-rc1'), 300_001);
    assert.equal(versionNumber('v899999.99999.99999'), 8_999_999_999_999_999);
  });

  it('property: orders exactly like compareVersions, and is an exact float64 integer', () => {
    fc.assert(
      fc.property(version, version, (a, b) => {
        const na = versionNumber(a)!;
        const nb = versionNumber(b)!;
        assert.ok(Number.isSafeInteger(na), a);
        assert.equal(Math.sign(na - nb), compareVersions(a, b), `${a} vs ${b}`);
      }),
      { numRuns: 2000, seed: 19 },
    );
  });

  it('is undefined for text that is not a version and for components it cannot encode', () => {
    for (const text of [
      '',
      'latest',
      'v1.2',
      'v1.2.3.4',
      'v1.100000.0',
      'v1.0.100000',
      'v900000.0.0',
    ]) {
      assert.equal(versionNumber(text), undefined, text);
    }
  });
});
