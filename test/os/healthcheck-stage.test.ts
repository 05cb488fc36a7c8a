/**
 * The health check boot stage (os/init.d/90-kubesolo-update-healthcheck.sh), run by
 * dash as init runs it, with the real agent bundle on a simulated device: it returns at
 * once, and the agent's output and exit code land in /run/kubesolo-update.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AGENT_BIN } from '../helpers/cli.js';
import { makeDevice, type Device } from '../helpers/device.js';

const STAGE = fileURLToPath(
  new URL('../../os/init.d/90-kubesolo-update-healthcheck.sh', import.meta.url),
);

describe('post-boot health check stage', () => {
  let dev: Device;
  let bin: string;
  before(async () => {
    dev = await makeDevice();
    // `kubesolo-update` on PATH, as the OS installs it: the real bundle.
    bin = dev.path('usr/bin');
    await mkdir(bin, { recursive: true });
    await symlink(AGENT_BIN, join(bin, 'kubesolo-update'));
  });
  after(() => dev.cleanup());

  async function runStage(conf: Record<string, string>): Promise<{ rc: string; log: string }> {
    await dev.writeConfig({
      slot_backend: 'dir',
      slot_a_dir: '/slots/a',
      slot_b_dir: '/slots/b',
      grubenv: '/boot/grub/grubenv',
      ...conf,
    });
    const out = dev.path('stage.out');
    const fd = openSync(out, 'w');
    const t0 = Date.now();
    const r = spawnSync('/bin/sh', [STAGE], {
      env: {
        PATH: `${bin}:${join(process.execPath, '..')}:/usr/bin:/bin`,
        KUBESOLO_ROOT: dev.root,
      },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    assert.equal(r.status, 0, readFileSync(out, 'utf8'));
    assert.ok(Date.now() - t0 < 5000, 'the stage returns without waiting for the check');
    assert.match(readFileSync(out, 'utf8'), /kubesolo-update-healthcheck: started/);
    const rcFile = dev.path('run/kubesolo-update/healthcheck.rc');
    const deadline = Date.now() + 60_000;
    while (!existsSync(rcFile)) {
      assert.ok(Date.now() < deadline, 'the health check never finished');
      await new Promise((res) => setTimeout(res, 100));
    }
    return {
      rc: readFileSync(rcFile, 'utf8').trim(),
      log: readFileSync(dev.path('run/kubesolo-update/healthcheck.log'), 'utf8'),
    };
  }

  it("healthy: exit code 0 recorded, the agent's report in the log", async () => {
    const r = await runStage({ health_checks: 'disk_writable', healthcheck_timeout: '2' });
    assert.equal(r.rc, '0');
    assert.match(r.log, /disk_writable\s+pass/);
  });

  it('unhealthy: exit code 5 recorded (HEALTH_CHECK_FAILED)', async () => {
    const r = await runStage({
      health_checks: 'disk_writable,probe_url',
      healthcheck_url: 'http://127.0.0.1:9/healthz',
      healthcheck_timeout: '1',
    });
    assert.equal(r.rc, '5');
    assert.match(r.log, /probe_url\s+fail/);
  });
});
