/**
 * The run's reason-code check (issue 29), run by scripts/run-tests.mjs after a run of
 * the whole suite: `node --import tsx test/unit/reason-code-record.ts RECORD`. RECORD
 * is what the assertion helpers saw (test/helpers/code-record.ts: one JSON line per
 * asserted pair of exit code and reason code). Compared with the codes defined in src/:
 *
 * - fails when a recorded code is defined nowhere in src/ (a test asserting a typo, or
 *   a code that left the source), when a lifecycle code was asserted with another exit
 *   code than src/agent/reasons.ts gives it, or when one code was asserted with two
 *   exit codes (a code names one outcome);
 * - lists the codes defined in src/ that no helper recorded and no exemption names.
 *   Until every test asserts codes through the helpers, that list is reported, not
 *   failed: test/unit/reason-codes.test.ts (which reads the test sources) still
 *   requires each of them to be named by a test.
 *
 * Single-word codes (LOCKED, USAGE, ...) count: they are found where codes are made
 * (`new XError('CODE'`, `lifecycleError('CODE'`, `fail('CODE'`, `code: 'CODE'`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LIFECYCLE_REASONS } from '../../src/agent/reasons.js';
import { FOREIGN, UNTESTED } from './reason-code-exemptions.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Source text without comments (block comments and whole-line // comments). */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
}

const MULTI_WORD = /['"`]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`]/g;
const SINGLE_WORD_AT_DEFINITION =
  /(?:Error\(|lifecycleError\(|\bfail\(|\bcode:)\s*['"`]([A-Z][A-Z0-9]+)['"`]/g;

const ERRNO = /^E[A-Z]+$/;

export function sourceCodes(): Set<string> {
  const found = new Set<string>(Object.keys(LIFECYCLE_REASONS));
  for (const file of sources(SRC)) {
    const text = code(file);
    for (const m of text.matchAll(MULTI_WORD)) found.add(m[1]!);
    for (const m of text.matchAll(SINGLE_WORD_AT_DEFINITION)) {
      // errno names (EIO, EISDIR, ...) given to an Error so it reads as a system error.
      if (!ERRNO.test(m[1]!)) found.add(m[1]!);
    }
  }
  return found;
}

interface Pair {
  exit: number | null;
  code: string;
}

export function checkRecord(pairs: Pair[], defined: Set<string>) {
  const exits = new Map<string, Set<number>>();
  for (const { exit, code } of pairs) {
    if (!exits.has(code)) exits.set(code, new Set());
    if (exit !== null) exits.get(code)!.add(exit);
  }
  const lifecycle = LIFECYCLE_REASONS as Record<string, number | null>;
  const problems: string[] = [];
  for (const [c, seen] of exits) {
    if (!defined.has(c) && !(c in FOREIGN))
      problems.push(`${c}: asserted, but defined nowhere in src/`);
    if (seen.size > 1) problems.push(`${c}: asserted with exit codes ${[...seen].join(' and ')}`);
    const documented = lifecycle[c];
    for (const e of seen) {
      if (documented !== undefined && documented !== null && e !== documented) {
        problems.push(`${c}: asserted with exit ${e}, src/agent/reasons.ts says ${documented}`);
      }
    }
  }
  const unasserted = [...defined]
    .filter((c) => !exits.has(c) && !(c in FOREIGN) && !(c in UNTESTED))
    .sort();
  return { problems, unasserted, asserted: exits.size };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]!;
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // No helper asserted anything: an empty record.
  }
  const pairs = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Pair);
  const defined = sourceCodes();
  const { problems, unasserted, asserted } = checkRecord(pairs, defined);
  console.log(
    `# reason codes: ${defined.size} defined in src/, ${asserted} asserted through the test helpers ` +
      `(${pairs.length} assertions), ${Object.keys(UNTESTED).length} exempted as untestable`,
  );
  if (unasserted.length > 0) {
    console.log(
      `# ${unasserted.length} codes not yet asserted through a helper (test/unit/reason-codes.test.ts ` +
        `still requires a test to name each): ${unasserted.join(' ')}`,
    );
  }
  if (problems.length > 0) {
    console.error(`reason-code record check failed:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
}
