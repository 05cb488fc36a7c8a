/**
 * Option merging (docs/design.md §3.2): command-line flag > config file > built-in default.
 */
import { ConfigError, KubesoloError } from '../errors.js';
import { DEFAULT_PATHS } from '../paths.js';
import { HEALTH_CHECK_NAMES, KEY_TABLE, type ConfigField } from './keys.js';
import type { UpdateConfig } from './types.js';

/** Built-in defaults (docs/configuration.md). Keys without a default stay undefined. */
export const DEFAULTS = {
  grubenv: DEFAULT_PATHS.grubenv,
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
  healthChecks: [...HEALTH_CHECK_NAMES],
  commitDeadline: 900,
  bootloader: 'grub',
  ubootEnvConfig: DEFAULT_PATHS.ubootEnvConfig,
  autobootTxt: DEFAULT_PATHS.autobootTxt,
} as const satisfies UpdateConfig;

type Defaulted = keyof typeof DEFAULTS;

/** UpdateConfig with every defaulted key filled in. */
export type Settings = Omit<UpdateConfig, Defaulted> & Required<Pick<UpdateConfig, Defaulted>>;

/** flag > file > default, per key. A flag or file value of `undefined` means "not set". */
export function mergeOptions(flags: Partial<UpdateConfig>, file: UpdateConfig): Settings {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(KEY_TABLE) as ConfigField[]) {
    const value = flags[field] ?? file[field] ?? (DEFAULTS as UpdateConfig)[field];
    if (value === undefined) continue;
    // Copy lists so callers cannot mutate the shared defaults.
    out[field] = Array.isArray(value) ? [...(value as unknown[])] : value;
  }
  return out as Settings;
}

/**
 * Validate command-line values with the same parsers as update.conf, so
 * `--maintenance-window 24:00-01:00` fails exactly like the file key would. Undefined
 * entries are skipped; the error names the flag (`--maintenance-window`).
 */
export function configFromFlags(
  values: Partial<Record<ConfigField, string | undefined>>,
): Partial<UpdateConfig> {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(values) as ConfigField[]) {
    const raw = values[field];
    if (raw === undefined) continue;
    const spec = KEY_TABLE[field];
    const flag = '--' + spec.key.replace(/_/g, '-');
    try {
      out[field] = spec.parse(raw.trim());
    } catch (err) {
      const inner = err instanceof KubesoloError ? err : undefined;
      const why = err instanceof Error ? err.message : String(err);
      throw new ConfigError(inner?.code ?? 'CONFIG_INVALID_VALUE', `invalid ${flag}: ${why}`, {
        cause: err,
        details: { ...inner?.details, flag, key: spec.key },
      });
    }
  }
  return out;
}
