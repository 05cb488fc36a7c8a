/**
 * Staged rollouts (src/fleet/rollout.ts): schedule validation, evaluation at fixed
 * instants, the explanation `check` prints, and a 10,000-device simulation of the wave
 * sizes against binomial bounds (fixed identifiers, so it cannot flake).
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  decideRollout,
  formatUtc,
  parseRollout,
  rolloutBucket,
  rolloutJson,
  rolloutPosition,
} from '../../src/fleet/rollout.js';
import { throwsWithCode } from '../helpers/rejects.js';

const schedule = parseRollout({
  start: '2026-12-01T14:00:00Z',
  waves: [
    { percent: 1, after: '0s' },
    { percent: 10, after: '2d' },
    { percent: 100, after: '3d' },
  ],
});
const at = (iso: string) => new Date(iso);

/** 10,000 fixed device identifiers (SHA-256 of a counter: uniform, reproducible). */
const fleet = Array.from({ length: 10_000 }, (_, i) =>
  createHash('sha256').update(`device ${i}`).digest('hex'),
);

describe('rollout schedule', () => {
  it('parses start and waves, and writes back the same JSON', () => {
    assert.equal(schedule.waves.length, 3);
    assert.deepEqual(
      schedule.waves.map((w) => [w.percent, w.afterSeconds]),
      [
        [1, 0],
        [10, 172_800],
        [100, 259_200],
      ],
    );
    assert.deepEqual(rolloutJson(schedule), {
      start: '2026-12-01T14:00:00Z',
      waves: [
        { percent: 1, after: '0s' },
        { percent: 10, after: '2d' },
        { percent: 100, after: '3d' },
      ],
    });
    // Unknown keys are ignored, as everywhere in latest.json.
    assert.equal(
      parseRollout({
        start: '2026-12-01T14:00:00Z',
        waves: [{ percent: 5, after: '1h', x: 1 }],
        y: 2,
      }).waves[0]!.percent,
      5,
    );
  });

  const START = '2026-12-01T14:00:00Z';
  /** A schedule from START with these waves, each [percent, after]. */
  const waves = (...list: [unknown, unknown][]) => ({
    start: START,
    waves: list.map(([percent, after]) => ({ percent, after })),
  });
  const thirtyThree = Array.from({ length: 33 }, (_, i): [number, string] => [i + 1, '0s']);
  const bad: [string, unknown, string][] = [
    ['not an object', 'soon', 'rollout'],
    ['no start', { waves: [{ percent: 1, after: '0s' }] }, 'rollout.start'],
    ['start not RFC 3339', { ...waves([1, '0s']), start: '2026-12-01 14:00' }, 'rollout.start'],
    ['no waves', waves(), 'rollout.waves'],
    ['33 waves', waves(...thirtyThree), 'rollout.waves'],
    ['percent 0', waves([0, '0s']), 'rollout.waves[0].percent'],
    ['percent 101', waves([101, '0s']), 'rollout.waves[0].percent'],
    ['percent 2.5', waves([2.5, '0s']), 'rollout.waves[0].percent'],
    ['after a number', waves([1, 3600]), 'rollout.waves[0].after'],
    ['after without unit', waves([1, '3600']), 'rollout.waves[0].after'],
    ['percent not rising', waves([10, '0s'], [10, '1d']), 'rollout.waves[1].percent'],
    ['after going back', waves([1, '1d'], [10, '1h']), 'rollout.waves[1].after'],
  ];
  for (const [name, value, field] of bad) {
    it(`refuses ${name} with METADATA_FIELD_INVALID naming ${field}`, () => {
      const err = throwsWithCode(() => parseRollout(value), 'METADATA_FIELD_INVALID', 4);
      assert.equal(err.details.field, field);
    });
  }
});

describe('rollout evaluation at fixed instants', () => {
  it('knows which waves are open and when the next opens', () => {
    assert.deepEqual(rolloutPosition(schedule, at('2026-12-01T13:59:59Z')).openWaves, 0);
    const first = rolloutPosition(schedule, at('2026-12-01T14:00:00Z'));
    assert.equal(first.openWaves, 1);
    assert.equal(first.openPercent, 1);
    assert.equal(first.next?.wave, 2);
    assert.equal(first.next?.opensAt.toISOString(), '2026-12-03T14:00:00.000Z');
    const all = rolloutPosition(schedule, at('2026-12-04T14:00:00Z'));
    assert.equal(all.openWaves, 3);
    assert.equal(all.openPercent, 100);
    assert.equal(all.next, undefined);
  });

  it('lets a device in once the wave of its bucket opens, and explains it', () => {
    const early = decideRollout(schedule, at('2026-12-02T09:00:00Z'), 37);
    assert.equal(early.open, false);
    assert.equal(early.deviceWave, 3);
    assert.equal(
      early.explanation,
      'wave 2 of 3 (10 %) opens 2026-12-03 14:00 UTC; this device is in bucket 37, in wave 3 (opens 2026-12-04 14:00 UTC)',
    );
    const next = decideRollout(schedule, at('2026-12-02T09:00:00Z'), 7);
    assert.equal(next.open, false);
    assert.equal(
      next.explanation,
      'wave 2 of 3 (10 %) opens 2026-12-03 14:00 UTC; this device is in bucket 7',
    );
    const inWave2 = decideRollout(schedule, at('2026-12-03T14:00:00Z'), 7);
    assert.equal(inWave2.open, true);
    assert.equal(
      inWave2.explanation,
      'wave 2 of 3 (10 %) opened 2026-12-03 14:00 UTC; this device is in bucket 7',
    );
    assert.equal(decideRollout(schedule, at('2026-12-01T14:00:00Z'), 0).open, true);
    assert.equal(decideRollout(schedule, at('2026-12-01T14:00:00Z'), 1).open, false);
    assert.equal(decideRollout(schedule, at('2026-12-04T14:00:00Z'), 99).open, true);
  });

  it('a schedule stopped at 10 % never reaches the other devices', () => {
    const stopped = parseRollout({
      start: '2026-12-01T14:00:00Z',
      waves: [
        { percent: 1, after: '0s' },
        { percent: 10, after: '2d' },
      ],
    });
    const d = decideRollout(stopped, at('2027-01-01T00:00:00Z'), 50);
    assert.equal(d.open, false);
    assert.equal(d.deviceWave, undefined);
    assert.match(
      d.explanation,
      /all 2 waves are open \(10 %\); this device is in bucket 50, which no wave reaches/,
    );
  });

  it('a device with no identifier yet is in only when a wave for everyone is open', () => {
    assert.equal(decideRollout(schedule, at('2026-12-02T00:00:00Z'), undefined).open, false);
    const d = decideRollout(schedule, at('2026-12-05T00:00:00Z'), undefined);
    assert.equal(d.open, true);
    assert.match(d.explanation, /no rollout bucket yet/);
  });

  it('formats times in UTC, seconds only when set', () => {
    assert.equal(formatUtc(at('2026-12-03T14:00:00Z')), '2026-12-03 14:00 UTC');
    assert.equal(formatUtc(at('2026-12-03T15:00:07+01:00')), '2026-12-03 14:00:07 UTC');
  });
});

describe('rollout buckets over a simulated fleet of 10,000 devices', () => {
  const n = fleet.length;
  /** |observed - n p| within 5 binomial standard deviations (p < 6e-7 per check by chance). */
  function withinBounds(observed: number, p: number, what: string): void {
    const sigma = Math.sqrt(n * p * (1 - p));
    assert.ok(
      Math.abs(observed - n * p) <= 5 * sigma,
      `${what}: ${observed} devices, expected ${n * p} ± ${(5 * sigma).toFixed(1)}`,
    );
  }

  it('each wave lets in its share of the fleet', () => {
    const buckets = fleet.map((id) => rolloutBucket(id, 'v1.4.0'));
    assert.ok(buckets.every((b) => Number.isInteger(b) && b >= 0 && b < 100));
    for (const [instant, p] of [
      ['2026-12-01T14:00:00Z', 0.01],
      ['2026-12-03T14:00:00Z', 0.1],
    ] as const) {
      const open = buckets.filter((b) => decideRollout(schedule, at(instant), b).open).length;
      withinBounds(open, p, `at ${instant}`);
    }
    assert.equal(
      buckets.filter((b) => decideRollout(schedule, at('2026-12-04T14:00:00Z'), b).open).length,
      n,
    );
    // Every bucket is about equally full (each one is a 1 % wave).
    for (let b = 0; b < 100; b++) {
      withinBounds(buckets.filter((x) => x === b).length, 0.01, `bucket ${b}`);
    }
  });

  it('is stable for a device and a version, and draws a new order for each version', () => {
    assert.equal(rolloutBucket(fleet[0]!, 'v1.4.0'), rolloutBucket(fleet[0]!, 'v1.4.0'));
    const first = (version: string) =>
      new Set(fleet.filter((id) => rolloutBucket(id, version) < 10));
    const a = first('v1.4.0');
    const b = first('v1.5.0');
    withinBounds(a.size, 0.1, 'first 10 % of v1.4.0');
    withinBounds(b.size, 0.1, 'first 10 % of v1.5.0');
    // Independent orders: the devices first for both are about 1 % of the fleet, not 10 %.
    withinBounds([...a].filter((id) => b.has(id)).length, 0.01, 'first for both versions');
  });
});
