/**
 * CLI conventions of both binaries, through dist/: per-command --help lists only what
 * the command reads, -V, --quiet/--verbose, --release-version, and the completion
 * scripts and man page generated from the command table, loaded by the real shells
 * and rendered by the real man.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { KEY_SPECS } from '../../src/config/keys.js';
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
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';

const tmp = useTempDir('ksu-conventions-', 'all');

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
    const r = await runAgent(['apply', '--reboot', '--root', tmp.path('q'), '--json']);
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
    const quiet = await runAgent(['dev', 'init-root', tmp.path('q'), '--quiet']);
    assert.equal(quiet.code, 0);
    assert.deepEqual(logLines(quiet.stderr), []);
    // No update.conf under dir: the agent says so at debug level.
    const verbose = await runAgent(['--root', tmp.dir, 'status', '--verbose']);
    assert.ok(
      logLines(verbose.stderr).some((l) => l.level === 'debug'),
      verbose.stderr,
    );
    const both = await runAgent(['status', '--quiet', '--verbose']);
    assert.equal(both.code, 2);
    assertCode(logLines(both.stderr)[0]?.code, 'CONFLICTING_OPTIONS');
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
      const file = tmp.path('_kubesolo-update');
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
        { encoding: 'utf8', env: { ...process.env, HOME: tmp.dir } },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '_kubesolo_update');
    },
  );

  it('completion without a shell is a usage error', async () => {
    const r = await runAgent(['completion', 'fish']);
    assert.equal(r.code, 2);
    assertCode(logLines(r.stderr)[0]?.code, 'MISSING_ARGUMENT');
  });
});

describe('man page from the command table', () => {
  /**
   * `roff` as `man --warnings -l` renders it (100 columns, no pager), which must succeed
   * without a groff warning; the overstrike bold and underline (a character, backspace)
   * dropped.
   */
  async function renderMan(roff: string): Promise<string> {
    const page = tmp.path('page.man');
    await writeFile(page, roff);
    const r = spawnSync('man', ['--warnings', '-l', page], {
      encoding: 'utf8',
      env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '100' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'groff warnings');
    let text = '';
    for (const ch of r.stdout) text = ch === '\b' ? text.slice(0, -1) : text + ch;
    return text;
  }

  it(
    'man -l renders it without warnings, with every command and exit code',
    { skip: toolSkipReason(['man'], 'man-db groff-base') },
    async () => {
      for (const [bin, commands] of [
        [AGENT_BIN, ['check', 'apply', 'healthcheck', 'dev init-root', 'cloud-init apply']],
        [RELEASE_BIN, ['keygen', 'publish', 'verify']],
      ] as const) {
        const text = await renderMan(
          spawnSync(process.execPath, [bin, 'man'], { encoding: 'utf8' }).stdout,
        );
        assert.match(text, /^NAME$/m);
        for (const c of commands) assert.match(text, new RegExp(`^ {3}${c}$`, 'm'), c);
        assert.match(text, /EXIT STATUS/);
        assert.match(text, /--release-version V|--root DIR/);
        // FILES, ENVIRONMENT and every exit code, the signals' 130 and 143 included.
        const section = (name: string) => {
          const start = text.indexOf(`\n${name}\n`);
          const rest = text.slice(start + name.length + 2);
          return start < 0 ? '' : rest.slice(0, rest.search(/^[A-Z]/m));
        };
        for (const code of [0, 1, 2, 3, 4, 5, 130, 143]) {
          assert.match(section('EXIT STATUS'), new RegExp(`^ {7}${code} `, 'm'), `exit ${code}`);
        }
        assert.match(section('EXIT STATUS'), /130 +interrupted by SIGINT/);
        assert.match(section('EXIT STATUS'), /143 +interrupted by SIGTERM/);
        assert.match(section('ENVIRONMENT'), /HTTPS_PROXY/);
        assert.match(
          section('ENVIRONMENT'),
          bin === AGENT_BIN ? /KUBESOLO_UPDATE_REBOOT_COMMAND/ : /KUBESOLO_REGISTRY_PASSWORD/,
        );
        assert.match(
          section('FILES'),
          bin === AGENT_BIN ? /\/etc\/kubesolo\/update\.conf\n.*update\.conf\(5\)/ : /release\.key/,
        );
      }
    },
  );

  it(
    'update.conf(5): man -l renders it without warnings, with every key of the key table',
    { skip: toolSkipReason(['man'], 'man-db groff-base') },
    async () => {
      const r0 = await runAgent(['man', 'update.conf']);
      assert.equal(r0.code, 0, r0.stderr);
      const text = await renderMan(r0.stdout);
      assert.match(text, /^UPDATE\.CONF\(5\)/);
      const keys = text.slice(text.indexOf('\nKEYS\n') + 6, text.indexOf('\nFILES\n'));
      // One item per key (a tagged paragraph), in the table's order; its words joined.
      const items = new Map(
        keys
          .trim()
          .split(/\n\n/)
          .map((item) => {
            const [key = '', ...words] = item.trim().split(/\s+/);
            return [key, words.join(' ')] as const;
          }),
      );
      assert.deepEqual(
        [...items.keys()],
        KEY_SPECS.map((s) => s.key),
      );
      assert.match(items.get('maintenance_window')!, /Flag: --maintenance-window HH:MM-HH:MM\./);
      assert.match(items.get('auto_rollback_after')!, /Default: 3\./);
      assert.match(items.get('registry_password')!, /Never shown in logs or errors\./);
      assert.match(text, /SEE ALSO\n +kubesolo-update\(1\)/);
      const unknown = await runAgent(['man', 'nope.conf']);
      assert.equal(unknown.code, 2);
      assertCode(logLines(unknown.stderr)[0]?.code, 'UNKNOWN_PAGE');
    },
  );
});
