/**
 * The update.conf key table (docs/design.md §3.2): one row per key, mapping the snake_case file
 * key to its UpdateConfig field and value parser. The mapped type below makes the table
 * exhaustive: a field added to UpdateConfig (src/config/types.ts) without a row here is
 * a type error. Adding a key = one field in types.ts + one row here + one line in
 * docs/configuration.md.
 */
import { BOOTLOADERS } from '../bootenv/types.js';
import { BOARD_NAME } from './board.js';
import type { UpdateConfig } from './types.js';
import {
  absolutePath,
  boolean,
  commitDeadline,
  httpUrl,
  integer,
  maintenanceWindow,
  matching,
  nameList,
  oneOf,
  text,
  timeZone,
  type ValueParser,
} from './values.js';

/** The health checks the agent knows (docs/configuration.md `health_checks`). */
export const HEALTH_CHECK_NAMES = [
  'containerd',
  'apiserver',
  'node_ready',
  'kube_system',
  'probe_url',
  'disk_writable',
] as const;
export type HealthCheckName = (typeof HEALTH_CHECK_NAMES)[number];

const SLOT_BACKENDS = ['block', 'dir'] as const;
const SLOT_FILESYSTEMS = ['ext4', 'vfat'] as const;

export type ConfigField = keyof UpdateConfig;
export type ConfigValue<F extends ConfigField> = NonNullable<UpdateConfig[F]>;

export interface KeySpec<F extends ConfigField = ConfigField> {
  /** The snake_case key in update.conf. */
  readonly key: string;
  readonly field: F;
  readonly parse: ValueParser<ConfigValue<F>>;
  /** Never echo the value in logs or errors (credentials). */
  readonly secret?: boolean;
  /** A global flag of the device commands that sets this key for one run (flag > file). */
  readonly flag?: KeyFlag;
}

/** A config-key flag: `--name VALUE`, described in --help. */
export interface KeyFlag {
  readonly name: string;
  readonly valueName: string;
  readonly description: string;
}

// OCI distribution spec, "tag" grammar: [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}.
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
// A repository reference such as registry.example.com:5000/kubesolo/os; the transport
// validates the full grammar, here we only refuse what can never be one.
const REGISTRY_REF = /^[^\s/][^\s]*$/;
const CHANNEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// ext4 volume labels are at most 16 bytes (e2label(8)).
const FS_LABEL = /^[A-Za-z0-9._-]{1,16}$/;

/** A row of the table: its field is the name it stands under. */
type KeyRow<F extends ConfigField> = Omit<KeySpec<F>, 'field'>;

/** One row per key; the order is the order formatConfig writes them in. */
const KEY_ROWS: { readonly [F in ConfigField]-?: KeyRow<F> } = {
  // --- keys of the KubeSolo OS agent (docs/design.md §3.2) ---
  server: {
    key: 'server',
    parse: httpUrl,
    flag: {
      name: 'server',
      valueName: 'URL',
      description: 'Update server URL (latest.json location)',
    },
  },
  registry: {
    key: 'registry',
    flag: {
      name: 'registry',
      valueName: 'REF',
      description: 'OCI registry repository (instead of --server)',
    },
    parse: matching(REGISTRY_REF, 'an OCI repository like host[:port]/path'),
  },
  tag: {
    key: 'tag',
    parse: matching(OCI_TAG, 'an OCI tag'),
    flag: { name: 'tag', valueName: 'TAG', description: 'OCI tag to follow (with --registry)' },
  },
  channel: {
    key: 'channel',
    flag: {
      name: 'channel',
      valueName: 'NAME',
      description: 'Release channel (stable, beta, ...)',
    },
    parse: matching(CHANNEL, 'a channel name (letters, digits, . _ -)'),
  },
  pubkey: {
    key: 'pubkey',
    parse: absolutePath,
    flag: {
      name: 'pubkey',
      valueName: 'PATH',
      description: 'Trusted public keys (file or directory), a device path read under --root',
    },
  },
  maintenanceWindow: {
    key: 'maintenance_window',
    flag: {
      name: 'maintenance-window',
      valueName: 'HH:MM-HH:MM',
      description: 'Only activate updates (and reboot) inside this local-time window',
    },
    parse: maintenanceWindow,
  },
  healthcheckUrl: { key: 'healthcheck_url', parse: httpUrl },
  autoRollbackAfter: {
    key: 'auto_rollback_after',
    parse: integer(1, 100),
  },
  grubenv: { key: 'grubenv', parse: absolutePath },
  slotBackend: { key: 'slot_backend', parse: oneOf(SLOT_BACKENDS) },
  slotFs: { key: 'slot_fs', parse: oneOf(SLOT_FILESYSTEMS) },
  slotALabel: {
    key: 'slot_a_label',
    parse: matching(FS_LABEL, 'a filesystem label of 1-16 characters'),
  },
  slotBLabel: {
    key: 'slot_b_label',
    parse: matching(FS_LABEL, 'a filesystem label of 1-16 characters'),
  },
  slotADir: { key: 'slot_a_dir', parse: absolutePath },
  slotBDir: { key: 'slot_b_dir', parse: absolutePath },
  allowUnsignedMetadata: {
    key: 'allow_unsigned_metadata',
    parse: boolean,
  },
  // --- ours ---
  allowUnsigned: { key: 'allow_unsigned', parse: boolean },
  compatible: {
    key: 'compatible',
    flag: {
      name: 'compatible',
      valueName: 'BOARD',
      description:
        "This device's board name, overriding the OS image's (labs; update.conf compatible)",
    },
    parse: matching(BOARD_NAME, 'a board name (letters, digits, . _ , + -)'),
  },
  healthChecks: {
    key: 'health_checks',
    parse: nameList(HEALTH_CHECK_NAMES),
  },
  healthStableSeconds: {
    key: 'health_stable_seconds',
    parse: integer(0, 86_400),
  },
  healthcheckTimeout: {
    key: 'healthcheck_timeout',
    parse: integer(1, 86_400),
  },
  kubeconfig: { key: 'kubeconfig', parse: absolutePath },
  caFile: { key: 'ca_file', parse: absolutePath },
  registryUsername: { key: 'registry_username', parse: text },
  registryPassword: {
    key: 'registry_password',
    parse: text,
    secret: true,
  },
  registryAuthFile: { key: 'registry_auth_file', parse: absolutePath },
  timeZone: {
    key: 'time_zone',
    parse: timeZone,
    flag: {
      name: 'time-zone',
      valueName: 'ZONE',
      description: 'IANA time zone of the window (default: /etc/localtime)',
    },
  },
  // Read by the OS's boot watchdog (os/init.d), which parses update.conf in sh; the rows
  // here validate them for the agent and `cloud-init apply`.
  commitDeadline: { key: 'commit_deadline', parse: commitDeadline },
  commitWatchdogDevice: {
    key: 'commit_watchdog_device',
    parse: absolutePath,
  },
  // The bootloader and where its environment is (docs/boot.md); `grubenv` above is GRUB's.
  bootloader: {
    key: 'bootloader',
    parse: oneOf(BOOTLOADERS),
    flag: {
      name: 'bootloader',
      valueName: 'NAME',
      description: 'grub, uboot or rpi-tryboot (update.conf bootloader; default grub)',
    },
  },
  ubootEnvConfig: { key: 'uboot_env_config', parse: absolutePath },
  autobootTxt: { key: 'autoboot_txt', parse: absolutePath },
};

/** The rows with their field named in each, in table order. */
export const KEY_TABLE = Object.fromEntries(
  Object.entries(KEY_ROWS).map(([field, row]) => [field, { ...row, field }]),
) as { readonly [F in ConfigField]-?: KeySpec<F> };

/** The rows as a list, in table order. */
export const KEY_SPECS: readonly KeySpec[] = Object.values(KEY_TABLE);

const byKey = new Map<string, KeySpec>(KEY_SPECS.map((s) => [s.key, s]));

/** The row for an update.conf key, or undefined for an unknown key. */
export function keySpec(key: string): KeySpec | undefined {
  return byKey.get(key);
}

/** Serialise a typed value back to its update.conf text. */
export function formatValue(value: NonNullable<UpdateConfig[ConfigField]>): string {
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}
