import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MAX_KEYS_PER_FILE } from '../../src/crypto/key-set.js';
import { logLines, runAgent } from '../helpers/cli.js';
import { makeDevice, makeKeys, publishRelease, serveDir } from '../helpers/device.js';
import { useTempDir } from '../helpers/tree.js';
import { assertCode } from '../helpers/code-assert.js';

const BASIC = fileURLToPath(new URL('../../deploy/cloud-init/basic.yaml', import.meta.url));
const tmp = useTempDir('ks-cloudinit-cli-', 'all');

/** `cloud-init apply` of a #cloud-config file holding `yaml`, to a fresh --root. */
async function applyUserData(name: string, yaml: string, ...extra: string[]) {
  const root = tmp.path(`r-${name}`);
  const file = tmp.path(`${name}.yaml`);
  await writeFile(file, `#cloud-config\n${yaml}`);
  const r = await runAgent(['cloud-init', 'apply', file, '--root', root, ...extra]);
  return { root, file, r };
}

describe('kubesolo-update cloud-init apply (bundle)', () => {
  it('writes update.conf under --root, then reports it up to date', async () => {
    const root = tmp.path('r1');
    const r = await runAgent(['cloud-init', 'apply', BASIC, '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*update\.conf: server, channel, maintenance_window, pubkey/);
    const conf = await readFile(join(root, 'etc/kubesolo/update.conf'), 'utf8');
    assert.match(conf, /^maintenance_window=02:00-04:00$/m);
    assert.match(conf, /^pubkey=\/etc\/kubesolo\/update\.pub$/m);
    const again = await runAgent(['cloud-init', 'apply', BASIC, '--root', root, '--json']);
    assert.equal(again.code, 0);
    assert.equal((JSON.parse(again.stdout) as { outcome: string }).outcome, 'unchanged');
  });

  it('exits 2 naming the line of a bad value, and writes nothing', async () => {
    const { root, r } = await applyUserData(
      'bad',
      'updates:\n  server: http://a/latest.json\n  channel: on\n',
    );
    assert.equal(r.code, 2);
    const log = logLines(r.stderr)[0]!;
    assertCode(log.code, 'CLOUDINIT_YAML_AMBIGUOUS', 2);
    assert.equal(log.line, 4);
    await assert.rejects(readFile(join(root, 'etc/kubesolo/update.conf')), { code: 'ENOENT' });
  });

  it('an unknown key gets a did-you-mean; --strict refuses it (CONFIG_UNKNOWN_KEY, exit 2) and writes nothing', async () => {
    const { root, file, r } = await applyUserData(
      'typo',
      'updates:\n  channel: beta\n  maintenence_window: 02:00-04:00\n',
      '--strict',
    );
    assert.equal(r.code, 2, r.stderr);
    const refusal = logLines(r.stderr).at(-1)!;
    assertCode(refusal.code, 'CONFIG_UNKNOWN_KEY', 2);
    assert.equal(refusal.line, 4);
    assert.equal(refusal.suggestion, 'maintenance_window');
    assert.match(
      String(refusal.msg),
      /typo\.yaml:4: unknown key 'updates\.maintenence_window' \(did you mean 'maintenance_window'\?\); fix its name or remove it/,
    );
    await assert.rejects(readFile(join(root, 'etc/kubesolo/update.conf')), { code: 'ENOENT' });

    // Without --strict: a warning with the same suggestion, and the known keys written.
    const lenient = await runAgent(['cloud-init', 'apply', file, '--root', root]);
    assert.equal(lenient.code, 0, lenient.stderr);
    assert.match(
      lenient.stdout,
      /^ignored updates\.maintenence_window \(line 4\): unknown key \(did you mean 'maintenance_window'\?\)$/m,
    );
    const warning = logLines(lenient.stderr).find((l) => l.level === 'warn')!;
    assert.match(String(warning.msg), /did you mean 'maintenance_window'/);
    assert.match(await readFile(join(root, 'etc/kubesolo/update.conf'), 'utf8'), /^channel=beta$/m);
  });

  it('needs exactly one FILE', async () => {
    const r = await runAgent(['cloud-init', 'apply']);
    assert.equal(r.code, 2);
    assertCode(logLines(r.stderr)[0]?.code, 'MISSING_ARGUMENT', 2);
  });
});

describe('a cloud-init key list the agent can read back (issue 31, finding 2)', () => {
  // Before: 64 keys were written (4,160 bytes) and every later check and apply failed
  // with PUBKEY_UNREADABLE (CONTROL_FILE_TOO_LARGE); cloud-init itself exited 0.
  const fleet = Array.from({ length: MAX_KEYS_PER_FILE + 1 }, () => makeKeys());
  const listYaml = (n: number) =>
    `#cloud-config\nupdates:\n  pubkey:\n${fleet
      .slice(0, n)
      .map((k) => `    - ${k.publicHex}\n`)
      .join('')}`;

  it(`the largest list (${MAX_KEYS_PER_FILE} keys) is written and the agent verifies a release signed by its last key`, async () => {
    const releases = await mkdtemp(join(tmpdir(), 'ks-ci-keys-rel-'));
    const server = await serveDir(releases);
    const dev = await makeDevice({
      config: { server: `${server.url}latest.json`, pubkey: '/etc/kubesolo/update.pub' },
    });
    try {
      await publishRelease(releases, { version: 'v1.1.0', keys: fleet[MAX_KEYS_PER_FILE - 1] });
      const file = tmp.path('keys-max.yaml');
      await writeFile(file, listYaml(MAX_KEYS_PER_FILE));
      const ci = await runAgent(['cloud-init', 'apply', file, '--root', dev.root]);
      assert.equal(ci.code, 0, ci.stderr);
      const check = await runAgent(['check', '--root', dev.root, '--json']);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(JSON.parse(check.stdout).update_available, true, check.stdout);
    } finally {
      await server.close();
      await dev.cleanup();
      await rm(releases, { recursive: true, force: true });
    }
  });

  it('one key more is refused at its line (PUBKEY_INVALID, exit 2) and nothing is written', async () => {
    const root = tmp.path('keys-over');
    const file = tmp.path('keys-over.yaml');
    await writeFile(file, listYaml(MAX_KEYS_PER_FILE + 1));
    const r = await runAgent(['cloud-init', 'apply', file, '--root', root, '--json']);
    assert.equal(r.code, 2, r.stderr);
    const err = JSON.parse(r.stdout).error;
    assertCode(err.code, 'PUBKEY_INVALID', 2);
    assert.match(err.message, /:4: updates\.pubkey: 64 keys do not fit one key file: at most 63/);
    await assert.rejects(readFile(join(root, 'etc/kubesolo/update.pub')), { code: 'ENOENT' });
    await assert.rejects(readFile(join(root, 'etc/kubesolo/update.conf')), { code: 'ENOENT' });
  });
});
