import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadSettings } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

describe('loadSettings', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ks-load-'));
    await mkdir(join(root, 'etc/kubesolo'), { recursive: true });
    await writeFile(
      join(root, 'etc/kubesolo/update.conf'),
      'channel=stable\nslot_backend=dir\nmaintenance_window=02:00-04:00\n',
    );
    await writeFile(join(root, 'other.conf'), 'auto_rollback_after=7\n');
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads /etc/kubesolo/update.conf under --root and lets flags win', async () => {
    const { settings, configPath } = await loadSettings({
      root,
      flags: { maintenanceWindow: '05:00-06:00' },
    });
    assert.equal(configPath, join(root, 'etc/kubesolo/update.conf'));
    assert.equal(settings.channel, 'stable');
    assert.equal(settings.slotBackend, 'dir');
    assert.equal(settings.maintenanceWindow, '05:00-06:00');
    assert.equal(settings.autoRollbackAfter, 3);
  });

  it('--conf names another file, also under --root', async () => {
    const { settings, configPath } = await loadSettings({ root, conf: '/other.conf' });
    assert.equal(configPath, join(root, 'other.conf'));
    assert.equal(settings.autoRollbackAfter, 7);
    assert.equal(settings.channel, undefined);
  });

  it('a missing file gives the defaults; an invalid one is a ConfigError', async () => {
    const { settings } = await loadSettings({ root, conf: '/nope.conf' });
    assert.equal(settings.slotBackend, 'block');
    await writeFile(join(root, 'bad.conf'), 'slot_backend=floppy\n');
    await assert.rejects(
      loadSettings({ root, conf: '/bad.conf' }),
      (err: unknown) => err instanceof ConfigError && err.details.line === 1,
    );
  });
});
