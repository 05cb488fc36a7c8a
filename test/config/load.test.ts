/**
 * Settings as the agent loads them (src/agent/context.ts): update.conf under --root,
 * --conf, flag > file > default, read once by readDeviceConfig for every command.
 */
import { strict as assert } from 'node:assert';
import { mkdir, writeFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';
import {
  createAgentContext,
  readDeviceConfig,
  type AgentRequest,
} from '../../src/agent/context.js';
import { ConfigError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { useTempDir } from '../helpers/tree.js';
import { rejectsWithCode } from '../helpers/rejects.js';

describe('settings under --root', () => {
  const tmp = useTempDir('ks-load-', 'all');
  before(async () => {
    await mkdir(tmp.path('etc/kubesolo'), { recursive: true });
    await writeFile(
      tmp.path('etc/kubesolo/update.conf'),
      'channel=stable\nslot_backend=dir\nslot_a_dir=/a\nslot_b_dir=/b\nmaintenance_window=02:00-04:00\ntime_zone=UTC\n',
    );
    await writeFile(tmp.path('other.conf'), 'auto_rollback_after=7\n');
  });
  const request = (r: Partial<AgentRequest> = {}): AgentRequest => ({
    root: tmp.dir,
    conf: undefined,
    state: undefined,
    configFlags: {},
    strict: false,
    ...r,
  });

  it('reads /etc/kubesolo/update.conf under --root and lets flags win', async () => {
    const agent = await createAgentContext(
      request({ configFlags: { maintenanceWindow: '05:00-06:00' } }),
      silentLogger,
    );
    assert.equal(agent.paths.config, tmp.path('etc/kubesolo/update.conf'));
    assert.equal(agent.settings.channel, 'stable');
    assert.equal(agent.settings.slotBackend, 'dir');
    assert.equal(agent.settings.maintenanceWindow, '05:00-06:00');
    assert.equal(agent.settings.autoRollbackAfter, 3);
    assert.equal(agent.paths.state, tmp.path('var/lib/kubesolo/update/state.json'));
  });

  it('--conf names another file, also under --root', async () => {
    const config = await readDeviceConfig({ root: tmp.dir, conf: '/other.conf' }, silentLogger);
    assert.equal(config.path, tmp.path('other.conf'));
    assert.deepEqual(config.file, { autoRollbackAfter: 7 });
  });

  it('a missing file is an empty configuration; an invalid one is a ConfigError', async () => {
    assert.deepEqual(
      (await readDeviceConfig({ root: tmp.dir, conf: '/nope.conf' }, silentLogger)).file,
      {},
    );
    await writeFile(tmp.path('bad.conf'), 'slot_backend=floppy\n');
    await assert.rejects(
      readDeviceConfig({ root: tmp.dir, conf: '/bad.conf' }, silentLogger),
      (err: unknown) => err instanceof ConfigError && err.details.line === 1,
    );
  });

  it('a --root that is not a directory is refused before anything is read', async () => {
    await rejectsWithCode(
      readDeviceConfig({ root: tmp.path('missing'), conf: undefined }, silentLogger),
      'ROOT_NOT_FOUND',
      2,
    );
    await rejectsWithCode(
      readDeviceConfig({ root: tmp.path('other.conf'), conf: undefined }, silentLogger),
      'ROOT_NOT_A_DIRECTORY',
      2,
    );
  });
});
