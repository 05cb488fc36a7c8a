/**
 * The run's reason-code check (issue 29), run by scripts/run-tests.mjs after a run of
 * the whole suite: `node --import tsx test/unit/reason-code-record.ts RECORD`. RECORD
 * is what the assertion helpers saw (test/helpers/code-record.ts: one JSON line per
 * asserted pair of exit code and reason code: rejects.ts, cli.ts `expectRefusal`,
 * code-assert.ts). Compared with the codes of the lists of src/reason-codes.ts (the
 * compiler holds every code the source throws or reports to them), it fails:
 *
 * - when a code of the lists was asserted by no helper and no exemption names it
 *   (reason-code-exemptions.ts UNTESTED): a code no test proves;
 * - when an exempted code was asserted after all (the exemption is stale);
 * - when a recorded code is in no list (a test asserting a typo, or a code that left the
 *   source), when a lifecycle code was asserted with another exit code than
 *   src/agent/reasons.ts gives it, or when one code was asserted with two exit codes (a
 *   code names one outcome; TWO_EXITS lists the documented exceptions).
 *
 * Only assertions count: a test file that merely names a code (an input, a notEqual, a
 * metrics label it does not check) proves nothing, so the test sources are not read.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LIFECYCLE_REASONS } from '../../src/agent/reasons.js';
import { REASON_CODE_LISTS, type ReasonCode } from '../../src/reason-codes.js';
import { FOREIGN, TWO_EXITS, UNTESTED } from './reason-code-exemptions.js';

export function sourceCodes(): Set<string> {
  return new Set(Object.values(REASON_CODE_LISTS).flat());
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
      problems.push(`${c}: asserted, but in no list of src/reason-codes.ts`);
    const allowed: readonly number[] = TWO_EXITS[c as ReasonCode] ?? [];
    if (seen.size > 1 && ![...seen].every((e) => allowed.includes(e)))
      problems.push(`${c}: asserted with exit codes ${[...seen].join(' and ')}`);
    const documented = lifecycle[c];
    for (const e of seen) {
      if (documented !== undefined && documented !== null && e !== documented) {
        problems.push(`${c}: asserted with exit ${e}, src/agent/reasons.ts says ${documented}`);
      }
    }
  }
  const unasserted = [...defined].filter((c) => !exits.has(c) && !(c in UNTESTED)).sort();
  for (const c of unasserted) problems.push(`${c}: in src/reason-codes.ts, asserted by no test`);
  for (const c of Object.keys(UNTESTED)
    .filter((code) => exits.has(code))
    .sort())
    problems.push(
      `${c}: asserted now, remove it from UNTESTED (test/unit/reason-code-exemptions.ts)`,
    );
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
  const { problems, asserted } = checkRecord(pairs, defined);
  console.log(
    `# reason codes: ${defined.size} in src/reason-codes.ts, ${asserted} asserted through the test helpers ` +
      `(${pairs.length} assertions), ${Object.keys(UNTESTED).length} exempted as untestable`,
  );
  if (problems.length > 0) {
    console.error(`reason-code record check failed:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
}
