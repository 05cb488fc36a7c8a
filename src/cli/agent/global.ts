/** Global options of `kubesolo-update` (sharedGlobals: every command reads them; the rest where named). */
import type { AgentRequest } from '../../agent/context.js';
import type { ConfigField } from '../../config/keys.js';
import { UsageError } from '../../errors.js';
import { boolOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

/** The parsed globals: the agent's request (root, files, config-key flags) and output. */
export interface AgentGlobal extends AgentRequest {
  json: boolean;
  logLevel: string;
  force: boolean;
}

/** Global options that set an update.conf key for this run (flag > file > default). */
const CONFIG_KEY_FLAGS: Partial<Record<ConfigField, string>> = {
  server: 'server',
  registry: 'registry',
  tag: 'tag',
  channel: 'channel',
  pubkey: 'pubkey',
  maintenanceWindow: 'maintenance-window',
  timeZone: 'time-zone',
  bootloader: 'bootloader',
  compatible: 'compatible',
};

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
  root: {
    type: 'string',
    valueName: 'DIR',
    description: 'Resolve every device path under DIR (default /)',
  },
  conf: {
    type: 'string',
    valueName: 'PATH',
    description: 'Config file (default /etc/kubesolo/update.conf)',
  },
  state: {
    type: 'string',
    valueName: 'PATH',
    description: 'State file (default /var/lib/kubesolo/update/state.json)',
  },
  bootloader: {
    type: 'string',
    valueName: 'NAME',
    description: 'grub, uboot or rpi-tryboot (update.conf bootloader; default grub)',
  },
  json: { type: 'boolean', description: 'Machine-readable JSON on stdout' },
  'log-level': {
    type: 'string',
    valueName: 'LEVEL',
    description: 'debug, info, warn, error or silent',
  },
  server: {
    type: 'string',
    valueName: 'URL',
    description: 'Update server URL (latest.json location)',
  },
  registry: {
    type: 'string',
    valueName: 'REF',
    description: 'OCI registry repository (instead of --server)',
  },
  tag: { type: 'string', valueName: 'TAG', description: 'OCI tag to follow (with --registry)' },
  channel: {
    type: 'string',
    valueName: 'NAME',
    description: 'Release channel (stable, beta, ...)',
  },
  pubkey: {
    type: 'string',
    valueName: 'PATH',
    description: 'Ed25519 public key file (64 hex chars)',
  },
  'maintenance-window': {
    type: 'string',
    valueName: 'HH:MM-HH:MM',
    description: 'Only activate updates (and reboot) inside this local-time window',
  },
  'time-zone': {
    type: 'string',
    valueName: 'ZONE',
    description: 'IANA time zone of the window (default: /etc/localtime)',
  },
  compatible: {
    type: 'string',
    valueName: 'BOARD',
    description:
      "This device's board name, overriding the OS image's (labs; update.conf compatible)",
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
  for (const [field, flag] of Object.entries(CONFIG_KEY_FLAGS) as [ConfigField, string][]) {
    const value = stringOpt(values, flag);
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
