/**
 * `npm test`'s coverage (.c8rc.json) counts what the built binaries run: a process that
 * runs dist/kubesolo-update.mjs leaves V8 coverage of the bundle, and the report maps it
 * back to the src/ files through the bundle's source map. This runs one real process of
 * the bundle (`--help`) under NODE_V8_COVERAGE and reports it with the project's own
 * .c8rc.json, the way `npm test` does, so a config or build change that loses the
 * bundle's coverage, or counts it as all covered (c8 issue 462), fails here.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AGENT_BIN, runCommand } from '../helpers/cli.js';
import { REPO } from '../helpers/executables.js';

const C8 = join(REPO, 'node_modules/c8/bin/c8.js');

interface FileCoverage {
  s: Record<string, number>;
  f: Record<string, number>;
  fnMap: Record<string, { name: string; decl: { start: { line: number } } }>;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(join(REPO, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(REPO, join(e.parentPath, e.name)))
    .sort();
}

describe('coverage of the built bundle, reported with .c8rc.json', () => {
  let work: string;
  /** coverage-final.json keyed by the path relative to the repository. */
  let report: Record<string, FileCoverage>;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ks-coverage-'));
    const env = { PATH: process.env.PATH, NODE_V8_COVERAGE: join(work, 'v8') };
    const help = await runCommand(process.execPath, [AGENT_BIN, '--help'], { env });
    assert.equal(help.code, 0, help.stderr);
    const c8 = await runCommand(
      process.execPath,
      [
        C8,
        'report',
        '--config',
        join(REPO, '.c8rc.json'),
        '--temp-directory',
        join(work, 'v8'),
        '--reports-dir',
        join(work, 'report'),
        '--reporter',
        'json',
        '--check-coverage=false',
      ],
      { cwd: REPO, env: { PATH: process.env.PATH }, timeoutMs: 120_000 },
    );
    assert.equal(c8.code, 0, c8.stderr);
    const raw = JSON.parse(
      await readFile(join(work, 'report/coverage-final.json'), 'utf8'),
    ) as Record<string, FileCoverage>;
    report = Object.fromEntries(Object.entries(raw).map(([p, c]) => [relative(REPO, p), c]));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('lists every .ts file under src/ (src/cli included) and nothing else', async () => {
    assert.deepEqual(Object.keys(report).sort(), await sourceFiles('src'));
  });

  it('maps the bundle back to src/: what --help ran is covered, what it did not is not', () => {
    // --help loads the whole bundle (every module's top level runs) but never runs
    // apply: its file has covered statements and functions that ran 0 times. Without
    // the source map the file would be all 0 (only `all`'s empty report); with c8
    // issue 462 it would be all 1 with no functions at all.
    const apply = report['src/cli/agent/apply.ts'];
    assert.ok(apply, 'src/cli/agent/apply.ts is in the report');
    const statements = Object.values(apply.s);
    const functions = Object.values(apply.f);
    assert.ok(
      statements.some((n) => n > 0),
      'some statement of apply.ts ran (module load)',
    );
    assert.ok(
      statements.some((n) => n === 0),
      'some statement of apply.ts did not run',
    );
    assert.ok(functions.length > 0, 'apply.ts has functions in the report');
    assert.ok(
      functions.every((n) => n === 0),
      `no function of apply.ts ran under --help: ${JSON.stringify(apply.f)}`,
    );
  });

  it('names programHelp and commandHelp at their lines in src/cli/help.ts (not minified)', async () => {
    // --help renders the program's help (programHelp) and no command's (commandHelp).
    // A minified bundle fails this: its names are mangled, and v8-to-istanbul moves a
    // position to the line its generated line starts at, which there is another module.
    const help = report['src/cli/help.ts'];
    assert.ok(help, 'src/cli/help.ts is in the report');
    const lines = (await readFile(join(REPO, 'src/cli/help.ts'), 'utf8')).split('\n');
    const count = (name: string) => {
      const line = lines.findIndex((l) => l.startsWith(`export function ${name}<`)) + 1;
      assert.ok(line > 0, `src/cli/help.ts declares ${name}`);
      const found = Object.entries(help.fnMap).filter(
        ([, f]) => f.name === name && f.decl.start.line === line,
      );
      assert.equal(found.length, 1, `${name} at line ${line}: ${JSON.stringify(help.fnMap)}`);
      return help.f[found[0]![0]];
    };
    assert.equal(count('programHelp'), 1);
    assert.equal(count('commandHelp'), 0);
  });
});
