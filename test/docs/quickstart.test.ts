/**
 * The quickstarts cannot drift from the tools: docs/quickstart-by-hand.md is run as
 * written, command by command, and every shown output is compared with what the built
 * tools print on a terminal (each command under `script`, a pseudo-terminal, as a
 * reader types it). Its `sh` blocks are run too, except the build block, whose aliases
 * become the commands the test runs (so they must name the pinned Node.js and the
 * bundles). The `serve` command runs in the background on a free loopback port (the
 * doc's 127.0.0.1:8080 is replaced, and shown back as 8080). What differs between runs
 * is normalised on both sides: the temp directory (shown as ~/ksu-try), times, keys and
 * digests (64 hex), ports other than the server's, durations, free space, the sizes of
 * delta indexes (they follow random test images), and download progress lines.
 *
 * `KSU_WRITE_DOCS=1` writes the outputs of this run into the doc instead of comparing
 * (review the diff: that is what a reader will see).
 *
 * The README's quickstart block runs npm scripts: each must exist (`npm run demo` is
 * run by test/demo).
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { toolSkipReason } from '../helpers/require-tool.js';
import { runMerged } from '../helpers/run-merged.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const DOC = join(REPO, 'docs/quickstart-by-hand.md');
const WRITE = process.env.KSU_WRITE_DOCS === '1';
/** The server address the doc shows; the test serves on a free port instead. */
const DOC_SERVER = '127.0.0.1:8080';

/** One `$ command`, its shown output, and its exit code (undefined: runs in the background). */
interface Step {
  command: string;
  output: string[];
  exit: number | undefined;
}

/** A fenced block of the doc: `sh` (run as is) or `console` (commands with shown output). */
interface Block {
  lang: string;
  /** Line index of the first line inside the fence, and of the closing fence. */
  start: number;
  end: number;
  lines: string[];
}

function blocks(lines: readonly string[]): Block[] {
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    assert.ok(end > i, `unclosed block at line ${i + 1}`);
    out.push({ lang: open[1]!, start: i + 1, end, lines: lines.slice(i + 1, end) });
    i = end;
  }
  return out;
}

/** The steps of a console block: `$ ` lines, their output, an `[exit N]` line each. */
function steps(block: Block): Step[] {
  const out: Step[] = [];
  for (const line of block.lines) {
    if (line.startsWith('$ ')) {
      out.push({ command: line.slice(2), output: [], exit: undefined });
      continue;
    }
    const step = out.at(-1);
    assert.ok(step, `console block at line ${block.start}: output before any $ command`);
    const exit = /^\[exit (\d+)\]$/.exec(line);
    if (exit) step.exit = Number(exit[1]);
    else if (step.exit === undefined) step.output.push(line);
    else assert.equal(line, '', `after [exit] of '${step.command}': only a blank line`);
  }
  return out;
}

/** What a terminal shows: the text after the last carriage return of each line, no escapes. */
function screen(raw: string): string[] {
  const lines = raw.replace(/\r\n/g, '\n').split('\n');
  if (lines.at(-1) === '') lines.pop();
  // eslint-disable-next-line no-control-regex -- terminal escape sequences are the point
  return lines.map((l) => (l.split('\r').at(-1) ?? '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''));
}

const PROGRESS = /^(vmlinuz|initramfs) [\d.]+ [KMG]?i?B( \/ [\d.]+ [KMG]?i?B)? +\d+% /;

/** Both sides of the comparison: everything that differs between runs, written the same. */
function normalise(lines: readonly string[]): string[] {
  return lines
    .filter((l) => !PROGRESS.test(l))
    .map((l) =>
      l
        .replace(/127\.0\.0\.1:(?!8080\b)\d+/g, '127.0.0.1:PORT')
        .replace(/\b[0-9a-f]{64}\b/g, '<hex>')
        // A key's fingerprint: the first 16 hex characters of its SHA-256.
        .replace(/\b[0-9a-f]{16}\b/g, '<fingerprint>')
        .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
        .replace(/\bms=\d+/g, 'ms=<n>')
        .replace(/\b\d+ ms +/g, '<n> ms ')
        .replace(/\b\d[\d.]* (bytes|[KMGT]iB) free/g, '<n> free')
        .replace(/\.index +\d+ bytes/g, '.index <n> bytes')
        .replace(/delta index \d+ bytes, \d+ pieces/g, 'delta index <n> bytes, <n> pieces')
        .trimEnd(),
    );
}

interface Run {
  code: number | null;
  lines: string[];
}

describe('docs/quickstart-by-hand.md, run as written', () => {
  const skip = toolSkipReason(['script'], 'bsdutils');
  const doc = { lines: [] as string[], blocks: [] as Block[] };
  let dir: string;
  let bin: string;
  let serverAddress: string | undefined;
  const background: ChildProcess[] = [];
  let aliasNames: string[] = [];

  /** The actual output as the doc shows it: the temp dir as ~/ksu-try, the server as :8080. */
  function asShown(lines: string[]): string[] {
    return lines.map((l) => {
      let s = l.split(dir).join('~/ksu-try');
      if (serverAddress) s = s.split(serverAddress).join(DOC_SERVER);
      return s;
    });
  }

  function commandLine(command: string): string {
    return serverAddress ? command.split(DOC_SERVER).join(serverAddress) : command;
  }

  const env = () => ({
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`,
    HOME: dir,
    TERM: 'xterm',
    LANG: 'C.UTF-8',
  });

  /** One command as a reader runs it: in a terminal (script's pseudo-terminal), in the try directory. */
  function run(command: string): Promise<Run> {
    return runMerged('script', ['-qec', commandLine(command), '/dev/null'], {
      cwd: dir,
      env: env(),
      timeoutMs: 120_000,
    }).then(({ code, out }) => ({ code, lines: screen(out) }));
  }

  /** A command that runs until Ctrl-C (serve): started on a free port, its first lines read. */
  function start(command: string, shownLines: number): Promise<Run> {
    assert.ok(command.includes(DOC_SERVER), `a background command must listen on ${DOC_SERVER}`);
    const child = spawn(
      'script',
      ['-qec', command.replace(DOC_SERVER, '127.0.0.1:0'), '/dev/null'],
      {
        cwd: dir,
        env: env(),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      },
    );
    background.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(
        () => reject(new Error(`no output from ${command}:\n${out}`)),
        30_000,
      );
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const lines = screen(out);
        if (lines.length < shownLines || !out.endsWith('\n')) return;
        clearTimeout(timer);
        serverAddress = /http:\/\/(127\.0\.0\.1:\d+)\//.exec(out)?.[1];
        assert.ok(serverAddress, `no address in: ${out}`);
        resolve({ code: null, lines });
      });
      child.on('error', reject);
    });
  }

  /** The build block's aliases as commands on PATH (a shell script each). */
  async function aliases(block: Block): Promise<string[]> {
    const names: string[] = [];
    for (const line of block.lines) {
      const m = /^alias ([\w-]+)="(.+)"$/.exec(line);
      if (!m) continue;
      const target = m[2]!.replaceAll('$PWD', REPO);
      await writeFile(join(bin, m[1]!), `#!/bin/sh\nexec ${target} "$@"\n`);
      await chmod(join(bin, m[1]!), 0o755);
      names.push(m[1]!);
    }
    return names;
  }

  before(async () => {
    doc.lines = (await readFile(DOC, 'utf8')).split('\n');
    doc.blocks = blocks(doc.lines);
    dir = await mkdtemp(join(tmpdir(), 'ksu-try-'));
    bin = join(dir, '.bin');
    await mkdir(bin);
    const build = doc.blocks.find((b) => b.lines.some((l) => l.startsWith('npm ci')));
    assert.ok(build, 'no build block (npm ci ...)');
    aliasNames = await aliases(build);
  });
  after(async () => {
    // The whole process group: script and the server it runs.
    for (const child of background) if (child.pid) process.kill(-child.pid, 'SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('the aliases run the pinned Node.js and the built bundles', { skip }, () => {
    assert.deepEqual(aliasNames, ['kubesolo-update', 'kubesolo-release']);
    const build = doc.blocks.find((b) => b.lines.some((l) => l.startsWith('npm ci')))!;
    for (const line of build.lines.filter((l) => l.startsWith('alias '))) {
      assert.match(line, /"\$PWD\/node_modules\/\.bin\/node \$PWD\/dist\/kubesolo-\w+\.mjs"/);
    }
  });

  it('every command prints what the doc shows and exits as shown', { skip }, async () => {
    const failures: string[] = [];
    const rewrites: { at: number; end: number; lines: string[] }[] = [];
    let commands = 0;
    for (const block of doc.blocks) {
      if (block.lang === 'sh') {
        if (block.lines.some((l) => l.startsWith('npm ci'))) continue; // the build: done by npm test
        const r = await run(block.lines.join('\n'));
        assert.equal(r.code, 0, `sh block at line ${block.start}: ${r.lines.join('\n')}`);
        continue;
      }
      if (block.lang !== 'console') continue;
      const rewritten: string[] = [];
      for (const step of steps(block)) {
        commands++;
        const r =
          step.exit === undefined
            ? await start(step.command, step.output.length)
            : await run(step.command);
        const shown = asShown(r.lines);
        if (step.exit !== undefined && r.code !== step.exit) {
          failures.push(`$ ${step.command}\n  exit ${r.code}, the doc shows ${step.exit}`);
        }
        const want = normalise(step.output);
        const got = normalise(shown).map((l) => (l.length > 300 ? l.slice(0, 300) + '…' : l));
        if (JSON.stringify(want) !== JSON.stringify(got)) {
          failures.push(
            `$ ${step.command}\n--- the doc shows\n${want.join('\n')}\n--- the tools print\n${got.slice(0, 60).join('\n')}`,
          );
        }
        if (rewritten.length > 0) rewritten.push('');
        rewritten.push(
          `$ ${step.command}`,
          ...shown.map((l) => l.trimEnd()),
          ...(step.exit === undefined ? [] : [`[exit ${r.code}]`]),
        );
      }
      rewrites.push({ at: block.start, end: block.end, lines: rewritten });
    }
    if (WRITE) {
      const lines = [...doc.lines];
      for (const w of rewrites.reverse()) lines.splice(w.at, w.end - w.at, ...w.lines);
      await writeFile(DOC, lines.join('\n'));
      return;
    }
    assert.ok(commands >= 15, `only ${commands} commands found: are the blocks \`\`\`console?`);
    assert.ok(failures.length === 0, failures.join('\n\n'));
  });
});

describe("the README's quickstart", () => {
  it('runs npm scripts that exist', async () => {
    const readme = await readFile(join(REPO, 'README.md'), 'utf8');
    const section = readme.split('\n## Quickstart\n')[1]?.split('\n## ')[0];
    assert.ok(section, 'README has no Quickstart section');
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'the Quickstart has no sh block');
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    const commands = block
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean)
      .flatMap((l) => l.split('&&').map((c) => c.trim()));
    assert.ok(commands.length >= 2);
    for (const c of commands) {
      const m = /^npm (ci|test|run ([\w:-]+))$/.exec(c);
      assert.ok(m, `not an npm command: ${c}`);
      if (m[1] === 'test') assert.ok(pkg.scripts.test);
      if (m[2]) assert.ok(pkg.scripts[m[2]], `package.json has no script ${m[2]}`);
    }
    // What `npm run demo` runs after building is run by test/demo.
    assert.match(pkg.scripts.demo!, /scripts\/demo\.ts/);
  });
});
