import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { KEY_SPECS } from '../../src/config/keys.js';
import { DEFAULTS } from '../../src/config/merge.js';
import type { UpdateConfig } from '../../src/config/types.js';

const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

/** Cells of the key table row for `key`, or undefined when the docs lack one. */
function row(key: string): string[] | undefined {
  const line = doc.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
  return line?.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, ''));
}

describe('docs/configuration.md stays true', () => {
  it('documents every key of the table', () => {
    for (const spec of KEY_SPECS) assert.ok(row(spec.key), `no docs row for ${spec.key}`);
  });

  it('states each built-in default', () => {
    for (const spec of KEY_SPECS) {
      const value = (DEFAULTS as UpdateConfig)[spec.field];
      const cell = row(spec.key)![2]!;
      if (value === undefined) {
        assert.match(cell, /^—/, `${spec.key} has no default but the docs give ${cell}`);
      } else if (Array.isArray(value)) {
        assert.equal(cell, 'all six', spec.key);
        assert.equal(value.length, 6);
      } else {
        assert.equal(cell, `\`${String(value)}\``, spec.key);
      }
    }
  });
});
