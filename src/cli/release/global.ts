/** Global options of `kubesolo-release`. */
import { boolOpt, stringOpt, type OptionSpec, type OptionValues } from '../command.js';

export interface ReleaseGlobal {
  json: boolean;
  logLevel: string;
}

export const releaseGlobalOptions: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'Machine-readable JSON on stdout' },
  'log-level': {
    type: 'string',
    valueName: 'LEVEL',
    description: 'debug, info, warn, error or silent',
  },
  version: { type: 'boolean', short: 'V', description: 'Print the version and exit' },
};

export function makeReleaseGlobal(values: OptionValues): ReleaseGlobal {
  return { json: boolOpt(values, 'json'), logLevel: stringOpt(values, 'log-level') ?? 'info' };
}
