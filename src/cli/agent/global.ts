/** Global options of `kubesolo-update` (sharedGlobals: every command reads them; the rest where named). */
import { statSync } from 'node:fs';
import { errnoCode, UsageError } from '../../errors.js';
import { boolOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

export interface AgentGlobal {
  root: string;
  conf: string | undefined;
  state: string | undefined;
  json: boolean;
  logLevel: string;
  server: string | undefined;
  registry: string | undefined;
  tag: string | undefined;
  channel: string | undefined;
  pubkey: string | undefined;
  maintenanceWindow: string | undefined;
  timeZone: string | undefined;
  force: boolean;
  /** Unknown update.conf keys are an error (CONFIG_UNKNOWN_KEY), not a warning. */
  strict: boolean;
}

/** Read by every command; the others only by the commands that name them in `globals`. */
export const AGENT_SHARED_GLOBALS = ['json', 'log-level'];
/** The globals of the commands that work on a device root. */
export const DEVICE_GLOBALS = ['root', 'conf', 'state', 'strict'];
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
    description: 'Only apply updates inside this local-time window',
  },
  'time-zone': {
    type: 'string',
    valueName: 'ZONE',
    description: 'IANA time zone of the window (default: /etc/localtime)',
  },
  force: { type: 'boolean', description: 'Skip the maintenance window and the node block label' },
  strict: {
    type: 'boolean',
    description: 'Refuse unknown update.conf keys instead of warning about them',
  },
  version: { type: 'boolean', short: 'V', description: 'Print the version and exit' },
};

/**
 * A --root that is not there is a mistake, not an empty device: say so before a
 * command that works on a device reads defaults from it or creates directories under
 * it. (`cloud-init apply` may create the root: image builders write into a new tree.)
 */
export function checkRoot(root: string): void {
  if (root === '/') return;
  let isDir: boolean;
  try {
    isDir = statSync(root).isDirectory();
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') return; // permission errors are explained later
    throw new UsageError(
      'ROOT_NOT_FOUND',
      `--root ${root} does not exist. Point --root at a device's root directory, or create a simulated device with 'kubesolo-update dev init-root ${root}'.`,
      { details: { root } },
    );
  }
  if (!isDir) {
    throw new UsageError('ROOT_NOT_A_DIRECTORY', `--root ${root} is not a directory`, {
      details: { root },
    });
  }
}

export function makeAgentGlobal(values: OptionValues): AgentGlobal {
  const server = stringOpt(values, 'server');
  const registry = stringOpt(values, 'registry');
  if (server !== undefined && registry !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--server and --registry cannot be used together');
  }
  const root = stringOpt(values, 'root');
  return {
    root: root ?? '/',
    conf: stringOpt(values, 'conf'),
    state: stringOpt(values, 'state'),
    json: boolOpt(values, 'json'),
    logLevel: stringOpt(values, 'log-level') ?? 'info',
    server,
    registry,
    tag: stringOpt(values, 'tag'),
    channel: stringOpt(values, 'channel'),
    pubkey: stringOpt(values, 'pubkey'),
    maintenanceWindow: stringOpt(values, 'maintenance-window'),
    timeZone: stringOpt(values, 'time-zone'),
    force: boolOpt(values, 'force'),
    strict: boolOpt(values, 'strict'),
  };
}
