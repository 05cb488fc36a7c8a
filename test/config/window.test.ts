import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import {
  formatLocalDateTime,
  formatLocalTime,
  formatMinute,
  isWithinWindow,
  nextWindowOpening,
  parseMaintenanceWindow,
  windowContainsMinute,
  type MaintenanceWindow,
} from '../../src/config/window.js';
import { ConfigError } from '../../src/errors.js';
import { nextOpening } from '../helpers/window.js';
import { throwsWithCode } from '../helpers/rejects.js';

const minuteArb = fc.integer({ min: 0, max: 1439 });

/** The brute-force model: walk from start, one minute at a time, until end. */
function modelOpenMinutes(start: number, end: number): Set<number> {
  const open = new Set<number>();
  for (let m = start; m !== end; m = (m + 1) % 1440) open.add(m);
  return open;
}

/** A local Date on the given calendar day at hh:mm (in whatever TZ is current). */
function localAt(y: number, mo: number, d: number, hh: number, mm: number): Date {
  return new Date(y, mo - 1, d, hh, mm, 0, 0);
}

function withTz(tz: string, fn: () => void): void {
  const saved = process.env.TZ;
  process.env.TZ = tz;
  try {
    fn();
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
}

// DST change days of 2026. Europe/Berlin: spring forward Sun 29 March 02:00 CET -> 03:00
// CEST, fall back Sun 25 October 03:00 CEST -> 02:00 CET. America/New_York: spring
// forward Sun 8 March 02:00 -> 03:00, fall back Sun 1 November 02:00 -> 01:00.
// Australia/Sydney (southern hemisphere): forward Sun 4 October 02:00 AEST -> 03:00
// AEDT, back Sun 5 April 03:00 AEDT -> 02:00 AEST.
const DST_CASES = [
  {
    tz: 'Europe/Berlin',
    spring: '2026-03-29T00:00:00Z', // 01:00 CET, one hour before the gap
    fall: '2026-10-25T00:00:00Z', // 02:00 CEST, first pass of the repeated hour
    skipped: '02:00-03:00',
    repeated: '02:00-03:00',
  },
  {
    tz: 'America/New_York',
    spring: '2026-03-08T06:00:00Z', // 01:00 EST
    fall: '2026-11-01T05:00:00Z', // 01:00 EDT, first pass of the repeated hour
    skipped: '02:00-03:00',
    repeated: '01:00-02:00',
  },
  {
    tz: 'Australia/Sydney',
    spring: '2026-10-03T15:00:00Z', // 01:00 AEST
    fall: '2026-04-04T15:00:00Z', // 02:00 AEDT, first pass of the repeated hour
    skipped: '02:00-03:00',
    repeated: '02:00-03:00',
  },
];

/** Open minutes among the 4 real hours (240 instants) after `from`, in `zone` (or TZ). */
function openMinutesIn(windowText: string, from: string, zone?: string): number {
  const w = parseMaintenanceWindow(windowText)!;
  const t0 = new Date(from).getTime();
  let open = 0;
  for (let i = 0; i < 240; i++) if (isWithinWindow(w, new Date(t0 + i * 60_000), zone)) open++;
  return open;
}

describe('parseMaintenanceWindow', () => {
  const good: [string, number, number, string][] = [
    ['02:00-04:00', 120, 240, '02:00-04:00'],
    ['23:00-01:00', 1380, 60, '23:00-01:00'],
    ['00:00-23:59', 0, 1439, '00:00-23:59'],
    [' 05:30 - 06:45 ', 330, 405, '05:30-06:45'],
    ['12:00-12:00', 720, 720, '12:00-12:00'],
  ];
  for (const [text, start, end, canonical] of good) {
    it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseMaintenanceWindow(text), { start, end, text: canonical });
    });
  }

  it('empty or undefined means no window', () => {
    assert.equal(parseMaintenanceWindow(undefined), undefined);
    assert.equal(parseMaintenanceWindow(''), undefined);
    assert.equal(parseMaintenanceWindow('   '), undefined);
  });

  const bad = [
    '24:00-01:00',
    '01:00-24:00',
    '23:60-01:00',
    '2:00-4:00',
    '02:00',
    '02:00-',
    '02:00-04:00-05:00',
    '0200-0400',
    '02.00-04.00',
    'always',
    '-01:00-02:00',
    '99:99-00:00',
    '02:00–04:00', // en dash
  ];
  for (const text of bad) {
    it(`rejects ${JSON.stringify(text)} with MAINTENANCE_WINDOW_INVALID`, () => {
      const err = throwsWithCode(
        () => parseMaintenanceWindow(text),
        'MAINTENANCE_WINDOW_INVALID',
        2,
      );
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(err.details.window, text);
    });
  }

  it('property: every valid HH:MM-HH:MM parses and its canonical text round-trips', () => {
    fc.assert(
      fc.property(minuteArb, minuteArb, (s, e) => {
        const text = `${formatMinute(s)}-${formatMinute(e)}`;
        const w = parseMaintenanceWindow(text);
        assert.deepEqual(w, { start: s, end: e, text });
      }),
    );
  });
});

describe('window membership (minute of day)', () => {
  it('property: matches the brute-force model over all 1440 minutes of the day', () => {
    fc.assert(
      fc.property(minuteArb, minuteArb, (start, end) => {
        const w: MaintenanceWindow = { start, end, text: '' };
        const model = modelOpenMinutes(start, end);
        for (let m = 0; m < 1440; m++) {
          assert.equal(windowContainsMinute(w, m), model.has(m), `${start}-${end} at ${m}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: open minutes = (end - start) mod 1440, start inclusive, end exclusive', () => {
    fc.assert(
      fc.property(minuteArb, minuteArb, (start, end) => {
        const w: MaintenanceWindow = { start, end, text: '' };
        let open = 0;
        for (let m = 0; m < 1440; m++) if (windowContainsMinute(w, m)) open++;
        assert.equal(open, (end - start + 1440) % 1440);
        if (start !== end) {
          assert.equal(windowContainsMinute(w, start), true);
          assert.equal(windowContainsMinute(w, end), false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('zero-length never matches; 23:00-01:00 wraps midnight', () => {
    const zero = parseMaintenanceWindow('03:00-03:00')!;
    for (let m = 0; m < 1440; m++) assert.equal(windowContainsMinute(zero, m), false);
    const wrap = parseMaintenanceWindow('23:00-01:00')!;
    const open = [1380, 1439, 0, 59];
    const closed = [1379, 60, 61, 720];
    for (const m of open) assert.equal(windowContainsMinute(wrap, m), true, `${m}`);
    for (const m of closed) assert.equal(windowContainsMinute(wrap, m), false, `${m}`);
  });
});

// Dates are built from local calendar fields, so these assertions hold in every TZ the
// suite runs under; the DST cases below pin the TZ explicitly.
describe('isWithinWindow (local wall clock)', () => {
  it('no window is always open', () => {
    assert.equal(isWithinWindow(undefined, new Date()), true);
  });

  for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
    it(`uses the device's local time (TZ=${tz})`, () => {
      withTz(tz, () => {
        const w = parseMaintenanceWindow('02:00-04:00')!;
        assert.equal(isWithinWindow(w, localAt(2026, 6, 15, 1, 59)), false);
        assert.equal(isWithinWindow(w, localAt(2026, 6, 15, 2, 0)), true);
        assert.equal(isWithinWindow(w, localAt(2026, 6, 15, 3, 59)), true);
        assert.equal(isWithinWindow(w, localAt(2026, 6, 15, 4, 0)), false);
      });
    });
  }

  it('really follows TZ: the same instant is inside in Berlin and outside in New York', () => {
    const instant = new Date('2026-06-15T01:30:00Z'); // 03:30 CEST, 21:30 EDT
    const w = parseMaintenanceWindow('03:00-04:00')!;
    withTz('Europe/Berlin', () => assert.equal(isWithinWindow(w, instant), true));
    withTz('America/New_York', () => assert.equal(isWithinWindow(w, instant), false));
  });

  it('property: matches the model at every minute of a whole day in two time zones', () => {
    for (const tz of ['Europe/Berlin', 'America/New_York']) {
      withTz(tz, () => {
        fc.assert(
          fc.property(minuteArb, minuteArb, (start, end) => {
            const w: MaintenanceWindow = { start, end, text: '' };
            const model = modelOpenMinutes(start, end);
            // An ordinary day (no DST change) walked instant by instant.
            const t0 = localAt(2026, 7, 1, 0, 0).getTime();
            for (let i = 0; i < 1440; i++) {
              assert.equal(isWithinWindow(w, new Date(t0 + i * 60_000)), model.has(i));
            }
          }),
          { numRuns: 40 },
        );
      });
    }
  });

  describe('DST change days (wall-clock semantics, docs/configuration.md)', () => {
    for (const c of DST_CASES) {
      const openMinutes = (windowText: string, from: string) => openMinutesIn(windowText, from);

      it(`${c.tz}: a window inside the skipped spring-forward hour does not open`, () => {
        withTz(c.tz, () => {
          // Sanity: the TZ really has the gap (local hour jumps from 1 to 3).
          const before = new Date(new Date(c.spring).getTime() + 59 * 60_000);
          const afterGap = new Date(new Date(c.spring).getTime() + 60 * 60_000);
          assert.equal(before.getHours(), 1);
          assert.equal(afterGap.getHours(), 3);
          assert.equal(openMinutes(c.skipped, c.spring), 0);
          // A window straddling the gap is open on the wall-clock minutes that exist.
          assert.equal(openMinutes('01:30-03:30', c.spring), 60);
        });
      });

      it(`${c.tz}: a window inside the repeated fall-back hour is open on both passes`, () => {
        withTz(c.tz, () => {
          assert.equal(openMinutes(c.repeated, c.fall), 120);
        });
      });

      it(`${c.tz}: nextOpening on the spring-forward day skips the missing hour`, () => {
        withTz(c.tz, () => {
          const from = new Date(c.spring);
          const next = nextOpening(parseMaintenanceWindow(c.skipped), from)!;
          // The gap hour does not exist today, so the next opening is tomorrow 02:00.
          assert.equal(next.getHours(), 2);
          assert.equal(next.getMinutes(), 0);
          assert.ok(next.getTime() - from.getTime() > 20 * 3600_000);
          const straddling = nextOpening(parseMaintenanceWindow('02:30-03:30'), from)!;
          assert.equal(straddling.getTime(), from.getTime() + 60 * 60_000); // 03:00 local
        });
      });
    }
  });
});

describe('the next opening of a window (isWithinWindow over real instants)', () => {
  // Instants below are written in UTC; pin the local zone to match.
  let savedTz: string | undefined;
  before(() => {
    savedTz = process.env.TZ;
    process.env.TZ = 'UTC';
  });
  after(() => {
    if (savedTz === undefined) delete process.env.TZ;
    else process.env.TZ = savedTz;
  });

  it('returns the instant itself when open, the next whole minute otherwise', () => {
    const w = parseMaintenanceWindow('02:00-04:00')!;
    const inside = new Date('2026-06-15T03:15:30Z');
    assert.equal(nextOpening(w, inside), inside);
    assert.equal(nextOpening(undefined, inside), inside);
    assert.deepEqual(
      nextOpening(w, new Date('2026-06-15T04:00:00Z')),
      new Date('2026-06-16T02:00:00Z'),
    );
    assert.deepEqual(
      nextOpening(w, new Date('2026-06-15T01:59:01Z')),
      new Date('2026-06-15T02:00:00Z'),
    );
  });

  it('a zero-length window never opens', () => {
    assert.equal(nextOpening(parseMaintenanceWindow('01:00-01:00'), new Date()), undefined);
  });

  it('property: the result is open and no earlier whole minute was', () => {
    fc.assert(
      fc.property(
        minuteArb,
        minuteArb,
        fc.integer({ min: 0, max: 2 * 86_400_000 }),
        (start, end, offset) => {
          fc.pre(start !== end);
          const w: MaintenanceWindow = { start, end, text: '' };
          const from = new Date(Date.UTC(2026, 0, 1) + offset);
          const next = nextOpening(w, from)!;
          assert.ok(isWithinWindow(w, next));
          assert.ok(next.getTime() >= from.getTime());
          if (next !== from) {
            for (let t = next.getTime() - 60_000; t >= from.getTime(); t -= 60_000) {
              assert.equal(isWithinWindow(w, new Date(t)), false);
            }
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

// time_zone: the zone is a parameter evaluated with Intl, independent of the process's
// TZ. Every test here pins the process TZ to a zone with other rules (Asia/Kolkata: +05:30,
// no DST) so that a result computed in the process zone by mistake would differ.
describe('windows in a configured time zone (Intl)', () => {
  const PROCESS_TZ = 'Asia/Kolkata';
  const inProcessTz = (fn: () => void) => () => withTz(PROCESS_TZ, fn);

  /** Wall-clock hour and minute of an instant in `zone`, by an independent reading. */
  function wall(at: Date, zone: string): number {
    const text = at.toLocaleTimeString('en-GB', { timeZone: zone, hour12: false });
    const [h, m] = text.split(':').map(Number) as [number, number];
    return (h % 24) * 60 + m;
  }

  it(
    'the same instant is inside in Berlin and outside in New York, whatever TZ says',
    inProcessTz(() => {
      const instant = new Date('2026-06-15T01:30:00Z'); // 03:30 CEST, 21:30 EDT, 07:00 IST
      const w = parseMaintenanceWindow('03:00-04:00')!;
      assert.equal(isWithinWindow(w, instant, 'Europe/Berlin'), true);
      assert.equal(isWithinWindow(w, instant, 'America/New_York'), false);
      assert.equal(isWithinWindow(w, instant), false, 'no zone: the process zone (07:00 IST)');
      assert.equal(formatLocalTime(instant, 'Europe/Berlin'), '03:30');
      assert.equal(formatLocalTime(instant, 'America/New_York'), '21:30');
      assert.equal(formatLocalTime(instant, 'Asia/Kathmandu'), '07:15');
    }),
  );

  it(
    'property: membership matches the model at random instants of 2026 in six zones',
    inProcessTz(() => {
      const zones = [
        'Europe/Berlin',
        'America/New_York',
        'Australia/Lord_Howe', // 30-minute DST shift
        'Asia/Kathmandu', // +05:45
        'America/St_Johns', // -03:30 / -02:30
        'UTC',
      ];
      fc.assert(
        fc.property(
          minuteArb,
          minuteArb,
          fc.constantFrom(...zones),
          fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) }),
          (start, end, zone, t) => {
            const w: MaintenanceWindow = { start, end, text: '' };
            const at = new Date(t);
            const model = modelOpenMinutes(start, end);
            assert.equal(isWithinWindow(w, at, zone), model.has(wall(at, zone)));
          },
        ),
        { numRuns: 500 },
      );
    }),
  );

  describe('DST change days, zone given as a parameter', () => {
    for (const c of DST_CASES) {
      const openMinutes = (windowText: string, from: string) =>
        openMinutesIn(windowText, from, c.tz);

      it(
        `${c.tz}: the skipped hour never opens, the repeated hour opens twice`,
        inProcessTz(() => {
          // Sanity: the zone really has the gap at that instant.
          const before = new Date(new Date(c.spring).getTime() + 59 * 60_000);
          const afterGap = new Date(new Date(c.spring).getTime() + 60 * 60_000);
          assert.equal(formatLocalTime(before, c.tz), '01:59');
          assert.equal(formatLocalTime(afterGap, c.tz), '03:00');
          assert.equal(openMinutes(c.skipped, c.spring), 0);
          assert.equal(openMinutes('01:30-03:30', c.spring), 60);
          assert.equal(openMinutes(c.repeated, c.fall), 120);
        }),
      );

      it(
        `${c.tz}: property: nextOpening across the DST days is open and nothing earlier was`,
        inProcessTz(() => {
          fc.assert(
            fc.property(
              minuteArb,
              minuteArb,
              fc.constantFrom(c.spring, c.fall),
              fc.integer({ min: -6 * 3600_000, max: 30 * 3600_000 }),
              (start, end, day, offset) => {
                fc.pre(start !== end);
                const w: MaintenanceWindow = { start, end, text: '' };
                const from = new Date(new Date(day).getTime() + offset);
                const next = nextOpening(w, from, c.tz)!;
                assert.ok(isWithinWindow(w, next, c.tz));
                assert.ok(next.getTime() >= from.getTime());
                for (let t = next.getTime() - 60_000; t >= from.getTime(); t -= 60_000) {
                  assert.equal(isWithinWindow(w, new Date(t), c.tz), false);
                }
              },
            ),
            { numRuns: 40 },
          );
        }),
      );
    }
  });
});

describe('nextWindowOpening: when a closed (or ending) window opens next', () => {
  /** The model: walk every minute after `from` until the window goes from closed to open. */
  function modelNext(w: MaintenanceWindow, from: Date, zone: string): Date | undefined {
    const first = Math.floor(from.getTime() / 60_000) * 60_000 + 60_000;
    let was = isWithinWindow(w, new Date(first - 60_000), zone);
    for (let i = 0; i <= 3 * 1440; i++) {
      const at = new Date(first + i * 60_000);
      const open = isWithinWindow(w, at, zone);
      if (open && !was) return at;
      was = open;
    }
    return undefined;
  }

  it('a window across midnight: 23:00-01:00 Europe/Berlin, asked at 01:30 and at 00:30', () => {
    const w = parseMaintenanceWindow('23:00-01:00')!;
    // 2026-12-05 01:30 CET (00:30Z): closed; opens 23:00 CET the same day (22:00Z).
    const closed = new Date('2026-12-05T00:30:00Z');
    assert.deepEqual(
      nextWindowOpening(w, closed, 'Europe/Berlin'),
      new Date('2026-12-05T22:00:00Z'),
    );
    assert.equal(
      formatLocalDateTime(nextWindowOpening(w, closed, 'Europe/Berlin')!, 'Europe/Berlin'),
      '2026-12-05 23:00',
    );
    // 00:30 CET, inside but ending: the next opening is that evening, not the one now.
    const ending = new Date('2026-12-04T23:30:00Z');
    assert.deepEqual(
      nextWindowOpening(w, ending, 'Europe/Berlin', 3600),
      new Date('2026-12-05T22:00:00Z'),
    );
  });

  it('DST: a start in the skipped hour opens when the clock leaves the gap; a window wholly in it the next day', () => {
    const spring = new Date('2026-03-29T00:00:00Z'); // 01:00 CET, an hour before the gap
    assert.deepEqual(
      nextWindowOpening(parseMaintenanceWindow('02:30-04:00')!, spring, 'Europe/Berlin'),
      new Date('2026-03-29T01:00:00Z'), // 03:00 CEST
    );
    const next = nextWindowOpening(
      parseMaintenanceWindow('02:00-03:00')!,
      spring,
      'Europe/Berlin',
    )!;
    assert.deepEqual(next, new Date('2026-03-30T00:00:00Z')); // 02:00 CEST the next day
    assert.equal(formatLocalDateTime(next, 'Europe/Berlin'), '2026-03-30 02:00');
  });

  it('DST: the repeated fall-back hour is one opening, not two', () => {
    // 02:00 CEST, the first pass: open through the second pass; next is the next day.
    const fall = new Date('2026-10-25T00:15:00Z');
    assert.deepEqual(
      nextWindowOpening(parseMaintenanceWindow('02:00-03:00')!, fall, 'Europe/Berlin'),
      new Date('2026-10-26T01:00:00Z'), // 02:00 CET
    );
  });

  it('DST: the clock falling back into a window opens it again', () => {
    // 01:01 EDT (closed for 00:00-01:01); at 06:00Z the clock reads 01:00 EST: open again.
    assert.deepEqual(
      nextWindowOpening(
        parseMaintenanceWindow('00:00-01:01')!,
        new Date('2026-11-01T05:01:00Z'),
        'America/New_York',
      ),
      new Date('2026-11-01T06:00:00Z'),
    );
  });

  it('never: a zero-length window, or one shorter than the margin', () => {
    const now = new Date('2026-06-15T12:00:00Z');
    assert.equal(nextWindowOpening(parseMaintenanceWindow('01:00-01:00')!, now, 'UTC'), undefined);
    assert.equal(
      nextWindowOpening(parseMaintenanceWindow('01:00-01:30')!, now, 'UTC', 3600),
      undefined,
    );
  });

  it('property: equals the minute-by-minute model in zones with DST, across the change days', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'UTC'];
    // 2026-03-01 .. 2026-11-30 covers every change day of the zones above.
    const span = Date.UTC(2026, 10, 30) - Date.UTC(2026, 2, 1);
    fc.assert(
      fc.property(
        minuteArb,
        minuteArb,
        fc.integer({ min: 0, max: span }),
        fc.constantFrom(...zones),
        (start, end, offset, zone) => {
          fc.pre(start !== end);
          const w = parseMaintenanceWindow(`${formatMinute(start)}-${formatMinute(end)}`)!;
          const from = new Date(Date.UTC(2026, 2, 1) + offset);
          assert.deepEqual(nextWindowOpening(w, from, zone), modelNext(w, from, zone));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('property: on the change days themselves', () => {
    fc.assert(
      fc.property(
        minuteArb,
        minuteArb,
        fc.integer({ min: -6 * 60, max: 30 * 60 }),
        fc.constantFrom(
          ...DST_CASES.flatMap((c) => [[c.tz, c.spring] as const, [c.tz, c.fall] as const]),
        ),
        (start, end, minutes, [zone, day]) => {
          fc.pre(start !== end);
          const w = parseMaintenanceWindow(`${formatMinute(start)}-${formatMinute(end)}`)!;
          const from = new Date(new Date(day).getTime() + minutes * 60_000);
          assert.deepEqual(nextWindowOpening(w, from, zone), modelNext(w, from, zone));
        },
      ),
      { numRuns: 200 },
    );
  });
});
