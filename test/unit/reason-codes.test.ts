/**
 * Every reason code is proved by a test. The codes are enumerated from the source
 * itself (every quoted SCREAMING_SNAKE literal under src/, which is how a code is
 * defined: `new GateError('CODE', ...)`, `code: 'CODE'`, `TransportCode.X = 'CODE'`),
 * so a new code cannot be added without either a test that names it or a written
 * exemption below. A code counts as tested when a test file (not a helper or fixture,
 * which only feed inputs) names it outside a comment; the tests that name codes
 * assert them (`assert.equal(r.doc.error.code, 'CODE')`, refusal tables whose loop
 * asserts the code, `rejects(..., { code: 'CODE' })`).
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
import { FOREIGN, UNTESTED } from './reason-code-exemptions.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);

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
/** In tests a code may also end a composite string such as 'fail:NODE_NOT_FOUND'. */
const TEST_CODE = /['"`/:]([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)['"`/]/g;

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

const srcCodes = codesIn(walk(join(REPO, 'src')), CODE);
const testFiles = walk(join(REPO, 'test')).filter(
  (f) =>
    f.endsWith('.test.ts') &&
    f !== THIS_FILE &&
    !f.includes(`${join('test', 'helpers')}/`) &&
    !f.endsWith('fixtures.ts'),
);
const testCodes = codesIn(testFiles, TEST_CODE);

describe('reason codes', () => {
  it('the source defines a plausible set of codes (the scan itself works)', () => {
    // A scan that finds nothing would pass every check below.
    assert.ok(srcCodes.size > 100, `only ${srcCodes.size} codes found under src/`);
    for (const known of ['ROLLBACK_UNSAFE', 'HASH_MISMATCH', 'SIGNATURE_MISSING', 'KUBE_TLS']) {
      assert.ok(srcCodes.has(known), known);
    }
  });

  it('every code the source defines is named by a test, or exempted with a reason', () => {
    const missing = [...srcCodes.keys()]
      .filter((c) => !testCodes.has(c) && !(c in FOREIGN) && !(c in UNTESTED))
      .map(
        (c) =>
          `${c} (${srcCodes
            .get(c)!
            .map((f) => relative(REPO, f))
            .join(', ')})`,
      );
    assert.deepEqual(missing, [], `codes without a test:\n  ${missing.join('\n  ')}`);
  });

  it('every exemption is still needed and says why', () => {
    for (const [code, why] of Object.entries({ ...FOREIGN, ...UNTESTED })) {
      assert.ok(why.length > 20, `${code}: the exemption needs a reason`);
      assert.ok(srcCodes.has(code), `${code} is exempted but no longer in src/`);
    }
    const nowTested = Object.keys(UNTESTED).filter((c) => testCodes.has(c));
    assert.deepEqual(nowTested, [], 'tested now: remove from UNTESTED');
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
    const sources = walk(join(REPO, 'src'))
      .filter((f) => !f.endsWith(join('agent', 'reasons.ts')))
      .map((f) => codeLines(f).join('\n'))
      .join('\n');
    const unused = Object.keys(LIFECYCLE_REASONS).filter((c) => !sources.includes(`'${c}'`));
    assert.deepEqual(unused, []);
  });
});
