/**
 * The fault suite's fuzzers (issue 13): every parser of an input the agent reads from
 * disk or the network, fed random and mutated documents with a fixed seed, so a
 * failure reproduces. The contract: a parser returns within a per-input deadline, or
 * throws the project's KubesoloError with a stable reason code (defined in src/, the
 * same on a second parse); anything else (TypeError, RangeError, a hang) is a crash.
 * Mutations of a valid document must sometimes be accepted, or the fuzzer only ever
 * exercised the first check. Counts are printed and recorded in bench/RESULTS.md ("Fault suite").
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseStateFile } from '../../src/stores/state.js';
import { parseGrubEnv, serializeGrubEnv } from '../../src/bootenv/grubenv.js';
import { parseUpdates } from '../../src/cloudinit/updates.js';
import { readUpdatesBlock } from '../../src/cloudinit/yaml.js';
import { parseConfig } from '../../src/config/file.js';
import { KubesoloError } from '../../src/errors.js';
import { parseReleaseMetadata } from '../../src/metadata/parse.js';
import { inputDeadline } from './input-deadline.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

const SEED = 13;
const RUNS = 600;
/**
 * Per input. Every parser here takes well under a millisecond; the bound is for a hang
 * or catastrophic backtracking, so it is generous enough that a loaded machine never
 * reaches it.
 */
const INPUT_DEADLINE_MS = 5000;

/** Every quoted code literal under src/: a refusal's code must be one the project defines. */
const SRC_CODES = new Set(
  readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .flatMap((f) => [...readFileSync(join(SRC, f), 'utf8').matchAll(/'([A-Z][A-Z0-9_]*)'/g)])
    .map((m) => m[1]!),
);
const REASON_CODE = /^[A-Z][A-Z0-9]*(_[A-Z0-9]+)*$/;

/** The reason code of a refusal: a KubesoloError's code, or what `codeOf` maps a format error to. */
type CodeOf = (err: unknown) => string | undefined;
const onlyKubesolo: CodeOf = () => undefined;

/** 'ok', or the refusal's reason code; anything else (TypeError, RangeError) is a crash and thrown. */
function classify(parse: () => unknown, codeOf: CodeOf): string {
  try {
    parse();
    return 'ok';
  } catch (err) {
    const code = err instanceof KubesoloError ? err.code : codeOf(err);
    if (code === undefined) throw err;
    return code;
  }
}

/** Text made of the characters these formats care about, plus anything. */
const controlText = fc.string({
  unit: fc.oneof(
    fc.constantFrom(
      '=',
      '#',
      '\n',
      '\r',
      '\t',
      ' ',
      '"',
      "'",
      ':',
      '-',
      '{',
      '}',
      '[',
      ']',
      '<',
      '&',
      '*',
      '!',
      '|',
      '>',
    ),
    fc.constantFrom('server', 'pubkey', 'slot_b_dir', 'updates', 'channel', '/slots/a', '..'),
    fc.string({ maxLength: 3 }),
  ),
  maxLength: 200,
});

/** A valid document with bytes flipped, inserted or cut: mostly-valid inputs reach deeper. */
function mutated(valid: string): fc.Arbitrary<string> {
  return fc
    .array(
      fc.tuple(
        fc.nat(valid.length),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('set', 'insert', 'cut'),
      ),
      {
        maxLength: 6,
      },
    )
    .map((edits) => {
      let s = valid;
      for (const [at, byte, op] of edits) {
        const i = Math.min(at, s.length);
        const c = String.fromCharCode(byte);
        s =
          op === 'set'
            ? s.slice(0, i) + c + s.slice(i + 1)
            : op === 'insert'
              ? s.slice(0, i) + c + s.slice(i)
              : s.slice(0, i);
      }
      return s;
    });
}

interface Tally {
  runs: number;
  ok: number;
  /** Refusals per reason code. */
  refused: Map<string, number>;
}

/**
 * Parse `RUNS` inputs from `arb`, each under the per-input deadline. Every input must be
 * accepted or refused with a stable reason code: one the source defines, in reason-code
 * form, and the same when the input is parsed again.
 */
function fuzz(
  name: string,
  arb: fc.Arbitrary<string>,
  parse: (s: string) => unknown,
  codeOf = onlyKubesolo,
): Tally {
  const tally: Tally = { runs: 0, ok: 0, refused: new Map() };
  const deadline = inputDeadline(`fuzz ${name}`, INPUT_DEADLINE_MS);
  try {
    fc.assert(
      fc.property(arb, (input) => {
        tally.runs++;
        const outcome = deadline.run(input, () => classify(() => parse(input), codeOf));
        if (outcome === 'ok') {
          tally.ok++;
          return;
        }
        assert.match(outcome, REASON_CODE, `not a reason code: ${outcome}`);
        assert.ok(SRC_CODES.has(outcome), `${outcome} is defined nowhere under src/`);
        assert.equal(
          classify(() => parse(input), codeOf),
          outcome,
          'the same input, another code',
        );
        tally.refused.set(outcome, (tally.refused.get(outcome) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  } finally {
    void deadline.stop();
  }
  const refused = [...tally.refused.values()].reduce((a, b) => a + b, 0);
  console.log(
    `# fuzz ${name}: ${tally.runs} runs, ${tally.ok} accepted, ${refused} refused ` +
      `(${[...tally.refused].map(([c, n]) => `${c} ${n}`).join(', ')}), 0 crashes`,
  );
  return tally;
}

/**
 * Mutations of a valid document must be accepted now and then, or the fuzzer never gets
 * past the parser's first check. (Random text is not held to it: random bytes are
 * rarely JSON or a grubenv block.)
 */
function assertSomeAccepted(t: Tally, name: string): void {
  assert.equal(t.runs, RUNS);
  assert.ok(t.ok >= RUNS / 20, `${name}: only ${t.ok} of ${RUNS} mutated documents accepted`);
}

const CONF =
  'server=https://u.example/\nchannel=stable\npubkey=/etc/kubesolo/update.pub\nslot_backend=dir\nslot_a_dir=/slots/a\nslot_b_dir=/slots/b\nmaintenance_window=02:00-04:00\n';
const CLOUD =
  '#cloud-config\nhostname: x\nupdates:\n  server: https://u.example/\n  channel: stable\n  maintenance_window: "02:00-04:00"\n  health_checks: [containerd, apiserver]\n';
const STATE = JSON.stringify({
  schema_version: 1,
  phase: 'staged',
  from_version: 'v1.0.0',
  to_version: 'v1.1.0',
  target_slot: 'B',
  attempt_count: 1,
});
const LATEST = JSON.stringify({
  version: 'v1.1.0',
  vmlinuz_url: 'v1.1.0/vmlinuz',
  vmlinuz_sha256: 'a'.repeat(64),
  initramfs_url: 'v1.1.0/kubesolo-os.gz',
  initramfs_sha256: 'b'.repeat(64),
  release_date: '2026-11-01T00:00:00Z',
});

describe('fault suite: fuzzed control inputs (fixed seed, no crashes)', () => {
  it('update.conf', () => {
    const parse = (s: string) => parseConfig(s, 'update.conf');
    fuzz('update.conf', controlText, parse);
    assertSomeAccepted(fuzz('update.conf', mutated(CONF), parse), 'update.conf');
  });

  it('cloud-init updates: block', () => {
    const parse = (s: string) => {
      const block = readUpdatesBlock(s, 'user-data');
      return block && parseUpdates(block, 'user-data', '/etc/kubesolo/update.pub');
    };
    fuzz('cloud-init', controlText, parse);
    assertSomeAccepted(fuzz('cloud-init', mutated(CLOUD), parse), 'cloud-init');
  });

  it('state.json (corrupt files are a format error, moved aside by the store)', () => {
    // The store reports a StateFormatError as STATE_CORRUPT (src/stores/state.ts).
    const formatError: CodeOf = (err) =>
      err instanceof Error && err.constructor.name === 'StateFormatError'
        ? 'STATE_CORRUPT'
        : undefined;
    fuzz('state.json', controlText, parseStateFile, formatError);
    assertSomeAccepted(
      fuzz('state.json', mutated(STATE), parseStateFile, formatError),
      'state.json',
    );
  });

  it('latest.json', () => {
    const now = new Date('2026-12-01T00:00:00Z');
    const parse = (s: string) =>
      parseReleaseMetadata(Buffer.from(s), 'http://u.example/latest.json', now);
    fuzz('latest.json', controlText, parse);
    assertSomeAccepted(fuzz('latest.json', mutated(LATEST), parse), 'latest.json');
  });

  it('grubenv blocks (mutations of a valid 1024-byte block, and random blocks)', () => {
    const valid = serializeGrubEnv([
      ['active_slot', 'A'],
      ['boot_counter', '3'],
      ['boot_success', '1'],
    ]).toString('latin1');
    const block = fc
      .uint8Array({ minLength: 1024, maxLength: 1024 })
      .map((b) => Buffer.from(b).toString('latin1'));
    const parse = (s: string) => parseGrubEnv(Buffer.from(s, 'latin1'));
    fuzz('grubenv', block, parse);
    assertSomeAccepted(fuzz('grubenv', mutated(valid), parse), 'grubenv');
  });
});
