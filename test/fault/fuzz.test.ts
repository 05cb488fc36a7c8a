/**
 * The fault suite's fuzzers (issue 13): every parser of an input the agent reads from
 * disk or the network, fed random and mutated documents with a fixed seed, so a
 * failure reproduces. The contract: a parser returns, or throws the project's
 * KubesoloError (a stable code); anything else (TypeError, RangeError, a hang) is a
 * crash. Counts are printed and recorded in bench/RESULTS.md ("Fault suite").
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseStateFile } from '../../src/stores/state.js';
import { parseGrubEnv, serializeGrubEnv } from '../../src/bootenv/grubenv.js';
import { parseUpdates } from '../../src/cloudinit/updates.js';
import { readUpdatesBlock } from '../../src/cloudinit/yaml.js';
import { parseConfig } from '../../src/config/file.js';
import { KubesoloError } from '../../src/errors.js';
import { parseReleaseMetadata } from '../../src/metadata/parse.js';

const SEED = 13;
const RUNS = 600;

/** Run `parse` on `input`: 'ok', 'refused' (a KubesoloError or a documented format error), or throw. */
function classify(parse: () => unknown, allowed: (err: unknown) => boolean): 'ok' | 'refused' {
  try {
    parse();
    return 'ok';
  } catch (err) {
    if (err instanceof KubesoloError || allowed(err)) return 'refused';
    throw err;
  }
}

const onlyKubesolo = (_err: unknown): boolean => false;

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
  refused: number;
}

function fuzz(
  name: string,
  arb: fc.Arbitrary<string>,
  parse: (s: string) => unknown,
  allowed = onlyKubesolo,
): Tally {
  const tally: Tally = { runs: 0, ok: 0, refused: 0 };
  fc.assert(
    fc.property(arb, (input) => {
      tally.runs++;
      tally[classify(() => parse(input), allowed)]++;
    }),
    { seed: SEED, numRuns: RUNS },
  );
  console.log(
    `# fuzz ${name}: ${tally.runs} runs, ${tally.ok} accepted, ${tally.refused} refused, 0 crashes`,
  );
  return tally;
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
    for (const arb of [controlText, mutated(CONF)]) {
      const t = fuzz('update.conf', arb, (s) => parseConfig(s, 'update.conf'));
      assert.equal(t.ok + t.refused, RUNS);
    }
  });

  it('cloud-init updates: block', () => {
    for (const arb of [controlText, mutated(CLOUD)]) {
      const t = fuzz('cloud-init', arb, (s) => {
        const block = readUpdatesBlock(s, 'user-data');
        return block && parseUpdates(block, 'user-data', '/etc/kubesolo/update.pub');
      });
      assert.equal(t.ok + t.refused, RUNS);
    }
  });

  it('state.json (corrupt files are a format error, moved aside by the store)', () => {
    const formatError = (err: unknown) =>
      err instanceof Error && err.constructor.name === 'StateFormatError';
    for (const arb of [controlText, mutated(STATE)]) {
      const t = fuzz('state.json', arb, (s) => parseStateFile(s), formatError);
      assert.equal(t.ok + t.refused, RUNS);
    }
  });

  it('latest.json', () => {
    const now = new Date('2026-12-01T00:00:00Z');
    for (const arb of [controlText, mutated(LATEST)]) {
      const t = fuzz('latest.json', arb, (s) =>
        parseReleaseMetadata(Buffer.from(s), 'http://u.example/latest.json', now),
      );
      assert.equal(t.ok + t.refused, RUNS);
    }
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
    for (const arb of [block, mutated(valid)]) {
      const t = fuzz('grubenv', arb, (s) => parseGrubEnv(Buffer.from(s, 'latin1')));
      assert.equal(t.ok + t.refused, RUNS);
    }
  });
});
