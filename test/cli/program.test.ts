import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { expectRefusal, logLines, runAgent, runAgentJson, runRelease } from '../helpers/cli.js';
import { assertCode } from '../helpers/code-assert.js';

const AGENT_COMMANDS = [
  'check',
  'apply',
  'activate',
  'rollback',
  'healthcheck',
  'status',
  'metrics',
  'cloud-init',
];
const RELEASE_COMMANDS = ['keygen', 'sign', 'publish', 'verify', 'serve', 'push'];

describe('kubesolo-update command tree', () => {
  it('--help lists every command and exits 0', async () => {
    const r = await runAgent(['--help']);
    assert.equal(r.code, 0);
    for (const c of AGENT_COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
    assert.match(r.stdout, /--root DIR/);
  });

  it('each command has its own --help', async () => {
    for (const c of AGENT_COMMANDS) {
      const r = await runAgent([c, '--help']);
      assert.equal(r.code, 0, c);
      assert.match(r.stdout, new RegExp(`Usage: kubesolo-update ${c}`), c);
    }
  });

  it('an unknown command is a usage error (exit 2)', async () => {
    const r = await runAgent(['frobnicate']);
    assert.equal(r.code, 2);
    assertCode(logLines(r.stderr)[0]?.code, 'UNKNOWN_COMMAND');
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const r = await runAgent(['status', '--no-such-flag']);
    assert.equal(r.code, 2);
    assertCode(logLines(r.stderr)[0]?.code, 'UNKNOWN_OPTION');
  });

  it('--server and --registry together is a usage error', async () => {
    const r = await runAgentJson(['check', '--server', 'http://127.0.0.1:1/', '--registry', 'r/x']);
    expectRefusal(r, 'CONFLICTING_OPTIONS', 2);
    assert.equal(r.doc.ok, false);
  });

  it('global options may come before or after the command', async () => {
    const a = await runAgent(['--log-level', 'bogus', 'status']);
    const b = await runAgent(['status', '--log-level', 'bogus']);
    assert.equal(a.code, 2);
    assert.equal(b.code, 2);
    assertCode(logLines(a.stderr)[0]?.code, 'INVALID_LOG_LEVEL');
  });
});

describe('kubesolo-release command tree', () => {
  it('--help lists every command', async () => {
    const r = await runRelease(['--help']);
    assert.equal(r.code, 0);
    for (const c of RELEASE_COMMANDS) assert.match(r.stdout, new RegExp(`^  ${c} `, 'm'));
  });
});
