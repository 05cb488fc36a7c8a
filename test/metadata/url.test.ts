/**
 * One metadata URL rule (src/metadata/url.ts): the device (`kubesolo-update check`
 * with `server=`, the built bundle) and the publisher (`verifyRelease`, as
 * `kubesolo-release verify URL` runs it) ask a real loopback server for the same
 * latest.json for every form of server URL. The server answers 404, so each side
 * stops after its first request: that request is what is compared.
 */
import { strict as assert } from 'node:assert';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { hasCode } from '../helpers/rejects.js';
import { metadataUrlFor } from '../../src/metadata/url.js';
import { verifyRelease } from '../../src/release/verify.js';
import { runAgent } from '../helpers/cli.js';
import { makeDevice } from '../helpers/device.js';
import { grubSet } from '../helpers/grub-env.js';
import { silentLogger } from '../../src/log.js';

/** server URL (after the origin) → the request it must produce (path and query). */
const FORMS: [string, string][] = [
  ['/stable', '/stable/latest.json'],
  ['/stable/', '/stable/latest.json'],
  ['/stable//', '/stable/latest.json'],
  ['/stable/latest.json', '/stable/latest.json'],
  ['/stable/meta.json', '/stable/meta.json'],
  ['/stable/latest.json?token=abc', '/stable/latest.json?token=abc'],
  // A query on a directory URL is kept where it is written: name the file instead
  // (docs/publishing.md).
  ['/stable?token=abc', '/stable?token=abc/latest.json'],
  ['', '/latest.json'],
  ['/', '/latest.json'],
];

describe('metadata URL: device and publisher resolve every form alike', () => {
  let server: Server;
  let origin = '';
  const seen: string[] = [];
  before(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** The first request a run made. */
  async function firstRequest(run: () => Promise<unknown>): Promise<string | undefined> {
    seen.length = 0;
    await run();
    return seen[0];
  }

  for (const [form, expected] of FORMS) {
    it(`"${form || '(origin only)'}" → ${expected}`, async () => {
      const serverUrl = origin + form;
      assert.equal(metadataUrlFor(serverUrl), origin + expected);

      const dev = await makeDevice({ config: { server: serverUrl } });
      try {
        grubSet(dev.path('boot/grub/grubenv'), { active_slot: 'A', boot_success: '1' });
        const device = await firstRequest(() => runAgent(['check', '--root', dev.root]));
        assert.equal(device, expected, 'the device asked for');
      } finally {
        await dev.cleanup();
      }

      const publisher = await firstRequest(() =>
        verifyRelease({
          log: silentLogger,
          target: serverUrl,
          publicKey: new Uint8Array(32).fill(7),
        }).catch((err: unknown) => {
          // The 404 stops it after the metadata request.
          hasCode('HTTP_STATUS', 1)(err);
        }),
      );
      assert.equal(publisher, expected, 'the publisher asked for');
    });
  }
});
