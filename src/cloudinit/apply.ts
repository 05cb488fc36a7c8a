/**
 * `kubesolo-update cloud-init apply FILE`: write the `updates:` block of a KubeSolo OS
 * cloud-init file into update.conf (and an inline public key into update.pub), under
 * --root. All-or-nothing: every value is validated, and the resulting update.conf is
 * parsed back, before anything is written; each file is replaced atomically.
 */
import { CONFIG_MAX_BYTES, parseConfig } from '../config/file.js';
import { readControlText } from '../fs/control-file.js';
import { mergeOptions } from '../config/merge.js';
import { agentFiles, assertSlotDirsApart, assertSlotKeysDistinct } from '../slots/slot-identity.js';
import { ConfigError, KubesoloError, OperationError, errnoCode } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';
import { formatKeySet } from '../crypto/key-set.js';
import type { Logger } from '../log.js';
import { configPathUnder, DEFAULT_PATHS, underRoot } from '../paths.js';
import { mergeConfigText } from './merge.js';
import { parseUpdates, type IgnoredKey } from './updates.js';
import { readUpdatesBlock } from './yaml.js';

export interface ApplyCloudInitOptions {
  /** The cloud-init file (a host path). */
  file: string;
  root: string;
  /** update.conf path (device path, resolved under root); default DEFAULT_PATHS.config. */
  confPath?: string;
  /** Unknown keys in the block are an error (CONFIG_UNKNOWN_KEY) instead of a warning. */
  strict?: boolean;
  log: Logger;
}

export interface ApplyCloudInitResult {
  /** What happened: no block (nothing touched), nothing changed, or written. */
  outcome: 'no-updates-block' | 'unchanged' | 'written';
  /** update.conf as written (host path). */
  confFile: string;
  /** update.pub when an inline key was given (host path). */
  pubkeyFile: string | undefined;
  pubkeyWritten: boolean;
  /** update.conf keys the block set. */
  keys: string[];
  ignored: IgnoredKey[];
}

/** cloud-init user data is at most a few MiB on every datasource; parsing is linear anyway. */
const CLOUDINIT_MAX_BYTES = 16 * 1024 * 1024;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readControlText(path, { maxBytes: CONFIG_MAX_BYTES });
  } catch (err) {
    // ENOTDIR: a path component is a file; treat as absent and let the write report it.
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read ${path}`, {
      cause: err,
      details: { file: path },
    });
  }
}

export async function applyCloudInit(o: ApplyCloudInitOptions): Promise<ApplyCloudInitResult> {
  const log = o.log;
  const confFile = configPathUnder(o.root, o.confPath);
  let text: string;
  try {
    text = await readControlText(o.file, { maxBytes: CLOUDINIT_MAX_BYTES });
  } catch (err) {
    throw new ConfigError('CLOUDINIT_UNREADABLE', `cannot read cloud-init file ${o.file}`, {
      cause: err,
      details: { file: o.file },
    });
  }
  const base = { confFile, pubkeyFile: undefined, pubkeyWritten: false };

  const block = readUpdatesBlock(text, o.file);
  if (block === undefined) {
    log.info('no updates: block; update.conf left alone', { file: o.file });
    return { ...base, outcome: 'no-updates-block', keys: [], ignored: [] };
  }
  const parsed = parseUpdates(block, o.file, DEFAULT_PATHS.pubkey);
  const unknown = parsed.ignored.filter((i) => i.unknown);
  const first = unknown[0];
  if (o.strict && first !== undefined) {
    // Before anything is written: all or nothing, as for a bad value.
    throw new ConfigError(
      'CONFIG_UNKNOWN_KEY',
      `${o.file}:${first.line}: unknown key 'updates.${first.key}'${first.suggestion ? ` (did you mean '${first.suggestion}'?)` : ''}; ` +
        'fix its name or remove it (--strict refuses unknown keys); nothing was written',
      {
        details: {
          file: o.file,
          line: first.line,
          key: first.key,
          ...(first.suggestion ? { suggestion: first.suggestion } : {}),
          unknownKeys: unknown.map((u) => u.key),
        },
      },
    );
  }
  for (const i of parsed.ignored) {
    log.warn(`ignoring updates.${i.key}: ${i.why}`, { file: o.file, line: i.line, key: i.key });
  }
  if (parsed.keys.length === 0) {
    return { ...base, outcome: 'unchanged', keys: [], ignored: parsed.ignored };
  }

  const existing = (await readOptional(confFile)) ?? '';
  const header = `# Written by kubesolo-update cloud-init apply from ${o.file}`;
  const next = mergeConfigText(existing, parsed.config, header);
  // Read it back as the agent will: if the result does not parse (a bad line the
  // block does not override), write nothing rather than leave a broken config.
  try {
    // With the defaults filled in: `slot_b_label: KSOLOA` aliases the default slot A.
    const merged = mergeOptions({}, parseConfig(next, confFile));
    assertSlotKeysDistinct(merged);
    // The agent's files at their device paths (cloud-init writes the default ones).
    if (merged.slotBackend === 'dir') {
      assertSlotDirsApart(merged, agentFiles(merged, DEFAULT_PATHS));
    }
  } catch (err) {
    const inner = err instanceof KubesoloError ? err : undefined;
    throw new ConfigError(
      inner?.code ?? 'CONFIG_INVALID',
      `${confFile} would not be valid after merging: ${inner?.message ?? String(err)}`,
      { cause: err, details: { ...inner?.details, file: confFile } },
    );
  }

  let pubkeyFile: string | undefined;
  let pubkeyWritten = false;
  try {
    // The key file first: update.conf must never reference a key that is not there.
    if (parsed.pubkeyHexes !== undefined) {
      pubkeyFile = underRoot(o.root, DEFAULT_PATHS.pubkey);
      const want = formatKeySet(parsed.pubkeyHexes);
      if ((await readOptional(pubkeyFile)) !== want) {
        await atomicWriteFile(pubkeyFile, want, { mode: 0o644, mkdirp: true });
        pubkeyWritten = true;
      }
    }
    if (next === existing) {
      log.info('update.conf already up to date', { file: confFile });
      return {
        confFile,
        pubkeyFile,
        pubkeyWritten,
        outcome: 'unchanged',
        keys: parsed.keys,
        ignored: parsed.ignored,
      };
    }
    // 0600 like the config writer: update.conf may hold registry credentials.
    await atomicWriteFile(confFile, next, { mode: 0o600, mkdirp: true });
  } catch (err) {
    if (err instanceof KubesoloError) throw err;
    throw new OperationError('CLOUDINIT_WRITE_FAILED', `cannot write ${confFile}`, {
      cause: err,
      details: { file: confFile },
    });
  }
  log.info('update.conf written from cloud-init', { file: confFile, keys: parsed.keys });
  return {
    confFile,
    pubkeyFile,
    pubkeyWritten,
    outcome: 'written',
    keys: parsed.keys,
    ignored: parsed.ignored,
  };
}
