/**
 * The release the CLI tests update from, made the operator's way for the whole test
 * file: a key by `kubesolo-release keygen`, a test build, v1.1.0 published from it by
 * `kubesolo-release publish`, and the site served on loopback by the release tool's own
 * static server (src/release/serve.ts). The hooks are registered here.
 */
import { strict as assert } from 'node:assert';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { createStaticServer, listen } from '../../src/release/serve.js';
import { silentLogger } from '../../src/log.js';
import { runRelease, type RunResult } from '../helpers/cli.js';

export interface PublishedSite {
  /** The work directory: keys/, build/, site/ (and whatever the tests add). */
  readonly work: string;
  /** The served site's base URL, ending in '/'. */
  readonly base: string;
  /** The public key, hex, as `dev init-root --pubkey` takes it. */
  readonly pubHex: string;
  /** `kubesolo-release publish` of the test build into work/OUT, the version flag spelled `flag`. */
  publish(flag: string, version: string, out: string): Promise<RunResult>;
}

/** `prefix`: the work directory's name prefix; the two images are filled to these sizes. */
export function usePublishedSite(
  prefix: string,
  sizes: { kernel: number; initramfs: number },
): PublishedSite {
  let server: Server | undefined;
  const site = {
    work: '',
    base: '',
    pubHex: '',
    publish(flag: string, version: string, out: string) {
      const build = (f: string) => join(site.work, 'build', f);
      return runRelease([
        'publish',
        ...['--key', join(site.work, 'keys', 'release.key'), flag, version],
        ...['--kernel', build('vmlinuz'), '--initramfs', build('kubesolo-os.gz')],
        ...['--out', join(site.work, out)],
      ]);
    },
  };
  before(async () => {
    site.work = await mkdtemp(join(tmpdir(), prefix));
    await chmod(site.work, 0o755); // a test may run the agent as another user
    assert.equal((await runRelease(['keygen', '--out', join(site.work, 'keys')])).code, 0);
    site.pubHex = (await readFile(join(site.work, 'keys', 'release.pub'), 'utf8')).trim();
    await mkdir(join(site.work, 'build'));
    await writeFile(join(site.work, 'build', 'vmlinuz'), Buffer.alloc(sizes.kernel, 1));
    await writeFile(join(site.work, 'build', 'kubesolo-os.gz'), Buffer.alloc(sizes.initramfs, 2));
    const pub = await site.publish('--release-version', 'v1.1.0', 'site');
    assert.equal(pub.code, 0, pub.stderr);
    server = await createStaticServer(join(site.work, 'site'), { log: silentLogger });
    site.base = await listen(server, { host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server?.close(r));
    }
    if (site.work) await rm(site.work, { recursive: true, force: true });
  });
  return site;
}
