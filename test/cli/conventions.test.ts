/**
 * CLI conventions of both binaries, through dist/: per-command --help lists only what
 * the command reads, -V, --quiet/--verbose, --release-version, and the completion
 * scripts and man page generated from the command table, loaded by the real shells
 * and rendered by the real man.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { VERSION } from '../../src/version.js';
import {
  AGENT_BIN,
  RELEASE_BIN,
  expectRefusal,
  logLines,
  runAgent,
  runRelease,
} from '../helpers/cli.js';
import { toolSkipReason } from '../helpers/require-tool.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ksu-conventions-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('--help, -V, --quiet, --verbose', () => {
  it('each command lists only the options it reads', async () => {
    const status = await runAgent(['status', '--help']);
    assert.equal(status.code, 0);
    assert.match(status.stdout, /--root DIR/);
    for (const other of ['--server', '--registry', '--force', '--maintenance-window']) {
      assert.doesNotMatch(status.stdout, new RegExp(other), `status --help lists ${other}`);
    }
    const check = await runAgent(['check', '--help']);
    for (const flag of ['--server URL', '--registry REF', '--force', '--allow-downgrade']) {
      assert.match(check.stdout, new RegExp(flag));
    }
    const keygen = await runRelease(['keygen', '--help']);
    assert.doesNotMatch(keygen.stdout, /--version|--kernel/);
  });

  it('a combination of options that cannot work is USAGE, exit 2 (apply --reboot without --activate)', async () => {
    const r = await runAgent(['apply', '--reboot', '--root', join(dir, 'q'), '--json']);
    expectRefusal(r, 'USAGE', 2);
    assert.match(r.stdout, /--reboot needs --activate/);
  });

  it('-V and --version print the version of both tools', async () => {
    for (const run of [runAgent, runRelease]) {
      for (const flag of ['-V', '--version']) {
        const r = await run([flag]);
        assert.equal(r.code, 0);
        assert.equal(r.stdout, `${VERSION}\n`);
      }
    }
  });

  it('--quiet leaves only warnings and errors; --verbose adds debug lines', async () => {
    const quiet = await runAgent(['dev', 'init-root', join(dir, 'q'), '--quiet']);
    assert.equal(quiet.code, 0);
    assert.deepEqual(logLines(quiet.stderr), []);
    // No update.conf under dir: the agent says so at debug level.
    const verbose = await runAgent(['--root', dir, 'status', '--verbose']);
    assert.ok(
      logLines(verbose.stderr).some((l) => l.level === 'debug'),
      verbose.stderr,
    );
    const both = await runAgent(['status', '--quiet', '--verbose']);
    assert.equal(both.code, 2);
    assert.equal(logLines(both.stderr)[0]?.code, 'CONFLICTING_OPTIONS');
  });

  it('publish documents --release-version and hides the old --version spelling', async () => {
    const r = await runRelease(['publish', '--help']);
    assert.match(r.stdout, /--release-version V/);
    assert.doesNotMatch(r.stdout, /--version V/);
  });
});

describe('shell completion from the command table', () => {
  const complete = (words: string[]) =>
    spawnSync(
      'bash',
      [
        '-c',
        `source <(${process.execPath} ${AGENT_BIN} completion bash) && ` +
          `COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}) COMP_CWORD=${words.length - 1} && ` +
          `_kubesolo_update && printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { encoding: 'utf8' },
    );

  it('the bash script loads and registers the completion', () => {
    for (const [bin, fn] of [
      [AGENT_BIN, 'kubesolo-update'],
      [RELEASE_BIN, 'kubesolo-release'],
    ] as const) {
      const r = spawnSync(
        'bash',
        ['-c', `source <(${process.execPath} ${bin} completion bash) && complete -p ${fn}`],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), `complete -F _${fn.replace('-', '_')} ${fn}`);
      assert.equal(r.stderr, '');
    }
  });

  it('bash completes commands, subcommands and each command’s own options', () => {
    assert.deepEqual(complete(['kubesolo-update', 'sta']).stdout.split('\n').filter(Boolean), [
      'status',
    ]);
    assert.deepEqual(complete(['kubesolo-update', 'dev', '']).stdout.split('\n').filter(Boolean), [
      'init-root',
      'reboot',
    ]);
    const statusOpts = complete(['kubesolo-update', 'status', '--']).stdout;
    assert.match(statusOpts, /^--root$/m);
    assert.doesNotMatch(statusOpts, /^--server$/m);
    assert.match(complete(['kubesolo-update', 'check', '--se']).stdout, /^--server$/m);
  });

  it(
    'the zsh script parses and registers with compinit',
    { skip: toolSkipReason(['zsh'], 'zsh') },
    async () => {
      const file = join(dir, '_kubesolo-update');
      await writeFile(
        file,
        spawnSync(process.execPath, [AGENT_BIN, 'completion', 'zsh'], { encoding: 'utf8' }).stdout,
      );
      const syntax = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
      assert.equal(syntax.status, 0, syntax.stderr);
      const r = spawnSync(
        'zsh',
        [
          '-fc',
          `autoload -Uz compinit && compinit -u -D && source ${file} && print $_comps[kubesolo-update]`,
        ],
        { encoding: 'utf8', env: { ...process.env, HOME: dir } },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '_kubesolo_update');
    },
  );

  it('completion without a shell is a usage error', async () => {
    const r = await runAgent(['completion', 'fish']);
    assert.equal(r.code, 2);
    assert.equal(logLines(r.stderr)[0]?.code, 'MISSING_ARGUMENT');
  });
});

describe('man page from the command table', () => {
  it(
    'man -l renders it without warnings, with every command and exit code',
    { skip: toolSkipReason(['man'], 'man-db groff-base') },
    async () => {
      for (const [bin, commands] of [
        [AGENT_BIN, ['check', 'apply', 'healthcheck', 'dev init-root', 'cloud-init apply']],
        [RELEASE_BIN, ['keygen', 'publish', 'verify']],
      ] as const) {
        const page = join(dir, 'page.1');
        await writeFile(
          page,
          spawnSync(process.execPath, [bin, 'man'], { encoding: 'utf8' }).stdout,
        );
        const r = spawnSync('man', ['--warnings', '-l', page], {
          encoding: 'utf8',
          env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '100' },
        });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr, '', 'groff warnings');
        // Drop overstrike bold/underline (character, backspace).
        let text = '';
        for (const ch of r.stdout) text = ch === '\b' ? text.slice(0, -1) : text + ch;
        assert.match(text, /^NAME$/m);
        for (const c of commands) assert.match(text, new RegExp(`^ {3}${c}$`, 'm'), c);
        assert.match(text, /EXIT STATUS/);
        assert.match(text, /--release-version V|--root DIR/);
      }
    },
  );
});
