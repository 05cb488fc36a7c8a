/**
 * No export that nothing imports (issue 27): a function, constant or class exported from
 * src/ is used by another file (src, test, scripts, bench, boot), or it is not exported.
 * Types are exempt: an exported function's option and result types are part of its
 * signature whether or not a caller names them. A dead module fails too.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The programs' entry points: nothing imports them, the bundler starts there. */
const ENTRY_POINTS = new Set(['src/cli/agent-main.ts', 'src/cli/release-main.ts']);

function files(): Map<string, string> {
  const out = new Map<string, string>();
  for (const top of ['src', 'test', 'scripts', 'bench', 'boot']) {
    for (const name of readdirSync(join(ROOT, top), { recursive: true, encoding: 'utf8' })) {
      const rel = join(top, name);
      if (/\.(ts|mjs)$/.test(rel) && statSync(join(ROOT, rel)).isFile()) {
        out.set(rel, readFileSync(join(ROOT, rel), 'utf8'));
      }
    }
  }
  return out;
}

/** Value exports of a module: `export [async] function|const|let|class NAME`. */
export function valueExports(text: string): string[] {
  return [
    ...text.matchAll(
      /^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)/gm,
    ),
  ].map((m) => m[1]!);
}

export function unusedExports(all: Map<string, string>): string[] {
  const unused: string[] = [];
  for (const [file, text] of all) {
    if (!file.startsWith('src/')) continue;
    const others = [...all].filter(([f]) => f !== file).map(([, t]) => t);
    for (const name of valueExports(text)) {
      const word = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`);
      if (!others.some((t) => word.test(t))) unused.push(`${file}: ${name}`);
    }
    const module = `${basename(file, '.ts')}.js'`;
    if (!ENTRY_POINTS.has(file) && !others.some((t) => t.includes(`/${module}`))) {
      unused.push(`${file}: the module (nothing imports it)`);
    }
  }
  return unused;
}

describe('exports of src/', () => {
  it('every exported function, constant and class is used by another file', () => {
    const all = files();
    assert.ok([...all.keys()].filter((f) => f.startsWith('src/')).length > 100);
    assert.deepEqual(unusedExports(all), []);
  });

  it('the check finds an export nobody uses, and a module nobody imports', () => {
    const toy = new Map([
      ['src/a.ts', 'export function used() {}\nexport const lonely = 1;\nexport type T = 1;\n'],
      ['src/b.ts', "import { used } from './a.js';\nused();\n"],
    ]);
    assert.deepEqual(unusedExports(toy), [
      'src/a.ts: lonely',
      'src/b.ts: the module (nothing imports it)',
    ]);
  });
});
