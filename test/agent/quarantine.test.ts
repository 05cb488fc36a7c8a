/**
 * Failed-release memory (issue 25, item 1; docs/operating.md "Failed releases"), through
 * the built agent on a simulated device (dir slots, GRUB's rules for reboots): a release
 * that ended rolled back after activation (its health check, a boot fallback) or that
 * an operator rolled back is refused by `check` and `apply` (QUARANTINED, exit 3) until a
 * different release is offered, `forget`, or `--force`; identical verification failures
 * back off; `status` shows both.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runAgentJson as json, expectRefusal } from '../helpers/cli.js';
import { makeKeys, publishRelease, readJson } from '../helpers/device.js';
import { grubEnv } from '../helpers/grub-env.js';
import { useSignedDevice } from '../helpers/device-fixture.js';
import { assertCode } from '../helpers/code-assert.js';

const keys = makeKeys();

/** The gate verdict `check --json` reports for `gate`. */
function gate(doc: Record<string, any>, name: string): Record<string, any> | undefined {
  return (doc.gates as Record<string, any>[]).find((g) => g.gate === name);
}

describe('failed-release memory', () => {
  // The health check fails while the probe URL refuses connections: nothing listens on port 1.
  const f = useSignedDevice(keys, {
    config: {
      health_checks: 'disk_writable,probe_url',
      healthcheck_url: 'http://127.0.0.1:1/healthz',
      auto_rollback_after: '1',
    },
    publish: 'v1.1.0',
  });
  const root = f.root;

  /** apply + activate v1.1.0, boot it, and let its health check fail once: rolled back. */
  async function healthRollback(): Promise<void> {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    assert.equal(await f.dev.reboot(), 'B');
    const h = await json(['healthcheck', '--timeout', '0', ...root()]);
    assert.equal(h.code, 5, h.stderr);
    assert.equal(await f.dev.reboot(), 'A');
  }

  it('a release rolled back by its health check is not offered again: check and apply refuse it', async () => {
    await healthRollback();
    const c = await json(['check', ...root()]);
    assert.equal(c.code, 3, c.stderr);
    assert.equal(c.doc.would_apply, false);
    assertCode(gate(c.doc, 'quarantine')?.code, 'QUARANTINED');
    assert.match(gate(c.doc, 'quarantine')?.message, /HEALTH_CHECK_FAILED.*forget v1\.1\.0/);
    const a = await json(['apply', ...root()]);
    expectRefusal(a, 'QUARANTINED', 3);
    assert.equal(grubEnv(f.dev.path('boot/grub/grubenv')).active_slot, 'A');
    const s = await json(['status', ...root()]);
    assert.equal(s.code, 0, s.stderr);
    assert.deepEqual(
      (s.doc.quarantined as Record<string, unknown>[]).map((q) => [q.version, q.reason]),
      [['v1.1.0', 'HEALTH_CHECK_FAILED']],
    );
    const st = await readJson(f.dev.path('var/lib/kubesolo/update/state.json'));
    assertCode(st.reason, 'QUARANTINED');
  });

  it('the same version with other images, or a newer version, is a different release', async () => {
    await healthRollback();
    await publishRelease(f.releases.dir, { version: 'v1.1.0', keys }); // new random images
    const same = await json(['check', ...root()]);
    assert.equal(same.code, 0, same.stdout);
    assert.equal(gate(same.doc, 'quarantine')?.pass, true);
    await publishRelease(f.releases.dir, { version: 'v1.2.0', keys });
    const a = await json(['apply', ...root()]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.doc.version, 'v1.2.0');
  });

  it('forget releases it; --force installs it regardless', async () => {
    await healthRollback();
    const forced = await json(['apply', '--force', ...root()]);
    assert.equal(forced.code, 0, forced.stderr);
    const f = await json(['forget', 'v1.1.0', ...root()]);
    assert.equal(f.code, 0, f.stderr);
    assert.equal((await json(['check', ...root()])).code, 0);
    const again = await json(['forget', 'v1.1.0', ...root()]);
    expectRefusal(again, 'NOT_QUARANTINED', 3);
  });

  it('a boot fallback (the trial never committed) quarantines it', async () => {
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    const booted: string[] = [];
    for (let i = 0; i < 4; i++) booted.push(await f.dev.reboot());
    assert.deepEqual(booted, ['B', 'B', 'B', 'A']);
    const a = await json(['apply', ...root()]);
    expectRefusal(a, 'QUARANTINED', 3);
    assert.match(a.doc.error.message, /BOOT_FALLBACK/);
  });

  it("an operator's rollback quarantines the release it leaves, so the next run keeps it", async () => {
    await f.dev.writeConfig({
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      slot_b_dir: '/slots/b',
      grubenv: '/boot/grub/grubenv',
      server: f.releases.server.url,
      pubkey: '/etc/kubesolo/update.pub',
      health_checks: 'disk_writable',
    });
    assert.equal((await json(['apply', '--activate', ...root()])).code, 0);
    assert.equal(await f.dev.reboot(), 'B');
    assert.equal((await json(['healthcheck', '--timeout', '0', ...root()])).code, 0);
    const r = await json(['rollback', ...root()]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.doc.quarantined, 'v1.1.0');
    assert.equal(await f.dev.reboot(), 'A');
    const a = await json(['apply', '--activate', ...root()]);
    expectRefusal(a, 'QUARANTINED', 3);
    assert.match(a.doc.error.message, /MANUAL_ROLLBACK/);
  });

  it('three identical verification failures back off; --force tries anyway; a fixed release installs', async () => {
    await writeFile(join(f.releases.dir, 'v1.1.0/kubesolo-os.gz'), Buffer.alloc(256 * 1024, 1));
    for (let i = 1; i <= 3; i++) {
      const a = await json(['apply', ...root()]);
      assert.equal(a.code, 4, `try ${i}: ${a.stderr}`);
      assertCode(a.doc.error.code, 'HASH_MISMATCH');
    }
    const backedOff = await json(['apply', ...root()]);
    expectRefusal(backedOff, 'VERIFICATION_BACKOFF', 3);
    assert.equal(existsSync(f.dev.path('slots/b/.incoming/kubesolo-os.gz.part')), false);
    const s = await json(['status', ...root()]);
    const [b] = s.doc.backoff as Record<string, any>[];
    assert.equal(b?.version, 'v1.1.0');
    assert.equal(b?.failures, 3);
    assertCode(b?.code, 'HASH_MISMATCH');
    const hours = (Date.parse(b?.next_try_at) - Date.parse(b?.last_at)) / 3600_000;
    assert.equal(hours, 6);
    assert.equal((await json(['apply', '--force', ...root()])).code, 4);
    // The publisher fixes it: other images, another release.
    await publishRelease(f.releases.dir, { version: 'v1.1.0', keys });
    const fixed = await json(['apply', ...root()]);
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual((await json(['status', ...root()])).doc.backoff, []);
  });

  it('a damaged releases.json is reported by status and never stops a health check or an apply', async () => {
    const file = f.dev.path('var/lib/kubesolo/update/releases.json');
    await healthRollback();
    await writeFile(file, '{ not json');
    const s = await json(['status', ...root()]);
    assert.equal(s.code, 1);
    assert.deepEqual(
      (s.doc.problems as Record<string, unknown>[]).map((p) => [p.source, p.code]),
      [['releases', 'RELEASES_CORRUPT']],
    );
    // One more try of the release is the price; the failure is remembered anew.
    const a = await json(['apply', '--activate', ...root()]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(await f.dev.reboot(), 'B');
    assert.equal((await json(['healthcheck', '--timeout', '0', ...root()])).code, 5);
    const doc = JSON.parse(await readFile(file, 'utf8')) as { releases: { version: string }[] };
    assert.deepEqual(
      doc.releases.map((r) => r.version),
      ['v1.1.0'],
    );
  });
});
