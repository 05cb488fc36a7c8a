import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HEALTH_CHECK_NAMES, KEY_SPECS } from '../../src/config/keys.js';
import { configFromFlags, DEFAULTS, mergeOptions, type Settings } from '../../src/config/merge.js';
import type { UpdateConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_PATHS } from '../../src/paths.js';
import { assertCode } from '../helpers/code-assert.js';
import { throwsWithCode } from '../helpers/rejects.js';

const builtIn: Settings = {
  grubenv: '/boot/grub/grubenv',
  slotBackend: 'block',
  slotFs: 'ext4',
  slotALabel: 'KSOLOA',
  slotBLabel: 'KSOLOB',
  autoRollbackAfter: 3,
  allowUnsignedMetadata: false,
  allowUnsigned: false,
  healthStableSeconds: 30,
  healthcheckTimeout: 300,
  kubeconfig: DEFAULT_PATHS.kubeconfig,
  healthChecks: [
    'containerd',
    'apiserver',
    'node_ready',
    'kube_system',
    'probe_url',
    'disk_writable',
  ],
  commitDeadline: 900,
  bootloader: 'grub',
  ubootEnvConfig: '/etc/kubesolo/fw_env.config',
  autobootTxt: '/boot/firmware/autoboot.txt',
};

describe('mergeOptions: flag > file > default', () => {
  // [name, flags, file, expected]
  const cases: [string, Partial<UpdateConfig>, UpdateConfig, Settings][] = [
    ['nothing set: the built-in defaults only', {}, {}, builtIn],
    [
      'file value beats the default',
      {},
      { autoRollbackAfter: 5, slotBackend: 'dir' },
      { ...builtIn, autoRollbackAfter: 5, slotBackend: 'dir' },
    ],
    [
      'flag beats the file',
      { channel: 'beta', maintenanceWindow: '01:00-02:00' },
      { channel: 'stable', maintenanceWindow: '03:00-04:00', server: 'http://f/' },
      { ...builtIn, channel: 'beta', maintenanceWindow: '01:00-02:00', server: 'http://f/' },
    ],
    [
      'flag beats the default when the file is silent',
      { grubenv: '/x/grubenv' },
      {},
      { ...builtIn, grubenv: '/x/grubenv' },
    ],
    [
      'an undefined flag does not hide the file value',
      { channel: undefined, pubkey: undefined },
      { channel: 'stable', pubkey: '/etc/k.pub' },
      { ...builtIn, channel: 'stable', pubkey: '/etc/k.pub' },
    ],
    [
      'false and 0 are values, not "unset"',
      { allowUnsignedMetadata: false },
      { allowUnsignedMetadata: true, healthStableSeconds: 0 },
      { ...builtIn, allowUnsignedMetadata: false, healthStableSeconds: 0 },
    ],
    [
      'an empty window flag overrides the file (always open)',
      { maintenanceWindow: '' },
      { maintenanceWindow: '02:00-03:00' },
      { ...builtIn, maintenanceWindow: '' },
    ],
    [
      'lists come from one source, not concatenated',
      { healthChecks: ['apiserver'] },
      { healthChecks: ['containerd', 'node_ready'] },
      { ...builtIn, healthChecks: ['apiserver'] },
    ],
  ];
  for (const [name, flags, file, expected] of cases) {
    it(name, () => assert.deepEqual(mergeOptions(flags, file), expected));
  }

  it('keys without a default stay undefined', () => {
    const s = mergeOptions({}, {});
    for (const k of [
      'server',
      'channel',
      'registry',
      'tag',
      'pubkey',
      'maintenanceWindow',
    ] as const) {
      assert.equal(s[k], undefined, k);
      assert.ok(!(k in s), k);
    }
  });

  it('returns fresh lists: mutating a result does not change the defaults', () => {
    mergeOptions({}, {}).healthChecks.push('mutated');
    assert.deepEqual(DEFAULTS.healthChecks, [...HEALTH_CHECK_NAMES]);
    assert.deepEqual(mergeOptions({}, {}).healthChecks, [...HEALTH_CHECK_NAMES]);
  });

  it('every default is a value its own key parser accepts', () => {
    for (const spec of KEY_SPECS) {
      const value = (DEFAULTS as UpdateConfig)[spec.field];
      if (value === undefined) continue;
      const text = Array.isArray(value) ? value.join(',') : String(value);
      assert.deepEqual(spec.parse(text), value, spec.key);
    }
  });
});

describe('configFromFlags', () => {
  it('parses flag text with the update.conf parsers', () => {
    assert.deepEqual(
      configFromFlags({
        server: 'http://127.0.0.1:8080/',
        maintenanceWindow: ' 23:00-01:00 ',
        channel: undefined,
        autoRollbackAfter: '4',
      }),
      { server: 'http://127.0.0.1:8080/', maintenanceWindow: '23:00-01:00', autoRollbackAfter: 4 },
    );
  });

  it('an invalid flag is a ConfigError naming the flag', () => {
    assert.throws(
      () => configFromFlags({ maintenanceWindow: '24:00-01:00' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assertCode(err.code, 'MAINTENANCE_WINDOW_INVALID', 2);
        assert.equal(err.exitCode, 2);
        assert.equal(err.details.flag, '--maintenance-window');
        assert.match(err.message, /^invalid --maintenance-window: /);
        return true;
      },
    );
    const server = throwsWithCode(
      () => configFromFlags({ server: 'not a url' }),
      'CONFIG_INVALID_VALUE',
      2,
    );
    assert.ok(server instanceof ConfigError, String(server));
    assert.equal(server.details.flag, '--server');
  });
});
