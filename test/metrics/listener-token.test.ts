/**
 * `metrics --listen --token-file` (the built bundle), as the node DaemonSet runs it:
 * only a scrape with the file's bearer token gets the exposition; the file is a mounted
 * Secret, replaced on rotation, and followed without a restart.
 */
import { strict as assert } from 'node:assert';
import { rename, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { expectRefusal, logLines, runAgent } from '../helpers/cli.js';
import { assertCode } from '../helpers/code-assert.js';
import { makeDevice, type Device } from '../helpers/device.js';
import { startMetricsListener, type MetricsListener } from '../helpers/metrics-listener.js';

describe('metrics --listen --token-file: only scrapes with the bearer token', () => {
  let dev: Device;
  let listener: MetricsListener;
  const tokenFile = () => dev.path('metrics-token');

  before(async () => {
    dev = await makeDevice();
    await writeFile(tokenFile(), 'first-token-0123456789\n');
    listener = await startMetricsListener(dev.root, ['--token-file', tokenFile()]);
  });
  after(async () => {
    listener?.child.kill('SIGTERM');
    await dev?.cleanup();
  });

  const scrape = (authorization?: string) =>
    fetch(listener.url, authorization ? { headers: { authorization } } : {});

  it('no token or a wrong one: 401 with a Bearer challenge, logged as METRICS_UNAUTHORIZED', async () => {
    for (const auth of [undefined, 'Bearer wrong-token', 'Basic Zmlyc3QtdG9rZW4=']) {
      const res = await scrape(auth);
      assert.equal(res.status, 401, String(auth));
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      assert.doesNotMatch(await res.text(), /kubesolo_update/);
    }
    // One warning a refused scrape, saying which token it was (never the token itself).
    const refused = logLines(listener.stderr()).filter((l) => l.token !== undefined);
    assert.deepEqual(
      refused.map((l) => l.token),
      ['missing', 'wrong', 'missing'],
    );
    for (const l of refused) assertCode(l.code, 'METRICS_UNAUTHORIZED');
  });

  it('the token: the exposition', async () => {
    const res = await scrape('Bearer first-token-0123456789');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^kubesolo_update_build_info\{/m);
  });

  it('a rotated Secret: the new token works, the old one no longer does, no restart', async () => {
    // As the kubelet updates a Secret volume: the new content appears by rename.
    await writeFile(tokenFile() + '.new', 'second-token-9876543210\n');
    await rename(tokenFile() + '.new', tokenFile());
    assert.equal((await scrape('Bearer first-token-0123456789')).status, 401);
    assert.equal((await scrape('Bearer second-token-9876543210')).status, 200);
  });

  it('a missing token file stops the listener at start (METRICS_TOKEN_UNREADABLE); --token-file needs --listen', async () => {
    const missing = await runAgent([
      ...['metrics', '--listen', '127.0.0.1:0', '--token-file', dev.path('no-such-token')],
      ...['--root', dev.root, '--json'],
    ]);
    expectRefusal(missing, 'METRICS_TOKEN_UNREADABLE', 2);
    const alone = await runAgent(['metrics', '--token-file', tokenFile(), '--root', dev.root]);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--token-file guards --listen/);
  });
});
