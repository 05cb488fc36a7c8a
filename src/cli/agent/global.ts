/** Global options of `kubesolo-update` (sharedGlobals: every command reads them; the rest where named). */
import type { AgentRequest } from '../../agent/context.js';
import { KEY_TABLE, type ConfigField, type KeyFlag } from '../../config/keys.js';
import { UsageError } from '../../errors.js';
import { boolOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

/** The parsed globals: the agent's request (root, files, config-key flags) and output. */
export interface AgentGlobal extends AgentRequest {
  json: boolean;
  logLevel: string;
  force: boolean;
}

/**
 * Global options that set an update.conf key for this run (flag > file > default):
 * generated from the key table's `flag` rows, so a key and its flag are written once.
 */
const CONFIG_KEY_FLAGS: [ConfigField, KeyFlag][] = Object.values(KEY_TABLE).flatMap((spec) =>
  spec.flag ? [[spec.field, spec.flag] as [ConfigField, KeyFlag]] : [],
);

const configKeyOptions: Record<string, OptionSpec> = Object.fromEntries(
  CONFIG_KEY_FLAGS.map(([, f]) => [
    f.name,
    { type: 'string', valueName: f.valueName, description: f.description } satisfies OptionSpec,
  ]),
);

/** Read by every command; the others only by the commands that name them in `globals`. */
export const AGENT_SHARED_GLOBALS = ['json', 'log-level'];
/** The globals of the commands that work on a device root. */
export const DEVICE_GLOBALS = ['root', 'conf', 'state', 'strict', 'bootloader'];
/** The globals of the commands that also talk to an update source (check, apply). */
export const SOURCE_GLOBALS = [
  ...DEVICE_GLOBALS,
  'server',
  'registry',
  'tag',
  'channel',
  'pubkey',
  'maintenance-window',
  'time-zone',
  'compatible',
  'force',
];

export const agentGlobalOptions: Record<string, OptionSpec> = {
  ...configKeyOptions,
  root: {
    type: 'string',
    valueName: 'DIR',
    description: 'Resolve every device path under DIR (default /)',
  },
  conf: {
    type: 'string',
    valueName: 'PATH',
    description: 'Config file, a device path read under --root (default /etc/kubesolo/update.conf)',
  },
  state: {
    type: 'string',
    valueName: 'PATH',
    description:
      'State file, a device path under --root (default /var/lib/kubesolo/update/state.json)',
  },
  json: { type: 'boolean', description: 'Machine-readable JSON on stdout' },
  'log-level': {
    type: 'string',
    valueName: 'LEVEL',
    description: 'debug, info, warn, error or silent',
  },
  force: {
    type: 'boolean',
    description:
      'Skip the maintenance window, the rollout, quarantine and back-off, and the node block label',
  },
  strict: {
    type: 'boolean',
    description: 'Refuse unknown update.conf keys instead of warning about them',
  },
  version: { type: 'boolean', short: 'V', description: 'Print the version and exit' },
};

export function makeAgentGlobal(values: OptionValues): AgentGlobal {
  if (stringOpt(values, 'server') !== undefined && stringOpt(values, 'registry') !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--server and --registry cannot be used together');
  }
  const configFlags: Partial<Record<ConfigField, string>> = {};
  for (const [field, flag] of CONFIG_KEY_FLAGS) {
    const value = stringOpt(values, flag.name);
    if (value !== undefined) configFlags[field] = value;
  }
  return {
    root: stringOpt(values, 'root') ?? '/',
    conf: stringOpt(values, 'conf'),
    state: stringOpt(values, 'state'),
    configFlags,
    strict: boolOpt(values, 'strict'),
    json: boolOpt(values, 'json'),
    logLevel: stringOpt(values, 'log-level') ?? 'info',
    force: boolOpt(values, 'force'),
  };
}

/** The terminal progress line: not with --json, and --quiet (warn or above) silences it. */
export function showsProgress(global: AgentGlobal): boolean {
  return !global.json && ['debug', 'info'].includes(global.logLevel);
}
