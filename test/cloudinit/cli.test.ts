import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { logLines, runAgent } from '../helpers/cli.js';

const BASIC = fileURLToPath(new URL('../../deploy/cloud-init/basic.yaml', import.meta.url));
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-cloudinit-cli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('kubesolo-update cloud-init apply (bundle)', () => {
  it('writes update.conf under --root, then reports it up to date', async () => {
    const root = join(dir, 'r1');
    const r = await runAgent(['cloud-init', 'apply', BASIC, '--root', root]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote .*update\.conf: server, channel, maintenance_window, pubkey/);
    const conf = await readFile(join(root, 'etc/kubesolo/update.conf'), 'utf8');
    assert.match(conf, /^maintenance_window=02:00-04:00$/m);
    assert.match(conf, /^pubkey=\/etc\/kubesolo\/update\.pub$/m);
    const again = await runAgent(['cloud-init', 'apply', BASIC, '--root', root, '--json']);
    assert.equal(again.code, 0);
    assert.equal((JSON.parse(again.stdout) as { outcome: string }).outcome, 'unchanged');
  });

  it('exits 2 naming the line of a bad value, and writes nothing', async () => {
    const root = join(dir, 'r2');
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      '#cloud-config\nupdates:\n  server: http://a/latest.json\n  channel: on\n',
    );
    const r = await runAgent(['cloud-init', 'apply', file, '--root', root]);
    assert.equal(r.code, 2);
    const log = logLines(r.stderr)[0]!;
    assert.equal(log.code, 'CLOUDINIT_YAML_AMBIGUOUS');
    assert.equal(log.line, 4);
    await assert.rejects(readFile(join(root, 'etc/kubesolo/update.conf')), { code: 'ENOENT' });
  });

  it('needs exactly one FILE', async () => {
    const r = await runAgent(['cloud-init', 'apply']);
    assert.equal(r.code, 2);
    assert.equal(logLines(r.stderr)[0]?.code, 'MISSING_ARGUMENT');
  });
});
