/**
 * Runs `scripts/demo.ts` (what `npm run demo` runs after building) and checks the
 * device it leaves behind on its own: state.json, the GRUB environment read by
 * grub-editenv (GRUB's own tool), the slots' version files and the command line.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertCode } from '../helpers/code-assert.js';
import { runMerged } from '../helpers/run-merged.js';

const DEMO = fileURLToPath(new URL('../../scripts/demo.ts', import.meta.url));
let dir: string;
let result: { code: number | null; out: string };

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ks-demo-test-'));
  result = await runMerged(
    process.execPath,
    ['--import', 'tsx', DEMO, '--dir', join(dir, 'work'), '--no-color'],
    { timeoutMs: 180_000 },
  );
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('npm run demo', () => {
  it('finishes with exit 0 and says what happened at each step', () => {
    assert.equal(result.code, 0, result.out);
    for (const re of [
      /\$ kubesolo-release keygen --out keys/,
      /\$ kubesolo-release publish .*--release-version v1\.1\.0/,
      // Quoted, so the line can be copied into a shell as shown.
      /--release-notes 'A good release'/,
      /\$ kubesolo-release serve site --listen 127\.0\.0\.1:0 &/,
      /\$ kubesolo-update --root device cloud-init apply user-data\.yaml/,
      /\$ kubesolo-update --root device check/,
      /\$ kubesolo-update --root device apply/,
      /\$ kubesolo-update --root device activate/,
      /GRUB: trial → booted slot B/,
      /\$ kubesolo-update --root device healthcheck/,
      /GRUB: trial → booted slot A/,
      /→ exit 5/,
      // The next scheduled run does not offer the rolled-back release again.
      /REFUSED {2}quarantine {14}v1\.2\.0 was quarantined .*\[QUARANTINED\]/,
      /Done: v1\.1\.0 runs committed in slot B; v1\.2\.0 failed its health check, was rolled back and is not installed again\./,
    ]) {
      assert.match(result.out, re);
    }
    assert.doesNotMatch(result.out, /✗/);
  });

  it('leaves the device on v1.1.0 in slot B, committed, with the rollback recorded and v1.2.0 quarantined', async () => {
    const device = join(dir, 'work', 'device');
    const state = JSON.parse(
      await readFile(join(device, 'var/lib/kubesolo/update/state.json'), 'utf8'),
    ) as Record<string, any>;
    // The last command was the refused apply of v1.2.0; the rollback is in the counts.
    assert.equal(state.phase, 'failed');
    assertCode(state.reason, 'QUARANTINED');
    assert.equal(state.to_version, 'v1.2.0');
    assert.equal(state.rollback_counts.HEALTH_CHECK_FAILED, 1);
    const memory = JSON.parse(
      await readFile(join(device, 'var/lib/kubesolo/update/releases.json'), 'utf8'),
    ) as { releases: Record<string, unknown>[] };
    assert.deepEqual(
      memory.releases.map((r) => [r.version, r.outcome, r.quarantine_reason]),
      [
        ['v1.1.0', 'committed', undefined],
        ['v1.2.0', 'rolled_back', 'HEALTH_CHECK_FAILED'],
      ],
    );
    // GRUB's own tool reads the block the agent wrote.
    const env = execFileSync('grub-editenv', [join(device, 'boot/grub/grubenv'), 'list'], {
      encoding: 'utf8',
    });
    assert.match(env, /^active_slot=B$/m);
    assert.match(env, /^boot_success=1$/m);
    assert.equal((await readFile(join(device, 'slots/B/version'), 'utf8')).trim(), 'v1.1.0');
    assert.equal((await readFile(join(device, 'slots/A/version'), 'utf8')).trim(), 'v1.2.0');
    assert.match(await readFile(join(device, 'proc/cmdline'), 'utf8'), /kubesolo\.slot=B/);
  });
});
