import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';

const root = new URL('../../', import.meta.url);
const readme = readFileSync(new URL('README.md', root), 'utf8');

describe('README', () => {
  it('links every document under docs/', () => {
    const docs = readdirSync(new URL('docs/', root)).filter((f) => f.endsWith('.md'));
    assert.ok(docs.length > 5);
    for (const d of docs)
      assert.ok(readme.includes(`](docs/${d})`), `README does not link docs/${d}`);
  });

  it('links only files that exist', () => {
    for (const [, target] of readme.matchAll(/\]\(([^)#]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      assert.ok(existsSync(new URL(target!, root)), `README links missing ${target}`);
    }
  });
});
