/**
 * Turn the `updates:` block of a cloud-init file into update.conf values. The keys
 * are update.conf's own (docs/design.md §3.2: server, channel, maintenance_window, pubkey,
 * healthcheck_url, auto_rollback_after, and every other key of the table), validated
 * by the same parsers the agent uses when it reads update.conf. Every error names the
 * YAML line.
 */
import { ConfigError, KubesoloError } from '../errors.js';
import type { ReasonCode } from '../reason-codes.js';
import { parsePublicKey } from '../crypto/keys.js';
import { formatKeySet } from '../crypto/key-set.js';
import { keySpec, type KeySpec } from '../config/keys.js';
import { unknownKey } from '../config/unknown-keys.js';
import { boolean as booleanParser } from '../config/values.js';
import type { UpdateConfig } from '../config/types.js';
import type { UpdatesBlock, YamlEntry } from './yaml.js';

/** Fields that take a list (`health_checks`); a YAML sequence is joined with commas. */
const LIST_FIELDS = new Set<keyof UpdateConfig>(['healthChecks']);

export interface ParsedUpdates {
  /** Values to set in update.conf. `pubkey` is the device path of the key file. */
  config: UpdateConfig;
  /**
   * The inline public keys (64 lowercase hex each), when `pubkey:` held one or a list:
   * the device's key set (any one may sign; docs/operating.md "Rotating a key").
   */
  pubkeyHexes: string[] | undefined;
  /** The update.conf keys set, in the order they appear in the YAML. */
  keys: string[];
  /** Keys that were ignored, with why (unknown key, empty value). */
  ignored: IgnoredKey[];
}

function fail(
  code: ReasonCode,
  file: string,
  e: YamlEntry,
  why: string,
  cause?: unknown,
): ConfigError {
  return new ConfigError(code, `${file}:${e.line}: updates.${e.key}: ${why}`, {
    cause,
    details: { file, line: e.line, key: e.key },
  });
}

/**
 * The text to give the key's parser, or a ConfigError when the YAML 1.1 reading of
 * the value is not what its author wrote.
 */
function rawText(spec: KeySpec, e: YamlEntry, file: string): string {
  if (e.kind === 'map')
    throw fail('CLOUDINIT_INVALID_VALUE', file, e, 'expected a value, not a mapping');
  if (e.kind === 'seq') {
    const items = e.value as unknown[];
    if (!LIST_FIELDS.has(spec.field) || !items.every((i) => typeof i === 'string')) {
      throw fail(
        'CLOUDINIT_INVALID_VALUE',
        file,
        e,
        LIST_FIELDS.has(spec.field)
          ? 'list items must be names'
          : 'expected a single value, not a list',
      );
    }
    return items.join(',');
  }
  const v = e.value;
  if (typeof v === 'string') return v.trim();
  // Never echo a credential, even in an error about its type.
  const shown = spec.secret ? '(value hidden)' : `'${e.source ?? String(v)}'`;
  if (typeof v === 'boolean') {
    // YAML 1.1: yes/no/on/off/true/false (any case) are booleans. Fine for a boolean
    // key; for any other key (`channel: on`) it is almost surely not what was meant.
    if (spec.parse === booleanParser) return String(v);
    throw fail(
      'CLOUDINIT_YAML_AMBIGUOUS',
      file,
      e,
      `${shown} is the boolean ${String(v)} in YAML 1.1 (as cloud-init reads it); quote it to mean the text`,
    );
  }
  if (typeof v === 'number') {
    // Accept a number only when YAML 1.1 reads it as exactly what is written: `1:30` is
    // the sexagesimal 90, `010` is octal 8, `0x10` is 16, `1_000` is 1000, `1.50` is 1.5.
    if (e.source !== undefined && String(v) === e.source) return e.source;
    throw fail(
      'CLOUDINIT_YAML_AMBIGUOUS',
      file,
      e,
      `${shown} is the number ${spec.secret ? '' : String(v) + ' '}in YAML 1.1 (sexagesimal, octal, hex or digit separators, as cloud-init reads it); quote it or write a plain decimal`,
    );
  }
  throw fail(
    'CLOUDINIT_YAML_AMBIGUOUS',
    file,
    e,
    `${shown} is not text in YAML 1.1 (a timestamp or another type); quote it`,
  );
}

/**
 * `pubkey:` holds an inline key (64 hex characters), a list of inline keys (a key set,
 * e.g. the old and the new key during a rotation), or the absolute path of a key file
 * or directory already on the image.
 */
function pubkeyValue(
  spec: KeySpec,
  e: YamlEntry,
  file: string,
): { hexes?: string[]; path?: string } {
  if (e.kind === 'seq') {
    const items = e.value as unknown[];
    if (items.length === 0 || !items.every((i) => typeof i === 'string'))
      throw fail('PUBKEY_INVALID', file, e, 'a list of keys must hold 64-hex-character keys');
    const hexes = items.map((item, n) => {
      const hex = inlineKey(item.trim(), e, file, ` (list item ${n + 1})`);
      if (hex === undefined)
        throw fail(
          'PUBKEY_INVALID',
          file,
          e,
          `list item ${n + 1}: expected an Ed25519 public key as 64 hex characters`,
        );
      return hex;
    });
    const unique = [...new Set(hexes)];
    try {
      // Written by the key set's own writer: a list the agent could not read back is
      // refused here, at its line, not at every later run.
      formatKeySet(unique);
    } catch (err) {
      throw fail('PUBKEY_INVALID', file, e, (err as Error).message, err);
    }
    return { hexes: unique };
  }
  const compact = rawText(spec, e, file);
  const hex = inlineKey(compact, e, file, '');
  if (hex !== undefined) return { hexes: [hex] };
  if (compact.startsWith('/')) return { path: compact };
  throw fail(
    'PUBKEY_INVALID',
    file,
    e,
    'expected the Ed25519 public key as 64 hex characters, a list of them, or the absolute path of a key file',
  );
}

/** A 64-hex key, checked as the agent checks it; undefined when `text` is not 64 hex. */
function inlineKey(compact: string, e: YamlEntry, file: string, where: string): string | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(compact)) {
    // The agent's own check (a curve point, not of small order): a key the agent would
    // refuse at every run is refused here, at the line that holds it.
    try {
      parsePublicKey(compact);
    } catch (err) {
      throw fail('PUBKEY_INVALID', file, e, `not a usable Ed25519 public key${where}`, err);
    }
    return compact.toLowerCase();
  }
  return undefined;
}

export interface IgnoredKey {
  key: string;
  line: number;
  why: string;
  /** An unknown key: the known key it is probably a typo of (`maintenence_window`). */
  suggestion?: string;
  unknown?: true;
}

export function parseUpdates(block: UpdatesBlock, file: string, pubkeyPath: string): ParsedUpdates {
  const config: Record<string, unknown> = {};
  const keys: string[] = [];
  const ignored: ParsedUpdates['ignored'] = [];
  let pubkeyHexes: string[] | undefined;
  for (const e of block.entries) {
    const spec = keySpec(e.key);
    if (spec === undefined) {
      // The did-you-mean of update.conf's own unknown keys: one rule for both.
      const { suggestion } = unknownKey(e.key, file, e.line);
      ignored.push({
        key: e.key,
        line: e.line,
        why: `unknown key${suggestion ? ` (did you mean '${suggestion}'?)` : ''}`,
        unknown: true,
        ...(suggestion ? { suggestion } : {}),
      });
      continue;
    }
    if (e.kind === 'empty') {
      ignored.push({ key: e.key, line: e.line, why: 'empty value; the existing setting is kept' });
      continue;
    }
    let raw: string;
    if (spec.field === 'pubkey') {
      const pk = pubkeyValue(spec, e, file);
      pubkeyHexes = pk.hexes;
      raw = pk.path ?? pubkeyPath;
    } else {
      raw = rawText(spec, e, file);
    }
    try {
      config[spec.field] = spec.parse(raw);
    } catch (err) {
      const inner = err instanceof KubesoloError ? err : undefined;
      const why = err instanceof Error ? err.message : String(err);
      throw fail(
        inner?.code ?? 'CLOUDINIT_INVALID_VALUE',
        file,
        e,
        spec.secret ? 'invalid value (hidden)' : why,
        err,
      );
    }
    keys.push(spec.key);
  }
  return { config, pubkeyHexes, keys, ignored };
}
