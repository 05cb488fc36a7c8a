import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyCloudInit } from '../../src/cloudinit/apply.js';
import { mergeConfigText } from '../../src/cloudinit/merge.js';
import { readUpdatesBlock } from '../../src/cloudinit/yaml.js';
import { loadConfigFile } from '../../src/config/file.js';
import { loadKeySet } from '../../src/crypto/key-set.js';
import { KubesoloError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { assertCode } from '../helpers/code-assert.js';
import { rejectsWithCode } from '../helpers/rejects.js';
import { useTempDir } from '../helpers/tree.js';

const EXAMPLES = fileURLToPath(new URL('../../deploy/cloud-init/', import.meta.url));
const KEY = '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c';

const tmp = useTempDir('ks-cloudinit-', 'all');
let n = 0;

/** A fresh --root and a cloud-init file with `yaml` in it. */
async function setup(yaml: string, existingConf?: string) {
  const root = tmp.path(`root${++n}`);
  await mkdir(join(root, 'etc', 'kubesolo'), { recursive: true });
  const conf = join(root, 'etc', 'kubesolo', 'update.conf');
  if (existingConf !== undefined) await writeFile(conf, existingConf);
  const file = tmp.path(`user-data-${n}.yaml`);
  await writeFile(file, yaml);
  return { root, conf, file, pub: join(root, 'etc', 'kubesolo', 'update.pub') };
}

/** Apply deploy/cloud-init/`name` to a fresh --root: the result and the update.conf it wrote, read back. */
async function applyExample(name: string) {
  const root = tmp.path(name);
  const result = await applyCloudInit({ log: silentLogger, file: join(EXAMPLES, name), root });
  return { root, result, config: await loadConfigFile(join(root, 'etc/kubesolo/update.conf')) };
}

async function exists(p: string) {
  return stat(p).then(
    () => true,
    () => false,
  );
}

describe('cloud-init: the examples in deploy/cloud-init/', () => {
  it('basic.yaml writes update.conf and update.pub that the config reader accepts', async () => {
    const { root, result, config } = await applyExample('basic.yaml');
    assert.equal(result.outcome, 'written');
    assert.equal(result.pubkeyWritten, true);
    assert.equal(await readFile(join(root, 'etc/kubesolo/update.pub'), 'utf8'), KEY + '\n');
    assert.deepEqual(config, {
      server: 'https://updates.example.com/kubesolo/stable/latest.json',
      channel: 'stable',
      maintenanceWindow: '02:00-04:00',
      pubkey: '/etc/kubesolo/update.pub',
      healthcheckUrl: 'http://127.0.0.1:30080/healthz',
      autoRollbackAfter: 3,
    });
    assert.equal((await stat(join(root, 'etc/kubesolo/update.conf'))).mode & 0o777, 0o600);
  });

  it('registry.yaml and no-kubernetes-checks.yaml apply too', async () => {
    const registry = (await applyExample('registry.yaml')).config;
    assert.equal(registry.registry, 'registry.example.com:5000/kubesolo/os');
    assert.equal(registry.maintenanceWindow, '23:00-01:00');
    const nok8s = await applyExample('no-kubernetes-checks.yaml');
    assert.equal(nok8s.result.pubkeyWritten, false);
    assert.deepEqual(nok8s.config.healthChecks, ['disk_writable', 'probe_url']);
    assert.equal(nok8s.config.pubkey, '/etc/kubesolo/keys/fleet.pub');
    assert.equal(nok8s.config.healthcheckTimeout, 120);
    assert.equal(await exists(join(nok8s.root, 'etc/kubesolo/update.pub')), false);
  });
});

describe('cloud-init: the bootloader', () => {
  it('uboot.yaml sets bootloader and uboot_env_config; a bootloader the agent does not drive is refused', async () => {
    const c = (await applyExample('uboot.yaml')).config;
    assert.equal(c.bootloader, 'uboot');
    assert.equal(c.ubootEnvConfig, '/etc/kubesolo/fw_env.config');
    const t = await setup(
      'updates:\n  bootloader: rpi-tryboot\n  autoboot_txt: /boot/firmware/autoboot.txt\n',
    );
    await applyCloudInit({ log: silentLogger, file: t.file, root: t.root });
    assert.equal((await loadConfigFile(t.conf)).bootloader, 'rpi-tryboot');
    const bad = await setup('updates:\n  bootloader: u-boot\n');
    await assert.rejects(
      applyCloudInit({ log: silentLogger, file: bad.file, root: bad.root }),
      (err: unknown) =>
        err instanceof KubesoloError && /u-boot/.test(err.message) && err.exitCode === 2,
    );
    assert.equal(await exists(bad.conf), false, 'nothing written');
  });
});

describe('cloud-init: merging with an existing update.conf', () => {
  it('sets the block keys, keeps comments, other keys and unknown keys, collapses duplicates', async () => {
    const existing = [
      '# site settings',
      'server=http://old.example/latest.json',
      'slot_backend=dir',
      'future_key=kept',
      'channel=beta',
      '  channel = edge  ',
      '',
    ].join('\n');
    const s = await setup('updates:\n  channel: stable\n  auto_rollback_after: 5\n', existing);
    const r = await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.equal(r.outcome, 'written');
    assert.deepEqual(r.keys, ['channel', 'auto_rollback_after']);
    assert.equal(
      await readFile(s.conf, 'utf8'),
      [
        '# site settings',
        'server=http://old.example/latest.json',
        'slot_backend=dir',
        'future_key=kept',
        'channel=stable',
        'auto_rollback_after=5',
        '',
      ].join('\n'),
    );
  });

  it('running it again changes nothing (same inode: no rewrite)', async () => {
    const s = await setup(`updates:\n  server: http://a.example/latest.json\n  pubkey: ${KEY}\n`);
    assert.equal(
      (await applyCloudInit({ log: silentLogger, file: s.file, root: s.root })).outcome,
      'written',
    );
    const before = await stat(s.conf);
    const again = await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.equal(again.outcome, 'unchanged');
    assert.equal(again.pubkeyWritten, false);
    assert.equal((await stat(s.conf)).ino, before.ino);
    assert.match(await readFile(s.conf, 'utf8'), /^# Written by kubesolo-update cloud-init apply/);
  });

  it('an existing file with a bad line the block does not fix: nothing written', async () => {
    const existing = 'maintenance_window=bogus\n';
    const s = await setup('updates:\n  channel: stable\n', existing);
    await rejectsWithCode(
      applyCloudInit({ log: silentLogger, file: s.file, root: s.root }),
      'MAINTENANCE_WINDOW_INVALID',
      2,
    );
    assert.equal(await readFile(s.conf, 'utf8'), existing);
    // ...and one the block does fix is repaired.
    const fix = await setup('updates:\n  maintenance_window: 01:00-02:00\n', existing);
    await applyCloudInit({ log: silentLogger, file: fix.file, root: fix.root });
    assert.equal(await readFile(fix.conf, 'utf8'), 'maintenance_window=01:00-02:00\n');
  });

  it('mergeConfigText appends to a file without a trailing newline and handles CRLF', () => {
    assert.equal(mergeConfigText('a=1', { channel: 'x' }, '# h'), 'a=1\nchannel=x\n');
    assert.equal(mergeConfigText('channel=y\r\n', { channel: 'x' }, '# h'), 'channel=x\n');
    assert.equal(mergeConfigText('', { channel: 'x' }, '# h'), '# h\nchannel=x\n');
  });
});

describe('cloud-init: absent or empty block leaves update.conf alone', () => {
  for (const [name, yaml] of [
    ['no updates key', '#cloud-config\nhostname: box\n'],
    ['updates with nothing', 'hostname: box\nupdates:\n'],
    ['updates: {}', 'updates: {}\n'],
    ['updates: ~', 'updates: ~\n'],
    ['an empty file', ''],
    ['only comments', '#cloud-config\n# nothing here\n'],
  ] as const) {
    it(name, async () => {
      const s = await setup(yaml, 'server=http://keep.example/latest.json\n');
      const before = await stat(s.conf);
      const r = await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
      assert.equal(r.outcome, 'no-updates-block');
      assert.equal((await stat(s.conf)).mtimeMs, before.mtimeMs);
      assert.equal(await readFile(s.conf, 'utf8'), 'server=http://keep.example/latest.json\n');
    });
  }

  it('and creates nothing when there is no update.conf', async () => {
    const s = await setup('hostname: box\n');
    await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.equal(await exists(s.conf), false);
  });
});

describe('cloud-init: YAML 1.1 semantics', () => {
  it('02:00-04:00 unquoted is text (not sexagesimal); yes/on are booleans for boolean keys', async () => {
    const s = await setup(
      'updates:\n  maintenance_window: 02:00-04:00\n  allow_unsigned_metadata: yes\n',
    );
    await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    const cfg = await loadConfigFile(s.conf);
    assert.equal(cfg.maintenanceWindow, '02:00-04:00');
    assert.equal(cfg.allowUnsignedMetadata, true);
    const off = await setup('updates:\n  allow_unsigned_metadata: off\n');
    await applyCloudInit({ log: silentLogger, file: off.file, root: off.root });
    assert.equal((await loadConfigFile(off.conf)).allowUnsignedMetadata, false);
  });

  it('reads values the way YAML 1.1 does (the parser is in 1.1 mode)', () => {
    const b = readUpdatesBlock(
      'updates:\n  a: 1:30\n  b: 010\n  c: on\n  d: "on"\n  e: 0x1f\n',
      'f',
    );
    assert.deepEqual(
      b!.entries.map((e) => e.value),
      [90, 8, true, 'on', 31],
    );
  });

  it('a quoted "yes" is text, so a channel named yes works when quoted', async () => {
    const s = await setup('updates:\n  channel: "yes"\n');
    await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.equal((await loadConfigFile(s.conf)).channel, 'yes');
  });

  it('a plain number that reads back as written is accepted for a text key', async () => {
    const s = await setup('updates:\n  channel: 2024\n  tag: 1.2\n');
    await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    const cfg = await loadConfigFile(s.conf);
    assert.equal(cfg.channel, '2024');
    assert.equal(cfg.tag, '1.2');
  });

  it('a multi-line block scalar pubkey is trimmed', async () => {
    const s = await setup(`updates:\n  pubkey: |\n    ${KEY}\n`);
    await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.equal(await readFile(s.pub, 'utf8'), KEY + '\n');
  });

  it('a YAML list of keys becomes a key set in update.pub (key rotation), duplicates once', async () => {
    const second = Buffer.from(
      generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!,
      'base64url',
    ).toString('hex');
    const s = await setup(
      `updates:\n  pubkey:\n    - ${KEY}\n    - ${second.toUpperCase()}\n    - ${KEY}\n`,
    );
    const r = await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.equal(r.pubkeyWritten, true);
    assert.equal(await readFile(s.pub, 'utf8'), `${KEY}\n${second}\n`);
    assert.match(await readFile(s.conf, 'utf8'), /^pubkey=\/etc\/kubesolo\/update\.pub$/m);
    // The agent's own reader takes the file as a set of both keys.
    const set = await loadKeySet(s.pub);
    assert.deepEqual(
      set.map((k) => Buffer.from(k.key).toString('hex')),
      [KEY, second],
    );
  });

  it('health_checks takes a YAML list or a comma-separated string', async () => {
    const s = await setup('updates:\n  health_checks:\n    - disk_writable\n    - probe_url\n');
    await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.match(await readFile(s.conf, 'utf8'), /^health_checks=disk_writable,probe_url$/m);
  });
});

describe('cloud-init: invalid values name the line and write nothing', () => {
  // Each case's name, user-data and the line its error names, by the code it is refused
  // with (exit 2).
  const cases: Record<string, [string, string, number][]> = {
    MAINTENANCE_WINDOW_INVALID: [
      ['hour out of range', 'updates:\n  maintenance_window: 25:00-04:00\n', 2],
    ],
    CLOUDINIT_YAML_AMBIGUOUS: [
      ['boolean where text is meant', 'hostname: x\nupdates:\n  channel: yes\n', 3],
      ['sexagesimal integer', 'updates:\n  server: http://a/\n  auto_rollback_after: 1:30\n', 3],
      ['octal integer', 'updates:\n  auto_rollback_after: 010\n', 2],
      ['digit separators', 'updates:\n  healthcheck_timeout: 1_000\n', 2],
      ['a timestamp', 'updates:\n  channel: 2026-01-01\n', 2],
      // All digits with a leading 0: YAML 1.1 reads an octal number, not the key.
      ['digits-only pubkey', `updates:\n  pubkey: ${'0'.repeat(64)}\n`, 2],
    ],
    CONFIG_INVALID_VALUE: [
      ['out of range', 'updates:\n  auto_rollback_after: 0\n', 2],
      ['not http(s)', 'updates:\n  server: ftp://x/latest.json\n', 2],
      ['unknown check in list', 'updates:\n  health_checks: [disk_writable, nope]\n', 2],
      ['number for a boolean', 'updates:\n  allow_unsigned_metadata: 2\n', 2],
    ],
    PUBKEY_INVALID: [
      ['short pubkey', 'updates:\n\n  pubkey: abc123\n', 3],
      // (0, -1), a point of order 2 (RFC 8032 §5.1.3 encoding of y = p - 1).
      ['small-order pubkey', `updates:\n  pubkey: ec${'ff'.repeat(30)}7f\n`, 2],
      ['relative pubkey path', 'updates:\n  pubkey: keys/x.pub\n', 2],
      ['a key list with a short key', `updates:\n  pubkey:\n    - ${KEY}\n    - abc\n`, 3],
      ['an empty key list', 'updates:\n  pubkey: []\n', 2],
      ['a path in a key list', `updates:\n  pubkey: [${KEY}, /etc/x.pub]\n`, 2],
    ],
    CLOUDINIT_INVALID_VALUE: [
      ['list for a single value', 'updates:\n  server: [a, b]\n', 2],
      ['mapping for a value', 'updates:\n  server:\n    url: x\n', 3],
    ],
    CLOUDINIT_YAML_INVALID: [
      ['duplicate key', 'updates:\n  channel: a\n  channel: b\n', 3],
      ['bad indentation', 'updates:\n  channel: a\n bad: [\n', 3],
    ],
    CLOUDINIT_NOT_A_MAPPING: [['top level is a list', '- a\n- b\n', 1]],
    CLOUDINIT_INVALID_BLOCK: [['updates is text', 'updates: yes please\n', 1]],
  };
  for (const [code, group] of Object.entries(cases)) {
    for (const [name, yaml, line] of group) {
      it(`${name} → ${code} at line ${line}`, async () => {
        const s = await setup(`${yaml}`, 'server=http://keep.example/latest.json\n');
        const e = await rejectsWithCode(
          applyCloudInit({ log: silentLogger, file: s.file, root: s.root }),
          code,
          2,
        );
        assert.equal(e.details.line, line, e.message);
        assert.match(e.message, new RegExp(`:${line}: `));
        assert.equal(await readFile(s.conf, 'utf8'), 'server=http://keep.example/latest.json\n');
        assert.equal(await exists(s.pub), false);
      });
    }
  }

  it('a bad value after a good pubkey still writes nothing (no update.pub either)', async () => {
    const s = await setup(`updates:\n  pubkey: ${KEY}\n  maintenance_window: 9-5\n`);
    await assert.rejects(applyCloudInit({ log: silentLogger, file: s.file, root: s.root }));
    assert.equal(await exists(s.pub), false);
    assert.equal(await exists(s.conf), false);
  });

  it('hides a secret value in the error', async () => {
    for (const secret of ['0123', '4:56', 'on']) {
      const s = await setup(`updates:\n  registry_password: ${secret}\n`);
      await assert.rejects(
        applyCloudInit({ log: silentLogger, file: s.file, root: s.root }),
        (e: KubesoloError) => {
          assertCode(e.code, 'CLOUDINIT_YAML_AMBIGUOUS', 2);
          assert.ok(!e.message.includes(secret), e.message);
          return true;
        },
      );
    }
  });
});

describe('cloud-init: other outcomes', () => {
  it('unknown and empty keys are ignored and reported', async () => {
    const s = await setup(
      'updates:\n  maintenence_window: 01:00-02:00\n  server:\n  channel: beta\n',
    );
    const r = await applyCloudInit({ log: silentLogger, file: s.file, root: s.root });
    assert.deepEqual(
      r.ignored.map((i) => [i.key, i.line]),
      [
        ['maintenence_window', 2],
        ['server', 3],
      ],
    );
    assert.equal(
      await readFile(s.conf, 'utf8'),
      '# Written by kubesolo-update cloud-init apply from ' + s.file + '\nchannel=beta\n',
    );
    const only = await setup('updates:\n  bogus: 1\n');
    assert.equal(
      (await applyCloudInit({ log: silentLogger, file: only.file, root: only.root })).outcome,
      'unchanged',
    );
    assert.equal(await exists(only.conf), false);
  });

  it('a missing cloud-init file is CLOUDINIT_UNREADABLE (exit 2)', async () => {
    await rejectsWithCode(
      applyCloudInit({ log: silentLogger, file: tmp.path('missing.yaml'), root: tmp.dir }),
      'CLOUDINIT_UNREADABLE',
      2,
    );
  });

  it('a write that fails is CLOUDINIT_WRITE_FAILED (exit 1)', async () => {
    const root = tmp.path('blocked');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc', 'kubesolo'), 'a file where a directory should be');
    const file = tmp.path('w.yaml');
    await writeFile(file, 'updates:\n  channel: stable\n');
    await rejectsWithCode(
      applyCloudInit({ log: silentLogger, file, root }),
      'CLOUDINIT_WRITE_FAILED',
      1,
    );
  });

  it('honours a --conf path under --root', async () => {
    const s = await setup('updates:\n  channel: stable\n');
    const r = await applyCloudInit({
      log: silentLogger,
      file: s.file,
      root: s.root,
      confPath: '/etc/other.conf',
    });
    assert.equal(r.confFile, join(s.root, 'etc', 'other.conf'));
    assert.equal((await loadConfigFile(r.confFile)).channel, 'stable');
  });
});
