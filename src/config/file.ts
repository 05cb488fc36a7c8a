/**
 * update.conf reader and writer (docs/design.md §3.2).
 *
 * Format: one `key=value` per line; the key is everything before the first `=`, the
 * value everything after it, both trimmed. Lines whose first non-blank character is
 * `#` are comments, blank lines are ignored; there are no trailing comments (a `#`
 * inside a value is part of it, so passwords and URLs with fragments survive). A value
 * wrapped in one pair of matching double or single quotes is unwrapped, which keeps
 * shell-style files working and lets the writer preserve surrounding spaces. An empty
 * value means "unset" (the built-in default applies). Unknown keys are ignored, so a
 * newer config does not break an older agent, but collected (unknown-keys.ts warns
 * with the nearest known key, or refuses them under --strict); the last occurrence of
 * a repeated key wins (with a warning). Lines end with LF or CRLF; any other control
 * character (a bare CR above all) is an error naming the line.
 */
import { ConfigError, errnoCode, KubesoloError } from '../errors.js';
import { atomicWriteFile } from '../fs/atomic.js';
import { readControlText } from '../fs/control-file.js';
import type { Logger } from '../log.js';
import { formatValue, KEY_SPECS, keySpec, type KeySpec } from './keys.js';
import { unknownKey, type UnknownKey } from './unknown-keys.js';
import type { UpdateConfig } from './types.js';

function unquote(value: string): string {
  if (value.length >= 2) {
    const q = value[0];
    if ((q === '"' || q === "'") && value.endsWith(q)) return value.slice(1, -1);
  }
  return value;
}

/** Run a key's parser, re-throwing its error with the place it came from. */
function parseAt(spec: KeySpec, raw: string, where: { file: string; line: number }): unknown {
  try {
    return spec.parse(raw);
  } catch (err) {
    const inner = err instanceof KubesoloError ? err : undefined;
    const why = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      inner?.code ?? 'CONFIG_INVALID_VALUE',
      `${where.file}:${where.line}: invalid value for ${spec.key}: ${spec.secret ? '(value hidden)' : why}`,
      {
        cause: err,
        details: { ...inner?.details, file: where.file, line: where.line, key: spec.key },
      },
    );
  }
}

// C0 controls other than tab, and DEL. A bare CR is one of them: an editor or `cat`
// shows what follows it as a line of its own, but it is part of this line's value, so
// `channel=x\rpubkey=...` would silently leave pubkey unset (no signature checks).
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u0008\u000a-\u001f\u007f]/;

function assertNoControlCharacters(body: string, fileName: string, line: number): void {
  const m = CONTROL_CHARACTER.exec(body);
  if (m === null) return;
  const code = m[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase();
  throw new ConfigError(
    'CONFIG_CONTROL_CHARACTER',
    `${fileName}:${line}: control character U+${code} at column ${m.index + 1} (only LF or CRLF may end a line)`,
    { details: { file: fileName, line, column: m.index + 1, character: `U+${code}` } },
  );
}

/**
 * Parse update.conf text. `fileName` is only used in messages and error details.
 * Unknown keys are appended to `unknown` when given.
 */
export function parseConfig(
  text: string,
  fileName: string,
  log?: Logger,
  unknown?: UnknownKey[],
): UpdateConfig {
  const cfg: Record<string, unknown> = {};
  const seenAt = new Map<string, number>();
  // Tolerate a UTF-8 byte order mark and CRLF line ends (files edited on Windows).
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((rawLine, index) => {
    const line = index + 1;
    const body = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    assertNoControlCharacters(body, fileName, line);
    const trimmed = body.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    const key = eq < 0 ? '' : trimmed.slice(0, eq).trim();
    if (eq < 0 || key === '') {
      throw new ConfigError(
        'CONFIG_SYNTAX',
        `${fileName}:${line}: expected key=value, got ${JSON.stringify(trimmed.slice(0, 80))}`,
        { details: { file: fileName, line } },
      );
    }
    const spec = keySpec(key);
    if (spec === undefined) {
      unknown?.push(unknownKey(key, fileName, line));
      return;
    }
    const previous = seenAt.get(key);
    if (previous !== undefined) {
      log?.warn('config key repeated; the last value wins', {
        file: fileName,
        line,
        key,
        previousLine: previous,
      });
    }
    seenAt.set(key, line);
    const value = unquote(trimmed.slice(eq + 1).trim());
    if (value === '') {
      delete cfg[spec.field]; // empty = unset, also clearing an earlier line
      return;
    }
    cfg[spec.field] = parseAt(spec, value, { file: fileName, line });
  });
  return cfg;
}

/** update.conf is a few hundred bytes; anything near this is not a config file. */
export const CONFIG_MAX_BYTES = 64 * 1024;

/**
 * Read and parse update.conf. A missing file is an empty config; any other read error
 * (permission, a directory, I/O) is a ConfigError CONFIG_UNREADABLE, because silently
 * running with defaults when the operator's file exists but cannot be read would
 * ignore their settings (maintenance window, pubkey) without telling them.
 */
export async function loadConfigFile(
  path: string,
  log?: Logger,
  unknown?: UnknownKey[],
): Promise<UpdateConfig> {
  let text: string;
  try {
    text = await readControlText(path, { maxBytes: CONFIG_MAX_BYTES });
  } catch (err) {
    const errno = errnoCode(err);
    if (errno === 'ENOENT') {
      log?.debug('no config file; using defaults', { file: path });
      return {};
    }
    throw new ConfigError(
      'CONFIG_UNREADABLE',
      `cannot read config file ${path}: ${err instanceof KubesoloError ? err.message : (errno ?? String(err))}`,
      { cause: err, details: { file: path, errno } },
    );
  }
  return parseConfig(text, path, log, unknown);
}

/** Quote a value when unquoted text would not read back the same. */
function quoteIfNeeded(value: string): string {
  const needs =
    value !== value.trim() ||
    (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]));
  return needs ? `"${value}"` : value;
}

/**
 * Serialise a config to update.conf text, keys in table order. Every value is checked
 * with the same parser the reader uses, so what is written always reads back equal.
 */
export function formatConfig(cfg: UpdateConfig): string {
  const out: string[] = [];
  for (const spec of KEY_SPECS) {
    const value = cfg[spec.field];
    if (value === undefined) continue;
    const textValue = formatValue(value);
    if (/[\r\n]/.test(textValue)) {
      throw new ConfigError('CONFIG_INVALID_VALUE', `${spec.key}: value contains a line break`, {
        details: { key: spec.key },
      });
    }
    if (textValue.trim() === '') {
      throw new ConfigError('CONFIG_INVALID_VALUE', `${spec.key}: value is empty`, {
        details: { key: spec.key },
      });
    }
    parseAt(spec, textValue, { file: '(formatConfig)', line: out.length + 1 });
    out.push(`${spec.key}=${quoteIfNeeded(textValue)}`);
  }
  return out.map((l) => l + '\n').join('');
}

/**
 * Write update.conf atomically (temp file, fsync, rename, fsync dir: src/fs/atomic.ts).
 * Mode 0600 because the file may hold registry credentials.
 */
export async function writeConfigFile(
  path: string,
  cfg: UpdateConfig,
  options: { mkdirp?: boolean } = {},
): Promise<void> {
  await atomicWriteFile(path, formatConfig(cfg), { mode: 0o600, mkdirp: options.mkdirp ?? true });
}
