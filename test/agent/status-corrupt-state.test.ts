/**
 * One rule for the read-only commands (docs/operating.md "Read-only commands"): `status`
 * and `metrics` never rename or write a file. A corrupt state.json is a problem they
 * report (status exits 1, metrics exports what it can read plus STATE_CORRUPT), left
 * byte for byte as it is; only a command that writes, under the run lock, keeps it
 * aside as state.json.corrupt-<time> and starts from idle. Through the built bundle.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, it } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import { makeKeys, publishRelease } from '../helpers/device.js';
import { useSignedDevice } from '../helpers/device-fixture.js';
import { loggedLine } from '../helpers/code-log-line.js';

const keys = makeKeys();
const CORRUPT = '{"phase": "stag';

/** Every entry under the device root: path → type, mode, size, mtime and content hash. */
async function treeSnapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    const full = join(root, rel);
    const st = await lstat(full);
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'link' : 'file';
    const hash =
      kind === 'file'
        ? createHash('sha256')
            .update(await readFile(full))
            .digest('hex')
        : '';
    out[rel || '.'] = `${kind} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${hash}`;
    if (kind === 'dir')
      for (const name of (await readdir(full)).sort()) await walk(join(rel, name));
  };
  await walk('');
  return out;
}

describe('a corrupt state.json: status and metrics report it and change nothing', () => {
  const f = useSignedDevice(keys, { config: { health_checks: 'disk_writable' } });
  let statePath: string;

  beforeEach(async () => {
    await mkdir(f.dev.path('var/lib/kubesolo/update'), { recursive: true });
    statePath = f.dev.path('var/lib/kubesolo/update/state.json');
    await writeFile(statePath, CORRUPT);
  });

  it('status: exit 1, the problem shown, the slots still shown, no file touched', async () => {
    const before = await treeSnapshot(f.dev.root);
    const r = await runAgent(['status', '--root', f.dev.root]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.split('\n');
    assert.ok(lines.includes('Update:    unreadable'), r.stdout);
    assert.ok(
      lines.some((l) => l.startsWith('  A  v1.0.0')),
      r.stdout,
    );
    assert.ok(
      lines.some(
        (l) => l.startsWith('Problem:   state: STATE_CORRUPT: ') && l.includes('not JSON'),
      ),
      r.stdout,
    );
    assert.deepEqual(await treeSnapshot(f.dev.root), before);
    assert.equal(await readFile(statePath, 'utf8'), CORRUPT);
  });

  it('status --json: exit 1, state null, the problem in problems, no file touched', async () => {
    const before = await treeSnapshot(f.dev.root);
    const r = await runAgent(['status', '--root', f.dev.root, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const doc = JSON.parse(r.stdout) as Record<string, any>;
    assert.equal(doc.state, null);
    assert.deepEqual(
      (doc.problems as { source: string; code: string }[]).map((p) => [p.source, p.code]),
      [['state', 'STATE_CORRUPT']],
    );
    assert.equal(doc.slots.A.version, 'v1.0.0');
    assert.equal(doc.active_slot, 'A');
    loggedLine(r.stderr, 'STATE_CORRUPT');
    assert.deepEqual(await treeSnapshot(f.dev.root), before);
  });

  it('metrics: exit 0, what it can read plus STATE_CORRUPT, no file touched', async () => {
    const before = await treeSnapshot(f.dev.root);
    const r = await runAgent(['metrics', '--root', f.dev.root]);
    assert.equal(r.code, 0, r.stderr);
    const samples = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    assert.ok(
      samples.includes('kubesolo_update_metrics_problem{source="state",code="STATE_CORRUPT"} 1'),
      r.stdout,
    );
    // The boot side is still exported; nothing is made up from an idle state.
    assert.ok(
      samples.some((l) => l.includes('running_slot="A",version="v1.0.0"')),
      r.stdout,
    );
    assert.ok(!samples.some((l) => l.startsWith('kubesolo_update_phase{') && l.endsWith(' 1')));
    assert.deepEqual(await treeSnapshot(f.dev.root), before);
  });

  it('apply (a command that writes, under the lock) keeps it aside and starts from idle', async () => {
    await publishRelease(f.releases.dir, { version: 'v1.1.0', keys });
    const r = await runAgent(['apply', '--root', f.dev.root]);
    assert.equal(r.code, 0, r.stderr);
    loggedLine(r.stderr, 'STATE_CORRUPT');
    const dir = f.dev.path('var/lib/kubesolo/update');
    const aside = (await readdir(dir)).filter((n) => n.startsWith('state.json.corrupt-'));
    assert.equal(aside.length, 1);
    assert.equal(await readFile(join(dir, aside[0]!), 'utf8'), CORRUPT);
    const s = await runAgent(['status', '--root', f.dev.root, '--json']);
    assert.equal(s.code, 0, s.stderr);
    assert.equal((JSON.parse(s.stdout) as { state: { phase: string } }).state.phase, 'staged');
  });
});
