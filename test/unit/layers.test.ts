/**
 * The layers of src/ (docs/architecture.md "Layers"): a folder imports only from layers
 * below its own, and no file takes part in an import circle. The list is read from the
 * document, so the check and the documentation cannot drift apart. The document's table
 * of what lives where names every file of src/ (a new engineer finds each there).
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

/** "N: a b c" lines of the ```layers block → unit name → layer number. */
export function parseLayers(markdown: string): Map<string, number> {
  const block = /```layers\n([\s\S]*?)```/.exec(markdown);
  assert.ok(block, 'docs/architecture.md has a ```layers block');
  const layers = new Map<string, number>();
  for (const line of block[1]!.split('\n').filter((l) => l.trim())) {
    const m = /^(\d+):\s+(.+)$/.exec(line.trim());
    assert.ok(m, `a layer line reads "N: names": ${line}`);
    for (const name of m[2]!.split(/\s+/)) {
      assert.ok(!layers.has(name), `${name} is listed once`);
      layers.set(name, Number(m[1]));
    }
  }
  return layers;
}

/** The unit a source file belongs to: its top folder under src/, or its own name. */
function unitOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  return parts.length === 1 ? parts[0]! : parts[0]!;
}

/** Relative imports and re-exports of a file (type-only ones too: they are a dependency). */
export function importsOf(file: string, text: string): string[] {
  const specs = [
    ...text.matchAll(/\b(?:import|export)\b[^'";]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g),
    ...text.matchAll(/\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g),
    ...text.matchAll(/^\s*import\s+['"](\.{1,2}\/[^'"]+)['"]/gm),
  ].map((m) => m[1]!);
  return specs.map((s) => resolve(dirname(file), s).replace(/\.js$/, '.ts'));
}

/** Every import of a lower unit from a higher or equal layer, as "from -> to" lines. */
export function layerViolations(
  graph: Map<string, string[]>,
  layers: Map<string, number>,
): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = unitOf(file);
    for (const target of targets) {
      const to = unitOf(target);
      if (from === to) continue;
      const a = layers.get(from);
      const b = layers.get(to);
      if (a === undefined || b === undefined || b >= a) {
        out.push(
          `${relative(ROOT, file)} (${from}, layer ${a}) -> ${relative(ROOT, target)} (${to}, layer ${b})`,
        );
      }
    }
  }
  return out;
}

/** Files that import each other, directly or around a longer circle (Tarjan's SCCs). */
export function importCircles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(component);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return circles;
}

function sourceGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const name of readdirSync(SRC, { recursive: true, encoding: 'utf8' })) {
    if (!name.endsWith('.ts')) continue;
    const file = join(SRC, name);
    graph.set(file, importsOf(file, readFileSync(file, 'utf8')));
  }
  return graph;
}

/**
 * The files of src/ that docs/architecture.md's table does not name: a file is named by
 * a row that holds its path (`src/fs/atomic.ts`), or by a row of a folder above it (its
 * first cell `src/cli/...`) that says its path below that folder or its `file name`.
 */
export function unnamedFiles(markdown: string, files: string[]): string[] {
  const rows = [...markdown.matchAll(/^\|([^|\n]+)\|(.+)\|\s*$/gm)].map((m) => ({
    first: m[1]!,
    text: m[1]! + m[2]!,
  }));
  return files.filter((file) => {
    const dirs = file.split('/').slice(0, -1);
    return !rows.some((row) => {
      if (row.text.includes(`src/${file}`)) return true;
      return dirs.some((_, i) => {
        const folder = dirs.slice(0, i + 1).join('/');
        if (!row.first.includes(`src/${folder}/`)) return false;
        const below = file.slice(folder.length + 1);
        const name = below.split('/').pop()!;
        return row.text.includes(below) || row.text.includes(`\`${name}\``);
      });
    });
  });
}

describe('layers of src/ (docs/architecture.md)', () => {
  const layers = parseLayers(readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8'));
  const graph = sourceGraph();

  it('the list names every folder and top-level file of src/, and nothing else', () => {
    const units = new Set([...graph.keys()].map(unitOf));
    assert.ok(units.size > 10, 'the scan found the source tree');
    assert.deepEqual([...units].sort(), [...layers.keys()].sort());
  });

  it("the table names every file of src/ (in its own row or its folder's)", () => {
    const files = [...graph.keys()].map((f) => relative(SRC, f)).sort();
    const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
    assert.deepEqual(unnamedFiles(doc, files), []);
  });

  it('no import from the same layer or a higher one', () => {
    assert.deepEqual(layerViolations(graph, layers), []);
  });

  it('no import circle between files', () => {
    const circles = importCircles(graph).map((c) => c.map((f) => relative(ROOT, f)));
    assert.deepEqual(circles, []);
  });

  it('the table check finds a file no row names', () => {
    const doc = [
      '| `src/fs/atomic.ts` | temp, fsync, rename |',
      '| `src/cli/` | `program.ts`; `agent/`: `apply.ts` |',
    ].join('\n');
    const files = ['fs/atomic.ts', 'fs/other.ts', 'cli/program.ts', 'cli/agent/apply.ts'];
    assert.deepEqual(unnamedFiles(doc, [...files, 'cli/agent/check.ts']), [
      'fs/other.ts',
      'cli/agent/check.ts',
    ]);
  });

  // The checks themselves, on made-up graphs: each finds what it is for.
  it('the checks find an upward import and a circle', () => {
    const f = (p: string) => join(SRC, p);
    const toy = new Map([
      [f('fs/a.ts'), [f('agent/b.ts')]],
      [f('agent/b.ts'), [f('agent/c.ts')]],
      [f('agent/c.ts'), [f('agent/b.ts')]],
    ]);
    const toyLayers = new Map([
      ['fs', 1],
      ['agent', 8],
    ]);
    assert.equal(layerViolations(toy, toyLayers).length, 1);
    assert.deepEqual(
      importCircles(toy).map((c) => c.map((p) => relative(SRC, p)).sort()),
      [['agent/b.ts', 'agent/c.ts']],
    );
    assert.deepEqual(
      importsOf(f('x/y.ts'), "import type { A } from '../z/w.js';\nexport { B } from './v.js';"),
      [f('z/w.ts'), f('x/v.ts')],
    );
  });
});
