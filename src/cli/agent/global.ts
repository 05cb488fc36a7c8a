/** Global options of `kubesolo-update` (every command takes them). */
import { UsageError } from '../../errors.js';
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
}

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
  version: { type: 'boolean', description: 'Print the version and exit' },
};

export function makeAgentGlobal(values: OptionValues): AgentGlobal {
  const server = stringOpt(values, 'server');
  const registry = stringOpt(values, 'registry');
  if (server !== undefined && registry !== undefined) {
    throw new UsageError('CONFLICTING_OPTIONS', '--server and --registry cannot be used together');
  }
  return {
    root: stringOpt(values, 'root') ?? '/',
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
  };
}
