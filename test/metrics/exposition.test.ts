/**
 * The exposition text is checked with a real parser of the format: the Prometheus
 * Python client's `text_string_to_metric_families` (Debian python3-prometheus-client,
 * installed by .ci/run), run in a child process.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  EXPOSITION_CONTENT_TYPE,
  escapeLabelValue,
  formatSampleValue,
  renderMetrics,
  ROLLBACK_REASONS,
  type MetricsInput,
} from '../../src/metrics/exposition.js';
import { refusalError } from '../../src/gates/verdict.js';
import { PHASE_NAMES } from '../helpers/contract.js';
import { hasCode } from '../helpers/rejects.js';

// Debian's interpreter, where apt installs prometheus_client (a pyenv shim on PATH
// would not see it).
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: string;
}
interface ParsedFamily {
  name: string;
  type: string;
  help: string;
  samples: ParsedSample[];
}
type ParseResult = { ok: true; families: ParsedFamily[] } | { ok: false; error: string };

const PARSER = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for text in json.load(sys.stdin):
    try:
        fams = [{"name": f.name, "type": f.type, "help": f.documentation,
                 "samples": [{"name": s.name, "labels": s.labels, "value": repr(float(s.value))}
                             for s in f.samples]}
                for f in text_string_to_metric_families(text)]
        out.append({"ok": True, "families": fams})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__ + ": " + str(e)})
json.dump(out, sys.stdout)
`;

/** Parse many exposition texts in one python3 process. */
function parseAll(texts: string[]): ParseResult[] {
  const r = spawnSync(PYTHON, ['-c', PARSER], {
    input: JSON.stringify(texts),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(
    r.status,
    0,
    `python3 prometheus_client parser failed (is python3-prometheus-client installed?): ${r.stderr}`,
  );
  return JSON.parse(r.stdout) as ParseResult[];
}

function parseOne(text: string): ParsedFamily[] {
  const [res] = parseAll([text]);
  assert.ok(res?.ok, res && !res.ok ? res.error : 'no result');
  return res.families;
}

const build = { version: '0.1.0', arch: 'arm64', nodejs: 'v24.22.3' };

const base: MetricsInput = {
  build,
  phase: 'staged',
  attemptCount: 2,
  healthCheckFailures: 1,
  activeSlot: 'A',
  runningSlot: 'B',
  version: 'v0.3.1',
  lastTransition: new Date('2026-11-25T23:00:00.250Z'),
  channel: 'stable',
};

/** Every optional field set, as on a device that has checked, applied and rolled back. */
const full: MetricsInput = {
  ...base,
  phase: 'rolled_back',
  reason: 'BOOT_FALLBACK',
  failureCounts: { INSUFFICIENT_SPACE: 2, DOWNLOAD_FAILED: 1 },
  rollbackCounts: { BOOT_FALLBACK: 3 },
  lastCheck: new Date('2026-11-26T00:00:00Z'),
  availableVersion: 'v0.4.0-rc1',
  activatedAt: new Date('2026-11-25T22:00:00Z'),
  lastApplyBytes: 123456789,
  lastApplySeconds: 42.5,
  lastApplyReusedBytes: 987654321,
  deltaFallbackCounts: { DELTA_RANGE_UNSUPPORTED: 2, 'not a code': 1 },
  rolloutBucket: 37,
  floorVersion: 'v0.3.0',
  held: true,
  releases: {
    quarantined: [{ version: 'v0.4.0-rc0', reason: 'BOOT_FALLBACK' }],
    backoffs: [{ version: 'v0.4.0-rc1', until: new Date('2026-11-26T06:00:00Z') }],
    outcomes: [
      { version: 'v0.4.0-rc0', outcome: 'rolled_back' },
      { version: 'v0.4.0-rc1', outcome: 'verification_failed' },
    ],
  },
};

describe('renderMetrics (Prometheus text format 0.0.4)', () => {
  it('the oracle rejects broken exposition text (so its acceptance means something)', () => {
    const broken = [
      'kubesolo_update_info{version="unterminated} 1\n',
      'kubesolo_update_info{version="a"b"} 1\n',
      'kubesolo_update_phase{phase="idle"} not-a-number\n',
    ];
    for (const res of parseAll(broken)) assert.equal(res.ok, false);
  });

  it('parses into the documented families, with their types, help and samples', () => {
    const families = parseOne(
      renderMetrics({ ...full, problems: [{ source: 'bootenv', code: 'GRUBENV_CORRUPT' }] }),
    );
    // prometheus_client names a counter family without its _total suffix.
    assert.deepEqual(
      families.map((f) => [f.name, f.type]),
      [
        ['kubesolo_update_build_info', 'gauge'],
        ['kubesolo_update_phase', 'gauge'],
        ['kubesolo_update_target_attempts', 'gauge'],
        ['kubesolo_update_health_check_failures', 'gauge'],
        ['kubesolo_update_info', 'gauge'],
        ['kubesolo_update_last_transition_timestamp_seconds', 'gauge'],
        ['kubesolo_update_reason_info', 'gauge'],
        ['kubesolo_update_failures', 'counter'],
        ['kubesolo_update_rollbacks', 'counter'],
        ['kubesolo_update_last_check_timestamp_seconds', 'gauge'],
        ['kubesolo_update_available_info', 'gauge'],
        ['kubesolo_update_version_number', 'gauge'],
        ['kubesolo_update_available_version_number', 'gauge'],
        ['kubesolo_update_activated_timestamp_seconds', 'gauge'],
        ['kubesolo_update_last_apply_bytes', 'gauge'],
        ['kubesolo_update_last_apply_duration_seconds', 'gauge'],
        ['kubesolo_update_last_apply_reused_bytes', 'gauge'],
        ['kubesolo_update_delta_fallbacks', 'counter'],
        ['kubesolo_update_rollout_bucket', 'gauge'],
        ['kubesolo_update_floor_version_number', 'gauge'],
        ['kubesolo_update_held', 'gauge'],
        ['kubesolo_update_quarantined_releases', 'gauge'],
        ['kubesolo_update_quarantined_info', 'gauge'],
        ['kubesolo_update_verification_backoff_until_timestamp_seconds', 'gauge'],
        ['kubesolo_update_release_outcome_info', 'gauge'],
        ['kubesolo_update_metrics_problem', 'gauge'],
      ],
    );
    for (const f of families) assert.ok(f.help.length > 10, f.name);
    const [buildInfo, phase, attempts, failures, info, last, ...fleet] = families;
    assert.deepEqual(buildInfo!.samples, [
      { name: 'kubesolo_update_build_info', labels: build, value: '1.0' },
    ]);
    assert.deepEqual(
      phase!.samples.map((s) => [s.labels.phase, s.value]),
      PHASE_NAMES.map((p) => [p, p === 'rolled_back' ? '1.0' : '0.0']),
    );
    // A gauge: it starts again when the target changes (a _total must only go up).
    assert.deepEqual(attempts!.samples, [
      { name: 'kubesolo_update_target_attempts', labels: {}, value: '2.0' },
    ]);
    assert.deepEqual(failures!.samples, [
      { name: 'kubesolo_update_health_check_failures', labels: {}, value: '1.0' },
    ]);
    assert.deepEqual(info!.samples, [
      {
        name: 'kubesolo_update_info',
        labels: { active_slot: 'A', running_slot: 'B', version: 'v0.3.1', channel: 'stable' },
        value: '1.0',
      },
    ]);
    assert.deepEqual(last!.samples, [
      {
        name: 'kubesolo_update_last_transition_timestamp_seconds',
        labels: {},
        value: '1795647600.25', // python: datetime(2026,11,25,23,0,0,250000,utc).timestamp(),
      },
    ]);
    const flat = (i: number) => fleet[i]!.samples.map((s) => [s.name, s.labels, s.value]);
    assert.deepEqual(flat(0), [
      ['kubesolo_update_reason_info', { reason: 'BOOT_FALLBACK' }, '1.0'],
    ]);
    assert.deepEqual(flat(1), [
      ['kubesolo_update_failures_total', { reason: 'DOWNLOAD_FAILED' }, '1.0'],
      ['kubesolo_update_failures_total', { reason: 'INSUFFICIENT_SPACE' }, '2.0'],
    ]);
    // The three rollback reasons are always there, so increase() sees the first one.
    assert.deepEqual(flat(2), [
      ['kubesolo_update_rollbacks_total', { reason: 'BOOT_FALLBACK' }, '3.0'],
      ['kubesolo_update_rollbacks_total', { reason: 'HEALTH_CHECK_FAILED' }, '0.0'],
      ['kubesolo_update_rollbacks_total', { reason: 'MANUAL_ROLLBACK' }, '0.0'],
    ]);
    assert.deepEqual(flat(3), [
      ['kubesolo_update_last_check_timestamp_seconds', {}, '1795651200.0'],
    ]);
    assert.deepEqual(flat(4), [
      ['kubesolo_update_available_info', { version: 'v0.4.0-rc1' }, '1.0'],
    ]);
    // v0.3.1 → 0·1e10 + 3·1e5 + 1; the pre-release suffix is ignored, as in ordering.
    assert.deepEqual(flat(5), [['kubesolo_update_version_number', {}, '300001.0']]);
    assert.deepEqual(flat(6), [['kubesolo_update_available_version_number', {}, '400000.0']]);
    assert.deepEqual(flat(7), [
      ['kubesolo_update_activated_timestamp_seconds', {}, '1795644000.0'],
    ]);
    assert.deepEqual(flat(8), [['kubesolo_update_last_apply_bytes', {}, '123456789.0']]);
    assert.deepEqual(flat(9), [['kubesolo_update_last_apply_duration_seconds', {}, '42.5']]);
    assert.deepEqual(flat(10), [['kubesolo_update_last_apply_reused_bytes', {}, '987654321.0']]);
    // Delta fallbacks by reason code; free text collapses into OTHER (bounded labels).
    assert.deepEqual(flat(11), [
      ['kubesolo_update_delta_fallbacks_total', { reason: 'DELTA_RANGE_UNSUPPORTED' }, '2.0'],
      ['kubesolo_update_delta_fallbacks_total', { reason: 'OTHER' }, '1.0'],
    ]);
    assert.deepEqual(flat(12), [['kubesolo_update_rollout_bucket', {}, '37.0']]);
    assert.deepEqual(flat(13), [['kubesolo_update_floor_version_number', {}, '300000.0']]);
    // The hold and the release memory (docs/fleet.md "Failed releases across the fleet").
    assert.deepEqual(flat(14), [['kubesolo_update_held', {}, '1.0']]);
    assert.deepEqual(flat(15), [['kubesolo_update_quarantined_releases', {}, '1.0']]);
    assert.deepEqual(flat(16), [
      [
        'kubesolo_update_quarantined_info',
        { version: 'v0.4.0-rc0', reason: 'BOOT_FALLBACK' },
        '1.0',
      ],
    ]);
    assert.deepEqual(flat(17), [
      [
        'kubesolo_update_verification_backoff_until_timestamp_seconds',
        { version: 'v0.4.0-rc1' },
        '1795672800.0',
      ],
    ]);
    assert.deepEqual(flat(18), [
      [
        'kubesolo_update_release_outcome_info',
        { version: 'v0.4.0-rc0', outcome: 'rolled_back' },
        '1.0',
      ],
      [
        'kubesolo_update_release_outcome_info',
        { version: 'v0.4.0-rc1', outcome: 'verification_failed' },
        '1.0',
      ],
    ]);
    assert.deepEqual(flat(19), [
      ['kubesolo_update_metrics_problem', { source: 'bootenv', code: 'GRUBENV_CORRUPT' }, '1.0'],
    ]);
  });

  it('a degraded exposition: unknown state leaves counters out (no fake reset), problems are bounded', () => {
    const families = parseOne(
      renderMetrics({
        build,
        phase: '',
        runningSlot: 'A',
        problems: [
          { source: 'state', code: 'STATE_CORRUPT' },
          { source: 'state', code: 'EACCES-ish free text' },
          { source: 'floor', code: 'free text: /var/lib' },
          { source: 'bootenv', code: 'GRUBENV_CORRUPT' },
        ],
      }),
    );
    const byName = new Map(families.map((f) => [f.name, f.samples]));
    for (const name of [
      'kubesolo_update_target_attempts',
      'kubesolo_update_health_check_failures',
      'kubesolo_update_failures',
      'kubesolo_update_rollbacks',
    ]) {
      assert.deepEqual(byName.get(name), [], name);
    }
    assert.ok(byName.get('kubesolo_update_phase')!.every((s) => s.value === '0.0'));
    assert.equal(byName.get('kubesolo_update_info')![0]!.labels.running_slot, 'A');
    // One sample per source, in a fixed order; a code that is not a reason code is OTHER.
    assert.deepEqual(
      byName.get('kubesolo_update_metrics_problem')!.map((s) => s.labels),
      [
        { source: 'state', code: 'STATE_CORRUPT' },
        { source: 'bootenv', code: 'GRUBENV_CORRUPT' },
        { source: 'floor', code: 'OTHER' },
      ],
    );
  });

  it('reason labels stay reason codes: anything else becomes OTHER (bounded label set)', () => {
    // A code as the source makes it: a gate's refusal that names no code of its own.
    const refused = refusalError({ gate: 'maintenance_window', pass: false, message: 'closed' });
    hasCode('GATE_REFUSED', 3)(refused);
    const families = parseOne(
      renderMetrics({
        ...base,
        reason: 'disk on fire: /dev/sda',
        failureCounts: { 'free text': 2, 'also free': 1, [refused.code]: 4 },
        rollbackCounts: { 'x y': 1, MANUAL_ROLLBACK: 2 },
      }),
    );
    const byName = new Map(families.map((f) => [f.name, f.samples]));
    assert.deepEqual(byName.get('kubesolo_update_reason_info')![0]!.labels, { reason: 'OTHER' });
    assert.deepEqual(
      byName.get('kubesolo_update_failures')!.map((s) => [s.labels.reason, s.value]),
      [
        ['GATE_REFUSED', '4.0'],
        ['OTHER', '3.0'],
      ],
    );
    assert.deepEqual(
      byName.get('kubesolo_update_rollbacks')!.map((s) => [s.labels.reason, s.value]),
      [
        ['BOOT_FALLBACK', '0.0'],
        ['HEALTH_CHECK_FAILED', '0.0'],
        ['MANUAL_ROLLBACK', '2.0'],
        ['OTHER', '1.0'],
      ],
    );
  });

  it('exactly one phase is 1 for each of the nine phases; an unknown phase sets none', () => {
    const texts = [...PHASE_NAMES, 'bogus'].map((phase) => renderMetrics({ ...base, phase }));
    const results = parseAll(texts);
    results.forEach((res, i) => {
      assert.ok(res.ok);
      const values = res.families[1]!.samples.map((s) => s.value);
      const expected = PHASE_NAMES.map((_, j) => (j === i ? '1.0' : '0.0'));
      assert.deepEqual(values, expected);
    });
  });

  it('unknown slots and version render as empty label values; no transition omits the sample', () => {
    const text = renderMetrics({
      build,
      phase: 'idle',
      attemptCount: 0,
      healthCheckFailures: 0,
      rollbackCounts: {},
    });
    const families = parseOne(text);
    assert.deepEqual(families[4]!.samples[0]!.labels, {
      active_slot: '',
      running_slot: '',
      version: '',
      channel: '',
    });
    // Families without a value stay declared, with no sample.
    const empty = families.filter((f) => f.samples.length === 0).map((f) => f.name);
    assert.deepEqual(empty, [
      'kubesolo_update_last_transition_timestamp_seconds',
      'kubesolo_update_failures',
      'kubesolo_update_last_check_timestamp_seconds',
      'kubesolo_update_available_info',
      'kubesolo_update_version_number',
      'kubesolo_update_available_version_number',
      'kubesolo_update_activated_timestamp_seconds',
      'kubesolo_update_last_apply_bytes',
      'kubesolo_update_last_apply_duration_seconds',
      'kubesolo_update_last_apply_reused_bytes',
      'kubesolo_update_delta_fallbacks',
      'kubesolo_update_rollout_bucket',
      'kubesolo_update_floor_version_number',
      'kubesolo_update_held',
      'kubesolo_update_quarantined_releases',
      'kubesolo_update_quarantined_info',
      'kubesolo_update_verification_backoff_until_timestamp_seconds',
      'kubesolo_update_release_outcome_info',
      'kubesolo_update_metrics_problem',
    ]);
    assert.deepEqual(families[6]!.samples[0]!.labels, { reason: '' }); // no reason recorded
    assert.ok(text.endsWith('gauge\n'));
  });

  it('property: any label text and numbers survive the real parser', () => {
    const inputs = fc.sample(
      fc.record({
        build: fc.constant(build),
        phase: fc.constantFrom(...PHASE_NAMES),
        attemptCount: fc.nat(1_000_000),
        healthCheckFailures: fc.nat(1000),
        activeSlot: fc.option(fc.string(), { nil: undefined }),
        runningSlot: fc.option(fc.string({ unit: 'grapheme' }), { nil: undefined }),
        // Versions with quotes, backslashes, line feeds, `}` and `,` inside.
        version: fc.option(
          fc.string({
            unit: fc.constantFrom('a', '1', '.', '"', '\\', '\n', '}', ',', '=', 'é', ' '),
          }),
          { nil: undefined },
        ),
        lastTransition: fc.option(
          fc.date({ min: new Date(0), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }),
          { nil: undefined },
        ),
      }),
      { numRuns: 200, seed: 20261125 },
    );
    const results = parseAll(inputs.map(renderMetrics));
    results.forEach((res, i) => {
      const input = inputs[i]!;
      assert.ok(res.ok, res.ok ? '' : `${res.error} for ${JSON.stringify(input)}`);
      const info = res.families[4]!.samples[0]!;
      assert.deepEqual(info.labels, {
        active_slot: input.activeSlot ?? '',
        running_slot: input.runningSlot ?? '',
        version: input.version ?? '',
        channel: '', // not part of the sampled input
      });
      assert.equal(Number(res.families[2]!.samples[0]!.value), input.attemptCount);
      assert.equal(Number(res.families[3]!.samples[0]!.value), input.healthCheckFailures);
      const last = res.families[5]!.samples;
      if (input.lastTransition === undefined) assert.equal(last.length, 0);
      else assert.equal(Number(last[0]!.value), input.lastTransition.getTime() / 1000);
    });
  });

  it('escapes label values and special float values per the format', () => {
    assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
    assert.equal(formatSampleValue(NaN), 'NaN');
    assert.equal(formatSampleValue(Infinity), '+Inf');
    assert.equal(formatSampleValue(-Infinity), '-Inf');
    assert.equal(formatSampleValue(0.5), '0.5');
    const families = parseOne(
      renderMetrics({ ...base, attemptCount: Infinity, healthCheckFailures: NaN }),
    );
    assert.equal(families[2]!.samples[0]!.value, 'inf');
    assert.equal(families[3]!.samples[0]!.value, 'nan');
  });

  it('declares the 0.0.4 content type', () => {
    assert.equal(EXPOSITION_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });
});

describe('rollback reasons', () => {
  it('are the reasons the agent records rollbacks with (every rolled_back transition in src/agent)', async () => {
    const { readFile, readdir } = await import('node:fs/promises');
    const dir = new URL('../../src/agent/', import.meta.url);
    const found = new Set<string>();
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.ts'));
    assert.ok(files.length > 5, 'the scan reads the agent sources');
    for (const f of files) {
      const text = await readFile(new URL(f, dir), 'utf8');
      for (const m of text.matchAll(
        // Any call that moves a state to rolled_back (transition, record, recordTransition).
        /\(\s*(?:deps,\s*'[a-z-]+',\s*)?state,\s*'rolled_back',\s*\{[^}]*?reason:\s*'([A-Z_]+)'/gs,
      )) {
        found.add(m[1]!);
      }
    }
    assert.deepEqual([...found].sort(), [...ROLLBACK_REASONS].sort());
  });
});

describe('phase list', () => {
  it('the agent state machine (src/stores/phases.ts, which the renderer uses) lists the nine phases, in order', async () => {
    const { PHASES } = await import('../../src/stores/phases.js');
    assert.deepEqual([...PHASES], PHASE_NAMES);
  });
});
