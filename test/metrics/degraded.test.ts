/**
 * `kubesolo-update metrics` (the built bundle) on a damaged device: what can be read is
 * exported, what cannot is a `kubesolo_update_metrics_problem{source,code}` sample, the
 * exit code is 0 (docs/fleet.md "Conventions"), and `promtool check metrics` finds
 * nothing to lint in either exposition. Also the running slot's version served from
 * the boot's record when the slot itself cannot be read (an unprivileged container).
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { runAgent } from '../helpers/cli.js';
import { makeDevice, type Device } from '../helpers/device.js';
import { prometheusSkipReason, promtool } from '../monitoring/prometheus.js';

/** `name{labels} value` lines of the exposition, without comments. */
function samples(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

async function metrics(dev: Device, ...extra: string[]): Promise<string> {
  const r = await runAgent(['metrics', '--root', dev.root, '--log-level', 'error', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('metrics on a damaged device: a degraded exposition, exit 0', () => {
  let dev: Device;
  before(async () => {
    dev = await makeDevice();
    execFileSync('grub-editenv', [dev.path('boot/grub/grubenv'), 'create']);
    execFileSync('grub-editenv', [
      dev.path('boot/grub/grubenv'),
      'set',
      'active_slot=A',
      'boot_counter=3',
      'boot_success=1',
    ]);
  });
  after(() => dev.cleanup());

  it('a healthy device: build_info, no problem sample, promtool check metrics clean', async (t) => {
    const text = await metrics(dev);
    const lines = samples(text);
    assert.ok(
      lines.some((l) =>
        /^kubesolo_update_build_info\{version="\d+\.\d+\.\d+",arch="(amd64|arm64)",nodejs="v\d+/.test(
          l,
        ),
      ),
      text,
    );
    assert.ok(!lines.some((l) => l.startsWith('kubesolo_update_metrics_problem')), text);
    assert.ok(lines.includes('kubesolo_update_target_attempts 0'), text);
    const skip = prometheusSkipReason();
    if (skip) return t.skip(skip);
    const lint = promtool(['check', 'metrics'], undefined, text);
    assert.equal(lint.status, 0, lint.stdout + lint.stderr);
    assert.equal((lint.stdout + lint.stderr).trim(), '');
  });

  it('a corrupt GRUB environment: phase, counters and running slot still exported, plus the problem', async (t) => {
    const grubenv = dev.path('boot/grub/grubenv');
    const good = await readFile(grubenv);
    await writeFile(grubenv, Buffer.from('garbage, not an environment block\n'));
    try {
      const text = await metrics(dev);
      const lines = samples(text);
      assert.ok(lines.includes('kubesolo_update_phase{phase="idle"} 1'), text);
      assert.ok(lines.includes('kubesolo_update_rollbacks_total{reason="BOOT_FALLBACK"} 0'), text);
      // The slots GRUB would boot are unknown; the running one comes from /proc/cmdline.
      assert.ok(
        lines.some((l) =>
          l.startsWith('kubesolo_update_info{active_slot="",running_slot="A",version="v1.0.0"'),
        ),
        text,
      );
      assert.deepEqual(
        lines.filter((l) => l.startsWith('kubesolo_update_metrics_problem')),
        ['kubesolo_update_metrics_problem{source="bootenv",code="GRUBENV_CORRUPT"} 1'],
      );
      const skip = prometheusSkipReason();
      if (skip) return t.skip(skip);
      const lint = promtool(['check', 'metrics'], undefined, text);
      assert.equal(lint.status, 0, lint.stdout + lint.stderr);
      assert.equal((lint.stdout + lint.stderr).trim(), '');
    } finally {
      await writeFile(grubenv, good);
    }
  });

  it('a corrupt state.json: no made-up idle phase or zeroed counters, STATE_CORRUPT', async () => {
    const statePath = dev.path('var/lib/kubesolo/update/state.json');
    await mkdir(dev.path('var/lib/kubesolo/update'), { recursive: true });
    await writeFile(statePath, '{"version": 1, "phase": ');
    try {
      const lines = samples(await metrics(dev));
      assert.ok(
        lines.filter((l) => l.startsWith('kubesolo_update_phase{')).every((l) => l.endsWith(' 0')),
      );
      assert.ok(!lines.some((l) => l.startsWith('kubesolo_update_rollbacks_total')));
      assert.ok(
        lines.includes('kubesolo_update_metrics_problem{source="state",code="STATE_CORRUPT"} 1'),
      );
    } finally {
      await rm(dev.path('var/lib/kubesolo/update'), { recursive: true, force: true });
    }
  });

  it("the running version from this boot's record when the slot cannot be read; never another boot's", async () => {
    // Without the flag nothing is written (metrics changes nothing on the device).
    await metrics(dev);
    await assert.rejects(readFile(dev.path('var/lib/kubesolo/update/running-version.json')));
    // A readable slot and --record-running-version: the version is kept for this boot.
    const recorded = await metrics(dev, '--record-running-version');
    assert.ok(samples(recorded).some((l) => l.includes('version="v1.0.0"')));
    const record = JSON.parse(
      await readFile(dev.path('var/lib/kubesolo/update/running-version.json'), 'utf8'),
    ) as Record<string, string>;
    assert.equal(record.slot, 'A');
    assert.equal(record.version, 'v1.0.0');
    // The slot becomes unreadable (as a block slot is to an unprivileged container).
    await rm(dev.path('slots/a/version'));
    await mkdir(dev.path('slots/a/version'));
    try {
      let lines = samples(await metrics(dev));
      assert.ok(
        lines.some((l) => l.includes('running_slot="A",version="v1.0.0"')),
        lines.join('\n'),
      );
      assert.ok(!lines.some((l) => l.startsWith('kubesolo_update_metrics_problem')));
      // After a reboot the record is stale: no version, and the reason.
      await dev.newBootId();
      lines = samples(await metrics(dev));
      assert.ok(
        lines.some((l) => l.includes('running_slot="A",version=""')),
        lines.join('\n'),
      );
      assert.equal(
        lines.filter((l) => l.startsWith('kubesolo_update_metrics_problem{source="slot_version"'))
          .length,
        1,
        lines.join('\n'),
      );
    } finally {
      await rm(dev.path('slots/a/version'), { recursive: true });
      await writeFile(dev.path('slots/a/version'), 'v1.0.0\n');
    }
  });
});
