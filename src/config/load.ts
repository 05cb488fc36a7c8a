/**
 * One call for commands: read update.conf under --root and merge it with the flags
 * (docs/design.md §3.1, §3.2). Paths inside the result are still device paths; resolve them
 * with underRoot() where they are opened.
 */
import type { Logger } from '../log.js';
import { DEFAULT_PATHS, underRoot } from '../paths.js';
import { loadConfigFile } from './file.js';
import { mergeOptions, type Settings } from './merge.js';
import type { UpdateConfig } from './types.js';

export interface LoadSettingsOptions {
  /** `--root` (default `/`). */
  root?: string;
  /** `--conf`: device path of update.conf (default /etc/kubesolo/update.conf). */
  conf?: string;
  /** Values from command-line flags, already validated (configFromFlags). */
  flags?: Partial<UpdateConfig>;
  log?: Logger;
}

export interface LoadedSettings {
  settings: Settings;
  /** The config file that was read (or would have been, when missing). */
  configPath: string;
}

export async function loadSettings(options: LoadSettingsOptions = {}): Promise<LoadedSettings> {
  const configPath = underRoot(options.root ?? '/', options.conf ?? DEFAULT_PATHS.config);
  const file = await loadConfigFile(configPath, options.log);
  return { settings: mergeOptions(options.flags ?? {}, file), configPath };
}
