import { reportUnknownKeys, type UnknownKey } from '../../src/config/unknown-keys.js';
import { strict as assert } from 'node:assert';
import { mkdir, readFile, stat, symlink, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  formatConfig,
  loadConfigFile,
  parseConfig,
  writeConfigFile,
} from '../../src/config/file.js';
import { HEALTH_CHECK_NAMES, KEY_SPECS, KEY_TABLE } from '../../src/config/keys.js';
import type { UpdateConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import type { LogFields, Logger } from '../../src/log.js';
import { requireRoot } from '../helpers/require-tool.js';
import { useTempDir } from '../helpers/tree.js';
import { hasCode, rejectsWithCode, throwsWithCode } from '../helpers/rejects.js';
import { assertCode } from '../helpers/code-assert.js';

interface Entry {
  level: string;
  msg: string;
  fields: LogFields | undefined;
}
function recordingLogger(): Logger & { entries: Entry[] } {
  const entries: Entry[] = [];
  const rec = (level: string) => (msg: string, fields?: LogFields) =>
    entries.push({ level, msg, fields });
  return {
    level: 'debug',
    entries,
    debug: rec('debug'),
    info: rec('info'),
    warn: rec('warn'),
    error: rec('error'),
  };
}

/** `fn` throws a ConfigError with `code` (exit 2, as every configuration error). */
function configErrorOf(fn: () => unknown, code: string): ConfigError {
  const err = throwsWithCode(fn, code, 2);
  assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
  return err;
}

describe('update.conf key table', () => {
  it('has one row per UpdateConfig field, keyed by its own field name', () => {
    for (const [field, spec] of Object.entries(KEY_TABLE)) assert.equal(spec.field, field);
  });

  it('file keys are the snake_case of the field names (docs/design.md §3.2)', () => {
    for (const spec of KEY_SPECS) {
      const snake = spec.field.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
      assert.equal(spec.key, snake);
    }
  });

  it('contains every key docs/design.md §3.2 lists', () => {
    const design = [
      'server',
      'channel',
      'pubkey',
      'maintenance_window',
      'healthcheck_url',
      'auto_rollback_after',
      'registry',
      'tag',
      'grubenv',
      'slot_backend',
      'slot_a_label',
      'slot_b_label',
      'slot_a_dir',
      'slot_b_dir',
      'allow_unsigned_metadata',
    ];
    const keys = new Set(KEY_SPECS.map((s) => s.key));
    for (const k of design) assert.ok(keys.has(k), k);
  });
});

describe('parseConfig: syntax', () => {
  it('reads key=value lines, skips comments and blanks, trims whitespace', () => {
    const text = [
      '# KubeSolo OS update configuration',
      '',
      '   server = https://updates.example.com/stable  ',
      '\tchannel=stable\t',
      '  # indented comment',
      'auto_rollback_after=5',
      'allow_unsigned_metadata=true',
      'health_checks = containerd , apiserver,containerd',
      '',
    ].join('\n');
    assert.deepEqual(parseConfig(text, 'update.conf'), {
      server: 'https://updates.example.com/stable',
      channel: 'stable',
      autoRollbackAfter: 5,
      allowUnsignedMetadata: true,
      healthChecks: ['containerd', 'apiserver'],
    });
  });

  it('accepts CRLF line ends and a UTF-8 BOM', () => {
    assert.deepEqual(parseConfig('\uFEFFchannel=beta\r\ntag=v1\r\n', 'f'), {
      channel: 'beta',
      tag: 'v1',
    });
  });

  it('splits at the first = only and keeps # inside values', () => {
    assert.deepEqual(parseConfig('registry_password=a=b#c d\n', 'f'), {
      registryPassword: 'a=b#c d',
    });
  });

  it('unwraps one pair of matching quotes', () => {
    assert.deepEqual(
      parseConfig(
        `channel="stable"\ntag='v1'\nregistry_password=" x "\nregistry_username="a'\n`,
        'f',
      ),
      { channel: 'stable', tag: 'v1', registryPassword: ' x ', registryUsername: `"a'` },
    );
  });

  it('an empty value means unset, also clearing an earlier line', () => {
    assert.deepEqual(parseConfig('maintenance_window=\nchannel=a\nchannel=\n', 'f'), {});
    assert.deepEqual(parseConfig('channel=""\n', 'f'), {});
  });

  it('ignores unknown keys, collecting file, line, key and the nearest known key', () => {
    const unknown: UnknownKey[] = [];
    assert.deepEqual(
      parseConfig('channel=a\nfuture_key=1\nsever=http://x/\n', '/etc/u.conf', undefined, unknown),
      { channel: 'a' },
    );
    assert.deepEqual(unknown, [
      { key: 'future_key', file: '/etc/u.conf', line: 2 },
      { key: 'sever', file: '/etc/u.conf', line: 3, suggestion: 'server' },
    ]);
  });

  it('unknown keys: a warning each by default, CONFIG_UNKNOWN_KEY (exit 2) when strict', () => {
    const unknown: UnknownKey[] = [];
    parseConfig('chanel=beta\n', '/etc/u.conf', undefined, unknown);
    const log = recordingLogger();
    reportUnknownKeys(unknown, log, false);
    assert.equal(log.entries.length, 1);
    assert.equal(log.entries[0]!.level, 'warn');
    assert.equal(
      log.entries[0]!.msg,
      "/etc/u.conf:1: unknown key 'chanel' (did you mean 'channel'?); it is ignored",
    );
    assert.throws(() => reportUnknownKeys(unknown, log, true), hasCode('CONFIG_UNKNOWN_KEY', 2));
  });

  it('keys are case-sensitive: CHANNEL is an unknown key', () => {
    assert.deepEqual(parseConfig('CHANNEL=a\n', 'f'), {});
  });

  it('a repeated key: the last wins, with a warning', () => {
    const log = recordingLogger();
    assert.deepEqual(parseConfig('channel=a\nchannel=b\n', 'f', log), { channel: 'b' });
    assert.equal(log.entries.length, 1);
    assert.equal(log.entries[0]!.level, 'warn');
    assert.deepEqual(log.entries[0]!.fields, {
      file: 'f',
      line: 2,
      key: 'channel',
      previousLine: 1,
    });
  });

  it('a line without = is CONFIG_SYNTAX naming file and line', () => {
    const err = configErrorOf(
      () => parseConfig('channel=a\n\njust some words\n', '/etc/u.conf'),
      'CONFIG_SYNTAX',
    );
    assert.deepEqual(err.details, { file: '/etc/u.conf', line: 3 });
    assert.match(err.message, /^\/etc\/u\.conf:3: /);
  });

  it('a line with an empty key is CONFIG_SYNTAX', () => {
    configErrorOf(() => parseConfig(' = x', 'f'), 'CONFIG_SYNTAX');
  });
});

describe('parseConfig: values', () => {
  // [line, expected config] — each accepted value and its typed result.
  const good: [string, UpdateConfig][] = [
    ['server=http://127.0.0.1:8080/', { server: 'http://127.0.0.1:8080/' }],
    ['server=https://[::1]:8443/os/latest.json', { server: 'https://[::1]:8443/os/latest.json' }],
    [
      'registry=registry.example.com:5000/kubesolo/os',
      { registry: 'registry.example.com:5000/kubesolo/os' },
    ],
    ['tag=stable_1.2-x', { tag: 'stable_1.2-x' }],
    ['channel=edge.v2', { channel: 'edge.v2' }],
    ['pubkey=/etc/kubesolo/update.pub', { pubkey: '/etc/kubesolo/update.pub' }],
    ['maintenance_window=02:00-04:00', { maintenanceWindow: '02:00-04:00' }],
    ['maintenance_window=23:00 - 01:00', { maintenanceWindow: '23:00-01:00' }],
    [
      'healthcheck_url=http://127.0.0.1:9/healthz',
      { healthcheckUrl: 'http://127.0.0.1:9/healthz' },
    ],
    ['auto_rollback_after=1', { autoRollbackAfter: 1 }],
    ['auto_rollback_after=100', { autoRollbackAfter: 100 }],
    ['grubenv=/boot/efi/grubenv', { grubenv: '/boot/efi/grubenv' }],
    ['slot_backend=block', { slotBackend: 'block' }],
    ['slot_backend=dir', { slotBackend: 'dir' }],
    ['slot_fs=vfat', { slotFs: 'vfat' }],
    ['slot_a_label=ROOT-A_1.x', { slotALabel: 'ROOT-A_1.x' }],
    ['slot_b_label=ABCDEFGHIJKLMNOP', { slotBLabel: 'ABCDEFGHIJKLMNOP' }],
    ['slot_a_dir=/var/slots/a', { slotADir: '/var/slots/a' }],
    ['slot_b_dir=/var/slots/b', { slotBDir: '/var/slots/b' }],
    ['allow_unsigned_metadata=false', { allowUnsignedMetadata: false }],
    ['allow_unsigned_metadata=1', { allowUnsignedMetadata: true }],
    ['allow_unsigned_metadata=F', { allowUnsignedMetadata: false }],
    ['allow_unsigned_metadata=True', { allowUnsignedMetadata: true }],
    ['allow_unsigned=true', { allowUnsigned: true }],
    ['compatible=rpi4', { compatible: 'rpi4' }],
    ['compatible=raspberrypi,4-model-b', { compatible: 'raspberrypi,4-model-b' }],
    ['health_checks=disk_writable', { healthChecks: ['disk_writable'] }],
    [`health_checks=${HEALTH_CHECK_NAMES.join(',')}`, { healthChecks: [...HEALTH_CHECK_NAMES] }],
    ['health_stable_seconds=0', { healthStableSeconds: 0 }],
    ['healthcheck_timeout=86400', { healthcheckTimeout: 86400 }],
    ['kubeconfig=/root/.kube/config', { kubeconfig: '/root/.kube/config' }],
    ['ca_file=/etc/ssl/extra.pem', { caFile: '/etc/ssl/extra.pem' }],
    ['registry_username=robot$ci', { registryUsername: 'robot$ci' }],
    ['registry_password=p@ss word', { registryPassword: 'p@ss word' }],
    [
      'registry_auth_file=/root/.docker/config.json',
      { registryAuthFile: '/root/.docker/config.json' },
    ],
    ['time_zone=Europe/Berlin', { timeZone: 'Europe/Berlin' }],
    ['time_zone=UTC', { timeZone: 'UTC' }],
    ['time_zone=America/Argentina/Buenos_Aires', { timeZone: 'America/Argentina/Buenos_Aires' }],
    ['time_zone=Etc/GMT+5', { timeZone: 'Etc/GMT+5' }],
    ['commit_deadline=0', { commitDeadline: 0 }],
    ['commit_deadline=30', { commitDeadline: 30 }],
    ['commit_deadline=30s', { commitDeadline: 30 }],
    ['commit_deadline=15m', { commitDeadline: 900 }],
    ['commit_deadline=24h', { commitDeadline: 86_400 }],
    ['commit_deadline=86400s', { commitDeadline: 86_400 }],
    ['commit_watchdog_device=/dev/watchdog0', { commitWatchdogDevice: '/dev/watchdog0' }],
    ['bootloader=uboot', { bootloader: 'uboot' }],
    ['bootloader=rpi-tryboot', { bootloader: 'rpi-tryboot' }],
    ['uboot_env_config=/etc/fw_env.config', { ubootEnvConfig: '/etc/fw_env.config' }],
    ['autoboot_txt=/boot/autoboot.txt', { autobootTxt: '/boot/autoboot.txt' }],
  ];
  for (const [line, expected] of good) {
    it(`accepts ${line}`, () => assert.deepEqual(parseConfig(line + '\n', 'f'), expected));
  }

  // [line, key, code] — each rejected value is a ConfigError (exit 2) naming file:line and key.
  const bad: [string, string, string][] = [
    ['server=updates.example.com', 'server', 'CONFIG_INVALID_VALUE'],
    ['server=ftp://example.com/', 'server', 'CONFIG_INVALID_VALUE'],
    ['registry=has space/x', 'registry', 'CONFIG_INVALID_VALUE'],
    ['registry=/leading/slash', 'registry', 'CONFIG_INVALID_VALUE'],
    ['tag=-dash', 'tag', 'CONFIG_INVALID_VALUE'],
    ['compatible=my board', 'compatible', 'CONFIG_INVALID_VALUE'],
    ['compatible=-rpi4', 'compatible', 'CONFIG_INVALID_VALUE'],
    ['compatible=' + 'b'.repeat(65), 'compatible', 'CONFIG_INVALID_VALUE'],
    ['tag=' + 'a'.repeat(129), 'tag', 'CONFIG_INVALID_VALUE'],
    ['channel=stable # prod', 'channel', 'CONFIG_INVALID_VALUE'],
    ['pubkey=etc/update.pub', 'pubkey', 'CONFIG_INVALID_VALUE'],
    ['maintenance_window=2:00-4:00', 'maintenance_window', 'MAINTENANCE_WINDOW_INVALID'],
    ['maintenance_window=24:00-01:00', 'maintenance_window', 'MAINTENANCE_WINDOW_INVALID'],
    ['healthcheck_url=localhost:8080', 'healthcheck_url', 'CONFIG_INVALID_VALUE'],
    ['auto_rollback_after=abc', 'auto_rollback_after', 'CONFIG_INVALID_VALUE'],
    ['auto_rollback_after=0', 'auto_rollback_after', 'CONFIG_INVALID_VALUE'],
    ['auto_rollback_after=-1', 'auto_rollback_after', 'CONFIG_INVALID_VALUE'],
    ['auto_rollback_after=3.0', 'auto_rollback_after', 'CONFIG_INVALID_VALUE'],
    ['auto_rollback_after=0x3', 'auto_rollback_after', 'CONFIG_INVALID_VALUE'],
    ['auto_rollback_after=101', 'auto_rollback_after', 'CONFIG_INVALID_VALUE'],
    ['grubenv=grubenv', 'grubenv', 'CONFIG_INVALID_VALUE'],
    ['slot_backend=loop', 'slot_backend', 'CONFIG_INVALID_VALUE'],
    ['slot_fs=fat32', 'slot_fs', 'CONFIG_INVALID_VALUE'],
    ['slot_a_label=ABCDEFGHIJKLMNOPQ', 'slot_a_label', 'CONFIG_INVALID_VALUE'],
    ['slot_b_label=has space', 'slot_b_label', 'CONFIG_INVALID_VALUE'],
    ['slot_a_dir=./a', 'slot_a_dir', 'CONFIG_INVALID_VALUE'],
    ['slot_b_dir=b', 'slot_b_dir', 'CONFIG_INVALID_VALUE'],
    ['allow_unsigned_metadata=yes', 'allow_unsigned_metadata', 'CONFIG_INVALID_VALUE'],
    ['allow_unsigned=on', 'allow_unsigned', 'CONFIG_INVALID_VALUE'],
    ['health_checks=containerd,etcd', 'health_checks', 'CONFIG_INVALID_VALUE'],
    ['health_checks= , ,', 'health_checks', 'CONFIG_INVALID_VALUE'],
    ['health_stable_seconds=86401', 'health_stable_seconds', 'CONFIG_INVALID_VALUE'],
    ['healthcheck_timeout=0', 'healthcheck_timeout', 'CONFIG_INVALID_VALUE'],
    ['kubeconfig=~/.kube/config', 'kubeconfig', 'CONFIG_INVALID_VALUE'],
    ['ca_file=ca.pem', 'ca_file', 'CONFIG_INVALID_VALUE'],
    ['registry_auth_file=auth.json', 'registry_auth_file', 'CONFIG_INVALID_VALUE'],
    ['time_zone=Mars/Olympus_Mons', 'time_zone', 'TIME_ZONE_INVALID'],
    ['time_zone=+02:00', 'time_zone', 'TIME_ZONE_INVALID'],
    ['time_zone=CEST 2', 'time_zone', 'TIME_ZONE_INVALID'],
    ['time_zone=../zoneinfo/UTC', 'time_zone', 'TIME_ZONE_INVALID'],
    ['commit_deadline=29', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=25h', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=86401', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=15 m', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=1d', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=-5m', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=1234567s', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_deadline=off', 'commit_deadline', 'CONFIG_INVALID_VALUE'],
    ['commit_watchdog_device=watchdog', 'commit_watchdog_device', 'CONFIG_INVALID_VALUE'],
    ['bootloader=u-boot', 'bootloader', 'CONFIG_INVALID_VALUE'],
    ['uboot_env_config=fw_env.config', 'uboot_env_config', 'CONFIG_INVALID_VALUE'],
    ['autoboot_txt=autoboot.txt', 'autoboot_txt', 'CONFIG_INVALID_VALUE'],
  ];
  for (const [line, key, code] of bad) {
    it(`rejects ${line.slice(0, 60)}`, () => {
      const err = configErrorOf(
        () => parseConfig(`# header\n${line}\n`, '/etc/kubesolo/update.conf'),
        code,
      );
      assert.equal(err.details.file, '/etc/kubesolo/update.conf');
      assert.equal(err.details.line, 2);
      assert.equal(err.details.key, key);
      assert.ok(
        err.message.startsWith(`/etc/kubesolo/update.conf:2: invalid value for ${key}: `),
        err.message,
      );
    });
  }

  it('every key has at least one accepted and one rejected case above', () => {
    const goodKeys = new Set(good.map(([l]) => l.slice(0, l.indexOf('='))));
    const badKeys = new Set(bad.map(([, k]) => k));
    for (const spec of KEY_SPECS) {
      assert.ok(goodKeys.has(spec.key), `no accepted case for ${spec.key}`);
      // Free-text credentials accept every non-empty value, so they have no bad case.
      if (spec.key !== 'registry_username' && spec.key !== 'registry_password') {
        assert.ok(badKeys.has(spec.key), `no rejected case for ${spec.key}`);
      }
    }
  });

  it('never echoes a secret value in an error message', () => {
    const secret = 'hunter2\nserver=http://127.0.0.1/';
    const err = configErrorOf(
      () => formatConfig({ registryPassword: secret }),
      'CONFIG_INVALID_VALUE',
    );
    assert.equal(err.details.key, 'registry_password');
    assert.ok(!err.message.includes('hunter2'), err.message);
    assert.equal(KEY_TABLE.registryPassword.secret, true);
  });
});

describe('formatConfig / parseConfig round trip', () => {
  it('writes keys in table order and reads back equal', () => {
    const cfg: UpdateConfig = {
      slotBackend: 'dir',
      server: 'https://u.example/x',
      healthChecks: ['apiserver', 'node_ready'],
      autoRollbackAfter: 4,
      allowUnsignedMetadata: false,
      registryPassword: '  spaced "pw"  ',
      registryUsername: '"quoted"',
    };
    const text = formatConfig(cfg);
    assert.equal(
      text,
      [
        'server=https://u.example/x',
        'auto_rollback_after=4',
        'slot_backend=dir',
        'allow_unsigned_metadata=false',
        'health_checks=apiserver,node_ready',
        'registry_username=""quoted""',
        'registry_password="  spaced "pw"  "',
        '',
      ].join('\n'),
    );
    assert.deepEqual(parseConfig(text, 'f'), cfg);
  });

  it('refuses values that would not read back (line breaks, empty, invalid)', () => {
    const invalid = 'CONFIG_INVALID_VALUE';
    configErrorOf(() => formatConfig({ registryPassword: 'a\nserver=http://evil/' }), invalid);
    configErrorOf(() => formatConfig({ channel: '  ' }), invalid);
    const err = configErrorOf(() => formatConfig({ autoRollbackAfter: 0 }), invalid);
    assert.equal(err.details.key, 'auto_rollback_after');
    configErrorOf(
      () => formatConfig({ maintenanceWindow: '25:00-01:00' }),
      'MAINTENANCE_WINDOW_INVALID',
    );
  });

  it('property: any free-text credential survives a round trip', () => {
    const value = fc
      .string({ minLength: 1, maxLength: 40, unit: 'grapheme' })
      .filter((s) => !/[\r\n]/.test(s) && s.trim() !== '');
    fc.assert(
      fc.property(value, value, (user, pw) => {
        const cfg: UpdateConfig = { registryUsername: user, registryPassword: pw };
        assert.deepEqual(parseConfig(formatConfig(cfg), 'f'), cfg);
      }),
    );
  });
});

describe('loadConfigFile / writeConfigFile', () => {
  const tmp = useTempDir('ks-config-', 'all');

  it('a missing file is an empty config', async () => {
    const log = recordingLogger();
    assert.deepEqual(await loadConfigFile(tmp.path('nope', 'update.conf'), log), {});
    assert.equal(log.entries[0]?.msg, 'no config file; using defaults');
  });

  it('reads and parses a file, naming the path in errors', async () => {
    const path = tmp.path('update.conf');
    await writeFile(path, 'channel=stable\nauto_rollback_after=abc\n');
    const err = await rejectsWithCode(loadConfigFile(path), 'CONFIG_INVALID_VALUE', 2);
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.details, { file: path, line: 2, key: 'auto_rollback_after' });
    assert.ok(err.message.startsWith(`${path}:2: invalid value for auto_rollback_after`));
    await writeFile(path, 'channel=stable\n');
    assert.deepEqual(await loadConfigFile(path), { channel: 'stable' });
  });

  it('a directory is CONFIG_UNREADABLE (EISDIR)', async () => {
    const path = tmp.path('is-a-dir');
    await mkdir(path);
    const err = await rejectsWithCode(loadConfigFile(path), 'CONFIG_UNREADABLE', 2);
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.details, { file: path, errno: 'EISDIR' });
  });

  it('a symlink loop is CONFIG_UNREADABLE (ELOOP)', async () => {
    const path = tmp.path('loop');
    await symlink(path, path);
    const err = await rejectsWithCode(loadConfigFile(path), 'CONFIG_UNREADABLE', 2);
    assert.equal(err.details.errno, 'ELOOP');
  });

  it('a file the agent may not read is CONFIG_UNREADABLE (EACCES, run as nobody)', async (t) => {
    if (requireRoot(t, 'runs the loader as uid 65534')) return;
    const sub = tmp.path('perm');
    await mkdir(sub);
    await chmod(sub, 0o755);
    await chmod(tmp.dir, 0o755);
    const path = join(sub, 'update.conf');
    await writeFile(path, 'channel=a\n');
    await chmod(path, 0o600);
    // Root bypasses file modes, so the real loadConfigFile runs in a child as nobody.
    const module = new URL('../../src/config/file.ts', import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then((m) => m.loadConfigFile(${JSON.stringify(path)})).then(
      () => console.log('{"loaded":true}'),
      (e) => console.log(JSON.stringify({ name: e.name, code: e.code, errno: e.details?.errno, exitCode: e.exitCode })))`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      uid: 65534,
      gid: 65534,
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
      env: { ...process.env, HOME: '/tmp' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as { code?: string };
    assertCode(seen.code, 'CONFIG_UNREADABLE', 2);
    assert.deepEqual(seen, {
      name: 'ConfigError',
      code: 'CONFIG_UNREADABLE',
      errno: 'EACCES',
      exitCode: 2,
    });
  });

  it('writeConfigFile writes atomically with mode 0600 and reads back equal', async () => {
    const path = tmp.path('etc', 'kubesolo', 'update.conf');
    const cfg: UpdateConfig = { server: 'http://127.0.0.1:1/', maintenanceWindow: '01:00-02:00' };
    await writeConfigFile(path, cfg);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal(await readFile(path, 'utf8'), formatConfig(cfg));
    assert.deepEqual(await loadConfigFile(path), cfg);
  });
});
