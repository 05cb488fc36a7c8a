/**
 * Read a cloud-init file the way cloud-init reads it: YAML 1.1 (PyYAML), where
 * `yes/no/on/off` are booleans, `010` is octal, `1:30` is the sexagesimal number 90,
 * and `0x1f` is hex. We keep both the value YAML 1.1 resolves and the source text, so
 * later checks can refuse a value whose YAML 1.1 meaning differs from what the author
 * almost certainly meant, and every error names the line.
 */
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
  type Pair,
} from 'yaml';
import { ConfigError, KubesoloError } from '../errors.js';

export interface YamlEntry {
  /** The key as written. */
  key: string;
  /** 1-based line of the value (of the key when the value is empty). */
  line: number;
  /** The value as YAML 1.1 resolves it: string, number, boolean, null, or an array of those. */
  value: unknown;
  /** Source text of a scalar value (undefined for sequences and maps). */
  source: string | undefined;
  /** Whether the scalar was quoted or a block scalar (then it is a string whatever it looks like). */
  quoted: boolean;
  kind: 'scalar' | 'seq' | 'map' | 'empty';
}

export interface UpdatesBlock {
  /** Line of the `updates:` key. */
  line: number;
  entries: YamlEntry[];
}

function lineOf(
  lc: LineCounter,
  node: { range?: [number, number, number] | null } | null | undefined,
): number | undefined {
  const start = node?.range?.[0];
  return start === undefined ? undefined : lc.linePos(start).line;
}

function keyText(pair: Pair): string {
  const k = pair.key;
  if (isScalar(k)) return k.source ?? String(k.value);
  return String(k);
}

function entryOf(lc: LineCounter, pair: Pair, keyLine: number): YamlEntry {
  const key = keyText(pair);
  const v = pair.value as Node | null;
  const line = lineOf(lc, v) ?? keyLine;
  if (v === null || (isScalar(v) && v.value === null)) {
    return { key, line: keyLine, value: null, source: undefined, quoted: false, kind: 'empty' };
  }
  if (isScalar(v)) {
    return {
      key,
      line,
      value: v.value,
      source: v.source,
      quoted: v.type !== undefined && v.type !== 'PLAIN',
      kind: 'scalar',
    };
  }
  if (isSeq(v)) {
    return {
      key,
      line,
      value: v.toJSON(),
      source: undefined,
      quoted: false,
      kind: 'seq',
    };
  }
  return { key, line, value: undefined, source: undefined, quoted: false, kind: 'map' };
}

/**
 * Parse the cloud-init text and return its top-level `updates:` block, or undefined
 * when there is none or it is empty (`updates:` with nothing, or `updates: {}`).
 * Throws ConfigError with the line for YAML syntax errors, duplicate keys, a top level
 * that is not a mapping, or an `updates:` that is not a mapping.
 */
export function readUpdatesBlock(text: string, fileName: string): UpdatesBlock | undefined {
  try {
    return readBlock(text, fileName);
  } catch (err) {
    if (err instanceof KubesoloError) throw err;
    // The yaml library throws for a few documents it accepted while parsing (a merge
    // key `<<` whose source is not a mapping, alias trouble): still invalid YAML to us.
    throw new ConfigError(
      'CLOUDINIT_YAML_INVALID',
      `${fileName}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, details: { file: fileName } },
    );
  }
}

/**
 * A repeated key in any mapping is an error, never "last one wins". The yaml library's
 * own check (uniqueKeys) compares each key with every earlier one, quadratic in the
 * number of keys (40,000 keys took 27 s); a Set per mapping is linear.
 */
function firstDuplicateKey(
  doc: Document,
  lc: LineCounter,
): { key: string; line: number } | undefined {
  let found: { key: string; line: number } | undefined;
  visit(doc, {
    Map(_, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = `${typeof pair.key.value}:${String(pair.key.value)}`;
        if (seen.has(key)) {
          found = { key: keyText(pair), line: lineOf(lc, pair.key) ?? 1 };
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}

function readBlock(text: string, fileName: string): UpdatesBlock | undefined {
  const lc = new LineCounter();
  const doc = parseDocument(text, {
    version: '1.1',
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: false,
  });
  const problem = doc.errors[0];
  if (problem) {
    const line = lc.linePos(problem.pos[0]).line;
    throw new ConfigError(
      'CLOUDINIT_YAML_INVALID',
      `${fileName}:${line}: not valid YAML: ${problem.message.split('\n')[0]}`,
      { details: { file: fileName, line, yamlCode: problem.code } },
    );
  }
  const duplicate = firstDuplicateKey(doc, lc);
  if (duplicate) {
    throw new ConfigError(
      'CLOUDINIT_YAML_INVALID',
      `${fileName}:${duplicate.line}: not valid YAML: map keys must be unique (${duplicate.key})`,
      { details: { file: fileName, line: duplicate.line, yamlCode: 'DUPLICATE_KEY' } },
    );
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) return undefined;
  if (!isMap(root)) {
    const line = lineOf(lc, root) ?? 1;
    throw new ConfigError(
      'CLOUDINIT_NOT_A_MAPPING',
      `${fileName}:${line}: a cloud-init file is a mapping of keys (#cloud-config)`,
      { details: { file: fileName, line } },
    );
  }
  const pair = root.items.find((p) => keyText(p) === 'updates');
  if (!pair) return undefined;
  const line = lineOf(lc, pair.key) ?? 1;
  const block = pair.value as Node | null;
  if (block === null || (isScalar(block) && block.value === null)) return undefined;
  if (!isMap(block)) {
    throw new ConfigError(
      'CLOUDINIT_INVALID_BLOCK',
      `${fileName}:${lineOf(lc, block) ?? line}: updates: must be a mapping of keys`,
      { details: { file: fileName, line: lineOf(lc, block) ?? line } },
    );
  }
  if (block.items.length === 0) return undefined;
  return {
    line,
    entries: block.items.map((p) => entryOf(lc, p, lineOf(lc, p.key as Node) ?? line)),
  };
}
