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
  UPDATE_PHASES,
  type MetricsInput,
} from '../../src/metrics/exposition.js';

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

const base: MetricsInput = {
  phase: 'staged',
  attemptCount: 2,
  healthCheckFailures: 1,
  activeSlot: 'A',
  runningSlot: 'B',
  version: 'v0.3.1',
  lastTransition: new Date('2026-11-25T23:00:00.250Z'),
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

  it('parses into the five families with the documented types, help and samples', () => {
    const families = parseOne(renderMetrics(base));
    // prometheus_client names a counter family without its _total suffix.
    assert.deepEqual(
      families.map((f) => [f.name, f.type]),
      [
        ['kubesolo_update_phase', 'gauge'],
        ['kubesolo_update_attempts', 'counter'],
        ['kubesolo_update_health_check_failures', 'gauge'],
        ['kubesolo_update_info', 'gauge'],
        ['kubesolo_update_last_transition_timestamp_seconds', 'gauge'],
      ],
    );
    for (const f of families) assert.ok(f.help.length > 10, f.name);
    const [phase, attempts, failures, info, last] = families;
    assert.deepEqual(
      phase!.samples.map((s) => [s.labels.phase, s.value]),
      UPDATE_PHASES.map((p) => [p, p === 'staged' ? '1.0' : '0.0']),
    );
    assert.deepEqual(attempts!.samples, [
      { name: 'kubesolo_update_attempts_total', labels: {}, value: '2.0' },
    ]);
    assert.deepEqual(failures!.samples, [
      { name: 'kubesolo_update_health_check_failures', labels: {}, value: '1.0' },
    ]);
    assert.deepEqual(info!.samples, [
      {
        name: 'kubesolo_update_info',
        labels: { active_slot: 'A', running_slot: 'B', version: 'v0.3.1' },
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
  });

  it('exactly one phase is 1 for each of the nine phases; an unknown phase sets none', () => {
    const texts = [...UPDATE_PHASES, 'bogus'].map((phase) => renderMetrics({ ...base, phase }));
    const results = parseAll(texts);
    results.forEach((res, i) => {
      assert.ok(res.ok);
      const values = res.families[0]!.samples.map((s) => s.value);
      const expected = UPDATE_PHASES.map((_, j) => (j === i ? '1.0' : '0.0'));
      assert.deepEqual(values, expected);
    });
  });

  it('unknown slots and version render as empty label values; no transition omits the sample', () => {
    const text = renderMetrics({ phase: 'idle', attemptCount: 0, healthCheckFailures: 0 });
    const families = parseOne(text);
    assert.deepEqual(families[3]!.samples[0]!.labels, {
      active_slot: '',
      running_slot: '',
      version: '',
    });
    assert.equal(families[4]!.name, 'kubesolo_update_last_transition_timestamp_seconds');
    assert.deepEqual(families[4]!.samples, []);
    assert.ok(text.endsWith('gauge\n'));
  });

  it('property: any label text and numbers survive the real parser', () => {
    const inputs = fc.sample(
      fc.record({
        phase: fc.constantFrom(...UPDATE_PHASES),
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
      const info = res.families[3]!.samples[0]!;
      assert.deepEqual(info.labels, {
        active_slot: input.activeSlot ?? '',
        running_slot: input.runningSlot ?? '',
        version: input.version ?? '',
      });
      assert.equal(Number(res.families[1]!.samples[0]!.value), input.attemptCount);
      assert.equal(Number(res.families[2]!.samples[0]!.value), input.healthCheckFailures);
      const last = res.families[4]!.samples;
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
    assert.equal(families[1]!.samples[0]!.value, 'inf');
    assert.equal(families[2]!.samples[0]!.value, 'nan');
  });

  it('declares the 0.0.4 content type', () => {
    assert.equal(EXPOSITION_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });
});

describe('phase list', () => {
  it('is the agent state machine list (src/agent/phases.ts), in the same order', async () => {
    // The renderer is a leaf module and may not import agent/, so it keeps its own copy;
    // this test keeps the two from drifting apart.
    const { PHASES } = await import('../../src/agent/phases.js');
    assert.deepEqual([...UPDATE_PHASES], [...PHASES]);
  });
});
