/**
 * The reason codes' own checks. The codes are the lists of src/reason-codes.ts:
 * `KubesoloError` and its subclasses, the health verdicts, the gate verdicts and
 * LIFECYCLE_REASONS take a `ReasonCode`, so the compiler refuses a code that is in no
 * list. That each code is proved by a test is checked from what the tests assert, not
 * from what they name: the assertion helpers record each code they assert, and the run's
 * record check (test/unit/reason-code-record.ts, after every whole run) fails on a code
 * no test asserted.
 *
 * The scan of src/ for code-shaped literals stays, as a net for the places no type
 * reaches: a `code:` field of a log line or of a JSON object built as a plain record.
 * It finds multi-word literals only (single-word ones such as LOCKED are too often
 * not codes; they are all at typed throw sites).
 *
 * The lifecycle's list (LIFECYCLE_REASONS) is also checked against docs/operating.md's
 * table, so the documented contract and the thrown codes cannot drift apart.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { LIFECYCLE_REASONS } from '../../src/agent/reasons.js';
import { isReasonCode } from '../../src/errors.js';
import { REASON_CODE_LISTS } from '../../src/reason-codes.js';
import { FOREIGN, UNTESTED } from './reason-code-exemptions.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const LISTS_FILE = join(REPO, 'src', 'reason-codes.ts');

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

/** Source lines without comments (line comments, and lines inside or opening block comments). */
function codeLines(file: string): string[] {
  const out: string[] = [];
  let inBlock = false;
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (inBlock) {
      if (line.includes('*/')) inBlock = false;
      continue;
    }
    if (line.startsWith('/*')) {
      inBlock = !line.includes('*/');
      continue;
    }
    if (line.startsWith('//') || line.startsWith('*')) continue;
    out.push(raw.replace(/\s\/\/ .*$/, ''));
  }
  return out;
}

const CODE = /['"`/]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`/]/g;
/** Environment variable names (the manual pages list them): no code starts so. */
const ENVIRONMENT = /^KUBESOLO_/;

function codesIn(files: string[], pattern: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of files) {
    for (const line of codeLines(file)) {
      for (const m of line.matchAll(pattern)) {
        const list = found.get(m[1]!) ?? [];
        if (!list.includes(file)) list.push(file);
        found.set(m[1]!, list);
      }
    }
  }
  return found;
}

/** Each listed code → the list (folder) it is in; a code in two lists keeps both. */
const listOf = new Map<string, string[]>();
for (const [list, codes] of Object.entries(REASON_CODE_LISTS)) {
  for (const code of codes) listOf.set(code, [...(listOf.get(code) ?? []), list]);
}
const srcFiles = walk(join(REPO, 'src')).filter((f) => f !== LISTS_FILE);
const srcLiterals = codesIn(srcFiles, CODE);
describe('reason codes', () => {
  it('each code is in one list, in the shape of a code', () => {
    // Lists that hold nothing would pass every check below.
    assert.ok(listOf.size > 200, `only ${listOf.size} codes in src/reason-codes.ts`);
    for (const [code, lists] of listOf) {
      assert.equal(lists.length, 1, `${code} is in the lists ${lists.join(' and ')}`);
      assert.ok(isReasonCode(code) && !ENVIRONMENT.test(code), `${code} is not a code's shape`);
    }
  });

  it('every code-shaped literal in src/ is in a list, or is foreign', () => {
    const stray = [...srcLiterals.keys()]
      .filter((c) => !listOf.has(c) && !(c in FOREIGN) && !ENVIRONMENT.test(c))
      .map(
        (c) =>
          `${c} (${srcLiterals
            .get(c)!
            .map((f) => relative(REPO, f))
            .join(', ')})`,
      );
    assert.deepEqual(stray, [], `not in src/reason-codes.ts:\n  ${stray.join('\n  ')}`);
  });

  it('every listed code is used by the source, not only listed', () => {
    const sources = srcFiles.map((f) => codeLines(f).join('\n')).join('\n');
    const unused = [...listOf.keys()].filter((c) => !new RegExp(`['"\`]${c}['"\`]`).test(sources));
    assert.deepEqual(unused, []);
  });

  it('every exemption is still needed and says why', () => {
    for (const [code, why] of Object.entries({ ...FOREIGN, ...UNTESTED })) {
      assert.ok(why.length > 20, `${code}: the exemption needs a reason`);
    }
    for (const code of Object.keys(FOREIGN)) {
      assert.ok(!listOf.has(code), `${code} is a listed code, not a foreign one`);
      assert.ok(srcLiterals.has(code), `${code} is exempted as foreign but no longer in src/`);
    }
    // An UNTESTED code that a test now asserts fails the run's record check; one that
    // left the lists does not compile (UNTESTED is keyed by ReasonCode).
  });

  it("LIFECYCLE_REASONS is docs/operating.md's table: same codes, same exit codes", () => {
    const doc = readFileSync(join(REPO, 'docs/operating.md'), 'utf8');
    const section = doc.split('## Reason codes of the lifecycle')[1]?.split('\n## ')[0] ?? '';
    const rows = [...section.matchAll(/^\| `([A-Z_]+)` \| ([0-9–-]+) \|/gm)].map(
      (m) => [m[1]!, m[2] === '–' || m[2] === '-' ? null : Number(m[2])] as const,
    );
    assert.ok(rows.length > 10, 'the table was not found');
    assert.deepEqual(
      Object.fromEntries(rows),
      { ...LIFECYCLE_REASONS },
      'docs/operating.md and src/agent/reasons.ts differ',
    );
  });

  it('every lifecycle reason is used by the source, not only listed', () => {
    const sources = srcFiles
      .filter((f) => !f.endsWith(join('agent', 'reasons.ts')))
      .map((f) => codeLines(f).join('\n'))
      .join('\n');
    const unused = Object.keys(LIFECYCLE_REASONS).filter((c) => !sources.includes(`'${c}'`));
    assert.deepEqual(unused, []);
  });
});
