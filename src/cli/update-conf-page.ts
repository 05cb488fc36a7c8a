/**
 * The update.conf(5) manual page, generated from the key table (src/config/keys.ts:
 * every key, in its order, with its flag), the defaults (src/config/merge.ts) and the
 * one-line meanings (src/config/key-docs.ts), so the page cannot drift from the parser.
 */
import { KEY_SUMMARIES } from '../config/key-docs.js';
import { formatValue, KEY_SPECS } from '../config/keys.js';
import { DEFAULTS } from '../config/merge.js';
import type { UpdateConfig } from '../config/types.js';
import { DEFAULT_PATHS } from '../paths.js';
import { roff } from './manpage.js';

const FORMAT = [
  'One key=value per line: the key is everything before the first "=", the value everything after it, both trimmed.',
  'Lines whose first non-blank character is "#" are comments; blank lines are ignored; there are no trailing comments.',
  'A value in one pair of matching quotes is unwrapped. An empty value means unset: the default applies.',
  'Unknown keys are warned about with the nearest known key (CONFIG_UNKNOWN_KEY); --strict makes them an error (exit 2).',
  'A command-line flag sets its key for one run: flag, then file, then default, key by key.',
];

function keyItem(spec: (typeof KEY_SPECS)[number]): string[] {
  const fallback = (DEFAULTS as UpdateConfig)[spec.field];
  const notes = [
    fallback === undefined ? 'No default.' : `Default: ${formatValue(fallback)}.`,
    ...(spec.flag ? [`Flag: --${spec.flag.name} ${spec.flag.valueName}.`] : []),
    ...(spec.secret ? ['Never shown in logs or errors.'] : []),
  ];
  return [
    '.TP',
    `.B ${roff(spec.key)}`,
    roff(KEY_SUMMARIES[spec.field]),
    '.br',
    roff(notes.join(' ')),
  ];
}

export function updateConfPage(program: string, version: string): string {
  return (
    [
      `.TH UPDATE.CONF 5 "" "${roff(`${program} ${version}`)}" "File Formats"`,
      // No hyphenation: key names and paths are copied from the page.
      '.nh',
      '.SH NAME',
      `update.conf \\- configuration of ${roff(program)}`,
      '.SH SYNOPSIS',
      roff(DEFAULT_PATHS.config),
      '.SH DESCRIPTION',
      ...FORMAT.flatMap((l) => ['.PP', roff(l)]),
      '.SH KEYS',
      ...KEY_SPECS.flatMap(keyItem),
      '.SH FILES',
      '.TP',
      `.B ${roff(DEFAULT_PATHS.config)}`,
      roff('This file (--conf PATH elsewhere; resolved under --root).'),
      '.SH SEE ALSO',
      `.BR ${roff(program)} (1);`,
      roff('docs/configuration.md in the source tree.'),
    ].join('\n') + '\n'
  );
}
